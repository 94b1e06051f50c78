// AVX-512 (F, BW, VL) inner loops of the CPU plugin (compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c;
// see simd_kernels.h). Float tails use masked loads, so no scalar loop is needed.
// This file is compiled twice: once as is, once with -mavx512vnni, which turns the byte products of the quantized
// dot products into vpdpbusd and names them *_avx512_vnni; the float kernels exist only in the first build.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "core/quant/k_scales.h"  // static: compiled here with this unit's flags
#include "plugins/cpu_avx/simd_bytes.h"  // static: compiled here with this unit's flags
#include "plugins/cpu_avx/simd_kernels.h"
#include "plugins/cpu_avx/ternary_tile.h"  // internal linkage: compiled here with this unit's flags

#ifdef __AVX512VNNI__
#define SY_AVX512_KERNEL(name) name##_avx512_vnni
#else
#define SY_AVX512_KERNEL(name) name##_avx512
#endif

namespace sy::cpu::simd {

namespace {
[[maybe_unused]] __mmask16 tail_mask(int64_t remaining) {
  return static_cast<__mmask16>(remaining >= 16 ? 0xffff : (1u << remaining) - 1u);
}

// Unaligned loads: blocks are packed at any byte offset (load256 is simd_bytes.h's).
__m512i load512(const uint8_t* p) { return _mm512_loadu_si512(p); }
__m512i join(__m256i low, __m256i high) { return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1); }

// acc + sixteen int32 sums of four byte products each, unsigned u times signed s. Without VNNI through
// vpmaddubsw, whose int16 pair sums never saturate here: every caller's u is at most 128 and |s| at most 127 (Q8_0's
// codes, up to 255, come only with VNNI).
__m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) {
#ifdef __AVX512VNNI__
  return _mm512_dpbusd_epi32(acc, u, s);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

}  // namespace

#ifndef __AVX512VNNI__

float dot_f32_avx512(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_f16_avx512(const uint16_t* w, const float* x, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
    const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 16)));
    acc0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    const __m512 w0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, w + i));
    acc0 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(mask, x + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

#endif  // !__AVX512VNNI__

// ---- Ternary tiles (I2_S, TQ1_0, TQ2_0; see simd_kernels.h) -----------------------------------------------------

namespace {

// The byte products of k code vectors (byte p of vector j is element 64 j + p) with the quants, folded into the
// reference's eight lanes (ternary_tile.h): lanes L and L + 8 of the sixteen hold the elements with
// (e mod 32) / 4 == L.
template <int kVectors>
SY_TERNARY_INLINE __m256i ternary_products(const __m512i* codes, const uint8_t* a) {
  __m512i sum = _mm512_setzero_si512();
#pragma GCC unroll 8
  for (int k = 0; k < kVectors; ++k) sum = dot_u8s8(sum, codes[k], load512(a + kQ8_KQuants + 64 * k));
  return _mm256_add_epi32(_mm512_castsi512_si256(sum), _mm512_extracti64x4_epi64(sum, 1));
}

// ternary_tile.h's Isa for I2_S and TQ2_0: one 512-bit vector per 64 elements (TQ1_0 takes its 256-bit one).
struct Avx512Ternary {
  using Vector = __m512i;
  static constexpr int kVectors = 4;
  // I2_S: each 32 bytes in both halves of a vector, each half shifted by its own amount.
  template <int k>
  SY_TERNARY_INLINE static void i2_s_codes(const uint8_t* w, __m512i* codes) {
    const __m512i two_bits = _mm512_set1_epi8(3);
    const __m512i shifts01 = join(_mm256_set1_epi16(6), _mm256_set1_epi16(4));
    const __m512i shifts23 = join(_mm256_set1_epi16(2), _mm256_setzero_si256());
#pragma GCC unroll 2
    for (int half = 0; half < k / 2; ++half) {
      const __m512i packed = _mm512_broadcast_i64x4(load256(w + kI2SBytes * half));
      codes[2 * half] = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts01), two_bits);
      codes[2 * half + 1] = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts23), two_bits);
    }
  }
  // TQ2_0: as I2_S, the bit pairs taken lowest first.
  template <int k>
  SY_TERNARY_INLINE static void tq2_0_codes(const uint8_t* w, __m512i* codes) {
    const __m512i two_bits = _mm512_set1_epi8(3);
    const __m512i shifts01 = join(_mm256_setzero_si256(), _mm256_set1_epi16(2));
    const __m512i shifts23 = join(_mm256_set1_epi16(4), _mm256_set1_epi16(6));
#pragma GCC unroll 2
    for (int half = 0; half < k / 2; ++half) {
      const __m512i packed = _mm512_broadcast_i64x4(load256(w + 32 * half));
      codes[2 * half] = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts01), two_bits);
      codes[2 * half + 1] = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts23), two_bits);
    }
  }
  template <int k>
  SY_TERNARY_INLINE static __m256i products(const __m512i* codes, const uint8_t* a) {
    return ternary_products<k>(codes, a);
  }
};

}  // namespace

