// The sampling chain: greedy is argmax, a seed fixes the draw, each filter removes what it should, and the draw
// follows the softmax it claims to.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/runtime/sampler.h"

using namespace sy::runtime;

namespace {
const std::vector<float> kLogits = {1.0f, 3.0f, 2.5f, -1.0f, 3.0f, 0.0f};

// A plain draw from softmax(logits / temperature): every filter off.
SamplingParams unfiltered(double temperature, uint64_t seed) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0;
  p.min_p = 0;
  p.seed = seed;
  return p;
}
}  // namespace

TEST_CASE("temperature 0 is argmax, first index on ties") {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p);
  CHECK(s.sample(kLogits) == 1);
  CHECK(argmax(kLogits) == 1);
}

TEST_CASE("the same seed draws the same tokens, another seed other tokens") {
  const auto draw = [&](uint64_t seed) {
    Sampler s(unfiltered(1.5, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.sample(kLogits));
    return out;
  };
  CHECK(draw(7) == draw(7));
  CHECK(draw(7) != draw(8));
}

TEST_CASE("top-k, top-p and min-p keep only what they should") {
  SamplingParams p = unfiltered(1.0, 0);
  p.top_k = 2;  // tokens 1 and 4 (both 3.0)
  Sampler top_k(p);
  for (int i = 0; i < 200; ++i) {
    const int32_t t = top_k.sample(kLogits);
    CHECK((t == 1 || t == 4));
  }
  p.top_k = 0;
  p.min_p = 0.5;  // keeps logits within log(2) of the best: 3.0, 3.0, 2.5
  Sampler min_p(p);
  for (int i = 0; i < 200; ++i) {
    const int32_t t = min_p.sample(kLogits);
    CHECK((t == 1 || t == 4 || t == 2));
  }
  p.min_p = 0;
  p.top_p = 0.3;  // the first token alone holds ~29%, with the second (tie) ~58%: exactly two survive
  Sampler top_p(p);
  for (int i = 0; i < 200; ++i) {
    const int32_t t = top_p.sample(kLogits);
    CHECK((t == 1 || t == 4));
  }
}

TEST_CASE("the repetition penalty makes a recent token less likely, once per token") {
  SamplingParams p;
  p.temperature = 0;
  p.repeat_penalty = 2.0;
  Sampler s(p);
  s.accept(1);
  s.accept(1);
  s.accept(4);
  CHECK(s.sample(kLogits) == 2);  // 3.0 / 2 = 1.5 for both recent tokens; 2.5 wins
}

TEST_CASE("draws follow the softmax at the given temperature") {
  Sampler s(unfiltered(2.0, 42));
  std::vector<int> counts(kLogits.size());
  const int n = 60000;
  for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(s.sample(kLogits))];
  double total = 0;
  for (float l : kLogits) total += std::exp(l / 2.0);
  for (size_t i = 0; i < kLogits.size(); ++i) {
    const double expected = std::exp(kLogits[i] / 2.0) / total;
    CAPTURE(i);
    CHECK(static_cast<double>(counts[i]) / n == doctest::Approx(expected).epsilon(0.05));
  }
}
