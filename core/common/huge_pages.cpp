#include "core/common/huge_pages.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace sy::common {

void* map_huge_aligned(size_t length, int prot, int flags, int fd) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t mapped = (length + page - 1) / page * page;
  // Reserve room for an aligned range, map over its aligned part, then give back the head and the tail.
  void* reserved = mmap(nullptr, mapped + kHugePageBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) return MAP_FAILED;
  const auto start = reinterpret_cast<uintptr_t>(reserved);
  const uintptr_t aligned = (start + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* address = mmap(reinterpret_cast<void*>(aligned), mapped, prot, flags | MAP_FIXED, fd, 0);
  if (address == MAP_FAILED) {
    munmap(reserved, mapped + kHugePageBytes);
    return MAP_FAILED;
  }
  if (aligned > start) munmap(reserved, aligned - start);
  const uintptr_t end = start + mapped + kHugePageBytes;
  if (end > aligned + mapped) munmap(reinterpret_cast<void*>(aligned + mapped), end - (aligned + mapped));
  madvise(address, mapped, MADV_HUGEPAGE);
  return address;
}

}  // namespace sy::common