// ---- Q4_0 and Q8_0 against Q8_0 activations, sixteen rows in the lanes of a 512-bit vector ----------------------
// simd_avx2.cpp's row tiles twice as wide: the sixteen rows' quants transposed four bytes at a time (lane r of
// vector g holds bytes 4g..4g+3 of row r), read unsigned against the matching four activation quants broadcast, so
// that every row's exact block sum builds up in its own lane; minus the codes' bias times the activations' sum, then
// the row's fused multiply-add, block after block (integer_dot.h's arithmetic, lane by lane).
namespace {

// The 4 x 4 transpose of four-byte groups of the sixteen bytes at `at` in sixteen rows `stride` apart: groups[g]
// lane r holds bytes 4g..4g+3 of row r's sixteen.
[[gnu::always_inline]] inline void transpose_rows(const uint8_t* at, int64_t stride, __m512i* groups) {
  __m512i quads[4];  // quads[i]: rows i, i + 4, i + 8 and i + 12 in its four 128-bit lanes
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    __m512i v = _mm512_castsi128_si512(load128(at + i * stride));
    v = _mm512_inserti32x4(v, load128(at + (i + 4) * stride), 1);
    v = _mm512_inserti32x4(v, load128(at + (i + 8) * stride), 2);
    quads[i] = _mm512_inserti32x4(v, load128(at + (i + 12) * stride), 3);
  }
  // In each 128-bit lane L, rows 4L..4L+3 after the transpose.
  const __m512i t0 = _mm512_unpacklo_epi32(quads[0], quads[1]), t1 = _mm512_unpackhi_epi32(quads[0], quads[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(quads[2], quads[3]), t3 = _mm512_unpackhi_epi32(quads[2], quads[3]);
  groups[0] = _mm512_unpacklo_epi64(t0, t2);
  groups[1] = _mm512_unpackhi_epi64(t0, t2);
  groups[2] = _mm512_unpacklo_epi64(t1, t3);
  groups[3] = _mm512_unpackhi_epi64(t1, t3);
}

// Q4_0: the codes (value + 8), the low nibbles elements 0..15, the high ones 16..31.
struct Q4_0Codes {
  static constexpr int kBlockBytes = kQ4_0Bytes, kBias = 8;
  [[gnu::always_inline]] static void unpack(const uint8_t* block, int64_t stride, __m512i* codes) {
    const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
    __m512i groups[4];
    transpose_rows(block + kQ4_0Quants, stride, groups);
#pragma GCC unroll 4
    for (int g = 0; g < 4; ++g) {
      codes[g] = _mm512_and_si512(groups[g], low_nibbles);
      codes[4 + g] = _mm512_and_si512(_mm512_srli_epi16(groups[g], 4), low_nibbles);
    }
  }
};

#ifdef __AVX512VNNI__
// Q8_0: the quants plus 128, read unsigned by vpdpbusd (whose int32 sums never saturate). Without VNNI the byte
// products would saturate vpmaddubsw's pair sums, so that level takes the eight-row tile.
struct Q8_0Codes {
  static constexpr int kBlockBytes = kQ8_0Bytes, kBias = 128;
  [[gnu::always_inline]] static void unpack(const uint8_t* block, int64_t stride, __m512i* codes) {
    transpose_rows(block + kQ8_0Quants, stride, codes);
    transpose_rows(block + kQ8_0Quants + 16, stride, codes + 4);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) codes[g] = _mm512_xor_si512(codes[g], flip);
  }
};
#endif

template <class Codes>
struct WideTile {
  template <int T>
  struct Tokens {
    static void run(const QuantTileArgs& args) {
      const int64_t stride = args.w_stride;
      __m512 acc[T];
      for (auto& sum : acc) sum = _mm512_setzero_ps();
      const __m512i row_offsets =
          _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                             _mm512_set1_epi32(static_cast<int32_t>(stride)));
      NextTilePrefetch<kWideRowTileRows> prefetch(args.w, stride);
      for (int64_t b = 0; b < args.n / 32; ++b) {
        prefetch.through((b + 1) * Codes::kBlockBytes);
        const uint8_t* block = args.w + b * Codes::kBlockBytes;
        __m512i codes[8];  // codes[g]: elements 4g..4g+3 of every row, plus the bias
        Codes::unpack(block, stride, codes);
        // Each row's fp16 scale: the low half of the four bytes at its block.
        const __m512 w_scale = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(row_offsets, block, 1)));
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) {
          const uint8_t* a = args.a + t * args.a_stride + b * kQ8_0Bytes;
          __m512i sums[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 8
          for (int g = 0; g < 8; ++g)
            sums[g % 2] = dot_u8s8(sums[g % 2], codes[g],
                                   _mm512_set1_epi32(static_cast<int32_t>(u32_at(a + kQ8_0Quants + 4 * g))));
          const int bias = Codes::kBias * args.a_sums[t * args.a_sums_stride + b];
          const __m512i sum = _mm512_sub_epi32(_mm512_add_epi32(sums[0], sums[1]), _mm512_set1_epi32(bias));
          acc[t] =
              _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(w_scale, _mm512_set1_ps(half_at(a))), acc[t]);
        }
      }
      for (int t = 0; t < T; ++t) _mm512_storeu_ps(args.out + t * args.out_stride, acc[t]);
    }
  };
};

