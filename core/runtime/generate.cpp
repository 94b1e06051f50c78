#include "core/runtime/generate.h"

#include <chrono>

#include "core/common/error.h"

namespace sy::runtime {

GenerationParams generation_params(const config::RunConfig& config) {
  GenerationParams p;
  p.sampling.temperature = config.sampling.temperature;
  p.sampling.top_k = config.sampling.top_k;
  p.sampling.top_p = config.sampling.top_p;
  p.sampling.min_p = config.sampling.min_p;
  p.sampling.repeat_penalty = config.sampling.repeat_penalty;
  p.sampling.repeat_last_n = config.sampling.repeat_last_n;
  p.sampling.seed = config.runtime.seed;
  p.max_tokens = config.sampling.max_tokens;
  return p;
}

std::string_view to_string(StopReason reason) {
  switch (reason) {
    case StopReason::end_of_generation: return "eos";
    case StopReason::max_tokens: return "length";
    case StopReason::context_full: return "context";
    case StopReason::cancelled: return "cancelled";
  }
  return "unknown";
}

GenerationResult generate(Session& session, std::span<const int32_t> prompt, const GenerationParams& params,
                          const EndOfGeneration& is_end, const TokenCallback& on_token) {
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  if (prompt.empty()) throw Error(ErrorCode::invalid_argument, "generate: the prompt has no tokens");
  GenerationResult result;
  result.tokens.reserve(params.max_tokens);
  session.reset();
  Sampler sampler(params.sampling);
  for (const int32_t t : prompt) sampler.accept(t);
  const auto start = Clock::now();
  std::span<const float> logits = session.evaluate(prompt, false);
  const auto prompt_done = Clock::now();
  result.metrics.prompt_tokens = prompt.size();
  result.metrics.prompt_seconds = seconds(start, prompt_done);
  Clock::time_point first_token{};
  while (true) {
    if (result.tokens.size() >= params.max_tokens) {
      result.stop = StopReason::max_tokens;
      break;
    }
    const int32_t token = sampler.sample(logits);
    if (result.tokens.empty()) {
      first_token = Clock::now();
      result.metrics.first_token_seconds = seconds(start, first_token);
    }
    if (!params.ignore_eos && is_end && is_end(token)) {
      result.stop = StopReason::end_of_generation;
      break;
    }
    sampler.accept(token);
    result.tokens.push_back(token);
    if (on_token && !on_token(token)) {
      result.stop = StopReason::cancelled;
      break;
    }
    if (result.tokens.size() >= params.max_tokens) {
      result.stop = StopReason::max_tokens;
      break;
    }
    if (session.n_past() >= session.context_length()) {
      result.stop = StopReason::context_full;
      break;
    }
    logits = session.evaluate(std::span<const int32_t>(&result.tokens.back(), 1), false);
  }
  result.metrics.generated_tokens = result.tokens.size();
  if (!result.tokens.empty()) result.metrics.generation_seconds = seconds(first_token, Clock::now());
  return result;
}

}  // namespace sy::runtime
