// The block decoders of dequant_simd.h written once over the float vector width, which dequant_avx2.cpp (eight
// floats) and dequant_avx512.cpp (sixteen) instantiate with their own Width. The byte work (nibbles, bit planes,
// codebook) is the same 256-bit code at both levels; only the widening to floats, the arithmetic on them and the
// stores take Width's vectors. Everything here has internal linkage, so each unit compiles it with its own -m flags
// and -ffp-contract=off (see core/quant/k_scales.h).
//
// Width supplies: Float (a vector of kLanes floats, kLanes dividing 32), set1, mul, add, sub, store (unaligned);
// to_float(codes, part), lanes kLanes * part .. of 32 int8 codes as exact floats; five_bit_levels(nibbles,
// high_bits), Q5_0/Q5_1's levels 0..31 in element order. Operands keep the reference's order (q * d, scale * q):
// with two NaN operands x86 returns the first one's payload.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/quant/k_scales.h"  // static: compiled in each unit with its flags
#include "plugins/cpu_avx/dequant_simd.h"
#include "plugins/cpu_avx/simd_bytes.h"

namespace sy::cpu::dequant_simd {
namespace {

// The sixteen nibbles of a legacy block as 32 bytes in element order: low nibbles (elements 0..15), then high.
[[maybe_unused]] __m256i nibbles_in_order(const uint8_t* packed) {
  const __m128i bytes = load128(packed);
  const __m128i low_mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low_mask), _mm_and_si128(bytes, low_mask));
}

template <class Width>
struct Decoders {
  using Float = typename Width::Float;
  static constexpr int kParts = 32 / Width::kLanes;  // float vectors per 32 codes

  // out[i] = float(codes[i]) * d for 32 int8 codes: the `float(q) * d` of the reference's legacy blocks.
  static void store_scaled(float* out, __m256i codes, Float d) {
    for (int part = 0; part < kParts; ++part)
      Width::store(out + Width::kLanes * part, Width::mul(Width::to_float(codes, part), d));
  }

  // out[i] = float(codes[i]) * d + m: Q4_1 and Q5_1, product rounded before the add (no FMA), product first.
  static void store_scaled_offset(float* out, __m256i codes, Float d, Float m) {
    for (int part = 0; part < kParts; ++part)
      Width::store(out + Width::kLanes * part, Width::add(Width::mul(Width::to_float(codes, part), d), m));
  }

  // ---- Blocks of 32 ----------------------------------------------------------------------------------------------

  static void q4_0(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t b = 0; b < n / 32; ++b, src += kQ4_0Bytes, dst += 32) {
      const __m256i codes = _mm256_sub_epi8(nibbles_in_order(src + kQ4_0Quants), _mm256_set1_epi8(8));
      store_scaled(dst, codes, Width::set1(half_at(src)));
    }
  }

  static void q4_1(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t b = 0; b < n / 32; ++b, src += kQ4_1Bytes, dst += 32) {
      store_scaled_offset(dst, nibbles_in_order(src + kQ4_1Quants), Width::set1(half_at(src)),
                          Width::set1(half_at(src + kQ4_1Min)));
    }
  }

  static void q5_0(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t b = 0; b < n / 32; ++b, src += kQ5_0Bytes, dst += 32) {
      const __m256i levels = Width::five_bit_levels(src + kQ5_0Quants, src + kQ5_0High);
      store_scaled(dst, _mm256_sub_epi8(levels, _mm256_set1_epi8(16)), Width::set1(half_at(src)));
    }
  }

  static void q5_1(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t b = 0; b < n / 32; ++b, src += kQ5_1Bytes, dst += 32) {
      store_scaled_offset(dst, Width::five_bit_levels(src + kQ5_1Quants, src + kQ5_1High), Width::set1(half_at(src)),
                          Width::set1(half_at(src + kQ5_1Min)));
    }
  }

  static void q8_0(const uint8_t* src, float* dst, int64_t n) {
    for (int64_t b = 0; b < n / 32; ++b, src += kQ8_0Bytes, dst += 32)
      store_scaled(dst, load256(src + kQ8_0Quants), Width::set1(half_at(src)));
  }

  static void iq4_nl(const uint8_t* src, float* dst, int64_t n) {
    // blocks.h's iq4_nl_value codebook; a byte shuffle looks sixteen values up at once.
    const __m256i codebook = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89,
                                              113, -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89,
                                              113);
    for (int64_t b = 0; b < n / 32; ++b, src += kIQ4_NLBytes, dst += 32) {
      const __m256i values = _mm256_shuffle_epi8(codebook, nibbles_in_order(src + kIQ4_NLQuants));
      store_scaled(dst, values, Width::set1(half_at(src)));
    }
  }

  // ---- Super-blocks of 256 ---------------------------------------------------------------------------------------

  static void q4_k(const uint8_t* src, float* dst, int64_t n) {
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
          const Float sub_scale = Width::set1(scale[2 * p + h]), sub_offset = Width::set1(offset[2 * p + h]);
          float* out = dst + 64 * p + 32 * h;
          for (int part = 0; part < kParts; ++part) {
            const Float level = Width::to_float(halves[h], part);
            Width::store(out + Width::kLanes * part, Width::sub(Width::mul(sub_scale, level), sub_offset));
          }
        }
      }
    }
  }

  static void q6_k(const uint8_t* src, float* dst, int64_t n) {
    const __m256i low_mask = _mm256_set1_epi8(0x0F), high_mask = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
    for (int64_t b = 0; b < n / 256; ++b, src += kQ6_KBytes, dst += 256) {
      // The reference's d * scale * q is (d * scale) * q: one scale per 16 elements, rounded before the product.
      float scale[16];
      Width::q6_k_scales(src + kQ6_KScales, half_at(src + kQ6_KD), scale);
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
          const float* group_scale = scale + 8 * half + 2 * k;  // elements 16 g .. 16 g + 15 of these 32
          for (int part = 0; part < kParts; ++part) {
            const Float sub_scale = Width::set1(group_scale[Width::kLanes * part / 16]);
            Width::store(out + Width::kLanes * part, Width::mul(sub_scale, Width::to_float(values, part)));
          }
        }
      }
    }
  }

  static void tq2_0(const uint8_t* src, float* dst, int64_t n) {
    const __m256i pair_mask = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < n / 256; ++b, src += kTQ2_0Bytes, dst += 256) {
      const Float d = Width::set1(half_at(src + kTQ2_0D));
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
};

}  // namespace
}  // namespace sy::cpu::dequant_simd