// The wide tile for a whole tile of sixteen rows; narrow (the eight-row AVX2 tile, the same arithmetic) for the rest.
template <class Codes, QuantTile narrow, int T = kTileTokens>
void run_wide_tile(const QuantTileArgs& args, int rows, int tokens) {
  if constexpr (T > 1)
    if (tokens < T) return run_wide_tile<Codes, narrow, T - 1>(args, rows, tokens);
  // The scales' gather takes 32-bit offsets: rows of over 2^31 / 16 bytes (some 240 M elements) take the eight-row
  // tile, as a last, partial tile does, eight rows at a time.
  constexpr int64_t kLongestGatheredRow = INT32_MAX / kWideRowTileRows;
  if (rows == kWideRowTileRows && args.w_stride <= kLongestGatheredRow) return WideTile<Codes>::template Tokens<T>::run(args);
  for (int r = 0; r < rows; r += kRowTileRows) {
    QuantTileArgs part = args;
    part.w += r * args.w_stride;
    part.out += r;
    narrow(part, std::min(kRowTileRows, rows - r), tokens);
  }
}

}  // namespace

void SY_AVX512_KERNEL(tile_q4_0_q8_0_rows)(const QuantTileArgs& args, int rows, int tokens) {
  run_wide_tile<Q4_0Codes, tile_q4_0_q8_0_rows_avx2>(args, rows, tokens);
}

#ifdef __AVX512VNNI__
void tile_q8_0_q8_0_rows_avx512_vnni(const QuantTileArgs& args, int rows, int tokens) {
  run_wide_tile<Q8_0Codes, tile_q8_0_q8_0_rows_avx2>(args, rows, tokens);
}
#endif

void SY_AVX512_KERNEL(tile_i2_s_q8_k)(const QuantTileArgs& args, int rows, int tokens) {
  run_ternary_tile<I2SKernel<Avx512Ternary>>(args, rows, tokens);
}
void SY_AVX512_KERNEL(tile_tq1_0_q8_k)(const QuantTileArgs& args, int rows, int tokens) {
  run_ternary_tile<TQ1_0Kernel>(args, rows, tokens);  // 256-bit: see ternary_tile.h
}
void SY_AVX512_KERNEL(tile_tq2_0_q8_k)(const QuantTileArgs& args, int rows, int tokens) {
  run_ternary_tile<TQ2_0Kernel<Avx512Ternary>>(args, rows, tokens);
}

}  // namespace sy::cpu::simd
