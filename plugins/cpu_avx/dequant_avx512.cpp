// AVX-512 (F, BW, VL) decoders of weight rows into float32 (compiled with the AVX-512 flags of simd_avx512.cpp plus
// -ffp-contract=off; see dequant_simd.h). dequant_blocks.h's decoders, as in dequant_avx2.cpp, with sixteen floats
// per instruction: codes widen straight from 16 bytes to sixteen int32, and Q5_0/Q5_1's fifth bits are a 32-bit
// mask register as stored. F16/BF16 tails use masked loads and stores.
#include <immintrin.h>

#include <cstdint>

#include "plugins/cpu_avx/dequant_blocks.h"  // internal linkage: compiled here with this unit's flags
#include "plugins/cpu_avx/dequant_simd.h"

namespace sy::cpu::dequant_simd {

namespace {

// Sixteen floats per vector (dequant_blocks.h's Width).
struct Avx512Width {
  using Float = __m512;
  static constexpr int kLanes = 16;
  static Float set1(float x) { return _mm512_set1_ps(x); }
  static Float mul(Float a, Float b) { return _mm512_mul_ps(a, b); }
  static Float add(Float a, Float b) { return _mm512_add_ps(a, b); }
  static Float sub(Float a, Float b) { return _mm512_sub_ps(a, b); }
  static void store(float* out, Float v) { _mm512_storeu_ps(out, v); }

  // Half `part` (16 bytes) of 32 int8 codes as floats (exact: every code fits in a byte).
  static Float to_float(__m256i codes, int part) {
    const __m128i half = part == 0 ? _mm256_castsi256_si128(codes) : _mm256_extracti128_si256(codes, 1);
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(half));
  }

  // Nibbles plus 16 where bit j of the little-endian word at `high_bits` is set.
  static __m256i five_bit_levels(const uint8_t* nibbles, const uint8_t* high_bits) {
    const __m256i low = nibbles_in_order(nibbles);
    return _mm256_mask_add_epi8(low, static_cast<__mmask32>(u32_at(high_bits)), low, _mm256_set1_epi8(16));
  }

  // Q6_K's sixteen group scales d * int8 code, each rounded once: one vector multiply.
  static void q6_k_scales(const uint8_t* codes, float d, float* scale) {
    _mm512_storeu_ps(scale, _mm512_mul_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load128(codes)))));
  }
};
using Blocks = Decoders<Avx512Width>;

}  // namespace

// ---- 16-bit floats -----------------------------------------------------------------------------------------------

void f16_avx512(const uint8_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(load256(src + 2 * i)));
    _mm512_storeu_ps(dst + i + 16, _mm512_cvtph_ps(load256(src + 2 * i + 32)));
  }
  for (; i < n; i += 16) {
    const auto lanes = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(dst + i, lanes, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes, src + 2 * i)));
  }
}

void bf16_avx512(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const auto lanes = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1u);
    const __m512i bits = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, src + 2 * i)), 16);
    _mm512_mask_storeu_ps(dst + i, lanes, _mm512_castsi512_ps(bits));
  }
}

// ---- Blocks of 32 and super-blocks of 256 (dequant_blocks.h) ------------------------------------------------------

void q4_0_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::q4_0(src, dst, n); }
void q4_1_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::q4_1(src, dst, n); }
void q5_0_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::q5_0(src, dst, n); }
void q5_1_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::q5_1(src, dst, n); }
void q8_0_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::q8_0(src, dst, n); }
void iq4_nl_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::iq4_nl(src, dst, n); }
void q4_k_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::q4_k(src, dst, n); }
void q6_k_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::q6_k(src, dst, n); }
void tq2_0_avx512(const uint8_t* src, float* dst, int64_t n) { Blocks::tq2_0(src, dst, n); }

}  // namespace sy::cpu::dequant_simd
