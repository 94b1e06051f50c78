// `switchyard inspect`: what a GGUF file holds — architecture, hyperparameters, tokenizer, tensors and bytes per
// type — as text for people or as JSON (schema "switchyard.inspect/2", documented in docs/cli-json.md).
#include <fmt/format.h>

#include <cstdint>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/common/format.h"
#include "core/common/json_text.h"
#include "core/common/utf8.h"
#include "core/gguf/file.h"
#include "core/model/architecture.h"
#include "core/tokenizer/special_tokens.h"
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

// llama.cpp's names for general.file_type (enum llama_ftype); 40 is bitnet.cpp's MOSTLY_I2_S.
std::string file_type_name(uint64_t id) {
  static const std::map<uint64_t, const char*> kNames = {
      {0, "ALL_F32"},       {1, "MOSTLY_F16"},     {2, "MOSTLY_Q4_0"},    {3, "MOSTLY_Q4_1"},
      {7, "MOSTLY_Q8_0"},   {8, "MOSTLY_Q5_0"},    {9, "MOSTLY_Q5_1"},    {10, "MOSTLY_Q2_K"},
      {11, "MOSTLY_Q3_K_S"}, {12, "MOSTLY_Q3_K_M"}, {13, "MOSTLY_Q3_K_L"}, {14, "MOSTLY_Q4_K_S"},
      {15, "MOSTLY_Q4_K_M"}, {16, "MOSTLY_Q5_K_S"}, {17, "MOSTLY_Q5_K_M"}, {18, "MOSTLY_Q6_K"},
      {19, "MOSTLY_IQ2_XXS"}, {20, "MOSTLY_IQ2_XS"}, {21, "MOSTLY_Q2_K_S"}, {22, "MOSTLY_IQ3_XS"},
      {23, "MOSTLY_IQ3_XXS"}, {24, "MOSTLY_IQ1_S"}, {25, "MOSTLY_IQ4_NL"}, {26, "MOSTLY_IQ3_S"},
      {27, "MOSTLY_IQ3_M"}, {28, "MOSTLY_IQ2_S"},   {29, "MOSTLY_IQ2_M"},  {30, "MOSTLY_IQ4_XS"},
      {31, "MOSTLY_IQ1_M"}, {32, "MOSTLY_BF16"},    {36, "MOSTLY_TQ1_0"},  {37, "MOSTLY_TQ2_0"},
      {38, "MOSTLY_MXFP4_MOE"}, {40, "MOSTLY_I2_S"}};
  auto it = kNames.find(id);
  return it == kNames.end() ? "unknown" : it->second;
}

// "1.2M", "6.7B": parameter counts as model cards write them.
std::string short_count(uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.1f}B", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.1f}M", static_cast<double>(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}K", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

// A value as one line of text for a terminal: strings quoted and escaped (a model file may put anything in them,
// escape sequences and newlines included), arrays longer than `limit` elements shown by their first eight and a
// count.
std::string text_of(const ordered_json& value, size_t limit = SIZE_MAX) {
  if (value.is_string()) return "\"" + printable(value.get_ref<const std::string&>()) + "\"";
  if (!value.is_array()) return value.dump();
  const size_t shown = value.size() <= limit ? value.size() : std::min<size_t>(8, value.size());
  std::string text = "[";
  for (size_t i = 0; i < shown; ++i) text += (i ? "," : "") + text_of(value[i]);  // as JSON writes arrays
  if (shown < value.size()) text += fmt::format(", ... {} more", value.size() - shown);
  return text + "]";
}

std::string shape_of(const gguf::TensorInfo& t) {
  std::string out = "[";
  for (uint32_t d = 0; d < t.n_dims; ++d) out += (d ? ", " : "") + std::to_string(t.ne[d]);
  return out + "]";
}

struct Summary {
  ordered_json json;
};

