// AVX-512 (F, BW, VL) inner loops of the CPU plugin (compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c;
// see simd_kernels.h). Float tails use masked loads, so no scalar loop is needed.
// This file is compiled twice: once as is, once with -mavx512vnni, which turns the byte products of the quantized
// dot products into vpdpbusd and names them *_avx512_vnni; the float kernels exist only in the first build.
#include <immintrin.h>

#include <cstdint>

#include "plugins/cpu_avx/simd_kernels.h"

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

// Scalars of a block; memcpy because blocks are packed at any byte offset.
float half_at(const uint8_t* p) {
  uint16_t bits;
  __builtin_memcpy(&bits, p, sizeof bits);
  return _cvtsh_ss(bits);
}
float float_at(const uint8_t* p) {
  float value;
  __builtin_memcpy(&value, p, sizeof value);
  return value;
}
__m256i load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
__m512i load512(const uint8_t* p) { return _mm512_loadu_si512(p); }
__m512i join(__m256i low, __m256i high) { return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1); }

int horizontal_sum(__m256i v) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0x4e));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0xb1));
  return _mm_cvtsi128_si32(sum);
}

// acc + sixteen int32 sums of four byte products each, unsigned u times signed s. Without VNNI through
// vpmaddubsw, whose int16 pair sums never saturate here: every caller's u is at most 128 and |s| at most 127.
__m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) {
#ifdef __AVX512VNNI__
  return _mm512_dpbusd_epi32(acc, u, s);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

// Two blocks' scales in one vector: `low` in lanes 0..7, `high` in lanes 8..15.
__m512 two_scales(float low, float high) {
  return _mm512_insertf32x8(_mm512_set1_ps(low), _mm256_set1_ps(high), 1);
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

float sum_squares_avx512(const float* x, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
    acc = _mm512_fmadd_ps(v, v, acc);
  }
  return _mm512_reduce_add_ps(acc);
}
#endif  // !__AVX512VNNI__

// ---- Quantized dot products (see simd_kernels.h) ----------------------------------------------------------------
// Two 32-element blocks per 512-bit vector for Q4_0 and Q8_0; 64 elements at a time for the 256-element blocks.

float SY_AVX512_KERNEL(dot_q4_0_q8_0)(const void* w_row, const void* a_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(w_row);
  const auto* a = static_cast<const uint8_t*>(a_row);
  const int64_t blocks = n / 32;
  const __m512i low_nibbles = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2, w += 2 * kQ4_0Bytes, a += 2 * kQ8_0Bytes) {
    const __m256i packed = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(w + kQ4_0Bytes + kQ4_0Quants),
                                               reinterpret_cast<const __m128i*>(w + kQ4_0Quants));
    // 128-bit lanes [b0, b1, b0 >> 4, b1 >> 4] reordered to [b0 low, b0 high, b1 low, b1 high] nibbles, which is
    // element order: low nibbles are elements 0..15, high nibbles 16..31.
    const __m512i spread = join(packed, _mm256_srli_epi16(packed, 4));
    const __m512i codes = _mm512_and_si512(_mm512_shuffle_i64x2(spread, spread, _MM_SHUFFLE(3, 1, 2, 0)), low_nibbles);
    const __m512i x = join(load256(a + kQ8_0Quants), load256(a + kQ8_0Bytes + kQ8_0Quants));
    // Codes are the value plus 8: sum(code * x) - 8 * sum(x).
    const __m512i sums = _mm512_sub_epi32(dot_u8s8(_mm512_setzero_si512(), codes, x),
                                          dot_u8s8(_mm512_setzero_si512(), eight, x));
    const __m512 scale = two_scales(half_at(w) * half_at(a), half_at(w + kQ4_0Bytes) * half_at(a + kQ8_0Bytes));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  if (b < blocks) {  // an odd block count: the last block alone, in 256 bits
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + kQ4_0Quants));
    const __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0F));
    const __m256i x = load256(a + kQ8_0Quants);
    const __m256i products = _mm256_madd_epi16(_mm256_maddubs_epi16(codes, x), _mm256_set1_epi16(1));
    const __m256i bias = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), x), _mm256_set1_epi16(1));
    sum += static_cast<float>(horizontal_sum(_mm256_sub_epi32(products, bias))) * (half_at(w) * half_at(a));
  }
  return sum;
}

