// core/quant/integer_dot.h and the activation quantizer it pairs with: the integer block sums mean the values the
// blocks decode to, and Q8_0 activations round as the reference's x86 build rounds them.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/quant/dequantize.h"
#include "core/quant/integer_dot.h"
#include "core/quant/quantize.h"
#include "tests/test_support.h"

using namespace sy::quant;

namespace {

template <class Block>
Block random_block(std::mt19937_64& rng) {
  Block block;
  auto* bytes = reinterpret_cast<uint8_t*>(&block);
  for (size_t i = 0; i < sizeof block; ++i) bytes[i] = static_cast<uint8_t>(rng());
  return block;
}

BlockQ8_0 random_q8_0(std::mt19937_64& rng) {
  BlockQ8_0 block = random_block<BlockQ8_0>(rng);
  for (auto& q : block.qs)
    if (q == -128) q = -127;  // activations stay in [-127, 127]
  block.d = fp32_to_fp16(1.0f);
  return block;
}

BlockQ8_K random_q8_k(std::mt19937_64& rng) {
  BlockQ8_K block = random_block<BlockQ8_K>(rng);
  for (auto& q : block.qs)
    if (q == -128) q = -127;
  for (int g = 0; g < kSuperBlockElements / 16; ++g) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += block.qs[16 * g + l];
    block.bsums[g] = static_cast<int16_t>(sum);
  }
  block.d = 1.0f;
  return block;
}

// The exact dot product of a weight block decoded at unit scale (so every value is an integer) and activations.
template <class Block, class Activation>
double decoded_dot(const Block& w, const Activation& a, void (*decode)(const Block*, float*)) {
  float values[kSuperBlockElements];
  decode(&w, values);
  double sum = 0;
  for (size_t i = 0; i < sizeof a.qs; ++i) sum += static_cast<double>(values[i]) * a.qs[i];
  return sum;
}

}  // namespace

TEST_CASE("integer block sums equal the dot product of the decoded values") {
  auto rng = sy::test::make_rng("integer_dot block sums");
  for (int trial = 0; trial < 200; ++trial) {
    BlockQ4_0 q4 = random_block<BlockQ4_0>(rng);
    q4.d = fp32_to_fp16(1.0f);
    BlockQ8_0 q8w = random_block<BlockQ8_0>(rng);
    q8w.d = fp32_to_fp16(1.0f);
    const BlockQ8_0 a0 = random_q8_0(rng);
    CHECK(block_sum_q4_0_q8_0(q4, a0) == decoded_dot(q4, a0, dequantize_block_q4_0));
    CHECK(block_sum_q8_0_q8_0(q8w, a0) == decoded_dot(q8w, a0, dequantize_block_q8_0));

    BlockQ6_K q6 = random_block<BlockQ6_K>(rng);
    q6.d = fp32_to_fp16(1.0f);
    const BlockQ8_K ak = random_q8_k(rng);
    CHECK(block_sum_q6_k_q8_k(q6, ak) == decoded_dot(q6, ak, dequantize_block_q6_k));

    BlockTQ2_0 tq2 = random_block<BlockTQ2_0>(rng);
    for (auto& byte : tq2.qs)  // codes 0, 1, 2 only (3 is not a TQ2_0 value)
      for (int shift = 0; shift < 8; shift += 2)
        if (((byte >> shift) & 3) == 3) byte = static_cast<uint8_t>(byte & ~(1 << shift));
    tq2.d = fp32_to_fp16(1.0f);
    int32_t lanes[kDotLanes];
    block_lanes_tq2_0_q8_k(tq2, ak, lanes);
    CHECK(std::accumulate(lanes, lanes + kDotLanes, 0) == decoded_dot(tq2, ak, dequantize_block_tq2_0));

    BlockQ4_K q4k = random_block<BlockQ4_K>(rng);
    q4k.d = fp32_to_fp16(1.0f);
    q4k.dmin = fp32_to_fp16(1.0f);
    int32_t scaled = 0, mins = 0;
    block_sums_q4_k_q8_k(q4k, ak, &scaled, &mins);
    CHECK(scaled - mins == decoded_dot(q4k, ak, dequantize_block_q4_k));
  }
}

TEST_CASE("rows: Q4_0 and Q8_0 fuse one scaled sum per block in block order") {
  auto rng = sy::test::make_rng("integer_dot rows");
  std::vector<BlockQ8_0> w(5), a(5);
  std::vector<BlockQ4_0> w4(5);
  for (size_t b = 0; b < w.size(); ++b) {
    w[b] = random_block<BlockQ8_0>(rng);
    w[b].d = fp32_to_fp16(0.01f * static_cast<float>(b + 1));
    w4[b] = random_block<BlockQ4_0>(rng);
    w4[b].d = w[b].d;
    a[b] = random_q8_0(rng);
    a[b].d = fp32_to_fp16(0.37f / static_cast<float>(b + 1));
  }
  float q4 = 0.0f, q8 = 0.0f;
  for (size_t b = 0; b < w.size(); ++b) {
    const float scale = fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d);
    q4 = std::fma(static_cast<float>(block_sum_q4_0_q8_0(w4[b], a[b])), scale, q4);
    int32_t sum = 0;
    for (int e = 0; e < kBlockElements; ++e) sum += w[b].qs[e] * a[b].qs[e];
    q8 = std::fma(static_cast<float>(sum), scale, q8);
  }
  CHECK(row_dot_q4_0_q8_0(w4.data(), a.data(), 5) == q4);
  CHECK(row_dot_q8_0_q8_0(w.data(), a.data(), 5) == q8);
}

TEST_CASE("Q8_0 activations: multiplier 127 / max|x|, ties to even; the weight quantizer keeps roundf") {
  // max |x| = 127 makes the multiplier exactly 1: 2.5 and -2.5 are ties.
  std::vector<float> x(kBlockElements, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 3.5f;
  BlockQ8_0 activation, weight;
  quantize_row_q8_0_activations(x.data(), &activation, kBlockElements);
  quantize_row_q8_0(x.data(), &weight, kBlockElements);
  CHECK(activation.qs[0] == 127);
  CHECK(activation.qs[1] == 2);
  CHECK(activation.qs[2] == -2);
  CHECK(activation.qs[3] == 4);
  CHECK(weight.qs[1] == 3);  // llama-quantize's files round half away from zero
  CHECK(weight.qs[2] == -3);
  // Random blocks: every code is nearbyint(x * (127 / max|x|)), the scale fp16(max|x| / 127).
  auto rng = sy::test::make_rng("q8_0 activations");
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int trial = 0; trial < 500; ++trial) {
    for (auto& v : x) v = normal(rng);
    quantize_row_q8_0_activations(x.data(), &activation, kBlockElements);
    float amax = 0.0f;
    for (const float v : x) amax = std::max(amax, std::fabs(v));
    const float id = 127.f / amax;
    CHECK(activation.d == fp32_to_fp16(amax / 127.f));
    for (int j = 0; j < kBlockElements; ++j) CHECK(activation.qs[j] == static_cast<int8_t>(std::nearbyint(x[j] * id)));
  }
}
