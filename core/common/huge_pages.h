// Mappings that start on a transparent-huge-page boundary, for memory a decode streams every token (the model file,
// the CPU plugin's large buffers): where address and contents agree modulo 2 MiB, the kernel can back or map each
// 2 MiB with one page-table entry, and one TLB entry then covers what 512 did.
#pragma once

#include <cstddef>

namespace sy::common {

constexpr size_t kHugePageBytes = size_t{2} << 20;

// mmap(nullptr, length, prot, flags, fd, 0) at an address aligned to kHugePageBytes, advised MADV_HUGEPAGE (advice
// only: without transparent huge pages it is an ordinary mapping). The mapping covers `length` rounded up to whole
// pages, nothing more; munmap it with that length. Returns MAP_FAILED as mmap does.
void* map_huge_aligned(size_t length, int prot, int flags, int fd);

}  // namespace sy::common
