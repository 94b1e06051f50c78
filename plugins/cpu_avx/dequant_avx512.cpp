// AVX-512 (F, BW, VL) decoders of weight rows into float32 (compiled with the AVX-512 flags of simd_avx512.cpp plus
// -ffp-contract=off; see dequant_simd.h). The same operations as dequant_avx2.cpp, sixteen floats per instruction:
// codes widen straight from 16 bytes to sixteen int32, F16/BF16 tails use masked loads and stores, and Q5_0/Q5_1's
// fifth bits are a 32-bit mask register as stored.
#include <immintrin.h>

#include <cstdint>

#include "core/quant/k_scales.h"  // static: compiled here with this unit's flags
#include "plugins/cpu_avx/dequant_simd.h"

namespace sy::cpu::dequant_simd {

namespace {

float half_at(const uint8_t* p) {
  uint16_t bits;
  __builtin_memcpy(&bits, p, sizeof bits);
  return _cvtsh_ss(bits);
}
uint32_t u32_at(const uint8_t* p) {
  uint32_t value;
  __builtin_memcpy(&value, p, sizeof value);
  return value;
}
__m128i load128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
__m256i load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Sixteen int8 codes as floats (exact: every code fits in a byte).
__m512 to_float(__m128i codes) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(codes)); }

// out[i] = float(codes[i]) * d for 32 int8 codes: the `float(q) * d` of the reference's legacy blocks.
void store_scaled(float* out, __m256i codes, __m512 d) {
  _mm512_storeu_ps(out, _mm512_mul_ps(to_float(_mm256_castsi256_si128(codes)), d));
  _mm512_storeu_ps(out + 16, _mm512_mul_ps(to_float(_mm256_extracti128_si256(codes, 1)), d));
}

// out[i] = float(codes[i]) * d + m: Q4_1 and Q5_1, product rounded before the add (no FMA), product first.
void store_scaled_offset(float* out, __m256i codes, __m512 d, __m512 m) {
  _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(to_float(_mm256_castsi256_si128(codes)), d), m));
  _mm512_storeu_ps(out + 16, _mm512_add_ps(_mm512_mul_ps(to_float(_mm256_extracti128_si256(codes, 1)), d), m));
}

// The sixteen nibbles of a legacy block as 32 bytes in element order: low nibbles (elements 0..15), then high.
__m256i nibbles_in_order(const uint8_t* packed) {
  const __m128i bytes = load128(packed);
  const __m128i low_mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low_mask), _mm_and_si128(bytes, low_mask));
}

// Q5_0/Q5_1's five-bit levels: nibbles plus 16 where bit j of the little-endian word at `high_bits` is set.
__m256i five_bit_levels(const uint8_t* nibbles, const uint8_t* high_bits) {
  const __m256i low = nibbles_in_order(nibbles);
  return _mm256_mask_add_epi8(low, static_cast<__mmask32>(u32_at(high_bits)), low, _mm256_set1_epi8(16));
}

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

// ---- Blocks of 32 ------------------------------------------------------------------------------------------------

void q4_0_avx512(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ4_0Bytes, dst += 32) {
    const __m256i codes = _mm256_sub_epi8(nibbles_in_order(src + kQ4_0Quants), _mm256_set1_epi8(8));
    store_scaled(dst, codes, _mm512_set1_ps(half_at(src)));
  }
}

void q4_1_avx512(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ4_1Bytes, dst += 32) {
    store_scaled_offset(dst, nibbles_in_order(src + kQ4_1Quants), _mm512_set1_ps(half_at(src)),
                        _mm512_set1_ps(half_at(src + kQ4_1Min)));
  }
}

void q5_0_avx512(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ5_0Bytes, dst += 32) {
    const __m256i levels = five_bit_levels(src + kQ5_0Quants, src + kQ5_0High);
    store_scaled(dst, _mm256_sub_epi8(levels, _mm256_set1_epi8(16)), _mm512_set1_ps(half_at(src)));
  }
}

void q5_1_avx512(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ5_1Bytes, dst += 32) {
    store_scaled_offset(dst, five_bit_levels(src + kQ5_1Quants, src + kQ5_1High), _mm512_set1_ps(half_at(src)),
                        _mm512_set1_ps(half_at(src + kQ5_1Min)));
  }
}

void q8_0_avx512(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ8_0Bytes, dst += 32)
    store_scaled(dst, load256(src + kQ8_0Quants), _mm512_set1_ps(half_at(src)));
}

void iq4_nl_avx512(const uint8_t* src, float* dst, int64_t n) {
  // blocks.h's iq4_nl_value codebook; a byte shuffle looks sixteen values up at once.
  const __m256i codebook = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                                            -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
  for (int64_t b = 0; b < n / 32; ++b, src += kIQ4_NLBytes, dst += 32) {
    const __m256i values = _mm256_shuffle_epi8(codebook, nibbles_in_order(src + kIQ4_NLQuants));
    store_scaled(dst, values, _mm512_set1_ps(half_at(src)));
  }
}

