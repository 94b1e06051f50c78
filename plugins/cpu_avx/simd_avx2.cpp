// AVX2 + FMA + F16C inner loops of the CPU plugin (compiled with -mavx2 -mfma -mf16c; see simd_kernels.h): the float
// dot products and the quantized ones (weight blocks against Q8_0 / Q8_K activation blocks, integer products).
#include <immintrin.h>

#include <cstdint>

#include "core/quant/k_scales.h"     // static: compiled here with this unit's flags
#include "core/quant/scaled_sums.h"  // static too
#include "plugins/cpu_avx/simd_bytes.h"    // static: compiled here with this unit's flags
#include "plugins/cpu_avx/simd_kernels.h"
#include "plugins/cpu_avx/ternary_tile.h"  // internal linkage: compiled here with this unit's flags

namespace sy::cpu::simd {

namespace {
// Eight int32 sums of four byte products each, unsigned u times signed s. vpmaddubsw saturates its int16 pair
// sums, which never happens here: every caller's u is at most 128 and |s| at most 127 (2 * 128 * 127 < 32767).
__m256i dot_u8s8(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }

}  // namespace

float dot_f32_avx2(const float* a, const float* b, int64_t n) {
  // Two accumulators hide the FMA latency.
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float dot_f16_avx2(const uint16_t* w, const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8)));
    acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
  }
  float sum = horizontal_sum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += _cvtsh_ss(w[i]) * x[i];
  return sum;
}

// ---- Row tiles (simd_kernels.h): eight rows' exact block sums in the lanes of one vector ------------------------

namespace {

// Lane r: the sum of v[r]'s eight int32 lanes (integers, so the order of the additions is free).
[[gnu::always_inline]] inline __m256i row_sums(const __m256i* v) {
  const __m256i s01 = _mm256_hadd_epi32(v[0], v[1]), s23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i s45 = _mm256_hadd_epi32(v[4], v[5]), s67 = _mm256_hadd_epi32(v[6], v[7]);
  // Lanes 0..3: rows 0..3's first halves, lanes 4..7 their second halves; likewise rows 4..7.
  const __m256i s0123 = _mm256_hadd_epi32(s01, s23), s4567 = _mm256_hadd_epi32(s45, s67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(s0123, s4567, 0x20),
                          _mm256_permute2x128_si256(s0123, s4567, 0x31));
}

// The fp16 scales at byte `offset` of the eight rows' blocks, as floats in row order.
[[gnu::always_inline]] inline __m256 row_scales(const uint8_t* const* w, int64_t offset) {
  uint16_t bits[kRowTileRows];
  #pragma GCC unroll 8
  for (int r = 0; r < kRowTileRows; ++r) __builtin_memcpy(&bits[r], w[r] + offset, sizeof bits[r]);
  return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<int16_t>(bits[0]), static_cast<int16_t>(bits[1]),
                                        static_cast<int16_t>(bits[2]), static_cast<int16_t>(bits[3]),
                                        static_cast<int16_t>(bits[4]), static_cast<int16_t>(bits[5]),
                                        static_cast<int16_t>(bits[6]), static_cast<int16_t>(bits[7])));
}

// A row tile's rows (the last one repeated past `rows`: those lanes are computed and never stored) and its
// accumulators, lane r of acc[t] being row r's output for token t.
template <int T>
struct RowTile {
  const uint8_t* w[kRowTileRows];
  __m256 acc[T];
  RowTile(const QuantTileArgs& args, int rows) {
    #pragma GCC unroll 8
    for (int r = 0; r < kRowTileRows; ++r) w[r] = args.w + (r < rows ? r : rows - 1) * args.w_stride;
    for (auto& sum : acc) sum = _mm256_setzero_ps();
  }
  // accumulate_block for eight rows: acc + sums * (w_scale * a_scale), each lane rounded once.
  void fuse(int t, __m256i sums, __m256 w_scale, float a_scale) {
    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(w_scale, _mm256_set1_ps(a_scale)), acc[t]);
  }
  void store(const QuantTileArgs& args, int rows) const {
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      float lanes[kRowTileRows];
      _mm256_storeu_ps(lanes, acc[t]);
      #pragma GCC unroll 8
      for (int r = 0; r < rows; ++r) args.out[t * args.out_stride + r] = lanes[r];
    }
  }
};

