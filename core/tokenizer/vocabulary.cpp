// Reading the vocabulary: the arrays and flags of tokenizer.ggml.*, with the reference's defaults where the file
// says nothing, and its recognition of special tokens by their text where converters did not mark them.
#include <algorithm>
#include <array>

#include "core/common/error.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/tokenizer.h"

namespace sy::tokenizer {
namespace {

[[noreturn]] void fail(ErrorCode code, const gguf::File& file, std::string_view key, const std::string& what) {
  throw Error(code, file.name() + ": key '" + std::string(key) + "' " + what);
}

const gguf::Array* find_array(const gguf::File& file, std::string_view key, gguf::ValueType element, bool required) {
  const gguf::Value* v = file.find(key);
  if (!v) {
    if (required) {
      fail(ErrorCode::invalid_file, file, key,
           "is missing; the tokenizer cannot be built without it (re-convert the model)");
    }
    return nullptr;
  }
  const gguf::Array* a = v->as_array();
  if (!a || a->element_type != element) {
    fail(ErrorCode::invalid_file, file, key, "must be an ARRAY of " + std::string(gguf::to_string(element)));
  }
  return a;
}

std::optional<bool> find_bool(const gguf::File& file, std::string_view key) {
  const gguf::Value* v = file.find(key);
  if (!v) return std::nullopt;
  const auto b = v->as_bool();
  if (!b) fail(ErrorCode::invalid_file, file, key, "holds " + gguf::format_value(*v) + ", expected a BOOL");
  return b;
}

// The reference's lists of special tokens recognised by text (llama-vocab.cpp), for files whose converter did
// not name them in metadata.
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
    "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPrefixTexts[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>",
                                                "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"};
constexpr std::string_view kFimSuffixTexts[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>",
                                                "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"};
constexpr std::string_view kFimMiddleTexts[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>",
                                                "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepoTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSeparatorTexts[] = {"<|file_sep|>"};
constexpr std::string_view kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["};
// gpt-oss's chat markers are shown in decoded text, whatever the file says.
constexpr std::string_view kAlwaysShownTexts[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

template <size_t N>
bool one_of(std::string_view text, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), text) != std::end(list);
}

}  // namespace

Vocabulary Vocabulary::from_file(const gguf::File& file) {
  Vocabulary vocab;
  vocab.file_name_ = file.name();

  constexpr std::string_view kModelKey = "tokenizer.ggml.model";
  const gguf::Value* model_value = file.find(kModelKey);
  if (!model_value) {
    fail(ErrorCode::unsupported, file, kModelKey,
         "is absent: the file has no tokenizer (a GGUF file of weights only cannot tokenize text)");
  }
  if (!model_value->as_string()) fail(ErrorCode::invalid_file, file, kModelKey, "must be a STRING");
  vocab.model_name_ = *model_value->as_string();
  const std::string& model = vocab.model_name_;
  if (model == "llama") {
    vocab.model_ = Model::spm;
  } else if (model == "gpt2") {
    vocab.model_ = Model::bpe;
  } else {
    std::string kind = model == "bert"   ? "WordPiece (WPM)"
                       : model == "t5"   ? "Unigram (UGM)"
                       : model == "rwkv" ? "RWKV"
                       : model == "no_vocab" || model == "none" ? "no vocabulary"
                                                                : "an unknown tokenizer model";
    fail(ErrorCode::unsupported, file, kModelKey,
         "is '" + model + "' (" + kind +
             "); Switchyard tokenizes only 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)");
  }
  if (const gguf::Value* v = file.find("tokenizer.ggml.pre")) {
    if (!v->as_string()) fail(ErrorCode::invalid_file, file, "tokenizer.ggml.pre", "must be a STRING");
    vocab.pre_ = *v->as_string();
  }

  const gguf::Array* tokens = find_array(file, "tokenizer.ggml.tokens", gguf::ValueType::STRING, true);
  const gguf::Array* scores = find_array(file, "tokenizer.ggml.scores", gguf::ValueType::FLOAT32, false);
  const gguf::Array* types = find_array(file, "tokenizer.ggml.token_type", gguf::ValueType::INT32, false);
  const size_t n = tokens->strings.size();
  if (n == 0 || n > static_cast<size_t>(INT32_MAX)) {
    fail(ErrorCode::invalid_file, file, "tokenizer.ggml.tokens",
         "holds " + std::to_string(n) + " tokens; expected 1 .. 2^31-1");
  }
  for (auto [key, array] :
       {std::pair{"tokenizer.ggml.scores", scores}, std::pair{"tokenizer.ggml.token_type", types}}) {
    if (array && array->size() != n) {
      fail(ErrorCode::invalid_file, file, key,
           "has " + std::to_string(array->size()) + " entries for " + std::to_string(n) + " tokens");
    }
  }

  vocab.texts_.reserve(n);
  vocab.scores_.resize(n, 0.0f);
  vocab.types_.resize(n, TokenType::normal);
  vocab.ids_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string text = tokens->strings[i];
    // An empty token could never be matched and would make special-token search loop; the reference renames it.
    if (text.empty()) text = "[EMPTY_" + std::to_string(i) + "]";
    const auto [it, inserted] = vocab.ids_.emplace(text, static_cast<int32_t>(i));
    if (!inserted) {
      fail(ErrorCode::invalid_file, file, "tokenizer.ggml.tokens",
           "holds '" + text + "' twice (ids " + std::to_string(it->second) + " and " + std::to_string(i) +
               "); every token text must be unique");
    }
    vocab.texts_.push_back(std::move(text));
    if (scores) vocab.scores_[i] = scores->at<float>(i);
    if (types) {
      const int32_t t = types->at<int32_t>(i);
      vocab.types_[i] = t >= 1 && t <= 6 ? static_cast<TokenType>(t) : TokenType::undefined;
    }
  }

