// Turning logits into the next token. The chain runs in a fixed order, the same as the reference implementation's
// default: repetition penalty over the last N tokens, top-k, top-p, min-p, temperature, then a draw from the
// resulting distribution. A temperature of 0 is greedy (argmax, first index on ties) and ignores the rest.
// Deterministic: the same seed, config and logits give the same tokens on every machine (the random stream is a
// 64-bit Mersenne Twister turned into doubles by our own arithmetic, not a library distribution).
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

namespace sy::runtime {

struct SamplingParams {
  double temperature = 0.8;   // 0 = greedy
  uint64_t top_k = 40;        // 0 = all tokens
  double top_p = 0.95;        // 1 = off
  double min_p = 0.05;        // 0 = off
  double repeat_penalty = 1.0;  // 1 = off; > 1 makes recent tokens less likely
  uint64_t repeat_last_n = 64;  // how many recent tokens the penalty looks at
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // The next token for `logits` (one row of n_vocab floats). Allocates nothing once the first call has sized its
  // buffers for the vocabulary.
  int32_t sample(std::span<const float> logits);
  // Records a token of the context (prompt or generated) for the repetition penalty.
  void accept(int32_t token);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> candidates_;
  std::vector<double> probabilities_;
};

// Index of the largest value, first on ties.
int32_t argmax(std::span<const float> logits);

}  // namespace sy::runtime
