#include "core/model/architecture.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "core/common/error.h"
#include "core/quant/dequantize.h"

namespace sy::model {
namespace {

constexpr Architecture kArchitectures[] = {Architecture::llama, Architecture::qwen2, Architecture::bitnet,
                                           Architecture::bitnet_b158};

std::string shape_string(std::span<const uint64_t> ne) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < ne.size(); ++i) os << (i ? ", " : "") << ne[i];
  os << ']';
  return os.str();
}

// a * b, or nullopt when it does not fit in 64 bits.
std::optional<uint64_t> checked_product(uint64_t a, uint64_t b) {
  uint64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

// Reads hyperparameters, recording a finding for each one missing or out of range.
Hparams read_hparams(const gguf::File& file, std::vector<ModelFinding>& findings) {
  Hparams hp;
  const std::string arch = file.architecture();
  const auto finding = [&](const char* code, const std::string& message) {
    findings.push_back({code, file.name() + ": " + message});
  };
  auto positive = [&](std::string_view suffix, uint64_t& out, bool required = true) {
    const gguf::Value* v = file.find_arch(suffix);
    const std::string key = arch + "." + std::string(suffix);
    if (!v) {
      if (required) finding("missing_hyperparameter", "key '" + key + "' is missing");
      return;
    }
    // A per-layer array (some converters write one) is accepted when all layers agree.
    uint64_t value = v->as_uint().value_or(0);
    if (const gguf::Array* a = v->as_array(); a && a->size() > 0 && a->element_type == gguf::ValueType::UINT32) {
      value = a->at<uint32_t>(0);
      for (uint64_t i = 1; i < a->size(); ++i) {
        if (a->at<uint32_t>(i) != value) value = 0;
      }
    }
    if (value == 0) {
      finding("bad_hyperparameter",
              "key '" + key + "' is " + gguf::format_value(*v) + ", expected a positive integer (the same for every layer)");
      return;
    }
    out = value;
  };
  auto real = [&](std::string_view suffix, double& out, double low, bool low_inclusive) {
    const gguf::Value* v = file.find_arch(suffix);
    if (!v) return;
    const std::string key = arch + "." + std::string(suffix);
    const std::optional<double> value = v->as_float();
    if (!value || !std::isfinite(*value) || *value < low || (!low_inclusive && *value == low)) {
      finding("bad_hyperparameter", "key '" + key + "' is " + gguf::format_value(*v) + ", expected a finite number" +
                                        (std::isinf(low) ? std::string()
                                                         : std::string(low_inclusive ? " >= " : " > ") + std::to_string(low)));
      return;
    }
    out = *value;
  };
  positive("embedding_length", hp.n_embd);
  positive("block_count", hp.n_layer);
  positive("feed_forward_length", hp.n_ff);
  positive("attention.head_count", hp.n_head);
  positive("context_length", hp.n_ctx_train);
  hp.n_head_kv = hp.n_head;
  positive("attention.head_count_kv", hp.n_head_kv, false);

  if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens"); tokens && tokens->as_array()) {
    hp.n_vocab = tokens->as_array()->size();
    uint64_t declared = 0;
    if (file.find_arch("vocab_size")) {
      positive("vocab_size", declared);
      if (declared && declared != hp.n_vocab)
        finding("bad_hyperparameter", "key '" + arch + ".vocab_size' is " + std::to_string(declared) +
                                          " but tokenizer.ggml.tokens holds " + std::to_string(hp.n_vocab) + " tokens");
    }
  } else if (file.find_arch("vocab_size")) {
    positive("vocab_size", hp.n_vocab);
  } else {
    finding("missing_hyperparameter",
            "neither 'tokenizer.ggml.tokens' nor '" + arch + ".vocab_size' gives the vocabulary size");
  }
  real("attention.layer_norm_rms_epsilon", hp.rms_norm_eps, 0.0, true);
  real("rope.freq_base", hp.rope_freq_base, 0.0, false);

  // Rope scaling, with the reference implementation's defaults: an absent type is linear (a factor alone scales),
  // the factor may sit under the older key rope.scale_linear, and 'none' never scales.
  std::string kind = "linear";
  if (const gguf::Value* v = file.find_arch("rope.scaling.type"))
    kind = v->as_string() ? std::string(*v->as_string()) : gguf::format_value(*v);
  double factor = 0.0;
  for (const char* key : {"rope.scaling.factor", "rope.scale_linear"}) {
    if (!file.find_arch(key)) continue;
    real(key, factor, 0.0, false);
    break;
  }
  if (kind == "none") {
    hp.rope_scaling = RopeScalingType::none;
  } else if (kind == "linear" || kind == "yarn") {
    hp.rope_scaling = kind == "yarn" ? RopeScalingType::yarn : RopeScalingType::linear;
    if (factor > 0.0) hp.rope_freq_scale = 1.0 / factor;
    if (kind == "linear" && factor == 0.0) hp.rope_scaling = RopeScalingType::none;  // nothing to scale
  } else {
    finding("unsupported_feature", "key '" + arch + ".rope.scaling.type' is '" + kind +
                                       "'; Switchyard runs rope scaling 'none', 'linear' and 'yarn'");
  }
  hp.rope_n_ctx_orig = hp.n_ctx_train;
  if (file.find_arch("rope.scaling.original_context_length"))
    positive("rope.scaling.original_context_length", hp.rope_n_ctx_orig);
  if (hp.rope_n_ctx_orig > uint64_t{INT32_MAX})
    finding("bad_hyperparameter", "rope.scaling.original_context_length " + std::to_string(hp.rope_n_ctx_orig) +
                                      " (or context_length, its default) exceeds 2^31 - 1");
  real("rope.scaling.attn_factor", hp.rope_attn_factor, 0.0, false);
  // A negative (or absent) extrapolation factor means "the type's default", as in the reference.
  hp.yarn_ext_factor = -1.0;
  real("rope.scaling.yarn_ext_factor", hp.yarn_ext_factor, -INFINITY, false);
  if (hp.yarn_ext_factor < 0.0) hp.yarn_ext_factor = hp.rope_scaling == RopeScalingType::yarn ? 1.0 : 0.0;
  real("rope.scaling.yarn_beta_fast", hp.yarn_beta_fast, 0.0, false);
  real("rope.scaling.yarn_beta_slow", hp.yarn_beta_slow, 0.0, false);

  if (hp.n_head && hp.n_embd) {
    hp.head_dim = hp.n_embd / hp.n_head;
    const bool explicit_head = file.find_arch("attention.key_length") != nullptr;
    if (explicit_head) positive("attention.key_length", hp.head_dim);
    else if (hp.n_embd % hp.n_head != 0)
      finding("bad_hyperparameter", "embedding_length " + std::to_string(hp.n_embd) +
                                        " is not a multiple of attention.head_count " + std::to_string(hp.n_head));
    hp.head_dim_v = hp.head_dim;
    if (file.find_arch("attention.value_length")) positive("attention.value_length", hp.head_dim_v);
    // Widths are products of untrusted numbers: one that wraps would match a small tensor by accident.
    for (const auto& [heads, width, what] :
         {std::tuple{hp.n_head, hp.head_dim, "attention.head_count x key_length"},
          std::tuple{hp.n_head_kv, hp.head_dim, "attention.head_count_kv x key_length"},
          std::tuple{hp.n_head, hp.head_dim_v, "attention.head_count x value_length"}}) {
      const auto product = checked_product(heads, width);
      if (!product || *product > (uint64_t{1} << 40))
        finding("bad_hyperparameter", std::string(what) + " = " + std::to_string(heads) + " x " +
                                          std::to_string(width) + " is too large for any tensor");
    }
  }
  if (hp.n_head_kv && hp.n_head && hp.n_head % hp.n_head_kv != 0) {
    finding("bad_hyperparameter", "attention.head_count " + std::to_string(hp.n_head) +
                                      " is not a multiple of attention.head_count_kv " + std::to_string(hp.n_head_kv));
  }
  hp.n_rot = hp.head_dim;
  if (file.find_arch("rope.dimension_count")) positive("rope.dimension_count", hp.n_rot);
  if (hp.n_rot > hp.head_dim || hp.n_rot % 2) {
    finding("bad_hyperparameter", "rope.dimension_count " + std::to_string(hp.n_rot) +
                                      " must be even and at most the head size " + std::to_string(hp.head_dim));
  }
  return hp;
}

