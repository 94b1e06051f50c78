// The loop of the ternary tiles (simd_kernels.h, "Ternary tiles") shared by the AVX2 and AVX-512 units, which
// include it after their own helpers: each supplies the codes of a weight block and their eight int32 lanes, this
// file the reference's float arithmetic on them. Everything here has internal linkage and needs AVX2 + FMA, so it
// is compiled into each ISA unit with that unit's flags and never reaches code that runs on an older CPU.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "plugins/cpu_avx/simd_bytes.h"
#include "plugins/cpu_avx/simd_kernels.h"

// Forced inline: the units' decoders hand their code vectors over in registers only when inlined, and GCC at -O2
// declines for a decoder used by four tile shapes (TQ1_0 at AVX-512 then read 26% of the bandwidth instead of 40%).
#define SY_TERNARY_INLINE [[gnu::always_inline]] inline

namespace sy::cpu::simd {
namespace {

// TQ1_0's bytes hold base-3 numbers scaled to 256 (core/quant/blocks.h, tq1_0_trit): multiplying by 3 modulo 256
// moves the next trit to the top, and the top trit, (p * 3) >> 8, is [p >= 86] + [p >= 171]. The units work on
// p ^ 0x80, which signed compares read directly (p >= 86 is x > -43, p >= 171 is x > 42) and which multiplying by
// 3 keeps biased: (p + 128) * 3 = 3 p + 128 modulo 256.
constexpr int8_t kTritBias = -128, kTritOne = -43, kTritTwo = 42;  // x = p ^ 0x80 > kTritOne: trit >= 1; > kTritTwo: 2
SY_TERNARY_INLINE __m256i ternary_times_three(__m256i p) { return _mm256_add_epi8(p, _mm256_add_epi8(p, p)); }
SY_TERNARY_INLINE __m128i ternary_times_three(__m128i p) { return _mm_add_epi8(p, _mm_add_epi8(p, p)); }

// TQ1_0's bytes 0..31, biased: trit n (n = 0..4) of byte m is element 32 n + m, the top trit of biased[n].
[[maybe_unused]] SY_TERNARY_INLINE void tq1_0_first_bytes(const uint8_t* w, __m256i* biased) {
  biased[0] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)), _mm256_set1_epi8(kTritBias));
#pragma GCC unroll 4
  for (int n = 1; n < 5; ++n) biased[n] = ternary_times_three(biased[n - 1]);
}

// TQ1_0's bytes 32..51, biased, as three vectors whose top trits are elements 160..191, 192..223 and 224..255:
// trit n of bytes 32..47 is element 160 + 16 n + m; trit n of the four high bytes is element 240 + 4 n + j, so their
// 16 bytes are qh[k % 4] * 3^(k / 4) for byte k.
[[maybe_unused]] SY_TERNARY_INLINE void tq1_0_last_bytes(const uint8_t* w, __m256i* biased) {
  __m128i q[5];
  q[0] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 32)), _mm_set1_epi8(kTritBias));
#pragma GCC unroll 4
  for (int n = 1; n < 5; ++n) q[n] = ternary_times_three(q[n - 1]);
  uint32_t high;
  __builtin_memcpy(&high, w + kTQ1_0High, sizeof high);
  const __m128i h0 = _mm_xor_si128(_mm_set1_epi32(static_cast<int>(high)), _mm_set1_epi8(kTritBias)),
                h1 = ternary_times_three(h0), h2 = ternary_times_three(h1), h3 = ternary_times_three(h2);
  const __m128i h = _mm_blend_epi32(_mm_blend_epi32(_mm_blend_epi32(h0, h1, 0x2), h2, 0x4), h3, 0x8);
  biased[0] = _mm256_set_m128i(q[1], q[0]);
  biased[1] = _mm256_set_m128i(q[3], q[2]);
  biased[2] = _mm256_set_m128i(h, q[4]);
}

