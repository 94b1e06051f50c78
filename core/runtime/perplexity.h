// Perplexity by the reference implementation's protocol (../shared/reference/perplexity.json): BOS-led chunks of
// n_ctx tokens, each evaluated from an empty cache, the second half of each chunk scored with a log-softmax in
// double precision. `switchyard score` and the embedding API's Session::score use it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/runtime/session.h"

namespace sy::runtime {

struct PerplexityResult {
  double perplexity = 0;
  uint64_t chunks = 0;
  uint64_t scored_tokens = 0;
  std::vector<double> after_chunk;  // running perplexity after each chunk
};

// `tokens` is the whole text tokenized (with its leading BOS); each chunk's first token is replaced by `bos`.
// `progress(done, total)` is called after each chunk (optional). Throws sy::Error(invalid_argument) when the tokens
// make no whole chunk or n_ctx exceeds the session's context.
PerplexityResult perplexity(Session& session, std::span<const int32_t> tokens, uint64_t n_ctx, int32_t bos,
                            const std::function<void(uint64_t, uint64_t, double)>& progress = {});

}  // namespace sy::runtime