TensorSlot slot(const gguf::File& file, std::string name, std::vector<uint64_t> ne, bool required) {
  TensorSlot s;
  s.info = file.find_tensor(name);
  s.name = std::move(name);
  s.ne = std::move(ne);
  s.required = required;
  return s;
}

ModelStructure build_structure(const gguf::File& file, Architecture architecture, const Hparams& hp) {
  ModelStructure m;
  m.architecture = architecture;
  m.hp = hp;
  const bool bitnet = architecture == Architecture::bitnet || architecture == Architecture::bitnet_b158;
  const bool qwen2 = architecture == Architecture::qwen2;
  m.rope = architecture == Architecture::llama ? RopeStyle::normal : RopeStyle::neox;
  m.gate = architecture == Architecture::bitnet_b158 ? GateActivation::squared_relu : GateActivation::silu;
  m.token_embd = slot(file, "token_embd.weight", {hp.n_embd, hp.n_vocab}, true);
  m.output_norm = slot(file, "output_norm.weight", {hp.n_embd}, true);
  m.output = slot(file, "output.weight", {hp.n_embd, hp.n_vocab}, false);
  m.rope_freqs = slot(file, "rope_freqs.weight", {hp.n_rot / 2}, false);
  m.layers.reserve(hp.n_layer);
  for (uint64_t l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const auto at = [&](const char* name, std::vector<uint64_t> ne, bool required) {
      return slot(file, p + name, std::move(ne), required);
    };
    LayerTensors t;
    t.attn_norm = at("attn_norm.weight", {hp.n_embd}, true);
    t.wq = at("attn_q.weight", {hp.n_embd, hp.q_width()}, true);
    t.wk = at("attn_k.weight", {hp.n_embd, hp.k_width()}, true);
    t.wv = at("attn_v.weight", {hp.n_embd, hp.v_width()}, true);
    t.bq = at("attn_q.bias", {hp.q_width()}, qwen2);
    t.bk = at("attn_k.bias", {hp.k_width()}, qwen2);
    t.bv = at("attn_v.bias", {hp.v_width()}, qwen2);
    t.wq_scale = at("attn_q.scale", {1}, false);
    t.wk_scale = at("attn_k.scale", {1}, false);
    t.wv_scale = at("attn_v.scale", {1}, false);
    t.attn_sub_norm = at("attn_sub_norm.weight", {hp.attention_width()}, bitnet);
    t.wo = at("attn_output.weight", {hp.attention_width(), hp.n_embd}, true);
    t.bo = at("attn_output.bias", {hp.n_embd}, false);
    t.wo_scale = at("attn_output.scale", {1}, false);
    t.ffn_norm = at("ffn_norm.weight", {hp.n_embd}, true);
    t.ffn_gate = at("ffn_gate.weight", {hp.n_embd, hp.n_ff}, true);
    t.ffn_up = at("ffn_up.weight", {hp.n_embd, hp.n_ff}, true);
    t.ffn_gate_scale = at("ffn_gate.scale", {1}, false);
    t.ffn_up_scale = at("ffn_up.scale", {1}, false);
    t.ffn_sub_norm = at("ffn_sub_norm.weight", {hp.n_ff}, bitnet);
    t.ffn_down = at("ffn_down.weight", {hp.n_ff, hp.n_embd}, true);
    t.ffn_down_scale = at("ffn_down.scale", {1}, false);
    m.layers.push_back(std::move(t));
  }
  return m;
}

