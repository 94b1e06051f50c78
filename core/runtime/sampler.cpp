#include "core/runtime/sampler.h"

#include <algorithm>
#include <cmath>

namespace sy::runtime {

int32_t argmax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

void Sampler::accept(int32_t token) {
  if (params_.repeat_last_n == 0) return;
  recent_.push_back(token);
  if (recent_.size() > params_.repeat_last_n) recent_.pop_front();
}

int32_t Sampler::sample(std::span<const float> logits) {
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates_[i] = {logits[i], static_cast<int32_t>(i)};
  // Repetition penalty: positive logits are divided by the penalty, negative ones multiplied (as the reference).
  if (params_.repeat_penalty != 1.0) {
    for (const int32_t token : recent_) {
      if (token < 0 || static_cast<size_t>(token) >= candidates_.size()) continue;
      float& l = candidates_[static_cast<size_t>(token)].first;
      // A token repeated in the window is penalised once, as the reference does: mark it by its id's sign.
      if (candidates_[static_cast<size_t>(token)].second < 0) continue;
      l = l > 0 ? static_cast<float>(l / params_.repeat_penalty) : static_cast<float>(l * params_.repeat_penalty);
      candidates_[static_cast<size_t>(token)].second = -1 - token;
    }
    for (auto& c : candidates_) {
      if (c.second < 0) c.second = -1 - c.second;
    }
  }
  if (params_.temperature <= 0) {
    size_t best = 0;
    for (size_t i = 1; i < candidates_.size(); ++i) {
      if (candidates_[i].first > candidates_[best].first) best = i;
    }
    return candidates_[best].second;
  }
  // Highest first; ties by id so that the order is the same on every machine.
  const auto higher = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  size_t n = candidates_.size();
  if (params_.top_k > 0 && params_.top_k < n) {
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<ptrdiff_t>(params_.top_k),
                      candidates_.end(), higher);
    n = params_.top_k;
  } else {
    std::sort(candidates_.begin(), candidates_.end(), higher);
  }
  // Softmax over the survivors (at temperature 1, as the reference's top-p and min-p see them).
  probabilities_.resize(n);
  const double max_logit = candidates_[0].first;
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += probabilities_[i] = std::exp(candidates_[i].first - max_logit);
  if (params_.top_p < 1.0) {
    double cumulative = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cumulative += probabilities_[i] / total;
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (params_.min_p > 0.0) {
    // probabilities_[0] is the largest: keep those at least min_p times it.
    size_t keep = 1;
    while (keep < n && probabilities_[keep] >= params_.min_p * probabilities_[0]) ++keep;
    n = keep;
  }
  total = 0;
  for (size_t i = 0; i < n; ++i)
    total += probabilities_[i] = std::exp((candidates_[i].first - max_logit) / params_.temperature);
  // A uniform double in [0, 1) from the top 53 bits: the same on every platform.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += probabilities_[i];
    if (u < cumulative) return candidates_[i].second;
  }
  return candidates_[n - 1].second;
}

}  // namespace sy::runtime
