#include "core/config/run_config.h"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

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
    if (!node->contains("properties") || !(*node)["properties"].contains(part)) return nullptr;
    node = &(*node)["properties"][part];
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

void collect_leaves(const ordered_json& v, const std::string& path, std::vector<std::string>& out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [key, child] : v.items()) collect_leaves(child, path.empty() ? key : path + "." + key, out);
  } else {
    out.push_back(path);
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
  const auto& p = d["placement"];
  c.placement.policy = p["policy"].get<std::string>();
  c.placement.device = p["device"].get<std::string>();
  c.placement.gpu_memory_limit_mib = get_or<uint64_t>(p, "gpu_memory_limit_mib", 0);
  c.placement.allow_conversion = p["allow_conversion"].get<bool>();
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
  const auto& r = d["runtime"];
  c.runtime.threads = r["threads"].get<uint64_t>();
  c.runtime.context_length = r["context_length"].get<uint64_t>();
  c.runtime.batch_size = r["batch_size"].get<uint64_t>();
  c.runtime.seed = r["seed"].get<uint64_t>();
  const auto& s = d["sampling"];
  c.sampling.temperature = s["temperature"].get<double>();
  c.sampling.top_k = s["top_k"].get<uint64_t>();
  c.sampling.top_p = s["top_p"].get<double>();
  c.sampling.min_p = s["min_p"].get<double>();
  c.sampling.repeat_penalty = s["repeat_penalty"].get<double>();
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

}  // namespace

DeviceBudget RunConfig::budget_for(const std::string& device) const {
  auto it = placement.devices.find(device);
  return it == placement.devices.end() ? DeviceBudget{} : it->second;
}

std::vector<Setting> settings_from_environment(const char* (*getenv)(const char*)) {
  if (!getenv) getenv = [](const char* name) -> const char* { return std::getenv(name); };
  static const std::pair<const char*, const char*> kVariables[] = {
      {"SWITCHYARD_DEVICE", "placement.device"},
      {"SWITCHYARD_GPU_MEMORY_LIMIT", "placement.gpu_memory_limit_mib"},
      {"SWITCHYARD_THREADS", "runtime.threads"},
      {"SWITCHYARD_SEED", "runtime.seed"},
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
  RunConfig config;
  ordered_json doc = ordered_json::object();
  std::vector<std::string> problems;
  std::map<std::string, std::string> origins;

  if (file) {
    const std::string name = file->string();
    std::ifstream in(*file);
    if (!in) throw Error(ErrorCode::io, name + ": cannot open the run configuration");
    try {
      doc = ordered_json::parse(in);
    } catch (const ordered_json::parse_error& e) {
      throw Error(ErrorCode::invalid_argument, name + ": not valid JSON: " + e.what());
    }
    std::vector<SchemaViolation> violations;
    validate_against_schema(run_config_schema(), doc, violations);
    for (const auto& v : violations) problems.push_back(name + ": " + v.message);
    if (doc.is_object()) {
      std::vector<std::string> leaves;
      collect_leaves(doc, "", leaves);
      for (const auto& leaf : leaves) origins[leaf] = "file " + name;
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
  std::vector<std::string> leaves;
  collect_leaves(config.document, "", leaves);
  std::ostringstream os;
  for (const auto& leaf : leaves) {
    const ordered_json* node = &config.document;
    for (const auto& part : split_path(leaf)) node = &(*node)[part];
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