// rope_freqs.weight (llama3-style per-frequency factors): [n_rot / 2] positive finite F32 values, which the
// runtime uploads beside every rope; recorded in m.rope_freq_factors, or a finding.
void read_rope_freqs(const gguf::File& file, ModelStructure& m, std::vector<ModelFinding>& findings) {
  const TensorSlot& s = m.rope_freqs;
  const auto finding = [&](const char* code, const std::string& message) {
    findings.push_back({code, file.name() + ": tensor '" + s.name + "' " + message});
  };
  if (m.architecture != Architecture::llama) {
    finding("unsupported_feature", "(per-frequency rope factors) is supported for llama models only");
    return;
  }
  const std::span<const uint64_t> found(s.info->ne.data(), s.info->n_dims);
  if (!std::equal(found.begin(), found.end(), s.ne.begin(), s.ne.end())) {
    finding("bad_shape", "has shape " + shape_string(found) + ", expected " + shape_string(s.ne) +
                             " (half of rope.dimension_count)");
    return;
  }
  if (s.info->type != gguf::TensorType::F32) {
    finding("unsupported_type", "is stored as " + std::string(gguf::to_string(s.info->type)) + ", expected F32");
    return;
  }
  const std::span<const std::byte> bytes = file.tensor_data(*s.info);
  std::vector<float> values(s.ne[0]);
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]) || values[i] <= 0.0f) {
      finding("bad_hyperparameter", "holds " + std::to_string(values[i]) + " at index " + std::to_string(i) +
                                        ", expected finite factors > 0 (the rope angles are divided by them)");
      return;
    }
  }
  m.rope_freq_factors = std::move(values);
  m.hp.rope_freqs = true;
}

