// Byte-level BPE's pre-tokenizers: the regular expressions the reference applies for each `tokenizer.ggml.pre`
// name, and the splitter that runs them with PCRE2 (UTF + UCP, JIT where the library has it). Internal to
// core/tokenizer.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sy::tokenizer {

// What a pre-tokenizer name selects. The patterns run in order, each splitting the pieces the previous ones left
// (text between matches stays a piece of its own), as the reference's unicode_regex_split does.
struct PreTokenizerSpec {
  std::string_view name;                      // the canonical name ("llama3" for "llama-bpe" too)
  std::vector<std::string_view> patterns;
  bool clean_spaces = true;                   // decode removes " " before , . ! ? and some contractions
  bool ignore_merges = false;                 // a word that is a whole token is not merged
  std::optional<bool> add_bos;                // the add_bos default before the file's own key
  bool no_default_bos = false;                // no BOS unless the file names one (chatglm)
};

// The spec for `name` (a `tokenizer.ggml.pre` value, "" meaning default), or nullptr when unknown.
const PreTokenizerSpec* find_pretokenizer(std::string_view name);
const PreTokenizerSpec& default_pretokenizer();
// Every name find_pretokenizer accepts, for messages and tests.
std::vector<std::string_view> pretokenizer_names();

// A byte range of the text.
struct Piece {
  size_t offset;
  size_t length;
};

class PreTokenizer {
 public:
  // Compiles the spec's patterns; throws sy::Error(internal) if PCRE2 refuses one (a bug in the table).
  explicit PreTokenizer(const PreTokenizerSpec& spec);
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  const PreTokenizerSpec& spec() const { return *spec_; }
  // Splits `text` into consecutive pieces covering all of it. Bytes that are not UTF-8 never match a pattern and
  // so end up in the pieces between matches. Throws sy::Error(invalid_argument) if PCRE2 gives up on the input
  // (a resource limit), naming the pre-tokenizer and the byte offset.
  void split(std::string_view text, std::vector<Piece>& pieces) const;

 private:
  struct Compiled;
  const PreTokenizerSpec* spec_;
  std::vector<std::unique_ptr<Compiled>> compiled_;
};

}  // namespace sy::tokenizer
