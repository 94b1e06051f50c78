// What the runtime tests share: engines on the CPU plugin or on simdev's simulated GPUs, by placement.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/runtime/engine.h"

namespace sy::test {

enum class Placement {
  cpu,         // everything on the CPU plugin
  simulated,   // every layer on two simulated GPUs (simdev), the embedding on the CPU
  mixed,       // layers split across a simulated GPU and the CPU, feed-forward weights overridden to the CPU
  lazy,        // every layer on a simulated GPU in lazy mode with a cache smaller than the model
};
const char* to_string(Placement placement);

// The run configuration of `placement` (context 256 tokens, batch `batch`).
config::RunConfig placement_config(Placement placement, uint64_t batch = 512);
// An engine for the shared model `name` in `placement`; `threads` 0 = the CPU plugin's default.
// `simdev_options` are extra simdev negotiation options (e.g. {"simdev.abi", "1.2"}).
std::unique_ptr<runtime::Engine> open_engine(const std::string& name, Placement placement, uint64_t batch = 512,
                                             int threads = 0,
                                             const std::vector<std::pair<std::string, std::string>>& simdev_options = {});

// The weights of an F32 model read for plain double-precision forward passes (the definitions the runtime is
// checked against). `file` and `hp` are borrowed.
struct PlainWeights {
  const gguf::File& file;
  const model::Hparams& hp;

  const float* tensor(const std::string& name) const;  // an F32 tensor's values (a failed check when absent)
  // The matrix's per-tensor scale (<matrix>.scale, bitnet), 1 without one.
  double scale(const std::string& matrix) const;
  // y = (W x) * scale for W = <matrix>.weight [n_in, n_out] in GGUF order (row o holds n_in inputs).
  std::vector<double> project(const std::string& matrix, const std::vector<double>& x, size_t n_out) const;
  // RMS norm of x times the tensor `weight`, with hp.rms_norm_eps.
  std::vector<double> norm(const std::vector<double>& x, const std::string& weight) const;
  // Layer `layer`'s attention of the token at `position` over the cached rows (appended to): attn_norm, the q/k/v
  // projections, `rope(vector, heads, position)` on q and k, then attend(); the input of attn_output's sub-norm
  // (bitnet) or attn_output itself.
  std::vector<double> attention(const std::vector<double>& x, size_t layer, int64_t position,
                                std::vector<std::vector<double>>& keys, std::vector<std::vector<double>>& values,
                                const std::function<void(std::vector<double>&, size_t, int64_t)>& rope) const;
  // The plain-loop forward pass the definitions share: logits after each token of `tokens`. Per token the embedding
  // row, then per layer attention() with `rope` and `layer(x, "blk.N.", attention)`, which adds the attention's
  // output and the feed-forward block to x; then output_norm and the head (`output`, or `token_embd` when tied).
  std::vector<std::vector<double>> forward(
      const std::vector<int32_t>& tokens, const std::function<void(std::vector<double>&, size_t, int64_t)>& rope,
      const std::function<void(std::vector<double>&, const std::string&, const std::vector<double>&)>& layer) const;
};

// Causal attention of one query token in double precision for the plain-loop forward passes the runtime is checked
// against: `q` [n_head * head_dim], `keys` and `values` the cached rows so far ([n_kv * head_dim] each, the last
// one the query's own), heads grouped n_head / n_kv per KV head. Returns [n_head * head_dim].
std::vector<double> attend(const std::vector<double>& q, const std::vector<std::vector<double>>& keys,
                           const std::vector<std::vector<double>>& values, size_t n_head, size_t n_kv, size_t head_dim);

}  // namespace sy::test
