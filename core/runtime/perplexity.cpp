#include "core/runtime/perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/common/error.h"

namespace sy::runtime {

PerplexityResult perplexity(Session& session, std::span<const int32_t> tokens, uint64_t n_ctx, int32_t bos,
                            const std::function<void(uint64_t, uint64_t, double)>& progress) {
  if (n_ctx < 4) throw Error(ErrorCode::invalid_argument, fmt::format("a chunk of {} tokens is too small to score", n_ctx));
  if (n_ctx > session.context_length())
    throw Error(ErrorCode::invalid_argument, fmt::format("chunks of {} tokens exceed the context of {}; raise --ctx-size",
                                                         n_ctx, session.context_length()));
  PerplexityResult r;
  r.chunks = tokens.size() / n_ctx;
  if (r.chunks == 0)
    throw Error(ErrorCode::invalid_argument,
                fmt::format("{} tokens are fewer than one chunk of {}; use smaller chunks", tokens.size(), n_ctx));
  const uint64_t first = n_ctx / 2;
  const size_t n_vocab = session.n_vocab();
  std::vector<int32_t> chunk(n_ctx);
  double nll = 0;
  for (uint64_t c = 0; c < r.chunks; ++c) {
    std::copy_n(tokens.begin() + static_cast<ptrdiff_t>(c * n_ctx), n_ctx, chunk.begin());
    chunk[0] = bos;
    session.reset();
    const auto logits = session.evaluate(chunk, true);
    for (uint64_t j = first; j + 1 < n_ctx; ++j) {
      const float* row = logits.data() + j * n_vocab;
      const double max_logit = *std::max_element(row, row + n_vocab);
      double sum = 0;
      for (size_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - max_logit);
      nll -= static_cast<double>(row[chunk[j + 1]]) - max_logit - std::log(sum);
    }
    r.scored_tokens += n_ctx - 1 - first;
    r.after_chunk.push_back(std::exp(nll / static_cast<double>(r.scored_tokens)));
    if (progress) progress(c + 1, r.chunks, r.after_chunk.back());
  }
  r.perplexity = r.after_chunk.back();
  return r;
}

}  // namespace sy::runtime
