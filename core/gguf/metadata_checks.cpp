#include "core/gguf/metadata_checks.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>

#include "core/gguf/file.h"
#include "core/tokenizer/special_tokens.h"

namespace sy::gguf {
namespace {

// What a known key must hold. Integer keys accept any integer width, as the reference does when reading them.
enum class Expect { string, integer, integer_or_integer_array, floating, boolean, string_array, float32_array,
                    int32_array };

struct KnownKey {
  std::string_view suffix;  // after "<arch>." for architecture keys, the whole key otherwise
  Expect expect;
};

constexpr KnownKey kGeneralKeys[] = {
    {"general.architecture", Expect::string},
    {"general.name", Expect::string},
    {"general.file_type", Expect::integer},
    {"general.quantization_version", Expect::integer},
    {"tokenizer.ggml.model", Expect::string},
    {"tokenizer.ggml.pre", Expect::string},
    {"tokenizer.ggml.tokens", Expect::string_array},
    {"tokenizer.ggml.scores", Expect::float32_array},
    {"tokenizer.ggml.token_type", Expect::int32_array},
    {"tokenizer.ggml.merges", Expect::string_array},
    {"tokenizer.ggml.add_bos_token", Expect::boolean},
    {"tokenizer.ggml.add_eos_token", Expect::boolean},
    {"tokenizer.chat_template", Expect::string},
};

constexpr KnownKey kArchitectureKeys[] = {
    {"context_length", Expect::integer},
    {"embedding_length", Expect::integer},
    {"block_count", Expect::integer},
    {"feed_forward_length", Expect::integer_or_integer_array},
    {"vocab_size", Expect::integer},
    {"attention.head_count", Expect::integer_or_integer_array},
    {"attention.head_count_kv", Expect::integer_or_integer_array},
    {"attention.key_length", Expect::integer},
    {"attention.value_length", Expect::integer},
    {"attention.layer_norm_rms_epsilon", Expect::floating},
    {"attention.layer_norm_epsilon", Expect::floating},
    {"rope.dimension_count", Expect::integer},
    {"rope.freq_base", Expect::floating},
    {"rope.scaling.factor", Expect::floating},
    {"expert_count", Expect::integer},
    {"expert_used_count", Expect::integer},
};

std::string_view describe(Expect e) {
  switch (e) {
    case Expect::string: return "a STRING";
    case Expect::integer: return "an integer";
    case Expect::integer_or_integer_array: return "an integer or an array of integers";
    case Expect::floating: return "a FLOAT32 or FLOAT64";
    case Expect::boolean: return "a BOOL";
    case Expect::string_array: return "an ARRAY of STRING";
    case Expect::float32_array: return "an ARRAY of FLOAT32";
    case Expect::int32_array: return "an ARRAY of INT32";
  }
  return "?";
}

bool matches(const Value& v, Expect e) {
  const Array* a = v.as_array();
  switch (e) {
    case Expect::string: return v.type() == ValueType::STRING;
    case Expect::integer: return is_integer(v.type());
    case Expect::integer_or_integer_array:
      return is_integer(v.type()) || (a && is_integer(a->element_type));
    case Expect::floating: return v.type() == ValueType::FLOAT32 || v.type() == ValueType::FLOAT64;
    case Expect::boolean: return v.type() == ValueType::BOOL;
    case Expect::string_array: return a && a->element_type == ValueType::STRING;
    case Expect::float32_array: return a && a->element_type == ValueType::FLOAT32;
    case Expect::int32_array: return a && a->element_type == ValueType::INT32;
  }
  return false;
}

std::string found_type(const Value& v) {
  if (const Array* a = v.as_array()) return "ARRAY of " + std::string(to_string(a->element_type));
  return std::string(to_string(v.type()));
}

void check_known(const File& file, const std::string& key, Expect expect, std::vector<Finding>& findings) {
  const Value* v = file.find(key);
  if (!v || matches(*v, expect)) return;
  findings.push_back({GgufErrorCode::wrong_value_type, file.name() + ": key '" + key + "' holds " + found_type(*v) +
                                                           ", expected " + std::string(describe(expect))});
}

// Highest "blk.N." index among the tensors, plus one; 0 when no tensor is per-layer.
uint64_t layers_in_tensors(const File& file) {
  uint64_t layers = 0;
  for (const auto& t : file.tensors()) {
    std::string_view name = t.name;
    if (!name.starts_with("blk.")) continue;
    name.remove_prefix(4);
    uint64_t index = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), index);
    if (ec == std::errc() && end != name.data() && end < name.data() + name.size() && *end == '.') {
      layers = std::max(layers, index + 1);
    }
  }
  return layers;
}

}  // namespace

void append_metadata_findings(const File& file, std::vector<Finding>& findings) {
  const size_t before = findings.size();
  for (const auto& k : kGeneralKeys) check_known(file, std::string(k.suffix), k.expect, findings);
  // Special-token ids: core/tokenizer owns the list of keys and the rule that -1 means none.
  for (const auto& k : tokenizer::kSpecialTokenKeys) check_known(file, std::string(k.key), Expect::integer, findings);
  const std::string arch = file.architecture();
  if (!arch.empty()) {
    for (const auto& k : kArchitectureKeys) check_known(file, arch + "." + std::string(k.suffix), k.expect, findings);
  }
  // The checks below index into values whose types were just verified; skip them if any were wrong.
  if (findings.size() != before) return;

  const Value* tokens_value = file.find("tokenizer.ggml.tokens");
  if (tokens_value) {
    const uint64_t n_tokens = tokens_value->as_array()->size();
    for (std::string_view key : {"tokenizer.ggml.scores", "tokenizer.ggml.token_type"}) {
      const Value* v = file.find(key);
      if (v && v->as_array()->size() != n_tokens) {
        findings.push_back({GgufErrorCode::tokenizer_length_mismatch,
                            file.name() + ": key '" + std::string(key) + "' has " +
                                std::to_string(v->as_array()->size()) + " entries but 'tokenizer.ggml.tokens' has " +
                                std::to_string(n_tokens) + "; every token needs exactly one"});
      }
    }
    for (const auto& k : tokenizer::kSpecialTokenKeys) {
      const Value* v = file.find(k.key);
      if (!v) continue;
      const auto id = tokenizer::read_special_token_id(*v);
      if (id && id->none) continue;
      if (!id || id->id < 0 || static_cast<uint64_t>(id->id) >= n_tokens) {
        findings.push_back({GgufErrorCode::token_id_out_of_range,
                            file.name() + ": key '" + std::string(k.key) + "' is " + format_value(*v) +
                                ", outside the vocabulary of " + std::to_string(n_tokens) + " tokens"});
      }
    }
  }

  if (!arch.empty() && !file.tensors().empty()) {
    if (const Value* v = file.find(arch + ".block_count")) {
      const uint64_t declared = v->as_uint().value_or(0);
      const uint64_t present = layers_in_tensors(file);
      if (declared > present) {
        findings.push_back({GgufErrorCode::layer_count_mismatch,
                            file.name() + ": key '" + arch + ".block_count' declares " + std::to_string(declared) +
                                " layers but the tensors hold only " + std::to_string(present) +
                                " (blk.0 .. blk." + (present ? std::to_string(present - 1) : std::string("none")) +
                                ")"});
      }
    }
  }
}

}  // namespace sy::gguf