// ---- Super-blocks of 256 -----------------------------------------------------------------------------------------

void q4_k_avx512(const uint8_t* src, float* dst, int64_t n) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < n / 256; ++b, src += kQ4_KBytes, dst += 256) {
    const float d = half_at(src), dmin = half_at(src + kQ4_KDmin);
    // k4_scale_offset's products: scale = d * code, offset = dmin * min, each rounded once.
    float scale[8], offset[8];
    for (int j = 0; j < 8; ++j) {
      uint8_t scale_code, min_code;
      quant::scale_min_k4(j, src + kQ4_KScales, &scale_code, &min_code);
      scale[j] = d * static_cast<float>(scale_code);
      offset[j] = dmin * static_cast<float>(min_code);
    }
    // 32 bytes of nibbles per pair of sub-blocks: low nibbles are sub-block 2p, high nibbles 2p + 1.
    for (int p = 0; p < 4; ++p) {
      const __m256i packed = load256(src + kQ4_KQuants + 32 * p);
      const __m256i halves[2] = {_mm256_and_si256(packed, low_mask),
                                 _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask)};
      for (int h = 0; h < 2; ++h) {
        const __m512 sub_scale = _mm512_set1_ps(scale[2 * p + h]), sub_offset = _mm512_set1_ps(offset[2 * p + h]);
        float* out = dst + 64 * p + 32 * h;
        const __m512 first = to_float(_mm256_castsi256_si128(halves[h]));
        const __m512 second = to_float(_mm256_extracti128_si256(halves[h], 1));
        _mm512_storeu_ps(out, _mm512_sub_ps(_mm512_mul_ps(sub_scale, first), sub_offset));
        _mm512_storeu_ps(out + 16, _mm512_sub_ps(_mm512_mul_ps(sub_scale, second), sub_offset));
      }
    }
  }
}

void q6_k_avx512(const uint8_t* src, float* dst, int64_t n) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F), high_mask = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
  for (int64_t b = 0; b < n / 256; ++b, src += kQ6_KBytes, dst += 256) {
    // The reference's d * scale * q is (d * scale) * q: one scale per 16 elements, rounded before the product.
    const __m512 d = _mm512_set1_ps(half_at(src + kQ6_KD));
    const __m512 group_codes = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load128(src + kQ6_KScales)));
    alignas(64) float scale[16];
    _mm512_store_ps(scale, _mm512_mul_ps(d, group_codes));
    for (int half = 0; half < 2; ++half) {
      const __m256i low_a = load256(src + 64 * half), low_b = load256(src + 64 * half + 32);
      const __m256i high = load256(src + kQ6_KHigh + 32 * half);
      // Element l + 32k of this half: a low nibble of ql[l] (k even) or ql[l + 32] (k odd), bits 2k..2k+1 of qh[l].
      const __m256i codes[4] = {
          _mm256_or_si256(_mm256_and_si256(low_a, low_mask), _mm256_and_si256(_mm256_slli_epi16(high, 4), high_mask)),
          _mm256_or_si256(_mm256_and_si256(low_b, low_mask), _mm256_and_si256(_mm256_slli_epi16(high, 2), high_mask)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low_a, 4), low_mask), _mm256_and_si256(high, high_mask)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low_b, 4), low_mask),
                          _mm256_and_si256(_mm256_srli_epi16(high, 2), high_mask)),
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i values = _mm256_sub_epi8(codes[k], bias);
        float* out = dst + 128 * half + 32 * k;
        const int group = 8 * half + 2 * k;
        _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_set1_ps(scale[group]), to_float(_mm256_castsi256_si128(values))));
        _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_set1_ps(scale[group + 1]),
                                                 to_float(_mm256_extracti128_si256(values, 1))));
      }
    }
  }
}

void tq2_0_avx512(const uint8_t* src, float* dst, int64_t n) {
  const __m256i pair_mask = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / 256; ++b, src += kTQ2_0Bytes, dst += 256) {
    const __m512 d = _mm512_set1_ps(half_at(src + kTQ2_0D));
    // Bit pair k of byte m of each 32 bytes is element 32k + m of those 128.
    for (int base = 0; base < 2; ++base) {
      const __m256i packed = load256(src + 32 * base);
      const __m256i codes[4] = {packed, _mm256_srli_epi16(packed, 2), _mm256_srli_epi16(packed, 4),
                                _mm256_srli_epi16(packed, 6)};
      for (int k = 0; k < 4; ++k)
        store_scaled(dst + 128 * base + 32 * k, _mm256_sub_epi8(_mm256_and_si256(codes[k], pair_mask), one), d);
    }
  }
}

}  // namespace sy::cpu::dequant_simd