// The lanes' subtrahend: lane L gets the sum of the activation quants 32 L .. 32 L + 31 (two of the block's
// 16-element sums), for the four first lanes only where the weight block is half a block.
SY_TERNARY_INLINE __m256i ternary_quant_sums(const uint8_t* a, bool half) {
  const __m256i sums = half ? _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + kQ8_KSums)))
                            : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + kQ8_KSums));
  return _mm256_madd_epi16(sums, _mm256_set1_epi16(1));
}

// The 256-bit Isa below (the AVX2 unit's for every format, every unit's for TQ1_0): one vector per 32 elements.
// The products: lane L sums positions 4 L .. 4 L + 3 of every vector, the elements with (e mod 32) / 4 == L, by
// vpdpbusd where the unit has VNNI, else by pair sums, which stay far from int16 saturation (eight of them are at
// most 8 * 2 * 2 * 128).
struct Ternary256 {
  using Vector = __m256i;
  static constexpr int kVectors = 8;
  template <int k>
  SY_TERNARY_INLINE static __m256i products(const __m256i* codes, const uint8_t* a) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    __m256i sum = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < k; ++j) sum = _mm256_dpbusd_epi32(sum, codes[j], load256(a + kQ8_KQuants + 32 * j));
    return sum;
#else
    __m256i pairs = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < k; ++j)
      pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(codes[j], load256(a + kQ8_KQuants + 32 * j)));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
#endif
  }
};

// One weight block of 256 elements (kVectors == Kernel::kVectors) or I2_S's closing half block (half as many):
// unpacked once into registers, then met by each of the tile's kTokens tokens. Every count is a constant and every
// loop unrolled, so codes and accumulators stay in registers (a loop left rolled at -O2 spilled them: 40% slower).
template <class Kernel, int kVectors, int kTokens>
SY_TERNARY_INLINE void ternary_block(const uint8_t* w, int64_t b, const QuantTileArgs& args, __m256* acc) {
  typename Kernel::Vector codes[kVectors];
  Kernel::template decode<kVectors>(w, codes);
  float weight_scale = args.w_scale;
  if constexpr (Kernel::kScaleOffset >= 0) {  // TQ1_0, TQ2_0: each block's fp16 d
    uint16_t d;
    __builtin_memcpy(&d, w + Kernel::kScaleOffset, sizeof d);
    weight_scale = _cvtsh_ss(d);
  }
#pragma GCC unroll 4
  for (int t = 0; t < kTokens; ++t) {
    const uint8_t* a = args.a + t * args.a_stride + b * kQ8_KBytes;
    float activation_scale;
    __builtin_memcpy(&activation_scale, a, sizeof activation_scale);
    const __m256i lanes = _mm256_sub_epi32(Kernel::template products<kVectors>(codes, a),
                                           ternary_quant_sums(a, kVectors < Kernel::kVectors));
    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_set1_ps(activation_scale * weight_scale), acc[t]);
  }
}

template <class Kernel, int kTokens>
void ternary_rows(const QuantTileArgs& args, int rows) {
  const int64_t whole = args.n / 256;
  for (int r = 0; r < rows; ++r) {
    const uint8_t* w = args.w + r * args.w_stride;
    __m256 acc[kTokens];
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < whole; ++b) {
      _mm_prefetch(reinterpret_cast<const char*>(w + b * Kernel::kBlockBytes) + kPrefetchBytes, _MM_HINT_T0);
      ternary_block<Kernel, Kernel::kVectors, kTokens>(w + b * Kernel::kBlockBytes, b, args, acc);
    }
    if constexpr (Kernel::kBlockBytes == 2 * kI2SBytes)
      if (args.n % 256 != 0)
        ternary_block<Kernel, Kernel::kVectors / 2, kTokens>(w + whole * Kernel::kBlockBytes, whole, args, acc);
#pragma GCC unroll 4
    for (int t = 0; t < kTokens; ++t) args.out[t * args.out_stride + r] = horizontal_sum(acc[t]);
  }
}

