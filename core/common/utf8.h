// UTF-8 for text from untrusted files and plugins: validation of keys and tensor names (core/gguf), and escaping
// before such text reaches a terminal (printable) or a JSON document (core/common/json_text.h).
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

// The code point of the well-formed `n`-byte sequence at text[i] (n from utf8_sequence_length).
inline char32_t utf8_code_point(std::string_view text, size_t i, size_t n) {
  char32_t code = static_cast<unsigned char>(text[i]) & (0xFF >> (n == 1 ? 1 : n + 1));
  for (size_t k = 1; k < n; ++k) code = (code << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  return code;
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

// What escape_text escapes besides the bytes that are not UTF-8.
enum class EscapeFor {
  json,             // nothing more: a JSON library escapes control characters itself
  terminal,         // also everything that can drive a terminal or forge a line, for one line of text output
  terminal_lines,   // as terminal, but a newline is kept and the line after it indented by two spaces: a
                    // message that is several lines on purpose, none of which can pass for a line of its own
};

// True for the code points that move, hide or reorder text on a terminal although they are valid UTF-8: the C1
// controls (U+0080..U+009F; 0x9B is CSI on some terminals), the bidirectional marks, embeddings, overrides and
// isolates that make text display in another order than it is stored, and the Unicode line and paragraph
// separators.
inline bool is_terminal_control(char32_t code) {
  return (code >= 0x80 && code <= 0x9F) || code == 0x061C || code == 0x200E || code == 0x200F ||
         (code >= 0x2028 && code <= 0x202E) || (code >= 0x2066 && code <= 0x2069);
}

// `text` made safe to print: every byte that is not part of a well-formed UTF-8 sequence as \xNN; for a terminal
// also \n, \r and \t spelled so, every other ASCII control character and DEL as \xNN, the code points of
// is_terminal_control as \u{NNNN}, and a backslash doubled so that what is printed reads back unambiguously.
// Printable UTF-8 (accents, CJK, emoji) is kept as it is. The one escaping function for text from model files,
// plugins and the command line on its way to output.
inline std::string escape_text(std::string_view text, EscapeFor target) {
  static const char kHex[] = "0123456789abcdef";
  const bool terminal = target != EscapeFor::json;
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_sequence_length(text, i);
    const auto c = static_cast<unsigned char>(text[i]);
    if (n == 0 || (terminal && n == 1 && (c < 0x20 || c == 0x7f || c == '\\'))) {
      if (c == '\n' && target == EscapeFor::terminal_lines) out += "\n  ";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c == '\\') out += "\\\\";
      else {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
      ++i;
      continue;
    }
    if (terminal && n > 1) {
      const char32_t code = utf8_code_point(text, i, n);
      if (is_terminal_control(code)) {
        out += "\\u{";
        int shift = 20;
        while (shift > 0 && (code >> shift) == 0) shift -= 4;
        for (; shift >= 0; shift -= 4) out += kHex[(code >> shift) & 15];
        out += '}';
        i += n;
        continue;
      }
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

// One line of text from a model file, a plugin or the command line, safe for a terminal (see escape_text).
inline std::string printable(std::string_view text) { return escape_text(text, EscapeFor::terminal); }

}  // namespace sy
