// `switchyard inspect`: what a GGUF file holds — architecture, hyperparameters, tokenizer, tensors and bytes per
// type — as text for people or as JSON (schema "switchyard.inspect/1", documented in docs/cli-json.md).
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/common/format.h"
#include "core/common/json_text.h"
#include "core/common/utf8.h"
#include "core/gguf/file.h"
#include "core/model/llama.h"
#include "tools/switchyard/commands.h"

namespace sy::cli {
namespace {

using nlohmann::ordered_json;

ordered_json value_to_json(const gguf::Value& v);

ordered_json array_to_json(const gguf::Array& a) {
  ordered_json out = ordered_json::array();
  for (uint64_t i = 0; i < a.size(); ++i) {
    switch (a.element_type) {
      case gguf::ValueType::UINT8: out.push_back(a.at<uint8_t>(i)); break;
      case gguf::ValueType::INT8: out.push_back(a.at<int8_t>(i)); break;
      case gguf::ValueType::UINT16: out.push_back(a.at<uint16_t>(i)); break;
      case gguf::ValueType::INT16: out.push_back(a.at<int16_t>(i)); break;
      case gguf::ValueType::UINT32: out.push_back(a.at<uint32_t>(i)); break;
      case gguf::ValueType::INT32: out.push_back(a.at<int32_t>(i)); break;
      case gguf::ValueType::FLOAT32: out.push_back(a.at<float>(i)); break;
      case gguf::ValueType::BOOL: out.push_back(a.at<uint8_t>(i) != 0); break;
      case gguf::ValueType::UINT64: out.push_back(a.at<uint64_t>(i)); break;
      case gguf::ValueType::INT64: out.push_back(a.at<int64_t>(i)); break;
      case gguf::ValueType::FLOAT64: out.push_back(a.at<double>(i)); break;
      case gguf::ValueType::STRING: out.push_back(a.strings[i]); break;
      case gguf::ValueType::ARRAY: out.push_back(array_to_json(a.arrays[i])); break;
    }
  }
  return out;
}

ordered_json value_to_json(const gguf::Value& v) {
  if (auto b = v.as_bool()) return *b;
  if (auto* s = v.as_string()) return *s;
  if (auto* a = v.as_array()) return array_to_json(*a);
  if (auto f = v.as_float()) return *f;
  if (auto i = v.as_int()) return *i;
  return *v.as_uint();
}

// Metadata values too long to be useful in a summary (vocabularies) are shown by type and length only.
bool is_bulky(const gguf::Value& v) {
  const gguf::Array* a = v.as_array();
  return a && a->size() > 16;
}

std::string shape_of(const gguf::TensorInfo& t) {
  std::string out = "[";
  for (uint32_t d = 0; d < t.n_dims; ++d) out += (d ? ", " : "") + std::to_string(t.ne[d]);
  return out + "]";
}

struct Summary {
  ordered_json json;
};

ordered_json build_json(const gguf::File& file, bool with_tensors) {
  ordered_json out;
  out["schema"] = "switchyard.inspect/1";
  out["file"] = file.name();
  out["file_size"] = file.file_size();
  out["gguf_version"] = file.version();
  out["alignment"] = file.alignment();
  out["data_offset"] = file.data_offset();
  out["architecture"] = file.architecture();

  ordered_json hparams = ordered_json::object();
  const std::string prefix = file.architecture() + ".";
  ordered_json metadata = ordered_json::array();
  for (const auto& kv : file.metadata()) {
    ordered_json entry;
    entry["key"] = kv.key;
    entry["type"] = kv.value.as_array() ? "ARRAY[" + std::string(to_string(kv.value.as_array()->element_type)) + "]"
                                        : std::string(to_string(kv.value.type()));
    if (const gguf::Array* a = kv.value.as_array()) entry["length"] = a->size();
    if (!is_bulky(kv.value)) entry["value"] = value_to_json(kv.value);
    metadata.push_back(entry);
    if (!file.architecture().empty() && kv.key.starts_with(prefix) && !is_bulky(kv.value)) {
      hparams[kv.key.substr(prefix.size())] = value_to_json(kv.value);
    }
  }
  out["hyperparameters"] = hparams;

  ordered_json tokenizer = ordered_json::object();
  if (const gguf::Value* v = file.find("tokenizer.ggml.model")) tokenizer["model"] = *v->as_string();
  if (const gguf::Value* v = file.find("tokenizer.ggml.pre")) tokenizer["pre"] = *v->as_string();
  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  tokenizer["vocab_size"] = tokens ? tokens->as_array()->size() : 0;
  if (const gguf::Value* v = file.find("tokenizer.ggml.merges")) tokenizer["merges"] = v->as_array()->size();
  ordered_json special = ordered_json::object();
  for (const char* name : {"bos", "eos", "unknown", "padding", "separator", "eot"}) {
    const gguf::Value* v = file.find(std::string("tokenizer.ggml.") + name + "_token_id");
    if (!v) continue;
    ordered_json token;
    token["id"] = value_to_json(*v);
    if (auto id = v->as_uint(); id && tokens && *id < tokens->as_array()->size()) {
      token["text"] = tokens->as_array()->strings[*id];
    }
    special[name] = token;
  }
  tokenizer["special_tokens"] = special;
  out["tokenizer"] = tokenizer;
  out["metadata"] = metadata;

  std::map<std::string, std::pair<uint64_t, uint64_t>> per_type;  // type → (tensors, bytes)
  uint64_t total = 0;
  ordered_json tensors = ordered_json::array();
  for (const auto& t : file.tensors()) {
    auto& slot = per_type[std::string(to_string(t.type))];
    slot.first += 1;
    slot.second += t.n_bytes;
    total += t.n_bytes;
    if (with_tensors) {
      ordered_json entry;
      entry["name"] = t.name;
      entry["type"] = to_string(t.type);
      entry["shape"] = std::vector<uint64_t>(t.ne.begin(), t.ne.begin() + t.n_dims);
      entry["elements"] = t.n_elements;
      entry["bytes"] = t.n_bytes;
      entry["offset"] = file.data_offset() + t.offset;
      tensors.push_back(entry);
    }
  }
  out["tensor_count"] = file.tensors().size();
  out["tensor_bytes"] = total;
  ordered_json by_type = ordered_json::object();
  for (const auto& [type, counts] : per_type) by_type[type] = {{"tensors", counts.first}, {"bytes", counts.second}};
  out["bytes_per_type"] = by_type;
  if (with_tensors) out["tensors"] = tensors;
  return out;
}

void print_text(const gguf::File& file, const ordered_json& j, bool with_tensors) {
  std::cout << fmt::format("file          {}\n", file.name());
  std::cout << fmt::format("size          {} ({} bytes), GGUF v{}, alignment {}, data at byte {}\n",
                           format_bytes(file.file_size(), 2), file.file_size(), file.version(), file.alignment(),
                           file.data_offset());
  std::cout << fmt::format("architecture  {}\n", file.architecture().empty() ? "(none)" : file.architecture());
  if (!j["hyperparameters"].empty()) {
    std::cout << "hyperparameters\n";
    for (const auto& [key, value] : j["hyperparameters"].items()) {
      std::cout << fmt::format("  {:<36} {}\n", key, json_text(value));
    }
  }
  const auto& tok = j["tokenizer"];
  std::cout << fmt::format("tokenizer     {} (pre: {}), {} tokens{}\n", tok.value("model", std::string("(none)")),
                           tok.value("pre", std::string("default")), tok["vocab_size"].get<uint64_t>(),
                           tok.contains("merges") ? fmt::format(", {} merges", tok["merges"].get<uint64_t>()) : "");
  for (const auto& [name, token] : tok["special_tokens"].items()) {
    // An id past the vocabulary (often 2^32 - 1, i.e. -1) is how converters write "no such token".
    std::cout << fmt::format("  {:<10} {} {}\n", name, json_text(token["id"]),
                             token.contains("text") ? json_text(token["text"]) : std::string("(none: past the vocabulary)"));
  }
  std::cout << fmt::format("tensors       {} tensors, {}\n", file.tensors().size(),
                           format_bytes(j["tensor_bytes"].get<uint64_t>(), 2));
  for (const auto& [type, counts] : j["bytes_per_type"].items()) {
    std::cout << fmt::format("  {:<8} {:>5} tensors  {:>12}\n", type, counts["tensors"].get<uint64_t>(),
                             format_bytes(counts["bytes"].get<uint64_t>(), 2));
  }
  if (with_tensors) {
    std::cout << fmt::format("\n{:<32} {:<8} {:<22} {:>12} {:>12}\n", "name", "type", "shape", "bytes", "offset");
    for (const auto& t : file.tensors()) {
      // Names are UTF-8 (the reader checks) but may hold control characters: escaped before a terminal sees them.
      std::cout << fmt::format("{:<32} {:<8} {:<22} {:>12} {:>12}\n", escape_text(t.name, true), to_string(t.type),
                               shape_of(t), t.n_bytes, file.data_offset() + t.offset);
    }
  }
}

}  // namespace

void add_inspect_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("inspect", "Show a GGUF model's architecture, hyperparameters, tokenizer and tensors");
  struct Options {
    std::string model;
    bool tensors = false;
    std::string format = "text";
  };
  auto opts = std::make_shared<Options>();
  add_model_option(*cmd, opts->model);
  cmd->add_flag("--tensors", opts->tensors, "List every tensor: name, type, shape, bytes, offset");
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([opts, &exit_code] {
    const gguf::File file = gguf::File::open(opts->model);
    const ordered_json j = build_json(file, opts->tensors);
    if (opts->format == "json") {
      std::cout << json_text(j, 2) << "\n";
    } else {
      print_text(file, j, opts->tensors);
    }
    exit_code = 0;
  });
}

}  // namespace sy::cli
