// Each architecture's structure, in one place: which tensors a model has per layer, the shape each must have, and
// the hyperparameters that shape them. The planner (roles and layers), the loader (which tensors exist) and the
// runtime (which ops to run) all read a ModelStructure instead of parsing tensor names; `switchyard validate` lists
// the findings of check_model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/gguf/file.h"

namespace sy::model {

enum class Architecture {
  llama,        // Llama 1/2/3, Mistral, TinyLlama: GQA, normal rope
  qwen2,        // q/k/v biases, NEOX rope, head tied to the embedding when output.weight is absent
  bitnet,       // as llama.cpp runs it: sub-norms, per-tensor scales, NEOX rope, SiLU gate, tied head
  bitnet_b158,  // BitNet b1.58 2B4T files: as bitnet with a squared-ReLU gate
};
std::string_view to_string(Architecture architecture);  // the GGUF general.architecture name
// The architecture a GGUF general.architecture names; nullopt for one Switchyard does not run.
std::optional<Architecture> architecture_from_name(std::string_view name);
// "llama, qwen2, bitnet, bitnet-b1.58": for messages.
std::string supported_architectures();

enum class RopeStyle { normal, neox };  // adjacent pairs (llama) or halves of the rotated dims (NEOX)
// rope.scaling.type: none, linear (positions divided by the factor) or YaRN (a blend of interpolated and
// extrapolated angles); llama3-style per-frequency factors come from the rope_freqs tensor, with any of them.
enum class RopeScalingType { none, linear, yarn };
std::string_view to_string(RopeScalingType type);
enum class GateActivation { silu, squared_relu };

struct Hparams {
  uint64_t n_vocab = 0;      // tokens in the vocabulary (tokenizer.ggml.tokens, else <arch>.vocab_size)
  uint64_t n_ctx_train = 0;  // context length the model was trained with
  uint64_t n_embd = 0;       // width of the residual stream
  uint64_t n_layer = 0;      // transformer blocks
  uint64_t n_ff = 0;         // hidden width of the feed-forward network
  uint64_t n_head = 0;       // query heads
  uint64_t n_head_kv = 0;    // key/value heads (grouped-query attention when fewer than n_head)
  uint64_t head_dim = 0;     // per-head width of q and k: n_embd / n_head unless attention.key_length says otherwise
  uint64_t head_dim_v = 0;   // per-head width of v: head_dim unless attention.value_length says otherwise
  uint64_t n_rot = 0;        // rotary dimensions (rope.dimension_count, default head_dim)
  double rms_norm_eps = 1e-5;
  double rope_freq_base = 10000.0;
  double rope_freq_scale = 1.0;  // 1 / rope.scaling.factor (linear and YaRN; 1 for none)
  RopeScalingType rope_scaling = RopeScalingType::none;
  uint64_t rope_n_ctx_orig = 0;      // rope.scaling.original_context_length, default n_ctx_train
  double rope_attn_factor = 1.0;     // rope.scaling.attn_factor
  double yarn_ext_factor = 0.0;      // rope.scaling.yarn_ext_factor: 1 for YaRN, 0 otherwise unless the file says
  double yarn_beta_fast = 32.0;      // rope.scaling.yarn_beta_fast
  double yarn_beta_slow = 1.0;       // rope.scaling.yarn_beta_slow

  // The attn_factor a rope op is given: rope.scaling.attn_factor, with the reference implementation's correction
  // when YaRN is on (which cancels the op's own magnitude factor for a scaling factor of 1 or less).
  float rope_op_attn_factor() const;
  bool rope_freqs = false;  // the model has rope_freqs.weight (ModelStructure::rope_freq_factors)
  // Whether the ropes need SY_OP_FLAG_ROPE_SCALING (plugin ABI 1.4): YaRN, an attention factor or rope_freqs.
  // Linear scaling alone runs on every plugin (as freq_scale).
  bool needs_rope_scaling() const;

  uint64_t q_width() const { return n_head * head_dim; }       // checked against overflow by check_model
  uint64_t k_width() const { return n_head_kv * head_dim; }
  uint64_t v_width() const { return n_head_kv * head_dim_v; }
  uint64_t attention_width() const { return n_head * head_dim_v; }  // attention output, input of attn_output
};

// One tensor the architecture names: its GGUF name, the shape it must have (ne order, ne[0] first), whether a
// model must have it, and where it is in the file (nullptr when absent). Borrowed from the gguf::File the
// structure was described from, which must outlive it.
struct TensorSlot {
  std::string name;
  std::vector<uint64_t> ne;
  bool required = true;
  const gguf::TensorInfo* info = nullptr;
  explicit operator bool() const { return info != nullptr; }
};

// What the planner needs to know of each tensor.
enum class TensorRole { embedding, attention, feed_forward, norm, output };

// One transformer block. Shapes in ne order ([fastest, slowest] = [inputs, outputs] for a matrix).
struct LayerTensors {
  TensorSlot attn_norm;       // [n_embd]
  TensorSlot wq;              // [n_embd, n_head * head_dim]
  TensorSlot wk;              // [n_embd, n_head_kv * head_dim]
  TensorSlot wv;              // [n_embd, n_head_kv * head_dim_v]
  TensorSlot bq, bk, bv;      // qwen2 (optional elsewhere): [n_head * head_dim], [n_head_kv * head_dim], ...
  TensorSlot wq_scale, wk_scale, wv_scale;  // bitnet (optional): [1], multiplies the matrix product
  TensorSlot attn_sub_norm;   // bitnet: [n_embd], RMS norm of the attention output before attn_output
  TensorSlot wo;              // [n_head * head_dim_v, n_embd]
  TensorSlot bo;              // optional: [n_embd]
  TensorSlot wo_scale;        // bitnet (optional): [1]
  TensorSlot ffn_norm;        // [n_embd]
  TensorSlot ffn_gate;        // [n_embd, n_ff]
  TensorSlot ffn_up;          // [n_embd, n_ff]
  TensorSlot ffn_gate_scale, ffn_up_scale;  // bitnet (optional): [1]
  TensorSlot ffn_sub_norm;    // bitnet: [n_ff], RMS norm of the gated product before ffn_down
  TensorSlot ffn_down;        // [n_ff, n_embd]
  TensorSlot ffn_down_scale;  // bitnet (optional): [1]

