// Generation: evaluate a prompt in batches, then sample and feed one token at a time until an end-of-generation
// token, the token limit, a full context or the caller says stop. Tokenizer-free (ids in, ids out), so the CLI and
// the embedding API put their own text on either side.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "core/config/run_config.h"
#include "core/runtime/sampler.h"
#include "core/runtime/session.h"

namespace sy::runtime {

struct GenerationParams {
  SamplingParams sampling;
  uint64_t max_tokens = 128;  // tokens to generate at most
  bool ignore_eos = false;    // keep going past end-of-generation tokens
};

// The configuration's sampling.* values, runtime.seed and sampling.max_tokens as generation parameters.
GenerationParams generation_params(const config::RunConfig& config);

enum class StopReason { end_of_generation, max_tokens, context_full, cancelled };
std::string_view to_string(StopReason reason);  // "eos", "length", "context", "cancelled"

struct GenerationMetrics {
  uint64_t prompt_tokens = 0;
  uint64_t generated_tokens = 0;
  double prompt_seconds = 0;       // evaluating the prompt
  double first_token_seconds = 0;  // from the start to the first sampled token
  double generation_seconds = 0;   // from the first sampled token to the last
  double prompt_tokens_per_second() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }
  // Tokens after the first over the time they took (the first token's time is the prompt's).
  double generation_tokens_per_second() const {
    return generation_seconds > 0 && generated_tokens > 1 ? (generated_tokens - 1) / generation_seconds : 0;
  }
};

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated, without the prompt (an end-of-generation token is not included)
  StopReason stop = StopReason::max_tokens;
  GenerationMetrics metrics;
};

// Called with each generated token as soon as it is sampled; return false to stop (StopReason::cancelled).
using TokenCallback = std::function<bool(int32_t token)>;
// Whether a token ends generation (the vocabulary's EOS/EOT ids).
using EndOfGeneration = std::function<bool(int32_t token)>;

// Generates from an empty cache (the session is reset first). `prompt` must not be empty.
GenerationResult generate(Session& session, std::span<const int32_t> prompt, const GenerationParams& params,
                          const EndOfGeneration& is_end, const TokenCallback& on_token);

}  // namespace sy::runtime
