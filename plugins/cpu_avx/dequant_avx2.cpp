// AVX2 + F16C decoders of weight rows into float32 (compiled with -mavx2 -mfma -mf16c -ffp-contract=off; see
// dequant_simd.h). Each mirrors its scalar decoder in core/quant/blocks.h operation for operation: integer codes are
// widened and converted exactly, then multiplied (and offset) by the block's scales in the reference's order, so
// the bytes written are the reference's. Eight floats per instruction; F16 and BF16 finish odd lengths one by one.
#include <immintrin.h>

#include <cstdint>

#include "core/quant/k_scales.h"  // static: compiled here with this unit's flags
#include "plugins/cpu_avx/dequant_simd.h"

namespace sy::cpu::dequant_simd {

namespace {

// A block's fp16 scale; memcpy because blocks are packed at any byte offset. F16C: the reference's conversion.
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

// The four 8-byte quarters of 32 int8 codes as int32 vectors (the codes here are all in -32..31 or 0..63, so
// sign extension is right for every caller).
__m256i widen_quarter(__m256i codes, int quarter) {
  const __m128i half = quarter < 2 ? _mm256_castsi256_si128(codes) : _mm256_extracti128_si256(codes, 1);
  return _mm256_cvtepi8_epi32(quarter % 2 == 0 ? half : _mm_unpackhi_epi64(half, half));
}
__m256 to_float(__m256i codes, int quarter) { return _mm256_cvtepi32_ps(widen_quarter(codes, quarter)); }

// out[i] = float(codes[i]) * d for 32 int8 codes: the `float(q) * d` of the reference's legacy blocks.
void store_scaled(float* out, __m256i codes, __m256 d) {
  for (int quarter = 0; quarter < 4; ++quarter) _mm256_storeu_ps(out + 8 * quarter, _mm256_mul_ps(to_float(codes, quarter), d));
}

// out[i] = float(codes[i]) * d + m: Q4_1 and Q5_1, product rounded before the add (no FMA), product first.
void store_scaled_offset(float* out, __m256i codes, __m256 d, __m256 m) {
  for (int quarter = 0; quarter < 4; ++quarter)
    _mm256_storeu_ps(out + 8 * quarter, _mm256_add_ps(_mm256_mul_ps(to_float(codes, quarter), d), m));
}

// The sixteen nibbles of a legacy block as 32 bytes in element order: low nibbles (elements 0..15), then high.
__m256i nibbles_in_order(const uint8_t* packed) {
  const __m128i bytes = load128(packed);
  const __m128i low_mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low_mask), _mm_and_si128(bytes, low_mask));
}

// 0x10 in byte j where bit j of `bits` is set, else 0: Q5_0/Q5_1's fifth bits in place.
__m256i fifth_bits(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                                             _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                               0x0101010101010101, 0x0000000000000000));
  // Byte j now holds byte j / 8 of `bits`; setting every bit but bit j % 8 leaves all ones exactly where it is set.
  const __m256i others = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_and_si256(_mm256_cmpeq_epi8(others, _mm256_set1_epi8(-1)), _mm256_set1_epi8(0x10));
}

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

// ---- Blocks of 32 ------------------------------------------------------------------------------------------------

void q4_0_avx2(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ4_0Bytes, dst += 32) {
    const __m256i codes = _mm256_sub_epi8(nibbles_in_order(src + kQ4_0Quants), _mm256_set1_epi8(8));
    store_scaled(dst, codes, _mm256_set1_ps(half_at(src)));
  }
}

void q4_1_avx2(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ4_1Bytes, dst += 32) {
    store_scaled_offset(dst, nibbles_in_order(src + kQ4_1Quants), _mm256_set1_ps(half_at(src)),
                        _mm256_set1_ps(half_at(src + kQ4_1Min)));
  }
}

void q5_0_avx2(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ5_0Bytes, dst += 32) {
    const __m256i levels = _mm256_or_si256(nibbles_in_order(src + kQ5_0Quants), fifth_bits(u32_at(src + kQ5_0High)));
    store_scaled(dst, _mm256_sub_epi8(levels, _mm256_set1_epi8(16)), _mm256_set1_ps(half_at(src)));
  }
}

void q5_1_avx2(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ5_1Bytes, dst += 32) {
    const __m256i levels = _mm256_or_si256(nibbles_in_order(src + kQ5_1Quants), fifth_bits(u32_at(src + kQ5_1High)));
    store_scaled_offset(dst, levels, _mm256_set1_ps(half_at(src)), _mm256_set1_ps(half_at(src + kQ5_1Min)));
  }
}

void q8_0_avx2(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / 32; ++b, src += kQ8_0Bytes, dst += 32)
    store_scaled(dst, load256(src + kQ8_0Quants), _mm256_set1_ps(half_at(src)));
}

void iq4_nl_avx2(const uint8_t* src, float* dst, int64_t n) {
  // blocks.h's iq4_nl_value codebook; a byte shuffle looks sixteen values up at once.
  const __m256i codebook = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                                            -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
  for (int64_t b = 0; b < n / 32; ++b, src += kIQ4_NLBytes, dst += 32) {
    const __m256i values = _mm256_shuffle_epi8(codebook, nibbles_in_order(src + kIQ4_NLQuants));
    store_scaled(dst, values, _mm256_set1_ps(half_at(src)));
  }
}

// ---- Super-blocks of 256 -----------------------------------------------------------------------------------------

void q4_k_avx2(const uint8_t* src, float* dst, int64_t n) {
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
        const __m256 sub_scale = _mm256_set1_ps(scale[2 * p + h]), sub_offset = _mm256_set1_ps(offset[2 * p + h]);
        float* out = dst + 64 * p + 32 * h;
        for (int quarter = 0; quarter < 4; ++quarter) {
          const __m256 level = to_float(halves[h], quarter);
          _mm256_storeu_ps(out + 8 * quarter, _mm256_sub_ps(_mm256_mul_ps(sub_scale, level), sub_offset));
        }
      }
    }
  }
}

void q6_k_avx2(const uint8_t* src, float* dst, int64_t n) {
  const __m256i low_mask = _mm256_set1_epi8(0x0F), high_mask = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
  for (int64_t b = 0; b < n / 256; ++b, src += kQ6_KBytes, dst += 256) {
    // The reference's d * scale * q is (d * scale) * q: one scale per 16 elements, rounded before the product.
    const float d = half_at(src + kQ6_KD);
    float scale[16];
    for (int g = 0; g < 16; ++g) scale[g] = d * static_cast<float>(static_cast<int8_t>(src[kQ6_KScales + g]));
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
        const float* group_scale = scale + 8 * half + 2 * k;
        for (int quarter = 0; quarter < 4; ++quarter) {
          const __m256 sub_scale = _mm256_set1_ps(group_scale[quarter / 2]);
          _mm256_storeu_ps(out + 8 * quarter, _mm256_mul_ps(sub_scale, to_float(values, quarter)));
        }
      }
    }
  }
}

void tq2_0_avx2(const uint8_t* src, float* dst, int64_t n) {
  const __m256i pair_mask = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / 256; ++b, src += kTQ2_0Bytes, dst += 256) {
    const __m256 d = _mm256_set1_ps(half_at(src + kTQ2_0D));
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
