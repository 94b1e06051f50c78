// Attention over float caches with AVX2 + FMA: core/kernels/op_math.h's attention_row_reference, step for step, its
// sixteen-lane sums as pairs of 256-bit vectors (compiled with -mavx2 -mfma -ffp-contract=off: every fused
// multiply-add here is written out, and nothing else is fused, so the bits are the reference function's).
#include "plugins/cpu_avx/attention_simd.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "core/kernels/op_math.h"
#include "plugins/cpu_avx/simd_bytes.h"  // static: compiled here with this unit's flags

namespace sy::cpu::simd {

namespace {

// The sixteen lanes lo (0..7) and hi (8..15) added as add_16_lanes adds them: halves of 8, then the eight as
// horizontal_sum adds them (halves of 4, then pairs).
inline float add_16_lanes(__m256 lo, __m256 hi) { return horizontal_sum(_mm256_add_ps(hi, lo)); }

// dot_f32_reference: four accumulators of sixteen lanes over steps of 64, then the tail one product at a time.
inline float dot_f32(const float* x, const float* y, int64_t n) {
  __m256 acc[4][2];
  for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
  const int64_t steps = n / 64 * 64;
  for (int64_t i = 0; i < steps; i += 64)
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j)
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
        const int64_t e = i + 16 * j + 8 * h;
        acc[j][h] = _mm256_fmadd_ps(_mm256_loadu_ps(x + e), _mm256_loadu_ps(y + e), acc[j][h]);
      }
  __m256 lanes[2];
  for (int h = 0; h < 2; ++h)
    lanes[h] = _mm256_add_ps(_mm256_add_ps(acc[0][h], acc[2][h]), _mm256_add_ps(acc[1][h], acc[3][h]));
  float sum = add_16_lanes(lanes[0], lanes[1]);
  for (int64_t i = steps; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

// exp_reference for eight values: 2^n by its exponent bits, in two exact steps below 2^-126 so that the result
// rounds once, as the vector instruction scaling by 2^n does.
inline __m256 exp8(__m256 x) {
  const __m256 round_bias = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), round_bias);
  const __m256 n = _mm256_sub_ps(z, round_bias);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
  // Lanes with |n| > 192 are replaced below; clamping n keeps their exponent arithmetic harmless.
  const __m256i ni = _mm256_cvtps_epi32(_mm256_max_ps(_mm256_min_ps(n, _mm256_set1_ps(127)), _mm256_set1_ps(-192)));
  const __m256i low = _mm256_cmpgt_epi32(_mm256_set1_epi32(-126), ni);  // n < -126: 2^(n + 96), then 2^-96
  const __m256i shifted = _mm256_add_epi32(ni, _mm256_and_si256(low, _mm256_set1_epi32(96)));
  const __m256 power = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(shifted, _mm256_set1_epi32(127)), 23));
  __m256 result = _mm256_mul_ps(j, power);
  result = _mm256_blendv_ps(result, _mm256_mul_ps(result, _mm256_set1_ps(0x1p-96f)), _mm256_castsi256_ps(low));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 out_of_range = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  const __m256 flushed = _mm256_and_ps(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(INFINITY));
  return _mm256_blendv_ps(result, flushed, out_of_range);
}

}  // namespace

