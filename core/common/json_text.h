// JSON documents as text for the CLI's output. Strings from model files need not be UTF-8, and nlohmann's dump
// throws on them ("invalid UTF-8 byte at index 3"), an error naming neither file nor key: here such bytes are
// escaped as \xNN instead. Control characters are escaped by JSON itself (\u001b), so none reaches a terminal.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace sy {

// `document` as text (indent as nlohmann's dump: -1 for one line), never throwing on invalid UTF-8.
std::string json_text(const nlohmann::ordered_json& document, int indent = -1);

}  // namespace sy