ordered_json build_json(const gguf::File& file, bool with_tensors, bool full) {
  ordered_json out;
  out["schema"] = "switchyard.inspect/2";
  out["model"] = file.name();
  out["file_bytes"] = file.file_size();
  out["gguf_version"] = file.version();
  out["alignment"] = file.alignment();
  out["data_offset"] = file.data_offset();
  out["architecture"] = file.architecture();
  if (const gguf::Value* v = file.find("general.name"); v && v->as_string()) out["name"] = *v->as_string();
  if (const gguf::Value* v = file.find("general.file_type"); v && v->as_uint()) {
    out["file_type"] = {{"id", *v->as_uint()}, {"name", file_type_name(*v->as_uint())}};
  }

  ordered_json hparams = ordered_json::object();
  const std::string prefix = file.architecture() + ".";
  ordered_json metadata = ordered_json::array();
  for (const auto& kv : file.metadata()) {
    ordered_json entry;
    entry["key"] = kv.key;
    entry["type"] = kv.value.as_array() ? "ARRAY[" + std::string(to_string(kv.value.as_array()->element_type)) + "]"
                                        : std::string(to_string(kv.value.type()));
    if (const gguf::Array* a = kv.value.as_array()) entry["length"] = a->size();
    if (full || !is_bulky(kv.value)) entry["value"] = value_to_json(kv.value);
    metadata.push_back(entry);
    if (!file.architecture().empty() && kv.key.starts_with(prefix) && !is_bulky(kv.value)) {
      hparams[kv.key.substr(prefix.size())] = value_to_json(kv.value);
    }
  }
  out["hyperparameters"] = hparams;
  // The rope as the runtime resolves it (core/model: defaults applied), for the architectures it runs.
  if (model::architecture_from_name(file.architecture()) && model::check_model(file).empty()) {
    const model::ModelStructure structure = model::describe_model(file);
    const model::Hparams& hp = structure.hp;
    ordered_json rope;
    rope["style"] = structure.rope == model::RopeStyle::neox ? "neox" : "normal";
    rope["dimensions"] = hp.n_rot;
    rope["freq_base"] = hp.rope_freq_base;
    rope["scaling"] = std::string(model::to_string(hp.rope_scaling));
    if (hp.rope_scaling != model::RopeScalingType::none) {
      rope["factor"] = 1.0 / hp.rope_freq_scale;
      rope["original_context_length"] = hp.rope_n_ctx_orig;
    }
    if (hp.rope_scaling == model::RopeScalingType::yarn) {
      rope["ext_factor"] = hp.yarn_ext_factor;
      rope["beta_fast"] = hp.yarn_beta_fast;
      rope["beta_slow"] = hp.yarn_beta_slow;
    }
    rope["attn_factor"] = hp.rope_attn_factor;
    rope["freq_factors"] = hp.rope_freqs;
    out["rope"] = rope;
  }

  ordered_json tokenizer = ordered_json::object();
  if (const gguf::Value* v = file.find("tokenizer.ggml.model")) tokenizer["model"] = *v->as_string();
  if (const gguf::Value* v = file.find("tokenizer.ggml.pre")) tokenizer["pre"] = *v->as_string();
  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  tokenizer["vocab_size"] = tokens ? tokens->as_array()->size() : 0;
  if (const gguf::Value* v = file.find("tokenizer.ggml.merges")) tokenizer["merges"] = v->as_array()->size();
  ordered_json special = ordered_json::object();
  for (const auto& k : tokenizer::kSpecialTokenKeys) {
    const gguf::Value* v = file.find(k.key);
    if (!v) continue;
    ordered_json token;
    token["id"] = value_to_json(*v);
    const auto id = tokenizer::read_special_token_id(*v);
    if (id && !id->none && id->id >= 0 && tokens && static_cast<uint64_t>(id->id) < tokens->as_array()->size()) {
      token["text"] = tokens->as_array()->strings[id->id];
    }
    special[std::string(k.name)] = token;
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
  uint64_t parameters = 0;
  for (const auto& t : file.tensors()) parameters += t.n_elements;
  out["tensor_count"] = file.tensors().size();
  out["tensor_bytes"] = total;
  out["parameter_count"] = parameters;
  out["bits_per_weight"] = parameters ? 8.0 * static_cast<double>(total) / static_cast<double>(parameters) : 0.0;
  ordered_json by_type = ordered_json::object();
  for (const auto& [type, counts] : per_type) by_type[type] = {{"tensors", counts.first}, {"bytes", counts.second}};
  out["bytes_per_type"] = by_type;
  if (with_tensors) out["tensors"] = tensors;
  return out;
}

void print_text(const gguf::File& file, const ordered_json& j, bool with_tensors, bool full) {
  std::cout << fmt::format("file          {}\n", printable(file.name()));
  std::cout << fmt::format("size          {} ({} bytes), GGUF v{}, alignment {}, data at byte {}\n",
                           format_bytes(file.file_size()), file.file_size(), file.version(), file.alignment(),
                           file.data_offset());
  std::cout << fmt::format("architecture  {}\n",
                           file.architecture().empty() ? "(none)" : printable(file.architecture()));
  if (j.contains("name")) std::cout << fmt::format("name          {}\n", printable(j["name"].get<std::string>()));
  if (j.contains("file_type")) {
    std::cout << fmt::format("file type     {} ({})\n", j["file_type"]["name"].get<std::string>(),
                             j["file_type"]["id"].get<uint64_t>());
  }
  std::cout << fmt::format("parameters    {} ({}), {:.2f} bits per weight\n",
                           short_count(j["parameter_count"].get<uint64_t>()), j["parameter_count"].get<uint64_t>(),
                           j["bits_per_weight"].get<double>());
  if (!j["hyperparameters"].empty()) {
    std::cout << "hyperparameters\n";
    for (const auto& [key, value] : j["hyperparameters"].items()) {
      std::cout << fmt::format("  {:<36} {}\n", printable(key), text_of(value));
    }
  }
  if (j.contains("rope")) {
    const auto& rope = j["rope"];
    std::string scaling = "no scaling";
    if (rope["scaling"] != "none") {
      scaling = fmt::format("{} scaling x{} from {} tokens", rope["scaling"].get<std::string>(),
                            text_of(rope["factor"]), text_of(rope["original_context_length"]));
      if (rope.contains("ext_factor"))
        scaling += fmt::format(" (ext {}, beta {}/{})", text_of(rope["ext_factor"]), text_of(rope["beta_fast"]),
                               text_of(rope["beta_slow"]));
    }
    std::cout << fmt::format("rope          {}, {} dims, base {}, {}{}{}\n", rope["style"].get<std::string>(),
                             text_of(rope["dimensions"]), text_of(rope["freq_base"]), scaling,
                             rope["attn_factor"].get<double>() != 1.0
                                 ? fmt::format(", attention factor {}", text_of(rope["attn_factor"]))
                                 : "",
                             rope["freq_factors"].get<bool>() ? ", per-frequency factors (rope_freqs)" : "");
  }
  const auto& tok = j["tokenizer"];
  std::cout << fmt::format("tokenizer     {} (pre: {}), {} tokens{}\n",
                           printable(tok.value("model", std::string("(none)"))),
                           printable(tok.value("pre", std::string("default"))), tok["vocab_size"].get<uint64_t>(),
                           tok.contains("merges") ? fmt::format(", {} merges", tok["merges"].get<uint64_t>()) : "");
  for (const auto& [name, token] : tok["special_tokens"].items()) {
    // An id past the vocabulary (often 2^32 - 1, i.e. -1) is how converters write "no such token".
    std::cout << fmt::format("  {:<10} {} {}\n", name, text_of(token["id"]),
                             token.contains("text") ? text_of(token["text"])
                                                    : std::string("(none: past the vocabulary)"));
  }
  std::cout << fmt::format("tensors       {}, {}\n", count_of(file.tensors().size(), "tensor"),
                           format_bytes(j["tensor_bytes"].get<uint64_t>()));
  for (const auto& [type, counts] : j["bytes_per_type"].items()) {
    std::cout << fmt::format("  {:<8} {:>13}  {:>12}\n", type, count_of(counts["tensors"].get<uint64_t>(), "tensor"),
                             format_bytes(counts["bytes"].get<uint64_t>()));
  }
  // Every key, as gguf-dump lists them; long arrays (vocabularies, merges) summarised unless --full.
  std::cout << fmt::format("metadata      {}{}\n", count_of(file.metadata().size(), "key"),
                           full ? "" : " (arrays over 16 elements shortened; --full prints them)");
  for (const auto& kv : file.metadata()) {
    const std::string type = kv.value.as_array()
                                 ? "[" + std::string(to_string(kv.value.as_array()->element_type)) + "]"
                                 : std::string(to_string(kv.value.type()));
    std::cout << fmt::format("  {:<40} {:<9} {}\n", printable(kv.key), type,
                             text_of(value_to_json(kv.value), full ? SIZE_MAX : 16));
  }
  if (with_tensors) {
    std::cout << fmt::format("\n{:<32} {:<8} {:<22} {:>12} {:>12}\n", "name", "type", "shape", "bytes", "offset");
    for (const auto& t : file.tensors()) {
      // Names are UTF-8 (the reader checks) but may hold control characters: escaped before a terminal sees them.
      std::cout << fmt::format("{:<32} {:<8} {:<22} {:>12} {:>12}\n", printable(t.name), to_string(t.type),
                               shape_of(t), t.n_bytes, file.data_offset() + t.offset);
    }
  }
}

}  // namespace

