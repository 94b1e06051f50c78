// UTF-8 for text from untrusted files: validation of keys and tensor names (core/gguf), and escaping of what is
// not UTF-8 before it reaches a terminal or a JSON document (core/common/json_text.h).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sy {

// The length of the well-formed UTF-8 sequence starting at text[i] (no overlong forms, no surrogates, nothing
// above U+10FFFF), or 0 when the bytes there are not one.
inline size_t utf8_sequence_length(std::string_view text, size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  size_t extra;
  char32_t code;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { extra = 1; code = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { extra = 2; code = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { extra = 3; code = c & 0x07; }
  else return 0;
  if (extra >= text.size() - i) return 0;  // the sequence runs past the end
  for (size_t k = 1; k <= extra; ++k) {
    const auto cc = static_cast<unsigned char>(text[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    code = (code << 6) | (cc & 0x3F);
  }
  if ((extra == 2 && code < 0x800) || (extra == 3 && code < 0x10000) || code > 0x10FFFF ||
      (code >= 0xD800 && code <= 0xDFFF)) {
    return 0;
  }
  return extra + 1;
}

// True when `text` is well-formed UTF-8.
inline bool is_valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_sequence_length(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// `text` with every byte that is not part of a well-formed UTF-8 sequence written as \xNN, and, when
// `control_characters` is set, every ASCII control character (and DEL) too, so that it cannot drive a terminal.
inline std::string escape_text(std::string_view text, bool control_characters) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_sequence_length(text, i);
    const auto c = static_cast<unsigned char>(text[i]);
    if (n == 0 || (control_characters && (c < 0x20 || c == 0x7f))) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace sy