  if (vocab.model_ == Model::bpe) {
    const gguf::Array* merges = find_array(file, "tokenizer.ggml.merges", gguf::ValueType::STRING, true);
    vocab.merge_ranks_.reserve(merges->strings.size());
    for (size_t i = 0; i < merges->strings.size(); ++i) {
      const std::string& merge = merges->strings[i];
      // "left right", split at the first space after the first byte; the first of duplicate merges wins.
      const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string::npos;
      if (space == std::string::npos) continue;  // the reference files it under an empty pair nothing can match
      vocab.merge_ranks_.emplace(merge, static_cast<int32_t>(i));
    }
    vocab.merge_count_ = merges->strings.size();
  }

  // Defaults as the reference sets them before reading the file's keys.
  const PreTokenizerSpec* pre = vocab.model_ == Model::bpe ? find_pretokenizer(vocab.pre_) : nullptr;
  auto set_default = [&](SpecialToken which, int32_t id) {
    if (id < static_cast<int32_t>(n)) vocab.special_[static_cast<int>(which)] = id;
  };
  if (vocab.model_ == Model::spm) {
    set_default(SpecialToken::bos, 1);
    set_default(SpecialToken::eos, 2);
    set_default(SpecialToken::unknown, 0);
    vocab.add_bos_ = true;
    vocab.add_space_prefix_ = true;
  } else {
    set_default(SpecialToken::bos, 11);
    set_default(SpecialToken::eos, 11);
    if (pre && pre->add_bos) vocab.add_bos_ = *pre->add_bos;
    if (pre && pre->no_default_bos) vocab.special_[static_cast<int>(SpecialToken::bos)] = std::nullopt;
  }
  if (auto b = find_bool(file, "tokenizer.ggml.add_space_prefix")) vocab.add_space_prefix_ = *b;
  if (auto b = find_bool(file, "tokenizer.ggml.remove_extra_whitespaces")) vocab.remove_extra_whitespaces_ = *b;

  for (const SpecialTokenKey& k : kSpecialTokenKeys) {
    const gguf::Value* v = file.find(k.key);
    if (!v) continue;
    const auto id = read_special_token_id(*v);
    if (!id) {
      fail(ErrorCode::invalid_file, file, k.key, "holds " + gguf::format_value(*v) + ", expected an integer token id");
    }
    if (id->none) {
      vocab.special_[static_cast<int>(k.token)] = std::nullopt;
    } else if (id->id < 0 || id->id >= static_cast<int64_t>(n)) {
      fail(ErrorCode::invalid_file, file, k.key,
           "is " + std::to_string(id->id) + ", outside the vocabulary of " + std::to_string(n) + " tokens");
    } else {
      vocab.special_[static_cast<int>(k.token)] = static_cast<int32_t>(id->id);
    }
  }
  if (auto b = find_bool(file, "tokenizer.ggml.add_bos_token")) vocab.add_bos_ = *b;
  if (auto b = find_bool(file, "tokenizer.ggml.add_eos_token")) vocab.add_eos_ = *b;
  if (vocab.add_bos_ && !vocab.bos()) {
    fail(ErrorCode::invalid_file, file, "tokenizer.ggml.bos_token_id",
         "names no token, but BOS is to be added (tokenizer.ggml.add_bos_token, or the model's default): set one of "
         "the two");
  }
  if (vocab.add_eos_ && !vocab.eos()) {
    fail(ErrorCode::invalid_file, file, "tokenizer.ggml.eos_token_id",
         "names no token, but tokenizer.ggml.add_eos_token is true: set one of the two");
  }