// The formats over one ISA's code vectors. Isa supplies: Vector; kVectors (per 256 elements, 8 or 4);
// i2_s_codes<k>(w, codes) and tq2_0_codes<k>(w, codes), the codes of k vectors in element order; products<k>(codes,
// a), the eight int32 lanes of the codes' products with Q8_K block a's quants (the lane rule of simd_kernels.h).

// I2_S: 32 bytes hold 128 elements, bit pair 3 - m of byte j being element 32 m + j.
template <class Isa>
struct I2SKernel : Isa {
  static constexpr int kBlockBytes = 2 * kI2SBytes;
  static constexpr int kScaleOffset = -1;  // the tensor's one scale, QuantTileArgs::w_scale
  template <int k>
  SY_TERNARY_INLINE static void decode(const uint8_t* w, typename Isa::Vector* codes) {
    Isa::template i2_s_codes<k>(w, codes);
  }
};

// TQ1_0 (blocks.h, dequantize_chunk_tq1_0; the byte order above): the eight biased vectors of a block, then their
// top trits, [x > kTritOne] + [x > kTritTwo] from two compares whose masks are -1. In 256-bit vectors in every
// unit: those compares write vectors, which two ports take, where at 512 bits a byte compare writes a mask, on one
// port only, and TQ1_0's decoding, two compares per 32 bytes, ran slower (bench/README.md, "Fifth round").
struct TQ1_0Kernel : Ternary256 {
  static constexpr int kBlockBytes = kTQ1_0Bytes;
  static constexpr int kScaleOffset = kTQ1_0D;
  template <int k>
  SY_TERNARY_INLINE static void decode(const uint8_t* w, __m256i* codes) {
    static_assert(k == kVectors);
    __m256i biased[8];
    tq1_0_first_bytes(w, biased);
    tq1_0_last_bytes(w, biased + 5);
#pragma GCC unroll 8
    for (int n = 0; n < k; ++n) {
      const __m256i ones = _mm256_cmpgt_epi8(biased[n], _mm256_set1_epi8(kTritOne));
      const __m256i twos = _mm256_cmpgt_epi8(biased[n], _mm256_set1_epi8(kTritTwo));
      codes[n] = _mm256_abs_epi8(_mm256_add_epi8(ones, twos));
    }
  }
};

// TQ2_0 (blocks.h): 64 bytes of 2-bit codes per 256 elements, bit pair m of byte j of each 32 being element 32 m + j
// of its 128, then the fp16 d. Its dot product's lanes are the rule above too, so it shares the tiles.
template <class Isa>
struct TQ2_0Kernel : Isa {
  static constexpr int kBlockBytes = kTQ2_0Bytes;
  static constexpr int kScaleOffset = kTQ2_0D;
  template <int k>
  SY_TERNARY_INLINE static void decode(const uint8_t* w, typename Isa::Vector* codes) {
    Isa::template tq2_0_codes<k>(w, codes);
  }
};

// One ISA's tile, Kernel being I2SKernel<Isa>, TQ1_0Kernel<Isa> or TQ2_0Kernel<Isa>: kVectors code vectors per 256
// elements and kBlockBytes weight bytes; decode<k>(w, codes), the codes 0, 1, 2 of k vectors in element order.
// Only I2_S rows end in a half block.
template <class Kernel>
void run_ternary_tile(const QuantTileArgs& args, int rows, int tokens) {
  static_assert(Kernel::kBlockBytes == 2 * kI2SBytes || Kernel::kBlockBytes == kTQ1_0Bytes ||
                Kernel::kBlockBytes == kTQ2_0Bytes);
  static_assert(kTileTokens == 4);
  switch (tokens) {
    case 1: return ternary_rows<Kernel, 1>(args, rows);
    case 2: return ternary_rows<Kernel, 2>(args, rows);
    case 3: return ternary_rows<Kernel, 3>(args, rows);
    default: return ternary_rows<Kernel, 4>(args, rows);
  }
}

}  // namespace
}  // namespace sy::cpu::simd
