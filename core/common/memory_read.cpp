#include "core/common/memory_read.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include "core/common/huge_pages.h"

namespace sy::common {

namespace {

constexpr uint64_t kStep = 256;  // bytes per iteration at every width

volatile float read_sink;  // the reads' result is stored, so the loads cannot be dropped

#if defined(__x86_64__)
[[gnu::target("avx512f")]] float read_avx512(const float* p, uint64_t floats) {
  __m512 m = _mm512_set1_ps(-1e30f);
  for (uint64_t i = 0; i + 64 <= floats; i += 64) {
    m = _mm512_max_ps(m, _mm512_loadu_ps(p + i));
    m = _mm512_max_ps(m, _mm512_loadu_ps(p + i + 16));
    m = _mm512_max_ps(m, _mm512_loadu_ps(p + i + 32));
    m = _mm512_max_ps(m, _mm512_loadu_ps(p + i + 48));
  }
  return _mm512_reduce_max_ps(m);
}

[[gnu::target("avx2")]] float read_avx2(const float* p, uint64_t floats) {
  __m256 m0 = _mm256_set1_ps(-1e30f), m1 = m0;
  for (uint64_t i = 0; i + 32 <= floats; i += 32) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(p + i));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(p + i + 8));
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(p + i + 16));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_max_ps(m0, m1));
  return *std::max_element(lanes, lanes + 8);
}
#endif

float read_baseline(const float* p, uint64_t floats) {
  __m128 m0 = _mm_set1_ps(-1e30f), m1 = m0;
  for (uint64_t i = 0; i + 8 <= floats; i += 8) {
    m0 = _mm_max_ps(m0, _mm_loadu_ps(p + i));
    m1 = _mm_max_ps(m1, _mm_loadu_ps(p + i + 4));
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, _mm_max_ps(m0, m1));
  return *std::max_element(lanes, lanes + 4);
}

using ReadFn = float (*)(const float*, uint64_t);

ReadFn widest_read(int max_vector_bits) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
  if (max_vector_bits >= 512 && avx512) return read_avx512;
  if (max_vector_bits >= 256 && avx2) return read_avx2;
#endif
  return read_baseline;
}

}  // namespace

float read_once(const void* data, uint64_t bytes, int max_vector_bits) {
  return widest_read(max_vector_bits)(static_cast<const float*>(data), bytes / kStep * kStep / sizeof(float));
}

double measure_read_bandwidth(uint64_t bytes, uint64_t threads, int runs) {
  threads = std::max<uint64_t>(threads, 1);
  const uint64_t share = std::max<uint64_t>(bytes, uint64_t{1} << 20) / threads / kStep * kStep;
  const uint64_t floats = share * threads / sizeof(float);
  const std::unique_ptr<float, decltype(&std::free)> buffer(
      static_cast<float*>(std::aligned_alloc(64, floats * sizeof(float))), &std::free);
  if (!buffer) return 0;
  for (uint64_t i = 0; i < floats; ++i) buffer.get()[i] = static_cast<float>(i & 1023);  // every page touched
  // A buffer under 256 MiB is read several times a pass, so that starting the threads does not dominate the time (a
  // small model's weights stay in cache between tokens just as such a buffer does).
  const uint64_t sweeps = std::max<uint64_t>(1, (uint64_t{256} << 20) / (share * threads));
  std::vector<float> sinks(threads);
  double best = 0;
  for (int run = 0; run < std::max(runs, 1); ++run) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (uint64_t t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        for (uint64_t sweep = 0; sweep < sweeps; ++sweep)
          sinks[t] = std::max(sinks[t], read_once(buffer.get() + t * share / sizeof(float), share));
      });
    for (auto& worker : workers) worker.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(share * threads * sweeps) / seconds);
  }
  read_sink = *std::max_element(sinks.begin(), sinks.end());
  return best;
}

namespace {

// Seconds to flush every piece from the caches and read it once (the flush untimed).
double timed_cold_read(std::span<const std::span<const std::byte>> pieces) {
  for (const auto piece : pieces)
    for (size_t at = 0; at < piece.size(); at += 64) _mm_clflush(piece.data() + at);
  _mm_mfence();
  float sink = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto piece : pieces) sink = std::max(sink, read_once(piece.data(), piece.size()));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  read_sink = sink;
  return seconds;
}

}  // namespace

double read_speed_against_own_memory(std::span<const std::span<const std::byte>> pieces, int runs) {
  size_t total = 0;
  for (const auto piece : pieces) total += piece.size();
  if (total < kStep) return -1;
  void* memory = map_huge_aligned(total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
  if (memory == MAP_FAILED) return -1;
  std::vector<std::span<const std::byte>> copies;
  auto* at = static_cast<std::byte*>(memory);
  for (const auto piece : pieces) {
    std::memcpy(at, piece.data(), piece.size());
    copies.emplace_back(at, piece.size());
    at += piece.size();
  }
  std::vector<double> ratios;  // per pass pair, ours / theirs in time: their speed against ours
  for (int run = 0; run < std::max(runs, 1); ++run) {
    const double theirs = timed_cold_read(pieces), ours = timed_cold_read(copies);
    if (theirs > 0) ratios.push_back(ours / theirs);
  }
  munmap(memory, total);
  if (ratios.empty()) return -1;
  std::sort(ratios.begin(), ratios.end());
  return ratios[ratios.size() / 2];
}

}  // namespace sy::common
