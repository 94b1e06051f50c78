#include "core/config/run_config.h"

#include <charconv>
#include <cstdlib>
#include <set>
#include <sstream>

#include "core/common/regular_file.h"
#include "core/config/schema.h"

namespace sy::config {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  return parts;
}

// The schema of the value at `path`, or nullptr when the schema has no such key.
const json* schema_at(const std::string& path) {
  const json* node = &run_config_schema();
  for (const auto& part : split_path(path)) {
    if (node->contains("properties") && (*node)["properties"].contains(part)) {
      node = &(*node)["properties"][part];
    } else if (node->contains("additionalProperties") && (*node)["additionalProperties"].is_object()) {
      node = &(*node)["additionalProperties"];  // a key of a free-form object, e.g. plugins.options.isa
    } else {
      return nullptr;
    }
  }
  return node;
}

// Parses a setting's text as the schema's type for its key.
std::optional<ordered_json> parse_setting(const Setting& s, const json& schema, std::string& error) {
  const std::string type = schema.contains("enum") ? "string" : schema.value("type", "string");
  if (type == "integer") {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(s.text.data(), s.text.data() + s.text.size(), value);
    if (ec != std::errc() || end != s.text.data() + s.text.size()) {
      error = "'" + s.text + "' is not a non-negative integer";
      return std::nullopt;
    }
    return ordered_json(value);
  }
  if (type == "number") {
    char* end = nullptr;
    const double value = std::strtod(s.text.c_str(), &end);
    if (s.text.empty() || *end != '\0') {
      error = "'" + s.text + "' is not a number";
      return std::nullopt;
    }
    return ordered_json(value);
  }
  if (type == "boolean") {
    if (s.text == "true" || s.text == "1") return ordered_json(true);
    if (s.text == "false" || s.text == "0") return ordered_json(false);
    error = "'" + s.text + "' is not true or false";
    return std::nullopt;
  }
  return ordered_json(s.text);
}

void set_at(ordered_json& doc, const std::string& path, ordered_json value) {
  ordered_json* node = &doc;
  const auto parts = split_path(path);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!node->contains(parts[i]) || !(*node)[parts[i]].is_object()) (*node)[parts[i]] = ordered_json::object();
    node = &(*node)[parts[i]];
  }
  (*node)[parts.back()] = std::move(value);
}

// Every leaf with its dotted path and its value. The value is kept rather than found again from the path: a key
// may itself contain a dot (a device named "gpu.0"), so a path cannot always be split back into keys.
struct Leaf {
  std::string path;
  const ordered_json* value = nullptr;
};

void collect_leaves(const ordered_json& v, const std::string& path, std::vector<Leaf>& out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [key, child] : v.items()) collect_leaves(child, path.empty() ? key : path + "." + key, out);
  } else {
    out.push_back({path, &v});
  }
}

template <class T>
T get_or(const ordered_json& section, const char* key, T fallback) {
  return section.contains(key) ? section[key].get<T>() : fallback;
}

