// Reading memory as fast as this CPU can: the probe behind `switchyard bench`'s read bandwidth and bench_matvec's
// paired ratios. Its method is ../shared/tools/membw.c's (a max-reduction of floats with the widest vectors the
// processor has, each byte loaded once), chosen at run time, since these tools are built for baseline x86-64.
#pragma once

#include <cstdint>

namespace sy::common {

// Loads every byte of [data, data + bytes) once (a tail of less than 256 bytes is skipped; any alignment) and
// returns the largest of them read as floats, so that the loads cannot be optimized away. The vectors are the widest
// the CPU has of at most max_vector_bits (512, 256 or 128: SSE2 is always there).
float read_once(const void* data, uint64_t bytes, int max_vector_bits = 512);

// Sustained read bandwidth in bytes/s: `threads` threads each read_once their share of one buffer of about `bytes`
// (at least 1 MiB), filled first, the threads started inside the timed region; the best of `runs` passes, as
// membw.c reports it.
double measure_read_bandwidth(uint64_t bytes, uint64_t threads, int runs = 5);

}  // namespace sy::common