// Q4_0: codes (value + 8) against the activations, minus 8 * the activations' sum, per block.
struct Q4_0Rows {
  static constexpr int kBlockElements = 32, kBlockBytes = kQ4_0Bytes;
  template <int T>
  [[gnu::always_inline]] static void block(RowTile<T>& tile, const QuantTileArgs& args, int64_t b) {
    const int64_t offset = b * kQ4_0Bytes;
    // The sixteen bytes in both halves (a load-port broadcast), the upper half shifted by four: elements 0..15
    // from the low nibbles, 16..31 from the high ones, without a cross-lane insert.
    const __m256i half_shifts = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    __m256i codes[kRowTileRows];
    #pragma GCC unroll 8
    for (int r = 0; r < kRowTileRows; ++r) {
      const __m256i packed =
          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tile.w[r] + offset + kQ4_0Quants)));
      codes[r] = _mm256_and_si256(_mm256_srlv_epi32(packed, half_shifts), _mm256_set1_epi8(0x0F));
    }
    const __m256 w_scale = row_scales(tile.w, offset);
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const uint8_t* a = args.a + t * args.a_stride + b * kQ8_0Bytes;
      const __m256i x = load256(a + kQ8_0Quants);
      __m256i lanes[kRowTileRows];
      #pragma GCC unroll 8
      for (int r = 0; r < kRowTileRows; ++r) lanes[r] = dot_u8s8(codes[r], x);
      const int bias = 8 * args.a_sums[t * args.a_sums_stride + b];
      const __m256i sums = _mm256_sub_epi32(row_sums(lanes), _mm256_set1_epi32(bias));
      tile.fuse(t, sums, w_scale, half_at(a));
    }
  }
};

// Q8_0: signed weights against signed activations, |w| (at most 128, read unsigned) against x with w's signs: eight
// int32 lanes per row, added into the row's block sum.
struct Q8_0Rows {
  static constexpr int kBlockElements = 32, kBlockBytes = kQ8_0Bytes;
  template <int T>
  [[gnu::always_inline]] static void block(RowTile<T>& tile, const QuantTileArgs& args, int64_t b) {
    const int64_t offset = b * kQ8_0Bytes;
    __m256i w[kRowTileRows], magnitude[kRowTileRows];
    #pragma GCC unroll 8
    for (int r = 0; r < kRowTileRows; ++r) {
      w[r] = load256(tile.w[r] + offset + kQ8_0Quants);
      magnitude[r] = _mm256_sign_epi8(w[r], w[r]);
    }
    const __m256 w_scale = row_scales(tile.w, offset);
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const uint8_t* a = args.a + t * args.a_stride + b * kQ8_0Bytes;
      const __m256i x = load256(a + kQ8_0Quants);
      __m256i lanes[kRowTileRows];
      #pragma GCC unroll 8
      for (int r = 0; r < kRowTileRows; ++r) lanes[r] = dot_u8s8(magnitude[r], _mm256_sign_epi8(x, w[r]));
      tile.fuse(t, row_sums(lanes), w_scale, half_at(a));
    }
  }
};

