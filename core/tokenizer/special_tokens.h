// The special tokens a GGUF file may name (tokenizer.ggml.<name>_token_id) and the rule for reading their ids.
// Header-only and dependent on core/gguf/value.h alone, so that the reader's metadata checks, `inspect` and the
// Vocabulary all read the same keys the same way without core/gguf linking core/tokenizer.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/gguf/value.h"

namespace sy::tokenizer {

enum class SpecialToken {
  bos, eos, eot, eom, unknown, padding, separator, mask,
  fim_prefix, fim_suffix, fim_middle, fim_pad, fim_repo, fim_separator,
};
constexpr int kSpecialTokenCount = 14;

struct SpecialTokenKey {
  SpecialToken token;
  std::string_view name;  // as `inspect` shows it
  std::string_view key;   // the GGUF metadata key
};

// Every key, in the order `inspect` lists them. The last three are deprecated spellings of the FIM ids that
// older converters wrote; the reference reads them after the new ones, so a file holding both uses the old one.
inline constexpr SpecialTokenKey kSpecialTokenKeys[] = {
    {SpecialToken::bos, "bos", "tokenizer.ggml.bos_token_id"},
    {SpecialToken::eos, "eos", "tokenizer.ggml.eos_token_id"},
    {SpecialToken::unknown, "unknown", "tokenizer.ggml.unknown_token_id"},
    {SpecialToken::padding, "padding", "tokenizer.ggml.padding_token_id"},
    {SpecialToken::separator, "separator", "tokenizer.ggml.seperator_token_id"},
    {SpecialToken::separator, "separator", "tokenizer.ggml.separator_token_id"},
    {SpecialToken::eot, "eot", "tokenizer.ggml.eot_token_id"},
    {SpecialToken::eom, "eom", "tokenizer.ggml.eom_token_id"},
    {SpecialToken::mask, "mask", "tokenizer.ggml.mask_token_id"},
    {SpecialToken::fim_prefix, "fim_prefix", "tokenizer.ggml.fim_pre_token_id"},
    {SpecialToken::fim_suffix, "fim_suffix", "tokenizer.ggml.fim_suf_token_id"},
    {SpecialToken::fim_middle, "fim_middle", "tokenizer.ggml.fim_mid_token_id"},
    {SpecialToken::fim_pad, "fim_pad", "tokenizer.ggml.fim_pad_token_id"},
    {SpecialToken::fim_repo, "fim_repo", "tokenizer.ggml.fim_rep_token_id"},
    {SpecialToken::fim_separator, "fim_separator", "tokenizer.ggml.fim_sep_token_id"},
    {SpecialToken::fim_prefix, "fim_prefix", "tokenizer.ggml.prefix_token_id"},
    {SpecialToken::fim_suffix, "fim_suffix", "tokenizer.ggml.suffix_token_id"},
    {SpecialToken::fim_middle, "fim_middle", "tokenizer.ggml.middle_token_id"},
};

// -1 (or its UINT32 bit pattern 0xFFFFFFFF) is how converters write "no such token".
inline bool is_no_token(int64_t id) { return id == -1 || id == 0xFFFFFFFF; }

// What a special-token key holds: `none` for the "no such token" ids, else the id as written (which the caller
// still compares with the vocabulary's size); nullopt when the value is not an integer at all.
struct SpecialTokenId {
  bool none = false;
  int64_t id = -1;
};
inline std::optional<SpecialTokenId> read_special_token_id(const gguf::Value& value) {
  const auto id = value.as_int();
  if (!id) return std::nullopt;
  if (is_no_token(*id)) return SpecialTokenId{true, -1};
  return SpecialTokenId{false, *id};
}

}  // namespace sy::tokenizer
