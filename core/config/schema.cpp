#include "core/config/schema.h"

#include <re2/re2.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <algorithm>
#include <cstdint>

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

// ---- valijson decides ---------------------------------------------------------------------------------------------
// valijson reports each failure with a context ("<root>", "[placement]", "[overrides]", "[0]") and a description
// in its own words. The phrasing below is ours: the key path, the value found and what the schema allows.

struct Located {
  std::string path;
  const json* schema = nullptr;          // the subschema at that path, when the walk finds it
  const ordered_json* value = nullptr;  // the document's value at that path
};

Located locate(const json& schema, const ordered_json& document, const std::vector<std::string>& context,
               const std::string& root_path) {
  Located at{root_path, &schema, &document};
  for (size_t i = 1; i < context.size(); ++i) {  // context[0] is "<root>"
    const std::string& part = context[i];
    const std::string key = part.size() >= 2 && part.front() == '[' && part.back() == ']' ? part.substr(1, part.size() - 2) : part;
    if (at.value && at.value->is_array()) {
      at.path += "[" + key + "]";
      const size_t index = std::stoul(key);
      at.value = index < at.value->size() ? &(*at.value)[index] : nullptr;
      at.schema = at.schema && at.schema->contains("items") ? &(*at.schema)["items"] : nullptr;
      continue;
    }
    at.path = join_path(at.path, key);
    at.value = at.value && at.value->is_object() && at.value->contains(key) ? &(*at.value)[key] : nullptr;
    if (at.schema && at.schema->contains("properties") && (*at.schema)["properties"].contains(key)) {
      at.schema = &(*at.schema)["properties"][key];
    } else if (at.schema && at.schema->contains("additionalProperties") && (*at.schema)["additionalProperties"].is_object()) {
      at.schema = &(*at.schema)["additionalProperties"];
    } else {
      at.schema = nullptr;
    }
  }
  return at;
}

std::string with_article(const std::string& type) {
  return (type == "integer" || type == "array" || type == "object" ? "an " : "a ") + type;
}

// One sentence for one valijson failure; empty for the failures that only say an enclosing object or array failed
// (the failure inside it has its own sentence) and for unknown keys (reported with suggestions by unknown_keys).
std::string phrase(const valijson::ValidationResults::Error& error, const Located& at) {
  const std::string& d = error.description;
  if (d.starts_with("Failed to validate against") || d.starts_with("Failed to validate item") ||
      d.starts_with("Object contains a property that could not be validated")) {
    return {};
  }
  const std::string where = at.path.empty() ? "the document" : "'" + at.path + "'";
  const std::string value = at.value ? at.value->dump() : std::string("the value");
  const json empty = json::object();
  const json& s = at.schema ? *at.schema : empty;
  // valijson reads integers as int64_t: one past INT64_MAX reads as negative ("below the minimum 0"), so such a
  // value gets its own sentence. No key takes a value that large; layer numbers and MiB sizes would wrap.
  if (at.value && at.value->is_number_unsigned() && at.value->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return where + " is " + value + ", past the largest integer a configuration takes (" + std::to_string(INT64_MAX) + ")";
  }
  if (d.find("'type' constraint") != std::string::npos && s.contains("type") && at.value) {
    return where + " is " + type_of(*at.value) + " (" + value + "), expected " + with_article(s["type"].get<std::string>());
  }
  if (d.find("enum values") != std::string::npos && s.contains("enum")) {
    std::string allowed;
    for (const auto& e : s["enum"]) allowed += (allowed.empty() ? "" : ", ") + e.dump();
    return where + " is " + value + ", expected one of " + allowed;
  }
  if (d.starts_with("Expected number less than") && s.contains("maximum")) {
    return where + " is " + value + ", above the maximum " + s["maximum"].dump();
  }
  if (d.starts_with("Expected number greater than or equal") && s.contains("minimum")) {
    return where + " is " + value + ", below the minimum " + s["minimum"].dump();
  }
  if (d.starts_with("Expected number greater than") && s.contains("exclusiveMinimum")) {
    return where + " is " + value + ", must be greater than " + s["exclusiveMinimum"].dump();
  }
  if (d.find("no fewer than") != std::string::npos && s.contains("minLength")) {
    return where + " is " + (at.value && at.value->is_string() && at.value->get_ref<const std::string&>().empty()
                                 ? std::string("empty")
                                 : value) +
           ", expected at least " + s["minLength"].dump() + " characters";
  }
  if (d.find("no more than") != std::string::npos && s.contains("maxLength")) {
    const size_t length = at.value && at.value->is_string() ? at.value->get_ref<const std::string&>().size() : 0;
    return where + " is " + std::to_string(length) + " characters long, more than the " + s["maxLength"].dump() +
           " allowed";
  }
  if (d.find("'pattern' constraint") != std::string::npos && s.contains("pattern")) {
    return where + " is " + value + ", which does not match " + s["pattern"].dump();
  }
  if (d.starts_with("Missing required property")) {
    const auto open = d.find('\''), close = d.rfind('\'');
    const std::string key = open != std::string::npos && close > open ? d.substr(open + 1, close - open - 1) : d;
    return where + " needs the key '" + key + "'";
  }
  return where + ": " + d;
}

