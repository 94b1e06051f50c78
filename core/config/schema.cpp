#include "core/config/schema.h"

#include <algorithm>
#include <regex>

namespace sy::config {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::string join_path(const std::string& base, const std::string& key) { return base.empty() ? key : base + "." + key; }

std::string type_of(const ordered_json& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "an integer";
  if (v.is_number_float()) return "a number";
  return "null";
}

bool has_type(const ordered_json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "integer") {
    if (v.is_number_integer() || v.is_number_unsigned()) return true;
    // 3.0 is an integer in JSON Schema's sense.
    return v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>()));
  }
  if (type == "number") return v.is_number();
  if (type == "null") return v.is_null();
  return false;
}

std::string nearest(const std::string& key, const json& properties) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& [name, unused] : properties.items()) {
    const size_t d = edit_distance(key, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  // A suggestion that shares little with the key helps nobody.
  return best_distance <= std::max<size_t>(2, key.size() / 2) ? best : std::string();
}

void validate(const json& schema, const ordered_json& v, const std::string& path, std::vector<SchemaViolation>& out) {
  const std::string where = path.empty() ? "the document" : "'" + path + "'";
  if (auto it = schema.find("type"); it != schema.end() && !has_type(v, it->get<std::string>())) {
    out.push_back({path, where + " is " + type_of(v) + " (" + v.dump() + "), expected " +
                             (it->get<std::string>() == "integer" || it->get<std::string>() == "array" ||
                                      it->get<std::string>() == "object"
                                  ? "an "
                                  : "a ") +
                             it->get<std::string>()});
    return;
  }
  if (auto it = schema.find("enum"); it != schema.end()) {
    // The schema and the document use different JSON types (the document keeps key order), so compare as text.
    const std::string text = v.dump();
    if (std::none_of(it->begin(), it->end(), [&](const json& allowed) { return allowed.dump() == text; })) {
      std::string allowed;
      for (const auto& e : *it) allowed += (allowed.empty() ? "" : ", ") + e.dump();
      out.push_back({path, where + " is " + v.dump() + ", expected one of " + allowed});
      return;
    }
  }
  if (v.is_number()) {
    const double x = v.get<double>();
    if (auto it = schema.find("minimum"); it != schema.end() && x < it->get<double>()) {
      out.push_back({path, where + " is " + v.dump() + ", below the minimum " + it->dump()});
    }
    if (auto it = schema.find("maximum"); it != schema.end() && x > it->get<double>()) {
      out.push_back({path, where + " is " + v.dump() + ", above the maximum " + it->dump()});
    }
    if (auto it = schema.find("exclusiveMinimum"); it != schema.end() && x <= it->get<double>()) {
      out.push_back({path, where + " is " + v.dump() + ", must be greater than " + it->dump()});
    }
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (auto it = schema.find("minLength"); it != schema.end() && s.size() < it->get<size_t>()) {
      out.push_back({path, where + " is empty, expected at least " + it->dump() + " characters"});
    }
    if (auto it = schema.find("pattern"); it != schema.end() && !std::regex_search(s, std::regex(it->get<std::string>()))) {
      out.push_back({path, where + " is " + v.dump() + ", which does not match " + it->dump()});
    }
    if (auto it = schema.find("format"); it != schema.end() && *it == "regex") {
      try {
        std::regex compiled(s);
      } catch (const std::regex_error& e) {
        out.push_back({path, where + " is " + v.dump() + ", which is not a valid regular expression: " + e.what()});
      }
    }
  }
  if (v.is_array()) {
    if (auto it = schema.find("items"); it != schema.end()) {
      for (size_t i = 0; i < v.size(); ++i) validate(*it, v[i], path + "[" + std::to_string(i) + "]", out);
    }
  }
  if (v.is_object()) {
    const json* properties = schema.contains("properties") ? &schema["properties"] : nullptr;
    if (auto it = schema.find("required"); it != schema.end()) {
      for (const auto& key : *it) {
        if (!v.contains(key.get<std::string>())) {
          out.push_back({join_path(path, key), where + " needs the key '" + key.get<std::string>() + "'"});
        }
      }
    }
    const auto additional = schema.find("additionalProperties");
    for (const auto& [key, value] : v.items()) {
      const std::string child = join_path(path, key);
      if (properties && properties->contains(key)) {
        validate((*properties)[key], value, child, out);
      } else if (additional != schema.end() && additional->is_object()) {
        validate(*additional, value, child, out);
      } else if (additional != schema.end() && *additional == false) {
        std::string message = "unknown key '" + child + "'";
        if (properties) {
          const std::string suggestion = nearest(key, *properties);
          if (!suggestion.empty()) message += "; did you mean '" + join_path(path, suggestion) + "'?";
          std::string valid;
          for (const auto& [name, unused] : properties->items()) valid += (valid.empty() ? "" : ", ") + name;
          message += " (valid keys here: " + valid + ")";
        }
        out.push_back({child, message});
      }
    }
  }
}

void defaults(const json& schema, ordered_json& v, bool create_sections) {
  if (!v.is_object() || !schema.contains("properties")) return;
  for (const auto& [key, sub] : schema["properties"].items()) {
    if (!v.contains(key)) {
      if (sub.contains("default")) {
        v[key] = sub["default"];
      } else if (create_sections && sub.value("type", "") == "object" && sub.contains("properties")) {
        v[key] = json::object();
      }
    }
    if (v.contains(key)) defaults(sub, v[key], false);
  }
}

}  // namespace

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

void validate_against_schema(const json& schema, const ordered_json& document, std::vector<SchemaViolation>& violations,
                             const std::string& root_path) {
  validate(schema, document, root_path, violations);
}

void apply_schema_defaults(const json& schema, ordered_json& document) { defaults(schema, document, true); }

}  // namespace sy::config