void fill_struct(RunConfig& c) {
  const auto& d = c.document;
  const auto& plugins = d["plugins"];
  c.plugins.paths = get_or(plugins, "paths", std::vector<std::string>{});
  c.plugins.require = get_or(plugins, "require", std::vector<std::string>{});
  if (plugins.contains("options")) {
    for (const auto& [key, value] : plugins["options"].items()) c.plugins.options[key] = value.get<std::string>();
  }
  const auto& p = d["placement"];
  c.placement.policy = p["policy"].get<std::string>();
  c.placement.device = p["device"].get<std::string>();
  c.placement.gpu_memory_limit_mib = get_or<uint64_t>(p, "gpu_memory_limit_mib", 0);
  c.placement.allow_conversion = p["allow_conversion"].get<bool>();
  c.placement.reencode = p["reencode"].get<bool>();
  if (p.contains("gpu_layers")) c.placement.gpu_layers = p["gpu_layers"].get<uint64_t>();
  if (p.contains("devices")) {
    for (const auto& [name, budget] : p["devices"].items()) {
      c.placement.devices[name] = {get_or(budget, "max_utilization", 0.9), get_or<uint64_t>(budget, "reserve_mib", 0)};
    }
  }
  if (p.contains("layers")) {
    for (const auto& r : p["layers"]) {
      c.placement.layers.push_back({r["device"].get<std::string>(), r["first"].get<uint64_t>(), r["last"].get<uint64_t>()});
    }
  }
  if (p.contains("overrides")) {
    for (const auto& o : p["overrides"]) {
      c.placement.overrides.push_back({o["pattern"].get<std::string>(), o["device"].get<std::string>()});
    }
  }
  const auto& l = d["loading"];
  c.loading.mode = l["mode"].get<std::string>();
  c.loading.lazy_budget_mib = get_or<uint64_t>(l, "lazy_budget_mib", 0);
  c.loading.staging_mib = l["staging_mib"].get<uint64_t>();
  c.loading.cpu_weights = l["cpu_weights"].get<std::string>();
  const auto& r = d["runtime"];
  c.runtime.threads = r["threads"].get<uint64_t>();
  c.runtime.context_length = r["context_length"].get<uint64_t>();
  c.runtime.batch_size = r["batch_size"].get<uint64_t>();
  c.runtime.kv_type = r["kv_type"].get<std::string>();
  c.runtime.seed = r["seed"].get<uint64_t>();
  const auto& s = d["sampling"];
  c.sampling.temperature = s["temperature"].get<double>();
  c.sampling.top_k = s["top_k"].get<uint64_t>();
  c.sampling.top_p = s["top_p"].get<double>();
  c.sampling.min_p = s["min_p"].get<double>();
  c.sampling.repeat_penalty = s["repeat_penalty"].get<double>();
  c.sampling.repeat_last_n = s["repeat_last_n"].get<uint64_t>();
  c.sampling.max_tokens = s["max_tokens"].get<uint64_t>();
}

// Cross-field rules the schema cannot say.
void check_consistency(const RunConfig& c, const std::map<std::string, std::string>& origins,
                       std::vector<std::string>& problems) {
  auto origin = [&](const std::string& path) {
    auto it = origins.find(path);
    return it == origins.end() ? std::string("default") : it->second;
  };
  for (size_t i = 0; i < c.placement.layers.size(); ++i) {
    const auto& r = c.placement.layers[i];
    if (r.first > r.last) {
      problems.push_back(origin("placement.layers") + ": 'placement.layers[" + std::to_string(i) + "]' has first " +
                         std::to_string(r.first) + " after last " + std::to_string(r.last) +
                         "; ranges are inclusive and ascending");
    }
  }
  // Sizes in MiB become bytes (<< 20): anything past 2^44 - 1 MiB would wrap around to a small number of bytes.
  constexpr uint64_t kMaxMib = UINT64_MAX >> 20;
  std::vector<std::pair<std::string, uint64_t>> mib_values = {
      {"placement.gpu_memory_limit_mib", c.placement.gpu_memory_limit_mib},
      {"loading.lazy_budget_mib", c.loading.lazy_budget_mib},
      {"loading.staging_mib", c.loading.staging_mib}};
  for (const auto& [device, budget] : c.placement.devices)
    mib_values.emplace_back("placement.devices." + device + ".reserve_mib", budget.reserve_mib);
  for (const auto& [path, value] : mib_values) {
    if (value > kMaxMib) {
      problems.push_back(origin(path) + ": '" + path + "' is " + std::to_string(value) + " MiB, more than the " +
                         std::to_string(kMaxMib) + " MiB (16 EiB) that a byte count can hold");
    }
  }
  if (c.placement.policy == "layers" && c.placement.layers.empty()) {
    problems.push_back(origin("placement.policy") +
                       ": 'placement.policy' is \"layers\" but 'placement.layers' is empty; give at least one range");
  }
  if (c.placement.gpu_layers && (c.placement.policy == "layers" || c.placement.policy == "cpu")) {
    problems.push_back(origin("placement.gpu_layers") +
                       ": 'placement.gpu_layers' (-ngl) chooses the layers for the GPUs, which policy \"" +
                       c.placement.policy + "\" (" + origin("placement.policy") + ") also does; keep one of them");
  }
}

