// Tokenizers read from a GGUF file's `tokenizer.ggml.*` metadata: SentencePiece (`llama`) and byte-level BPE
// (`gpt2`, with the pre-tokenizer `tokenizer.ggml.pre` names), reproducing the reference implementation's
// (llama.cpp's) token ids. Text goes in as UTF-8 bytes, ids come out; decoding returns raw bytes, and the
// StreamingDecoder turns generated ids into valid UTF-8 as they arrive. Sits beside core/model: both read the file
// that core/gguf opened, and the runtime uses the tokenizer on either side of the forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/gguf/file.h"
#include "core/tokenizer/special_tokens.h"

namespace sy::tokenizer {

// tokenizer.ggml.model: "llama" is SentencePiece (spm), "gpt2" byte-level BPE (bpe). Others are refused.
enum class Model { spm, bpe };

// tokenizer.ggml.token_type, as converters write it.
enum class TokenType : int32_t {
  undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

struct TokenizerOptions {
  // A `tokenizer.ggml.pre` name this build does not know is an error; with this set, the default pre-tokenizer
  // is used instead (token ids may then differ from the model's training).
  bool fallback_to_default_pretokenizer = false;
};

// The vocabulary of a file, read once: token texts, scores, types, BPE merges, special ids and flags, with the
// reference's defaults where the file is silent. Ids are int32_t in [0, size()); "no such token" is nullopt.
class Vocabulary {
 public:
  // Throws sy::Error naming the file and the key: unsupported when the file has no tokenizer or one of another
  // model than llama/gpt2, invalid_file for values of the wrong type or out of range.
  static Vocabulary from_file(const gguf::File& file);

  Model model() const { return model_; }
  const std::string& model_name() const { return model_name_; }  // tokenizer.ggml.model as written
  const std::string& pre() const { return pre_; }                // tokenizer.ggml.pre as written, "" if absent
  const std::string& file_name() const { return file_name_; }    // for messages

  int32_t size() const { return static_cast<int32_t>(texts_.size()); }
  bool contains(int32_t id) const { return id >= 0 && id < size(); }
  // The token's text as stored (SentencePiece "▁" for spaces, byte-level BPE's mapped alphabet). `id` must be
  // in range (checked: sy::Error invalid_argument otherwise), as for every per-id accessor below.
  const std::string& text(int32_t id) const;
  float score(int32_t id) const;
  TokenType type(int32_t id) const;
  bool is_control(int32_t id) const { return type(id) == TokenType::control; }
  bool is_user_defined(int32_t id) const { return type(id) == TokenType::user_defined; }
  bool is_byte(int32_t id) const { return type(id) == TokenType::byte; }
  bool is_unknown(int32_t id) const { return type(id) == TokenType::unknown; }
  // A token that ends generation: EOS, EOT, EOM and the tokens the reference recognises by text
  // (<|im_end|>, <|eot_id|>, <end_of_turn>, ...). False for ids outside the vocabulary.
  bool is_end_of_generation(int32_t id) const;

  // The id whose text is exactly `text`.
  std::optional<int32_t> find(std::string_view text) const;
  // Rank of the BPE merge "left right" (0 = applied first); nullopt when there is no such merge.
  std::optional<int32_t> merge_rank(std::string_view left, std::string_view right) const;
  size_t merge_count() const { return merge_count_; }

  std::optional<int32_t> special(SpecialToken which) const { return special_[static_cast<int>(which)]; }
  std::optional<int32_t> bos() const { return special(SpecialToken::bos); }
  std::optional<int32_t> eos() const { return special(SpecialToken::eos); }
  std::optional<int32_t> eot() const { return special(SpecialToken::eot); }
  std::optional<int32_t> unknown() const { return special(SpecialToken::unknown); }
  std::optional<int32_t> padding() const { return special(SpecialToken::padding); }

  bool add_bos() const { return add_bos_; }                  // tokenizer.ggml.add_bos_token (SPM default: true)
  bool add_eos() const { return add_eos_; }                  // tokenizer.ggml.add_eos_token (default: false)
  bool add_space_prefix() const { return add_space_prefix_; }  // tokenizer.ggml.add_space_prefix (SPM: true)
  // tokenizer.ggml.remove_extra_whitespaces: read and reported; neither SPM nor BPE in the reference applies it.
  bool remove_extra_whitespaces() const { return remove_extra_whitespaces_; }