void attention_row_avx2(const float* q, int64_t head_dim, int64_t n_keys, float scale, bool batch, const float* keys,
                        const float* values, int64_t row_stride, float* weights, float* scratch, float* out) {
  float max_score = -INFINITY;
  for (int64_t j = 0; j < n_keys; ++j) {
    weights[j] = dot_f32(keys + j * row_stride, q, head_dim) * scale;
    max_score = std::fmax(max_score, weights[j]);
  }
  // Exponentials sixteen keys at a time, each group's sum in float, the groups' sums in double.
  double sum = 0;
  const __m256 max8 = _mm256_set1_ps(max_score);
  for (int64_t first = 0; first < n_keys; first += 16) {
    __m256 half[2];
    for (int h = 0; h < 2; ++h) {
      const int64_t start = first + 8 * h;
      const int64_t count = std::min<int64_t>(8, std::max<int64_t>(0, n_keys - start));
      alignas(32) float lanes[8];
      for (int l = 0; l < 8; ++l) lanes[l] = l < count ? weights[start + l] : -INFINITY;
      half[h] = exp8(_mm256_sub_ps(_mm256_load_ps(lanes), max8));
      _mm256_store_ps(lanes, half[h]);
      for (int l = 0; l < count; ++l) weights[start + l] = lanes[l];
    }
    sum += static_cast<double>(add_16_lanes(half[0], half[1]));
  }
  const auto inverse = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n_keys; ++j) weights[j] *= inverse;

  // The weighted sum of V, eight output elements at a time.
  const int64_t padded =
      (n_keys + kernels::kReferenceKvPadding - 1) / kernels::kReferenceKvPadding * kernels::kReferenceKvPadding;
  for (int64_t d = 0; d < head_dim; d += 8) {
    if (batch) {  // sixteen key lanes: key j in lane j mod 16
      __m256 lane[16];
      for (auto& l : lane) l = _mm256_setzero_ps();
      for (int64_t j = 0; j < n_keys; ++j)
        lane[j % 16] = _mm256_fmadd_ps(_mm256_loadu_ps(values + j * row_stride + d), _mm256_set1_ps(weights[j]),
                                       lane[j % 16]);
      __m256 eight[8], four[4];
      for (int l = 0; l < 8; ++l) eight[l] = _mm256_add_ps(lane[l + 8], lane[l]);
      for (int l = 0; l < 4; ++l) four[l] = _mm256_add_ps(eight[l + 4], eight[l]);
      _mm256_storeu_ps(out + d, _mm256_add_ps(_mm256_add_ps(four[0], four[2]), _mm256_add_ps(four[1], four[3])));
    } else {  // dot_f32_reference over the padded length, per element (the padding's terms are zero)
      __m256* acc = reinterpret_cast<__m256*>(scratch);  // 64 accumulators: [j][lane]
      for (int i = 0; i < 64; ++i) acc[i] = _mm256_setzero_ps();
      const int64_t steps = padded / 64 * 64;
      // Past n_keys the terms are zeros, fused and added as the reference function does (a zero can still turn
      // an accumulator's -0 into +0).
      const auto value_at = [&](int64_t key) {
        return key < n_keys ? _mm256_loadu_ps(values + key * row_stride + d) : _mm256_setzero_ps();
      };
      const auto weight_at = [&](int64_t key) { return _mm256_set1_ps(key < n_keys ? weights[key] : 0.0f); };
      for (int64_t i = 0; i < steps; i += 64)
        for (int k = 0; k < 64; ++k) acc[k] = _mm256_fmadd_ps(value_at(i + k), weight_at(i + k), acc[k]);
      // lanes[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]), acc[j][l] being accumulator 16 j + l.
      __m256 lanes[16];
      for (int l = 0; l < 16; ++l)
        lanes[l] = _mm256_add_ps(_mm256_add_ps(acc[l], acc[32 + l]), _mm256_add_ps(acc[16 + l], acc[48 + l]));
      __m256 eight[8], four[4];
      for (int l = 0; l < 8; ++l) eight[l] = _mm256_add_ps(lanes[l + 8], lanes[l]);
      for (int l = 0; l < 4; ++l) four[l] = _mm256_add_ps(eight[l + 4], eight[l]);
      __m256 total = _mm256_add_ps(_mm256_add_ps(four[0], four[2]), _mm256_add_ps(four[1], four[3]));
      for (int64_t key = steps; key < padded; ++key)  // the tail: product rounded, then added
        total = _mm256_add_ps(total, _mm256_mul_ps(value_at(key), weight_at(key)));
      _mm256_storeu_ps(out + d, total);
    }
  }
}

}  // namespace sy::cpu::simd