// Q4_K: per row the scaled sum and the min sum of each block (as dot_q4_k_q8_k_avx2 computes them), then the two
// fused steps of accumulate_block_with_mins for eight rows at once.
struct Q4_KRows {
  static constexpr int kBlockElements = 256, kBlockBytes = kQ4_KBytes;
  template <int T>
  [[gnu::always_inline]] static void block(RowTile<T>& tile, const QuantTileArgs& args, int64_t b) {
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
    const int64_t offset = b * kQ4_KBytes;
    __m256i scaled[T][kRowTileRows], min_sums[T][kRowTileRows];
    #pragma GCC unroll 8
    for (int r = 0; r < kRowTileRows; ++r) {
      const uint8_t* block = tile.w[r] + offset;
      uint64_t scales, mins;
      quant::scales_mins_k4(block + kQ4_KScales, &scales, &mins);
      const __m128i mins8 = _mm_cvtsi64_si128(static_cast<long long>(mins));
      const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
      const __m256i scales16 =
          _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(scales))));
      __m256i codes[8], scale[8];
      #pragma GCC unroll 8
      for (int k = 0; k < 4; ++k) {
        const __m256i packed = load256(block + kQ4_KQuants + 32 * k);
        codes[2 * k] = _mm256_and_si256(packed, low_nibbles);
        codes[2 * k + 1] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles);
      }
      #pragma GCC unroll 8
      for (int m = 0; m < 8; ++m)
        scale[m] = _mm256_shuffle_epi8(scales16, _mm256_set1_epi16(static_cast<int16_t>((2 * m + 1) << 8 | 2 * m)));
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const uint8_t* a = args.a + t * args.a_stride + b * kQ8_KBytes;
        min_sums[t][r] = _mm256_madd_epi16(mins16, load256(a + kQ8_KSums));
        __m256i sumi = _mm256_setzero_si256();
        #pragma GCC unroll 8
        for (int m = 0; m < 8; ++m)
          sumi = _mm256_add_epi32(
              sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(codes[m], load256(a + kQ8_KQuants + 32 * m)), scale[m]));
        scaled[t][r] = sumi;
      }
    }
    const __m256 d = row_scales(tile.w, offset), dmin = row_scales(tile.w, offset + kQ4_KDmin);
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const float a_scale = float_at(args.a + t * args.a_stride + b * kQ8_KBytes);
      tile.fuse(t, row_sums(scaled[t]), d, a_scale);
      // accumulate_block_with_mins's second step: fnmadd is acc - mins * scale, rounded once, as fmaf(-mins, ...)
      tile.acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(row_sums(min_sums[t])),
                                     _mm256_mul_ps(dmin, _mm256_set1_ps(a_scale)), tile.acc[t]);
    }
  }
};

// Q6_K: as dot_q6_k_q8_k_avx2, the codes' bias of 32 subtracted lane by lane.
struct Q6_KRows {
  static constexpr int kBlockElements = 256, kBlockBytes = kQ6_KBytes;
  template <int T>
  [[gnu::always_inline]] static void block(RowTile<T>& tile, const QuantTileArgs& args, int64_t b) {
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F), high_pair = _mm256_set1_epi8(0x30);
    const int64_t offset = b * kQ6_KBytes;
    __m256i sums[T][kRowTileRows];
    #pragma GCC unroll 8
    for (int r = 0; r < kRowTileRows; ++r) {
      const uint8_t* block = tile.w[r] + offset;
      const auto* scales = reinterpret_cast<const int8_t*>(block + kQ6_KScales);
      const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales)));
      __m256i codes[8], scale[8];
      #pragma GCC unroll 8
      for (int half = 0; half < 2; ++half) {
        const __m256i low0 = load256(block + 64 * half), low1 = load256(block + 64 * half + 32);
        const __m256i high = load256(block + kQ6_KHigh + 32 * half);
        __m256i* c = codes + 4 * half;
        c[0] = _mm256_or_si256(_mm256_and_si256(low0, low_nibbles),
                               _mm256_and_si256(_mm256_slli_epi16(high, 4), high_pair));
        c[1] = _mm256_or_si256(_mm256_and_si256(low1, low_nibbles),
                               _mm256_and_si256(_mm256_slli_epi16(high, 2), high_pair));
        c[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low0, 4), low_nibbles),
                               _mm256_and_si256(high, high_pair));
        c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low1, 4), low_nibbles),
                               _mm256_and_si256(_mm256_srli_epi16(high, 2), high_pair));
      }
      #pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) {  // vector v: elements 32 v .. 32 v + 31, groups 2 v and 2 v + 1
        scale[v] = _mm256_set_m128i(_mm_set1_epi16(scales[2 * v + 1]), _mm_set1_epi16(scales[2 * v]));
      }
      #pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        const uint8_t* a = args.a + t * args.a_stride + b * kQ8_KBytes;
        __m256i sumi = _mm256_slli_epi32(_mm256_madd_epi16(scales16, load256(a + kQ8_KSums)), 5);
        sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
        #pragma GCC unroll 8
        for (int v = 0; v < 8; ++v)
          sumi = _mm256_add_epi32(
              sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(codes[v], load256(a + kQ8_KQuants + 32 * v)), scale[v]));
        sums[t][r] = sumi;
      }
    }
    const __m256 d = row_scales(tile.w, offset + kQ6_KD);
    #pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      tile.fuse(t, row_sums(sums[t]), d, float_at(args.a + t * args.a_stride + b * kQ8_KBytes));
  }
};

