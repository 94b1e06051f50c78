// AVX-512 (F, BW, VL) inner loops of the CPU plugin (compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c;
// see simd_kernels.h). Tails use masked loads, so no scalar loop is needed.
#include <immintrin.h>

#include <cstdint>

#include "plugins/cpu_avx/simd_kernels.h"

namespace sy::cpu::simd {

namespace {
__mmask16 tail_mask(int64_t remaining) {
  return static_cast<__mmask16>(remaining >= 16 ? 0xffff : (1u << remaining) - 1u);
}
}  // namespace

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

}  // namespace sy::cpu::simd