  // Every slot with its role, in the order the forward pass reads them.
  std::vector<std::pair<const TensorSlot*, TensorRole>> slots() const;
};

struct ModelStructure {
  Architecture architecture = Architecture::llama;
  Hparams hp;
  RopeStyle rope = RopeStyle::normal;
  GateActivation gate = GateActivation::silu;
  TensorSlot token_embd;   // [n_embd, n_vocab]
  TensorSlot output_norm;  // [n_embd]
  TensorSlot output;       // [n_embd, n_vocab]; absent when the head is tied to token_embd
  TensorSlot rope_freqs;   // llama (optional): [n_rot / 2] F32, per-frequency divisors of the rope angles
  std::vector<float> rope_freq_factors;  // [n_rot / 2] rope_freqs' values, read when the model is described; the
                                         // runtime writes them beside every layer's rope (empty: none)
  std::vector<LayerTensors> layers;

  bool tied_output() const { return !output; }
  // The tensor the output head multiplies by: output.weight, or token_embd.weight when tied.
  const TensorSlot& head() const { return output ? output : token_embd; }
  // Every tensor of the file the structure names, with its role and layer (-1 outside the layers).
  struct NamedTensor {
    const TensorSlot* slot;
    TensorRole role;
    int64_t layer;
  };
  std::vector<NamedTensor> tensors() const;
};

struct ModelFinding {
  std::string code;     // missing_hyperparameter, bad_hyperparameter, missing_tensor, bad_shape,
                        // unsupported_architecture, unsupported_feature, unsupported_type, unexpected_tensor
  std::string message;  // names the file, key or tensor, what was expected and what was found
};

// Every model-level problem of `file`; empty when Switchyard can run it.
std::vector<ModelFinding> check_model(const gguf::File& file);

// The structure of `file`; throws sy::Error(invalid_file) with every finding when check_model finds any.
// The result borrows `file`.
ModelStructure describe_model(const gguf::File& file);

// Element type of the KV cache (runtime.kv_type).
enum class KvType { f32, f16 };
std::optional<KvType> kv_type_from_name(std::string_view name);
uint32_t kv_type_id(KvType type);  // GGUF type id: F32 or F16

// Bytes of one layer's K and V caches for `context` positions.
uint64_t kv_bytes_per_layer(const Hparams& hp, uint64_t context, KvType type);

// Where each activation of one batch lives in a device's scratch buffer: the runtime allocates exactly `bytes`
// on every device that computes, and the planner reserves the same figure. Offsets are 256-byte aligned.
struct ActivationLayout {
  uint64_t batch = 0;      // tokens per step
  uint64_t residual = 0;   // [batch, n_embd] the residual stream
  uint64_t normed = 0;     // [batch, n_embd] a normed copy: attention and feed-forward input, output head input
  uint64_t q = 0;          // [batch, n_head * head_dim]
  uint64_t k = 0;          // [batch, n_head_kv * head_dim]
  uint64_t v = 0;          // [batch, n_head_kv * head_dim_v]
  uint64_t attention = 0;  // [batch, n_head * head_dim_v] attention output (sub-normed in place for bitnet)
  uint64_t branch = 0;     // [batch, n_embd] attention or feed-forward block output before the residual add
  uint64_t gate = 0;       // [batch, n_ff]
  uint64_t up = 0;         // [batch, n_ff]
  uint64_t hidden = 0;     // [batch, n_ff] the gated product (sub-normed in place for bitnet), ffn_down's input
  uint64_t logits = 0;     // [batch, n_vocab]
  uint64_t token_ids = 0;  // [batch] I32
  uint64_t positions = 0;  // [batch] I32
  uint64_t step_values = 0;  // [2] I64: sy_step_values, the batch's first cache position and cache length
  uint64_t rope_factors = 0;  // [n_rot / 2] the model's rope_freqs values, written once (unused without them)
  uint64_t bytes = 0;      // total
};
// Every offset of the layout is a multiple of this; a device asking for more (buffer_alignment) computes nothing.
constexpr uint64_t kActivationAlignment = 256;
ActivationLayout activation_layout(const Hparams& hp, uint64_t batch);

}  // namespace sy::model