float SY_AVX512_KERNEL(dot_q8_0_q8_0)(const void* w_row, const void* a_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(w_row);
  const auto* a = static_cast<const uint8_t*>(a_row);
  const int64_t blocks = n / 32;
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2, w += 2 * kQ8_0Bytes, a += 2 * kQ8_0Bytes) {
    const __m512i weights = join(load256(w + kQ8_0Quants), load256(w + kQ8_0Bytes + kQ8_0Quants));
    const __m512i x = join(load256(a + kQ8_0Quants), load256(a + kQ8_0Bytes + kQ8_0Quants));
    // Signed times signed: |w| times x with w's sign moved onto it (AVX-512 has no vpsignb).
    const __m512i signed_x = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(weights), _mm512_setzero_si512(), x);
    const __m512i sums = dot_u8s8(_mm512_setzero_si512(), _mm512_abs_epi8(weights), signed_x);
    const __m512 scale = two_scales(half_at(w) * half_at(a), half_at(w + kQ8_0Bytes) * half_at(a + kQ8_0Bytes));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  if (b < blocks) {
    const __m256i weights = load256(w + kQ8_0Quants), x = load256(a + kQ8_0Quants);
    const __m256i products = _mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_sign_epi8(weights, weights), _mm256_sign_epi8(x, weights)), _mm256_set1_epi16(1));
    sum += static_cast<float>(horizontal_sum(products)) * (half_at(w) * half_at(a));
  }
  return sum;
}

float SY_AVX512_KERNEL(dot_q4_k_q8_k)(const void* w_row, const void* a_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(w_row);
  const auto* a = static_cast<const uint8_t*>(a_row);
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  __m512 acc = _mm512_setzero_ps();
  float offsets = 0;
  for (int64_t b = 0; b < n / 256; ++b, w += kQ4_KBytes, a += kQ8_KBytes) {
    uint8_t scales[8], mins[8];
    q4_k_scales_mins(w + kQ4_KScales, scales, mins);  // core/quant's decode of the 6-bit fields
    const float d = half_at(w) * float_at(a), dmin = half_at(w + kQ4_KDmin) * float_at(a);
    int min_sum = 0;  // the min term needs only the activation's sums of 16
    int16_t sums16[16];
    __builtin_memcpy(sums16, a + kQ8_KSums, sizeof sums16);
    for (int j = 0; j < 8; ++j) min_sum += mins[j] * (sums16[2 * j] + sums16[2 * j + 1]);
    __m512i sumi = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {  // sub-blocks 2k (low nibbles) and 2k + 1 (high): 64 consecutive elements
      const __m256i packed = load256(w + kQ4_KQuants + 32 * k);
      const __m512i codes = join(_mm256_and_si256(packed, low_nibbles),
                                 _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_nibbles));
      const __m512i products = dot_u8s8(_mm512_setzero_si512(), codes, load512(a + kQ8_KQuants + 64 * k));
      const __m512i scale = _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(scales[2 * k]),
                                                    _mm512_set1_epi32(scales[2 * k + 1]));
      sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(products, scale));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), acc);
    offsets += dmin * static_cast<float>(min_sum);
  }
  return _mm512_reduce_add_ps(acc) - offsets;
}