  vocab.detect_special_tokens_by_text();
  return vocab;
}

void Vocabulary::detect_special_tokens_by_text() {
  auto mark_control = [&](int32_t id) {
    if (types_[id] != TokenType::control) types_[id] = TokenType::control;
  };
  struct ByText {
    SpecialToken which;
    std::span<const std::string_view> texts;
  };
  const ByText by_text[] = {
      {SpecialToken::eot, kEotTexts},           {SpecialToken::eom, kEomTexts},
      {SpecialToken::fim_prefix, kFimPrefixTexts}, {SpecialToken::fim_suffix, kFimSuffixTexts},
      {SpecialToken::fim_middle, kFimMiddleTexts}, {SpecialToken::fim_pad, kFimPadTexts},
      {SpecialToken::fim_repo, kFimRepoTexts},  {SpecialToken::fim_separator, kFimSeparatorTexts},
  };
  // The reference walks its hash map, so with several candidates present which one wins is unspecified there;
  // we take the lowest id, which is at least stable.
  for (const ByText& entry : by_text) {
    auto& slot = special_[static_cast<int>(entry.which)];
    if (slot) continue;
    for (int32_t id = 0; id < size() && !slot; ++id) {
      if (std::find(entry.texts.begin(), entry.texts.end(), texts_[id]) != entry.texts.end()) {
        slot = id;
        mark_control(id);
      }
    }
  }

  std::vector<int32_t> eog;
  for (SpecialToken which : {SpecialToken::fim_pad, SpecialToken::fim_repo, SpecialToken::fim_separator,
                             SpecialToken::eos, SpecialToken::eot, SpecialToken::eom}) {
    if (auto id = special(which)) eog.push_back(*id);
  }
  bool has_return = false, has_call = false, has_flush = false;
  std::optional<int32_t> end_id;
  for (int32_t id = 0; id < size(); ++id) {
    const std::string& text = texts_[id];
    if (one_of(text, kEndOfGenerationTexts)) {
      eog.push_back(id);
      mark_control(id);
      has_return |= text == "<|return|>";
      has_call |= text == "<|call|>" || text == "<|calls|>";
      has_flush |= text == "<|flush|>";
      if (text == "<|end|>") end_id = id;
    }
    if (one_of(text, kAlwaysShownTexts)) types_[id] = TokenType::user_defined;
  }
  // Harmony-style vocabularies end a turn with <|return|> or <|call|>; their <|end|> only separates messages.
  if (end_id && has_call && (has_return || has_flush)) {
    eog.erase(std::remove(eog.begin(), eog.end(), *end_id), eog.end());
    types_[*end_id] = TokenType::user_defined;
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  end_of_generation_ = std::move(eog);
}

void Vocabulary::check_id(int32_t id) const {
  if (!contains(id)) {
    throw Error(ErrorCode::invalid_argument, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                                 std::to_string(size()) + " tokens (" + file_name_ + ")");
  }
}

const std::string& Vocabulary::text(int32_t id) const {
  check_id(id);
  return texts_[id];
}

float Vocabulary::score(int32_t id) const {
  check_id(id);
  return scores_[id];
}

TokenType Vocabulary::type(int32_t id) const {
  check_id(id);
  return types_[id];
}

bool Vocabulary::is_end_of_generation(int32_t id) const {
  return std::binary_search(end_of_generation_.begin(), end_of_generation_.end(), id);
}

std::optional<int32_t> Vocabulary::find(std::string_view text) const {
  const auto it = ids_.find(text);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<int32_t> Vocabulary::merge_rank(std::string_view left, std::string_view right) const {
  std::string key;
  key.reserve(left.size() + 1 + right.size());
  key.append(left).append(1, ' ').append(right);
  const auto it = merge_ranks_.find(std::string_view(key));
  if (it == merge_ranks_.end()) return std::nullopt;
  return it->second;
}

}  // namespace sy::tokenizer
