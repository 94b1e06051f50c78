// JSON Schema validation of run configurations: valijson (Draft 7) decides, this layer phrases each failure with
// the key path, the value and what is allowed, suggests the nearest valid key for unknown ones, and checks
// "format": "regex" with RE2 (the planner's engine). The schema file is the single source of truth: the C++
// loader validates with it, and so does CI. Documents reach it already bounded in depth and size (run_config).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sy::config {

struct SchemaViolation {
  std::string path;     // key path in the document, e.g. "placement.overrides[2].pattern"
  std::string message;  // what is wrong, the value found and what is allowed
};

// Checks `document` against `schema`; appends one violation per problem. Unknown keys get the nearest valid key
// as a suggestion.
// `root_path` names `document` in messages when it is a part of a larger one ("runtime.threads").
void validate_against_schema(const nlohmann::json& schema, const nlohmann::ordered_json& document,
                             std::vector<SchemaViolation>& violations, const std::string& root_path = "");

// Fills in every "default" the schema declares for objects present in `document` (creating the top-level
// sections, whose defaults the run needs).
void apply_schema_defaults(const nlohmann::json& schema, nlohmann::ordered_json& document);

// The run-configuration schema compiled into the binary (configs/schema.json).
const nlohmann::json& run_config_schema();

// Edit distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace sy::config