float SY_AVX512_KERNEL(dot_q6_k_q8_k)(const void* w_row, const void* a_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(w_row);
  const auto* a = static_cast<const uint8_t*>(a_row);
  const __m512i low_nibbles = _mm512_set1_epi8(0x0F), high_pair = _mm512_set1_epi8(0x30);
  // Lane i of a 64-element product vector covers elements 4i..4i+3, so group g of 16 is lanes 4g..4g+3.
  const __m512i group_of_lane = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  __m512 acc = _mm512_setzero_ps();
  float biases = 0;
  for (int64_t b = 0; b < n / 256; ++b, w += kQ6_KBytes, a += kQ8_KBytes) {
    const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + kQ6_KScales));
    const __m512i scales = _mm512_cvtepi8_epi32(scales8);
    const float d = half_at(w + kQ6_KD) * float_at(a);
    // The stored 6-bit code is the value plus 32: subtract 32 * scale * (sum of the 16 activations) per group.
    const int bias = 32 * horizontal_sum(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scales8), load256(a + kQ8_KSums)));
    __m512i sumi = _mm512_setzero_si512();
    for (int half = 0; half < 2; ++half) {
      const __m512i low = load512(w + 64 * half);  // low nibbles of elements 0..63 (low) and 64..127 (high)
      const __m256i high = load256(w + kQ6_KHigh + 32 * half);
      const __m512i high01 = join(_mm256_slli_epi16(high, 4), _mm256_slli_epi16(high, 2));
      const __m512i high23 = join(high, _mm256_srli_epi16(high, 2));
      const __m512i codes01 = _mm512_or_si512(_mm512_and_si512(low, low_nibbles), _mm512_and_si512(high01, high_pair));
      const __m512i codes23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), low_nibbles),
                                              _mm512_and_si512(high23, high_pair));
      const uint8_t* x = a + kQ8_KQuants + 128 * half;
      const __m512i p01 = dot_u8s8(_mm512_setzero_si512(), codes01, load512(x));
      const __m512i p23 = dot_u8s8(_mm512_setzero_si512(), codes23, load512(x + 64));
      const __m512i s01 = _mm512_permutexvar_epi32(_mm512_add_epi32(group_of_lane, _mm512_set1_epi32(8 * half)), scales);
      const __m512i s23 =
          _mm512_permutexvar_epi32(_mm512_add_epi32(group_of_lane, _mm512_set1_epi32(8 * half + 4)), scales);
      sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(_mm512_mullo_epi32(p01, s01), _mm512_mullo_epi32(p23, s23)));
    }
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), acc);
    biases += d * static_cast<float>(bias);
  }
  return _mm512_reduce_add_ps(acc) - biases;
}

float SY_AVX512_KERNEL(dot_tq2_0_q8_k)(const void* w_row, const void* a_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(w_row);
  const auto* a = static_cast<const uint8_t*>(a_row);
  const __m256i two_bits = _mm256_set1_epi8(3);
  __m512 acc = _mm512_setzero_ps();
  float biases = 0;
  for (int64_t b = 0; b < n / 256; ++b, w += kTQ2_0Bytes, a += kQ8_KBytes) {
    __m512i sumi = _mm512_setzero_si512();
    for (int chunk = 0; chunk < 2; ++chunk) {  // 32 bytes: bit pair m of byte j is element 32m + j
      const __m256i packed = load256(w + 32 * chunk);
      const __m512i codes01 = join(_mm256_and_si256(packed, two_bits),
                                   _mm256_and_si256(_mm256_srli_epi16(packed, 2), two_bits));
      const __m512i codes23 = join(_mm256_and_si256(_mm256_srli_epi16(packed, 4), two_bits),
                                   _mm256_and_si256(_mm256_srli_epi16(packed, 6), two_bits));
      const uint8_t* x = a + kQ8_KQuants + 128 * chunk;
      sumi = dot_u8s8(sumi, codes01, load512(x));
      sumi = dot_u8s8(sumi, codes23, load512(x + 64));
    }
    // Codes 0, 1, 2 mean -1, 0, +1: subtract the activation sum once.
    const int bias = horizontal_sum(_mm256_madd_epi16(load256(a + kQ8_KSums), _mm256_set1_epi16(1)));
    const float d = half_at(w + kTQ2_0D) * float_at(a);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), acc);
    biases += d * static_cast<float>(bias);
  }
  return _mm512_reduce_add_ps(acc) - biases;
}

}  // namespace sy::cpu::simd
