#include "core/common/json_text.h"

#include "core/common/utf8.h"

namespace sy {
namespace {

void escape_strings(nlohmann::ordered_json& value) {
  if (value.is_string()) {
    auto& text = value.get_ref<std::string&>();
    if (!is_valid_utf8(text)) text = escape_text(text, EscapeFor::json);
  } else if (value.is_array()) {
    for (auto& item : value) escape_strings(item);
  } else if (value.is_object()) {
    nlohmann::ordered_json fixed = nlohmann::ordered_json::object();
    for (auto& [key, item] : value.items()) {
      escape_strings(item);
      fixed[is_valid_utf8(key) ? key : escape_text(key, EscapeFor::json)] = std::move(item);
    }
    value = std::move(fixed);
  }
}

}  // namespace

std::string json_text(const nlohmann::ordered_json& document, int indent) {
  try {
    return document.dump(indent);
  } catch (const nlohmann::ordered_json::type_error&) {
    // Only invalid UTF-8 makes dump throw: escape it in a copy (rare, so the common case pays nothing).
    nlohmann::ordered_json copy = document;
    escape_strings(copy);
    return copy.dump(indent);
  }
}

}  // namespace sy