// The architecture of `file`, or a finding.
std::optional<Architecture> architecture_of(const gguf::File& file, std::vector<ModelFinding>& findings) {
  const std::string arch = file.architecture();
  if (arch.empty()) {
    findings.push_back({"missing_hyperparameter", file.name() + ": key 'general.architecture' is missing"});
    return std::nullopt;
  }
  auto architecture = architecture_from_name(arch);
  if (!architecture) {
    findings.push_back({"unsupported_architecture", file.name() + ": architecture '" + arch +
                                                        "' is not supported; Switchyard runs " +
                                                        supported_architectures()});
  }
  return architecture;
}

// Structure and findings together: check_model and describe_model are this with different endings.
ModelStructure examine(const gguf::File& file, std::vector<ModelFinding>& findings) {
  const auto architecture = architecture_of(file, findings);
  if (!architecture) return {};
  const Hparams hp = read_hparams(file, findings);
  if (!findings.empty()) return {};  // shapes cannot be derived from broken hyperparameters
  // Each layer needs at least 9 tensors. Checked before enumerating them, so that a file declaring billions of
  // layers costs nothing (the reader only knows that some tensor names such a high layer).
  const uint64_t per_layer = 9;
  if (hp.n_layer > file.tensors().size() / per_layer) {
    findings.push_back({"missing_tensor", file.name() + ": '" + file.architecture() + ".block_count' declares " +
                                              std::to_string(hp.n_layer) + " layers, which need at least " +
                                              (hp.n_layer > UINT64_MAX / per_layer ? std::string("2^64")
                                                                                   : std::to_string(hp.n_layer * per_layer)) +
                                              " tensors, but the file holds " + std::to_string(file.tensors().size())});
    return {};
  }
  ModelStructure m = build_structure(file, *architecture, hp);
  std::set<std::string_view> named;
  for (const auto& [s, role, layer] : m.tensors()) named.insert(s->name);
  const auto check = [&](const TensorSlot& s) {
    if (!s.info) {
      if (s.required)
        findings.push_back({"missing_tensor", file.name() + ": tensor '" + s.name + "' of shape " + shape_string(s.ne) +
                                                  " is missing"});
      return;
    }
    std::span<const uint64_t> found(s.info->ne.data(), s.info->n_dims);
    if (!std::equal(found.begin(), found.end(), s.ne.begin(), s.ne.end())) {
      findings.push_back({"bad_shape", file.name() + ": tensor '" + s.name + "' has shape " + shape_string(found) +
                                           ", expected " + shape_string(s.ne)});
    }
    // A type no device can use would pass planning (as "converted on upload") and fail only when loading.
    if (!quant::can_dequantize(s.info->type)) {
      findings.push_back({"unsupported_type", file.name() + ": tensor '" + s.name + "' is stored as " +
                                                  std::string(gguf::to_string(s.info->type)) +
                                                  ", which Switchyard cannot decode; quantize the original model to "
                                                  "a supported type (switchyard quantize --help lists them)"});
    }
  };
  for (const TensorSlot* s : {&m.token_embd, &m.output_norm, &m.output}) check(*s);
  if (m.rope_freqs) read_rope_freqs(file, m, findings);
  for (const auto& layer : m.layers)
    for (const auto& [s, role] : layer.slots()) check(*s);
  // Tensors of layers past block_count would be loaded and planned for nothing (and their KV reserved).
  for (const auto& t : file.tensors()) {
    std::string_view name = t.name;
    if (!name.starts_with("blk.")) continue;
    uint64_t layer = 0;
    const auto [end, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), layer);
    if (ec == std::errc() && layer >= hp.n_layer) {
      findings.push_back({"unexpected_tensor", file.name() + ": tensor '" + t.name + "' belongs to layer " +
                                                   std::to_string(layer) + " but '" + file.architecture() +
                                                   ".block_count' is " + std::to_string(hp.n_layer)});
      break;  // one is enough to say the file is inconsistent; thousands would drown the rest
    }
  }
  return m;
}

}  // namespace

std::string_view to_string(RopeScalingType type) {
  switch (type) {
    case RopeScalingType::none: return "none";
    case RopeScalingType::linear: return "linear";
    case RopeScalingType::yarn: return "yarn";
  }
  return "unknown";
}

float Hparams::rope_op_attn_factor() const {
  float attn = 1.0f;
  if (yarn_ext_factor != 0.0) {
    // The reference's YaRN magnitude for the factor, divided by what the rope op multiplies by itself.
    const float factor = 1.0f / static_cast<float>(rope_freq_scale);
    const float magnitude = factor <= 1.0f ? 1.0f : 0.1f * logf(factor) + 1.0f;
    attn = magnitude * (1.0f / (1.0f + 0.1f * logf(factor)));
  }
  return attn * static_cast<float>(rope_attn_factor);
}

