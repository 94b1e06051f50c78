// The llama family's view of a GGUF file: hyperparameters read from metadata, and the model-level checks that
// `switchyard validate` runs (hyperparameters present, every expected tensor present with the shape they imply).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/gguf/file.h"

namespace sy::model {

struct LlamaHparams {
  uint64_t n_vocab = 0;       // tokens in the vocabulary (tokenizer.ggml.tokens, else <arch>.vocab_size)
  uint64_t n_ctx_train = 0;   // context length the model was trained with
  uint64_t n_embd = 0;        // width of the residual stream
  uint64_t n_layer = 0;       // transformer blocks
  uint64_t n_ff = 0;          // hidden width of the feed-forward network
  uint64_t n_head = 0;        // query heads
  uint64_t n_head_kv = 0;     // key/value heads (grouped-query attention when fewer than n_head)
  uint64_t head_dim = 0;      // n_embd / n_head unless attention.key_length says otherwise
  uint64_t n_rot = 0;         // rotary dimensions (rope.dimension_count, default head_dim)
  double rms_norm_eps = 1e-5;
  double rope_freq_base = 10000.0;
};

// Architectures whose tensors and hyperparameters follow llama's layout.
bool is_llama_family(const std::string& architecture);

struct ModelFinding {
  std::string code;     // missing_hyperparameter, bad_hyperparameter, missing_tensor, bad_shape, unsupported_architecture
  std::string message;  // names the file, key or tensor, what was expected and what was found
};

// Every model-level problem of `file` as a llama-family model; empty when it is runnable as one.
std::vector<ModelFinding> check_llama(const gguf::File& file);

// The hyperparameters; throws sy::Error(invalid_file) with the first finding when check_llama finds any.
LlamaHparams read_llama_hparams(const gguf::File& file);

// The tensor name and shape (ne order, ne[0] first) that a llama model of these hyperparameters must contain.
struct ExpectedTensor {
  std::string name;
  std::vector<uint64_t> ne;
  bool optional = false;  // output.weight may be absent when the embedding is tied
};
std::vector<ExpectedTensor> expected_llama_tensors(const LlamaHparams& hp);

}  // namespace sy::model