// ---- Bounds checked before the document is built ----------------------------------------------------------------
// A SAX pass (nlohmann's parser is iterative: no recursion, linear time) refuses what no configuration needs and
// what would make later passes slow or deep: nesting past kMaxConfigDepth, an object or array with more than
// kMaxConfigMembers members (the order-keeping document inserts keys in linear time each), strings longer than
// kMaxConfigStringBytes. Syntax errors are left to the real parse, whose messages are better.
constexpr size_t kMaxConfigDepth = 32;
constexpr size_t kMaxConfigMembers = 4096;
constexpr size_t kMaxConfigStringBytes = 4096;

class BoundsCheck : public nlohmann::json_sax<json> {
 public:
  std::string problem;  // set when a bound was exceeded

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t& text) override {
    if (text.size() > kMaxConfigStringBytes) return fail(fmt_size("a string of", text.size(), kMaxConfigStringBytes, "bytes"));
    return value();
  }
  bool binary(binary_t&) override { return value(); }
  bool start_object(size_t) override { return open(false); }
  bool key(string_t& text) override {
    if (text.size() > kMaxConfigStringBytes) return fail(fmt_size("a key of", text.size(), kMaxConfigStringBytes, "bytes"));
    if (++frames_.back().members > kMaxConfigMembers)
      return fail(fmt_size("an object with more than", kMaxConfigMembers, kMaxConfigMembers, "keys"));
    frames_.back().key = text;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(size_t) override { return open(true); }
  bool end_array() override { return close(); }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  struct Frame {
    bool array = false;
    size_t members = 0;
    std::string key;
  };
  std::vector<Frame> frames_;

  // Where the parser is, for messages: "placement.overrides[3]", at most a few components.
  std::string where() const {
    std::string path;
    for (size_t i = 0; i < frames_.size() && i < 8; ++i) {
      const auto& f = frames_[i];
      if (f.array) path += "[" + std::to_string(f.members ? f.members - 1 : 0) + "]";
      else if (!f.key.empty()) path += (path.empty() ? "" : ".") + f.key.substr(0, 64);
    }
    if (frames_.size() > 8) path += "...";
    return path.empty() ? "the document" : "'" + path + "'";
  }
  static std::string fmt_size(const char* what, size_t n, size_t limit, const char* unit) {
    return std::string(what) + " " + std::to_string(n) + " " + unit + " (at most " + std::to_string(limit) + " " + unit +
           " are allowed)";
  }
  bool fail(const std::string& what) {
    problem = what + " at " + where();
    return false;
  }
  bool value() {
    if (!frames_.empty() && frames_.back().array && ++frames_.back().members > kMaxConfigMembers)
      return fail(fmt_size("an array with more than", kMaxConfigMembers, kMaxConfigMembers, "items"));
    return true;
  }
  bool open(bool array) {
    if (!value()) return false;
    if (frames_.size() >= kMaxConfigDepth)
      return fail("nesting deeper than " + std::to_string(kMaxConfigDepth) + " levels");
    frames_.push_back({array, 0, {}});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
};

}  // namespace

DeviceBudget RunConfig::budget_for(const std::string& device) const {
  auto it = placement.devices.find(device);
  return it == placement.devices.end() ? DeviceBudget{} : it->second;
}

std::vector<std::pair<std::string, std::string>> RunConfig::plugin_settings() const {
  std::vector<std::pair<std::string, std::string>> out(plugins.options.begin(), plugins.options.end());
  if (runtime.threads > 0) {
    std::erase_if(out, [](const auto& setting) { return setting.first == "threads"; });
    out.emplace_back("threads", std::to_string(runtime.threads));
  }
  return out;
}

std::vector<Setting> settings_from_environment(const char* (*getenv)(const char*)) {
  if (!getenv) getenv = [](const char* name) -> const char* { return std::getenv(name); };
  static const std::pair<const char*, const char*> kVariables[] = {
      {"SWITCHYARD_DEVICE", "placement.device"},
      {"SWITCHYARD_GPU_MEMORY_LIMIT", "placement.gpu_memory_limit_mib"},
      {"SWITCHYARD_THREADS", "runtime.threads"},
      {"SWITCHYARD_SEED", "runtime.seed"},
      {"SWITCHYARD_CPU_ISA", "plugins.options.isa"},
  };
  std::vector<Setting> out;
  for (const auto& [variable, path] : kVariables) {
    if (const char* value = getenv(variable); value && *value) {
      out.push_back({path, value, std::string("env ") + variable});
    }
  }
  return out;
}

