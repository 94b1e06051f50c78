// AVX2 + F16C decoders of weight rows into float32 (compiled with -mavx2 -mfma -mf16c -ffp-contract=off; see
// dequant_simd.h). Each mirrors its scalar decoder in core/quant/blocks.h operation for operation: integer codes are
// widened and converted exactly, then multiplied (and offset) by the block's scales in the reference's order, so
// the bytes written are the reference's. Eight floats per instruction; the block decoders are dequant_blocks.h's,
// instantiated here with Avx2Width. F16 and BF16 finish odd lengths one by one.
#include <immintrin.h>

#include <cstdint>

#include "plugins/cpu_avx/dequant_blocks.h"  // internal linkage: compiled here with this unit's flags
#include "plugins/cpu_avx/dequant_simd.h"

namespace sy::cpu::dequant_simd {

namespace {

// Eight floats per vector (dequant_blocks.h's Width).
struct Avx2Width {
  using Float = __m256;
  static constexpr int kLanes = 8;
  static Float set1(float x) { return _mm256_set1_ps(x); }
  static Float mul(Float a, Float b) { return _mm256_mul_ps(a, b); }
  static Float add(Float a, Float b) { return _mm256_add_ps(a, b); }
  static Float sub(Float a, Float b) { return _mm256_sub_ps(a, b); }
  static void store(float* out, Float v) { _mm256_storeu_ps(out, v); }

  // Quarter `part` (8 bytes) of 32 int8 codes as floats (the codes here are all in -127..127 or 0..63, so sign
  // extension is right for every caller).
  static Float to_float(__m256i codes, int part) {
    const __m128i half = part < 2 ? _mm256_castsi256_si128(codes) : _mm256_extracti128_si256(codes, 1);
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part % 2 == 0 ? half : _mm_unpackhi_epi64(half, half)));
  }

  // Nibbles plus 0x10 in byte j where bit j of the little-endian word at `high_bits` is set.
  static __m256i five_bit_levels(const uint8_t* nibbles, const uint8_t* high_bits) {
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(u32_at(high_bits))),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    // Byte j now holds byte j / 8 of the bits; setting every bit but bit j % 8 leaves all ones exactly where it is set.
    const __m256i others = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    const __m256i fifth = _mm256_and_si256(_mm256_cmpeq_epi8(others, _mm256_set1_epi8(-1)), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles_in_order(nibbles), fifth);
  }

  // Q6_K's sixteen group scales d * int8 code, each rounded once.
  static void q6_k_scales(const uint8_t* codes, float d, float* scale) {
    for (int g = 0; g < 16; ++g) scale[g] = d * static_cast<float>(static_cast<int8_t>(codes[g]));
  }
};
using Blocks = Decoders<Avx2Width>;

}  // namespace

// ---- 16-bit floats -----------------------------------------------------------------------------------------------

void f16_avx2(const uint8_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(load128(src + 2 * i)));
    _mm256_storeu_ps(dst + i + 8, _mm256_cvtph_ps(load128(src + 2 * i + 16)));
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(load128(src + 2 * i)));
  for (; i < n; ++i) dst[i] = half_at(src + 2 * i);
}

void bf16_avx2(const uint8_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i bits = _mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(src + 2 * i)), 16);
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(bits));
  }
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(src[2 * i] | (src[2 * i + 1] << 8)) << 16;
    __builtin_memcpy(dst + i, &bits, sizeof bits);
  }
}

// ---- Blocks of 32 and super-blocks of 256 (dequant_blocks.h) ------------------------------------------------------

void q4_0_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::q4_0(src, dst, n); }
void q4_1_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::q4_1(src, dst, n); }
void q5_0_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::q5_0(src, dst, n); }
void q5_1_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::q5_1(src, dst, n); }
void q8_0_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::q8_0(src, dst, n); }
void iq4_nl_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::iq4_nl(src, dst, n); }
void q4_k_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::q4_k(src, dst, n); }
void q6_k_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::q6_k(src, dst, n); }
void tq2_0_avx2(const uint8_t* src, float* dst, int64_t n) { Blocks::tq2_0(src, dst, n); }

}  // namespace sy::cpu::dequant_simd
