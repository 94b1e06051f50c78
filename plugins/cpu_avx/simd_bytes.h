// Reads of the scalars and byte vectors inside packed quant blocks, shared by the CPU plugin's ISA units
// (simd_avx2.cpp, dequant_avx2.cpp, dequant_avx512.cpp, ...). Static, so each unit compiles its own copy with its
// own -m flags (see core/quant/k_scales.h on why nothing here may have external linkage). Needs F16C.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace sy::cpu {

// memcpy because blocks are packed at any byte offset. F16C: the reference's fp16 conversion bit for bit.
[[maybe_unused]] static inline float half_at(const uint8_t* p) {
  uint16_t bits;
  __builtin_memcpy(&bits, p, sizeof bits);
  return _cvtsh_ss(bits);
}
[[maybe_unused]] static inline float float_at(const uint8_t* p) {
  float value;
  __builtin_memcpy(&value, p, sizeof value);
  return value;
}
[[maybe_unused]] static inline uint32_t u32_at(const uint8_t* p) {
  uint32_t value;
  __builtin_memcpy(&value, p, sizeof value);
  return value;
}
[[maybe_unused]] static inline __m128i load128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
[[maybe_unused]] static inline __m256i load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The eight floats of v added as the reference's hsum_float_8 adds them: lanes l and l + 4, then those pairs l and
// l + 2, then the last two, ((v0 + v4) + (v2 + v6)) + ((v1 + v5) + (v3 + v7)).
[[maybe_unused]] static inline float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
  return _mm_cvtss_f32(sum);
}

}  // namespace sy::cpu