void add_inspect_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("inspect", "Show a GGUF model's architecture, hyperparameters, rope, tokenizer and tensors");
  struct Options {
    std::string model;
    bool tensors = false;
    bool full = false;
    std::string format = "text";
  };
  auto opts = std::make_shared<Options>();
  add_model_option(*cmd, opts->model);
  cmd->add_flag("--tensors", opts->tensors, "List every tensor: name, type, shape, bytes, offset");
  cmd->add_flag("--full", opts->full, "Print metadata arrays whole (text: summarised over 16 elements; JSON: "
                                      "values of arrays over 16 elements are included)");
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([opts, &exit_code] {
    // A file whose tensor table or metadata has problems is still shown as far as its header reads; the problems
    // are listed (validate checks the rest) and make the exit status 1.
    const gguf::File file = gguf::File::open(opts->model, gguf::OnFindings::keep);
    ordered_json j = build_json(file, opts->tensors, opts->full);
    if (!file.findings().empty()) {
      j["findings"] = ordered_json::array();
      for (const auto& f : file.findings()) {
        j["findings"].push_back({{"code", to_string(f.code)}, {"message", f.message}});
      }
    }
    if (opts->format == "json") {
      std::cout << json_text(j, 2) << "\n";
    } else {
      print_text(file, j, opts->tensors, opts->full);
    }
    for (const auto& f : file.findings()) {
      std::cerr << fmt::format("problem: [{}] {}\n", to_string(f.code), printable(f.message));
    }
    if (!file.findings().empty()) {
      std::cerr << fmt::format("{}: {}; 'switchyard validate' checks the whole model\n", printable(opts->model),
                               count_of(file.findings().size(), "problem"));
    }
    exit_code = file.findings().empty() ? 0 : 1;
  });
}

}  // namespace sy::cli