RunConfig load_run_config(const std::optional<std::filesystem::path>& file, const std::vector<Setting>& environment,
                          const std::vector<Setting>& flags) {
  if (!file) return parse_run_config(std::nullopt, "", environment, flags);
  // Refused before it is opened when it is a FIFO, socket or device, and before it is read when it is larger than
  // any configuration could be.
  const std::string text = read_regular_file(*file, kMaxConfigBytes, "the run configuration");
  return parse_run_config(text, file->string(), environment, flags);
}

RunConfig parse_run_config(const std::optional<std::string_view>& text, const std::string& name,
                           const std::vector<Setting>& environment, const std::vector<Setting>& flags) {
  RunConfig config;
  ordered_json doc = ordered_json::object();
  std::vector<std::string> problems;
  std::map<std::string, std::string> origins;

  if (text) {
    if (text->size() > kMaxConfigBytes) {
      throw Error(ErrorCode::invalid_argument, name + ": the run configuration is " + std::to_string(text->size()) +
                                                   " bytes, more than the " + std::to_string(kMaxConfigBytes) + " allowed");
    }
    BoundsCheck bounds;
    json::sax_parse(*text, &bounds);
    if (!bounds.problem.empty()) {
      throw Error(ErrorCode::invalid_argument, name + ": the run configuration has " + bounds.problem +
                                                   "; no valid configuration needs that");
    }
    try {
      doc = ordered_json::parse(*text);
    } catch (const ordered_json::exception& e) {  // parse_error, and out_of_range for a number like 1e400
      throw Error(ErrorCode::invalid_argument, name + ": not valid JSON: " + e.what());
    }
    std::vector<SchemaViolation> violations;
    validate_against_schema(run_config_schema(), doc, violations);
    for (const auto& v : violations) problems.push_back(name + ": " + v.message);
    if (doc.is_object()) {
      std::vector<Leaf> leaves;
      collect_leaves(doc, "", leaves);
      for (const auto& leaf : leaves) origins[leaf.path] = "file " + name;
    }
  }

  for (const auto* group : {&environment, &flags}) {
    for (const auto& setting : *group) {
      const json* schema = schema_at(setting.path);
      if (!schema) {
        problems.push_back(setting.source + ": no configuration key '" + setting.path + "'");
        continue;
      }
      std::string error;
      auto value = parse_setting(setting, *schema, error);
      if (!value) {
        problems.push_back(setting.source + ": " + error + " (sets '" + setting.path + "')");
        continue;
      }
      std::vector<SchemaViolation> violations;
      validate_against_schema(*schema, *value, violations, setting.path);
      for (const auto& v : violations) problems.push_back(setting.source + ": " + v.message);
      if (violations.empty() && doc.is_object()) {
        set_at(doc, setting.path, *value);
        origins[setting.path] = setting.source;
      }
    }
  }

  if (problems.empty()) {
    apply_schema_defaults(run_config_schema(), doc);
    config.document = doc;
    config.origins = origins;
    fill_struct(config);
    check_consistency(config, origins, problems);
  }
  if (!problems.empty()) {
    std::string message = "invalid run configuration:";
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(ErrorCode::invalid_argument, message);
  }
  return config;
}

std::string describe(const RunConfig& config) {
  std::vector<Leaf> leaves;
  collect_leaves(config.document, "", leaves);
  std::ostringstream os;
  for (const auto& [leaf, node] : leaves) {
    auto it = config.origins.find(leaf);
    std::string origin = it == config.origins.end() ? "default" : it->second;
    // Leaves inside a section set by the file inherit its origin (e.g. placement.devices.cuda:0.reserve_mib).
    if (it == config.origins.end()) {
      for (const auto& [path, source] : config.origins) {
        if (leaf.starts_with(path + ".") || path.starts_with(leaf + ".")) origin = source;
      }
    }
    std::string line = leaf + " = " + node->dump();
    if (line.size() < 48) line.resize(48, ' ');
    os << line << "  (" << origin << ")\n";
  }
  return os.str();
}

}  // namespace sy::config
