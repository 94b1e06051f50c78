#include "core/model/llama.h"

#include <sstream>

#include "core/common/error.h"

namespace sy::model {
namespace {

std::string shape_string(std::span<const uint64_t> ne) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < ne.size(); ++i) os << (i ? ", " : "") << ne[i];
  os << ']';
  return os.str();
}

// Reads hyperparameters, recording a finding for each one missing or out of range.
LlamaHparams read_hparams(const gguf::File& file, std::vector<ModelFinding>& findings) {
  LlamaHparams hp;
  const std::string arch = file.architecture();
  auto required = [&](std::string_view suffix, uint64_t& out) {
    const gguf::Value* v = file.find_arch(suffix);
    const std::string key = arch + "." + std::string(suffix);
    if (!v) {
      findings.push_back({"missing_hyperparameter", file.name() + ": key '" + key + "' is missing"});
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
      findings.push_back({"bad_hyperparameter", file.name() + ": key '" + key + "' is " + gguf::format_value(*v) +
                                                    ", expected a positive integer (the same for every layer)"});
      return;
    }
    out = value;
  };
  required("embedding_length", hp.n_embd);
  required("block_count", hp.n_layer);
  required("feed_forward_length", hp.n_ff);
  required("attention.head_count", hp.n_head);
  required("context_length", hp.n_ctx_train);
  hp.n_head_kv = hp.n_head;
  if (file.find_arch("attention.head_count_kv")) required("attention.head_count_kv", hp.n_head_kv);

  if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens")) {
    hp.n_vocab = tokens->as_array()->size();
  } else if (file.find_arch("vocab_size")) {
    required("vocab_size", hp.n_vocab);
  } else {
    findings.push_back({"missing_hyperparameter", file.name() + ": neither 'tokenizer.ggml.tokens' nor '" + arch +
                                                      ".vocab_size' gives the vocabulary size"});
  }
  if (const gguf::Value* v = file.find_arch("attention.layer_norm_rms_epsilon")) hp.rms_norm_eps = *v->as_float();
  if (const gguf::Value* v = file.find_arch("rope.freq_base")) hp.rope_freq_base = *v->as_float();

  if (hp.n_head && hp.n_embd) {
    if (hp.n_embd % hp.n_head != 0) {
      findings.push_back({"bad_hyperparameter", file.name() + ": embedding_length " + std::to_string(hp.n_embd) +
                                                    " is not a multiple of attention.head_count " +
                                                    std::to_string(hp.n_head)});
    }
    hp.head_dim = hp.n_embd / hp.n_head;
    if (const gguf::Value* v = file.find_arch("attention.key_length"); v && v->as_uint()) hp.head_dim = *v->as_uint();
  }
  if (hp.n_head_kv && hp.n_head && hp.n_head % hp.n_head_kv != 0) {
    findings.push_back({"bad_hyperparameter", file.name() + ": attention.head_count " + std::to_string(hp.n_head) +
                                                  " is not a multiple of attention.head_count_kv " +
                                                  std::to_string(hp.n_head_kv)});
  }
  hp.n_rot = hp.head_dim;
  if (const gguf::Value* v = file.find_arch("rope.dimension_count"); v && v->as_uint()) hp.n_rot = *v->as_uint();
  if (hp.n_rot > hp.head_dim || hp.n_rot % 2) {
    findings.push_back({"bad_hyperparameter", file.name() + ": rope.dimension_count " + std::to_string(hp.n_rot) +
                                                  " must be even and at most the head size " +
                                                  std::to_string(hp.head_dim)});
  }
  return hp;
}

}  // namespace

bool is_llama_family(const std::string& architecture) { return architecture == "llama"; }

std::vector<ExpectedTensor> expected_llama_tensors(const LlamaHparams& hp) {
  const uint64_t q_width = hp.n_head * hp.head_dim;
  const uint64_t kv_width = hp.n_head_kv * hp.head_dim;
  std::vector<ExpectedTensor> out = {
      {"token_embd.weight", {hp.n_embd, hp.n_vocab}},
      {"output_norm.weight", {hp.n_embd}},
      {"output.weight", {hp.n_embd, hp.n_vocab}, true},
  };
  for (uint64_t l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    out.push_back({p + "attn_norm.weight", {hp.n_embd}});
    out.push_back({p + "attn_q.weight", {hp.n_embd, q_width}});
    out.push_back({p + "attn_k.weight", {hp.n_embd, kv_width}});
    out.push_back({p + "attn_v.weight", {hp.n_embd, kv_width}});
    out.push_back({p + "attn_output.weight", {q_width, hp.n_embd}});
    out.push_back({p + "ffn_norm.weight", {hp.n_embd}});
    out.push_back({p + "ffn_gate.weight", {hp.n_embd, hp.n_ff}});
    out.push_back({p + "ffn_up.weight", {hp.n_embd, hp.n_ff}});
    out.push_back({p + "ffn_down.weight", {hp.n_ff, hp.n_embd}});
  }
  return out;
}

std::vector<ModelFinding> check_llama(const gguf::File& file) {
  std::vector<ModelFinding> findings;
  const std::string arch = file.architecture();
  if (arch.empty()) {
    findings.push_back({"missing_hyperparameter", file.name() + ": key 'general.architecture' is missing"});
    return findings;
  }
  if (!is_llama_family(arch)) {
    findings.push_back({"unsupported_architecture", file.name() + ": architecture '" + arch +
                                                        "' is not supported; Switchyard runs the llama family"});
    return findings;
  }
  const LlamaHparams hp = read_hparams(file, findings);
  if (!findings.empty()) return findings;  // shapes cannot be derived from broken hyperparameters
  // Each layer needs 9 tensors. Checked before enumerating them, so that a file declaring billions of layers
  // costs nothing (the reader only knows that some tensor names such a high layer).
  const uint64_t per_layer = 9;
  if (hp.n_layer > file.tensors().size() / per_layer) {
    findings.push_back({"missing_tensor", file.name() + ": '" + arch + ".block_count' declares " +
                                              std::to_string(hp.n_layer) + " layers, which need at least " +
                                              (hp.n_layer > UINT64_MAX / per_layer ? std::string("2^64")
                                                                                   : std::to_string(hp.n_layer * per_layer)) +
                                              " tensors, but the file holds " + std::to_string(file.tensors().size())});
    return findings;
  }
  for (const auto& expected : expected_llama_tensors(hp)) {
    const gguf::TensorInfo* t = file.find_tensor(expected.name);
    if (!t) {
      if (!expected.optional) {
        findings.push_back({"missing_tensor", file.name() + ": tensor '" + expected.name + "' of shape " +
                                                  shape_string(expected.ne) + " is missing"});
      }
      continue;
    }
    std::span<const uint64_t> found(t->ne.data(), t->n_dims);
    if (!std::equal(found.begin(), found.end(), expected.ne.begin(), expected.ne.end())) {
      findings.push_back({"bad_shape", file.name() + ": tensor '" + expected.name + "' has shape " +
                                           shape_string(found) + ", expected " + shape_string(expected.ne)});
    }
  }
  return findings;
}

LlamaHparams read_llama_hparams(const gguf::File& file) {
  auto findings = check_llama(file);
  if (!findings.empty()) throw Error(ErrorCode::invalid_file, findings.front().message);
  std::vector<ModelFinding> ignored;
  return read_hparams(file, ignored);
}

}  // namespace sy::model