// Kernel::block<T> adds one block of every row to the tile's accumulators, block after block.
template <class Kernel, int T = kTileTokens>
void run_row_tile(const QuantTileArgs& args, int rows, int tokens) {
  if constexpr (T > 1)
    if (tokens < T) return run_row_tile<Kernel, T - 1>(args, rows, tokens);
  RowTile<T> tile(args, rows);
  NextTilePrefetch<kRowTileRows> prefetch(args.w, args.w_stride);
  for (int64_t b = 0; b < args.n / Kernel::kBlockElements; ++b) {
    prefetch.through((b + 1) * Kernel::kBlockBytes);
    Kernel::template block<T>(tile, args, b);
  }
  tile.store(args, rows);
}

}  // namespace

void tile_q4_0_q8_0_rows_avx2(const QuantTileArgs& args, int rows, int tokens) {
  run_row_tile<Q4_0Rows>(args, rows, tokens);
}
void tile_q8_0_q8_0_rows_avx2(const QuantTileArgs& args, int rows, int tokens) {
  run_row_tile<Q8_0Rows>(args, rows, tokens);
}
void tile_q4_k_q8_k_rows_avx2(const QuantTileArgs& args, int rows, int tokens) {
  run_row_tile<Q4_KRows>(args, rows, tokens);
}
void tile_q6_k_q8_k_rows_avx2(const QuantTileArgs& args, int rows, int tokens) {
  run_row_tile<Q6_KRows>(args, rows, tokens);
}

// ---- Ternary tiles (I2_S, TQ1_0, TQ2_0; see simd_kernels.h) ------------------------------------------------------------

namespace {

// ternary_tile.h's Isa: its 256-bit one (the products), with I2_S's and TQ2_0's codes.
struct Avx2Ternary : Ternary256 {
  // I2_S: each 32 bytes' four bit pairs, shifted down one by one.
  template <int k>
  SY_TERNARY_INLINE static void i2_s_codes(const uint8_t* w, __m256i* codes) {
    const __m256i two_bits = _mm256_set1_epi8(3);
#pragma GCC unroll 2
    for (int half = 0; half < k / 4; ++half) {
      const __m256i packed = load256(w + kI2SBytes * half);
      codes[4 * half + 0] = _mm256_and_si256(_mm256_srli_epi16(packed, 6), two_bits);
      codes[4 * half + 1] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), two_bits);
      codes[4 * half + 2] = _mm256_and_si256(_mm256_srli_epi16(packed, 2), two_bits);
      codes[4 * half + 3] = _mm256_and_si256(packed, two_bits);
    }
  }
  // TQ2_0: each 32 bytes' four bit pairs, the lowest first.
  template <int k>
  SY_TERNARY_INLINE static void tq2_0_codes(const uint8_t* w, __m256i* codes) {
    const __m256i two_bits = _mm256_set1_epi8(3);
#pragma GCC unroll 2
    for (int half = 0; half < k / 4; ++half) {
      const __m256i packed = load256(w + 32 * half);
      codes[4 * half + 0] = _mm256_and_si256(packed, two_bits);
      codes[4 * half + 1] = _mm256_and_si256(_mm256_srli_epi16(packed, 2), two_bits);
      codes[4 * half + 2] = _mm256_and_si256(_mm256_srli_epi16(packed, 4), two_bits);
      codes[4 * half + 3] = _mm256_and_si256(_mm256_srli_epi16(packed, 6), two_bits);
    }
  }
};

}  // namespace

void tile_i2_s_q8_k_avx2(const QuantTileArgs& args, int rows, int tokens) {
  run_ternary_tile<I2SKernel<Avx2Ternary>>(args, rows, tokens);
}
void tile_tq1_0_q8_k_avx2(const QuantTileArgs& args, int rows, int tokens) {
  run_ternary_tile<TQ1_0Kernel>(args, rows, tokens);
}
void tile_tq2_0_q8_k_avx2(const QuantTileArgs& args, int rows, int tokens) {
  run_ternary_tile<TQ2_0Kernel<Avx2Ternary>>(args, rows, tokens);
}

}  // namespace sy::cpu::simd