// ---- Our own checks, beside valijson's ---------------------------------------------------------------------------
// Unknown keys with the nearest valid key (valijson names only the first unknown key of an object and suggests
// nothing), and "format": "regex" checked with RE2, the engine the planner matches with (valijson ignores formats).
void unknown_keys_and_formats(const json& schema, const ordered_json& v, const std::string& path,
                              std::vector<SchemaViolation>& out) {
  if (v.is_string()) {
    if (auto it = schema.find("format"); it != schema.end() && *it == "regex") {
      const std::string where = path.empty() ? "the document" : "'" + path + "'";
      RE2::Options options;
      options.set_log_errors(false);
      const RE2 compiled(v.get_ref<const std::string&>(), options);
      if (!compiled.ok()) {
        out.push_back({path, where + " is " + v.dump() + ", which is not a valid regular expression (RE2 syntax): " +
                                 compiled.error()});
      }
    }
    return;
  }
  if (v.is_array()) {
    if (auto it = schema.find("items"); it != schema.end()) {
      for (size_t i = 0; i < v.size(); ++i) unknown_keys_and_formats(*it, v[i], path + "[" + std::to_string(i) + "]", out);
    }
    return;
  }
  if (!v.is_object()) return;
  const json* properties = schema.contains("properties") ? &schema["properties"] : nullptr;
  const auto additional = schema.find("additionalProperties");
  for (const auto& [key, value] : v.items()) {
    const std::string child = join_path(path, key);
    if (properties && properties->contains(key)) {
      unknown_keys_and_formats((*properties)[key], value, child, out);
    } else if (additional != schema.end() && additional->is_object()) {
      unknown_keys_and_formats(*additional, value, child, out);
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
  // The schema is ours and valid (a test compiles it); valijson throws only on a schema it cannot read.
  valijson::Schema compiled;
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema);
  parser.populateSchema(schema_adapter, compiled);

  const json plain = document;  // valijson's adapter reads nlohmann::json, not the order-keeping variant
  valijson::adapters::NlohmannJsonAdapter document_adapter(plain);
  valijson::Validator validator;
  valijson::ValidationResults results;
  if (!validator.validate(compiled, document_adapter, &results)) {
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
      const Located at = locate(schema, document, error.context, root_path);
      std::string message = phrase(error, at);
      if (!message.empty()) violations.push_back({at.path, std::move(message)});
    }
  }
  unknown_keys_and_formats(schema, document, root_path, violations);
}

void apply_schema_defaults(const json& schema, ordered_json& document) { defaults(schema, document, true); }

}  // namespace sy::config