bool Hparams::needs_rope_scaling() const {
  return yarn_ext_factor != 0.0 || rope_op_attn_factor() != 1.0f || rope_freqs;
}

std::string_view to_string(Architecture architecture) {
  switch (architecture) {
    case Architecture::llama: return "llama";
    case Architecture::qwen2: return "qwen2";
    case Architecture::bitnet: return "bitnet";
    case Architecture::bitnet_b158: return "bitnet-b1.58";
  }
  return "unknown";
}

std::optional<Architecture> architecture_from_name(std::string_view name) {
  for (Architecture a : kArchitectures) {
    if (to_string(a) == name) return a;
  }
  return std::nullopt;
}

std::string supported_architectures() {
  std::string out;
  for (Architecture a : kArchitectures) out += (out.empty() ? "" : ", ") + std::string(to_string(a));
  return out;
}

std::vector<std::pair<const TensorSlot*, TensorRole>> LayerTensors::slots() const {
  using R = TensorRole;
  return {{&attn_norm, R::norm},       {&wq, R::attention},           {&bq, R::attention},
          {&wq_scale, R::attention},   {&wk, R::attention},           {&bk, R::attention},
          {&wk_scale, R::attention},   {&wv, R::attention},           {&bv, R::attention},
          {&wv_scale, R::attention},   {&attn_sub_norm, R::norm},     {&wo, R::attention},
          {&bo, R::attention},         {&wo_scale, R::attention},     {&ffn_norm, R::norm},
          {&ffn_gate, R::feed_forward}, {&ffn_gate_scale, R::feed_forward}, {&ffn_up, R::feed_forward},
          {&ffn_up_scale, R::feed_forward}, {&ffn_sub_norm, R::norm}, {&ffn_down, R::feed_forward},
          {&ffn_down_scale, R::feed_forward}};
}

std::vector<ModelStructure::NamedTensor> ModelStructure::tensors() const {
  std::vector<NamedTensor> out;
  out.push_back({&token_embd, TensorRole::embedding, -1});
  for (size_t l = 0; l < layers.size(); ++l) {
    for (const auto& [s, role] : layers[l].slots()) out.push_back({s, role, static_cast<int64_t>(l)});
  }
  out.push_back({&output_norm, TensorRole::norm, -1});
  out.push_back({&output, TensorRole::output, -1});
  return out;
}

std::vector<ModelFinding> check_model(const gguf::File& file) {
  std::vector<ModelFinding> findings;
  (void)examine(file, findings);
  return findings;
}

ModelStructure describe_model(const gguf::File& file) {
  std::vector<ModelFinding> findings;
  ModelStructure m = examine(file, findings);
  if (!findings.empty()) {
    std::string message = findings.front().message;
    if (findings.size() > 1)
      message += " (and " + std::to_string(findings.size() - 1) + " more: `switchyard validate` lists them all)";
    throw Error(ErrorCode::invalid_file, message);
  }
  return m;
}

std::optional<KvType> kv_type_from_name(std::string_view name) {
  if (name == "f32") return KvType::f32;
  if (name == "f16") return KvType::f16;
  return std::nullopt;
}

uint32_t kv_type_id(KvType type) { return type == KvType::f16 ? 1u : 0u; }

uint64_t kv_bytes_per_layer(const Hparams& hp, uint64_t context, KvType type) {
  const uint64_t element = type == KvType::f16 ? 2 : 4;
  return context * (hp.k_width() + hp.v_width()) * element;
}

ActivationLayout activation_layout(const Hparams& hp, uint64_t batch) {
  ActivationLayout a;
  a.batch = batch;
  uint64_t at = 0;
  const auto take = [&](uint64_t& field, uint64_t elements) {
    field = at;
    at += (elements * 4 + kActivationAlignment - 1) / kActivationAlignment * kActivationAlignment;
  };
  take(a.residual, batch * hp.n_embd);
  take(a.normed, batch * hp.n_embd);
  take(a.q, batch * hp.q_width());
  take(a.k, batch * hp.k_width());
  take(a.v, batch * hp.v_width());
  take(a.attention, batch * hp.attention_width());
  take(a.branch, batch * hp.n_embd);
  take(a.gate, batch * hp.n_ff);
  take(a.up, batch * hp.n_ff);
  take(a.hidden, batch * hp.n_ff);
  take(a.logits, batch * hp.n_vocab);
  take(a.token_ids, batch);
  take(a.positions, batch);
  take(a.step_values, 4);  // two int64 values
  take(a.rope_factors, hp.rope_freqs ? hp.n_rot / 2 : 0);
  a.bytes = at;
  return a;
}

}  // namespace sy::model
