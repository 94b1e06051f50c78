// Reading memory as fast as this CPU can: the probe behind `switchyard bench`'s read bandwidth and bench_matvec's
// paired ratios. Its method is ../shared/tools/membw.c's (a max-reduction of floats with the widest vectors the
// processor has, each byte loaded once), chosen at run time, since these tools are built for baseline x86-64.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sy::common {

// Loads every byte of [data, data + bytes) once (a tail of less than 256 bytes is skipped; any alignment) and
// returns the largest of them read as floats, so that the loads cannot be optimized away. The vectors are the widest
// the CPU has of at most max_vector_bits (512, 256 or 128: SSE2 is always there).
float read_once(const void* data, uint64_t bytes, int max_vector_bits = 512);

// Sustained read bandwidth in bytes/s: `threads` threads each read_once their share of one buffer of about `bytes`
// (at least 1 MiB), filled first, the threads started inside the timed region; the best of `runs` passes, as
// membw.c reports it.
double measure_read_bandwidth(uint64_t bytes, uint64_t threads, int runs = 5);

// How fast `pieces` (memory this process did not allocate, such as a file's mapping) read from DRAM against a copy of
// them in fresh memory of its own (map_huge_aligned, 2 MiB pages where the OS gives them, as the CPU plugin
// allocates weights): each pass flushes every piece from the caches and reads it once, the two sides alternating.
// Returns the median over `runs` pairs of passes of the ratio of the two speeds (above 1: the pieces read faster),
// or -1 where there is nothing to read or the copy's memory is refused. Pieces of a few MiB read in a few
// milliseconds: it is noisy on a shared machine, a coarse test only. Where guest memory is backed unevenly (a
// virtual machine), pages the OS maps 2 MiB at a time can still read a third slower than others (bench/README.md,
// "Fourth round").
double read_speed_against_own_memory(std::span<const std::span<const std::byte>> pieces, int runs = 3);

}  // namespace sy::common