 private:
  friend class Tokenizer;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  Vocabulary() = default;
  void detect_special_tokens_by_text();
  void check_id(int32_t id) const;  // throws sy::Error(invalid_argument) outside [0, size())

  Model model_ = Model::spm;
  std::string model_name_;
  std::string pre_;
  std::string file_name_;
  std::vector<std::string> texts_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  StringMap ids_;
  StringMap merge_ranks_;  // "left right" → rank
  size_t merge_count_ = 0;
  std::optional<int32_t> special_[kSpecialTokenCount];
  std::vector<int32_t> end_of_generation_;  // sorted
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_space_prefix_ = false;
  bool remove_extra_whitespaces_ = false;
};

// Encodes text to ids and back. Immutable after construction: encode and decode may run on many threads at once.
class Tokenizer {
 public:
  // Reads the vocabulary and compiles the pre-tokenizer. Throws sy::Error naming the file and the key (see
  // Vocabulary::from_file; an unknown tokenizer.ggml.pre name is `unsupported` unless the options allow the
  // default).
  static Tokenizer from_file(const gguf::File& file, const TokenizerOptions& options = {});
  explicit Tokenizer(Vocabulary vocabulary, const TokenizerOptions& options = {});
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  const Vocabulary& vocabulary() const { return vocabulary_; }
  // The pre-tokenizer in use (BPE only): the file's name, or "default"; empty for SentencePiece.
  const std::string& pre_tokenizer() const;

  // `add_special` adds BOS/EOS as the vocabulary's add_bos()/add_eos() say. With `parse_special`, the text of a
  // control token ("<s>", "<|im_start|>") becomes that token; without it such text is tokenized as plain text.
  // User-defined tokens are always matched, as in the reference.
  // Invalid UTF-8 is not an error: its bytes are kept and become byte tokens (BPE's byte alphabet, SentencePiece's
  // <0xXX> fallback, else the unknown token), so decode(encode(x)) == x wherever the vocabulary can spell x.
  // (The reference replaces each invalid byte by U+FFFD first; valid UTF-8 gives the reference's ids.)
  // Throws sy::Error only where PCRE2 gives up on a pathological text (invalid_argument: a resource limit) or a
  // SentencePiece vocabulary can spell neither a byte nor "unknown" (unsupported).
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes one token stands for: SentencePiece "▁" → space and <0xXX> → the byte, byte-level BPE's alphabet
  // mapped back to bytes. Control and unknown tokens give "" unless `show_control`, then their text. May be
  // part of a UTF-8 sequence. Throws sy::Error invalid_argument for an id outside the vocabulary.
  std::string token_to_piece(int32_t id, bool show_control = false) const;

  // The text of a sequence, as the reference detokenizes it: the pieces joined, the space SentencePiece put in
  // front of the first word removed, and for BPE pre-tokenizers that ask for it the reference's clean-up of spaces
  // before punctuation (" ," → ","). Raw bytes, not necessarily valid UTF-8.
  std::string decode(std::span<const int32_t> ids, bool show_control = false) const;

 private:
  struct Impl;
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const;
  void encode_spm_word(std::string_view text, std::vector<int32_t>& out) const;
  void encode_bpe(std::string_view text, std::vector<int32_t>& out) const;

  Vocabulary vocabulary_;
  std::unique_ptr<Impl> impl_;
};

// Detokenization for generation: feed ids as they come, get text that is always valid UTF-8. Bytes of a character
// split across tokens are held back until it is complete; bytes that can never form a character become U+FFFD at
// once; finish() turns what is still held into U+FFFD. No space is stripped (a stream continues a prompt).
// Borrows the tokenizer, which must outlive it.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool show_control = false);
  std::string push(int32_t id);
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool show_control_;
  std::string pending_;  // at most the 3 leading bytes of an incomplete character
};

}  // namespace sy::tokenizer
