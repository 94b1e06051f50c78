// The CPU plugin's vector attention over float caches against core/kernels/op_math.h's attention_row_reference,
// which the scalar level runs: the same bits for fresh random rows, one query alone and in a batch, across the
// sixteen-key groups, the 64-key steps and the 32-row padding, and with scores far enough apart that the
// exponentials reach the subnormal range and the flush to zero.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/kernels/op_math.h"
#include "plugins/cpu_avx/attention_simd.h"
#include "plugins/cpu_avx/cpu_features.h"
#include "tests/test_support.h"

TEST_CASE("vector attention gives attention_row_reference's bits") {
  if (!sy::cpu::detect_cpu_features().avx2) return;  // the unit needs AVX2 and FMA; nothing to compare without
  auto rng = sy::test::make_rng("cpu_avx attention");
  for (const int64_t head_dim : {8, 64, 128})
    for (const float spread : {1.0f, 30.0f}) {  // 30: scores apart by hundreds, exponentials down to 0
      std::normal_distribution<float> normal(0.0f, spread);
      for (const int64_t n_keys : {1, 2, 15, 16, 17, 31, 33, 64, 65, 100, 200}) {
        const int64_t stride = head_dim * 2;  // two KV heads interleaved, the runtime's cache layout
        std::vector<float> q(head_dim), keys(n_keys * stride), values(n_keys * stride);
        for (auto& x : q) x = normal(rng);
        for (auto& x : keys) x = normal(rng);
        for (auto& x : values) x = normal(rng) / spread;
        const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
        for (const bool batch : {true, false}) {
          CAPTURE(head_dim);
          CAPTURE(spread);
          CAPTURE(n_keys);
          CAPTURE(batch);
          std::vector<float> expected(head_dim, NAN), got(head_dim, -NAN), weights(n_keys), weights2(n_keys);
          alignas(32) float scratch[512];
          const float* k = keys.data() + head_dim;  // the second KV head
          const float* v = values.data() + head_dim;
          sy::kernels::attention_row_reference(
              q.data(), head_dim, n_keys, scale, batch, [&](int64_t j) { return k + j * stride; },
              [&](int64_t j) { return v + j * stride; }, weights.data(), expected.data());
          sy::cpu::simd::attention_row_avx2(q.data(), head_dim, n_keys, scale, batch, k, v, stride, weights2.data(),
                                            scratch, got.data());
          CHECK(std::memcmp(expected.data(), got.data(), expected.size() * sizeof(float)) == 0);
          CHECK(std::memcmp(weights.data(), weights2.data(), weights.size() * sizeof(float)) == 0);
        }
      }
    }
}
