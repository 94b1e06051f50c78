// UTF-8 helpers and byte-level BPE's byte alphabet, internal to core/tokenizer. The reference splits text into
// symbols by the lead byte alone (a stray continuation byte is a symbol of one byte), and so do we: token ids
// depend on it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sy::tokenizer {

// Bytes of the UTF-8 sequence that `lead` starts, by its top four bits: 1 for ASCII and for continuation bytes.
inline size_t utf8_sequence_length(char lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[static_cast<uint8_t>(lead) >> 4];
}

// The symbol starting at `offset`: its sequence length, cut at the end of `text`.
inline size_t utf8_symbol_length(std::string_view text, size_t offset) {
  const size_t n = utf8_sequence_length(text[offset]);
  return n < text.size() - offset ? n : text.size() - offset;
}

inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The well-formed UTF-8 character (no overlongs, surrogates or values above U+10FFFF) at the start of a
// non-empty `text`: `ok` with its length; `incomplete` when the bytes there are a valid start that `text` cuts
// short (length = bytes present); `invalid` with the length of the maximal valid prefix (at least 1), the bytes
// that one U+FFFD replaces.
struct Utf8Check {
  enum Status { ok, incomplete, invalid } status;
  size_t length;
};
inline Utf8Check check_utf8_char(std::string_view text) {
  const auto c = static_cast<uint8_t>(text[0]);
  if (c < 0x80) return {Utf8Check::ok, 1};
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return {Utf8Check::invalid, 1};
  }
  for (size_t k = 1; k < n; ++k) {
    if (k >= text.size()) return {Utf8Check::incomplete, k};
    const auto cc = static_cast<uint8_t>(text[k]);
    if (k == 1 ? (cc < lo || cc > hi) : (cc & 0xC0) != 0x80) return {Utf8Check::invalid, k};
  }
  return {Utf8Check::ok, n};
}

// GPT-2's reversible byte alphabet: printable bytes stand for themselves, the other 68 become U+0100.. in byte
// order, so that every byte sequence is a string of visible characters the merges can work on.
class ByteAlphabet {
 public:
  ByteAlphabet() {
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      append_utf8(encoded_[b], cp);
      byte_of_[cp] = static_cast<int16_t>(b);
    }
  }
  // The UTF-8 of the character standing for byte `b`.
  const std::string& encode(uint8_t b) const { return encoded_[b]; }
  // The byte a character stands for, or nullopt for a character outside the alphabet.
  std::optional<uint8_t> decode(char32_t cp) const {
    if (cp >= byte_of_.size() || byte_of_[cp] < 0) return std::nullopt;
    return static_cast<uint8_t>(byte_of_[cp]);
  }

 private:
  std::array<std::string, 256> encoded_;
  std::array<int16_t, 324> byte_of_ = make_unset();  // U+0000..U+0143
  static std::array<int16_t, 324> make_unset() {
    std::array<int16_t, 324> a{};
    a.fill(-1);
    return a;
  }
};

const ByteAlphabet& byte_alphabet();

}  // namespace sy::tokenizer
