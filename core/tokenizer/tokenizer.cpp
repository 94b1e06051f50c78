// Encoding and decoding. Text first loses its special tokens (found by their exact text, longest first), then each
// stretch of plain text goes through the model's algorithm:
//   SentencePiece: spaces → "▁" (and one in front where the file asks), then adjacent symbols merge, highest
//                  score first, while their concatenation is a token; what is left is bytes (<0xXX>) or unknown.
//   byte-level BPE: the pre-tokenizer's regexes cut words, each word's bytes map to GPT-2's byte alphabet, then
//                  adjacent symbols merge by the rank of their pair in tokenizer.ggml.merges, lowest first.
// Ties break toward the leftmost pair, as in the reference: token ids depend on it.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <queue>
#include <unordered_map>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"

namespace sy::tokenizer {

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  size_t pos = 0;
  for (size_t hit; (hit = text.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(text, pos, hit - pos).append(to);
  }
  out.append(text, pos, std::string::npos);
  text.swap(out);
}

// A symbol of the merge loops: a byte range of the text being merged, linked to its live neighbours, with the
// token whose text it is (-1 when it is none).
struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t length;  // 0 once merged into its left neighbour
  int32_t id;
};

// One symbol per character. Bytes that are not UTF-8 are symbols of one byte each: the reference cuts by the lead
// byte alone, which for valid text is the same, but would swallow a following "▁" into a broken sequence.
std::vector<Symbol> split_symbols(std::string_view text, const Vocabulary& vocabulary) {
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offset = 0; offset < text.size();) {
    const Utf8Check c = check_utf8_char(text.substr(offset));
    const size_t n = c.status == Utf8Check::ok ? c.length : 1;
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, offset + n == text.size() ? -1 : index + 1, offset, n,
                       vocabulary.find(text.substr(offset, n)).value_or(-1)});
    offset += n;
  }
  return symbols;
}

// A candidate merge of symbols `left` and `right` into token `result`, valid while both still span `length` bytes
// together.
struct Bigram {
  int left;
  int right;
  float score;  // SentencePiece: higher first
  int32_t rank;  // BPE: lower first
  size_t length;
  int32_t result;
};

struct SpmOrder {  // priority_queue's top is the highest score, then the leftmost
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};
struct BpeOrder {  // top is the lowest rank, then the leftmost
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

// Runs the merge loop over `symbols` of `text`; `make` proposes the bigram of two live neighbours, if any.
template <class Order, class Make>
void merge_symbols(std::vector<Symbol>& symbols, Make make) {
  std::priority_queue<Bigram, std::vector<Bigram>, Order> queue;
  auto propose = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    if (auto bigram = make(symbols[left], symbols[right])) {
      bigram->left = left;
      bigram->right = right;
      queue.push(*bigram);
    }
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) propose(i - 1, i);
  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    // A stale entry: one side was merged away since, or grew. (Like the reference, only the total length is
    // compared: the two symbols are contiguous, so the same length means the same text.)
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
    left.length += right.length;
    left.id = bigram.result;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    propose(left.prev, bigram.left);
    propose(bigram.left, left.next);
  }
}

// The tokens of each word already encoded in this call, as the range of `out` where they were written: text
// repeats its words, and a word's tokens depend on the word alone. Keys view the caller's text.
class WordCache {
 public:
  bool replay(std::string_view word, std::vector<int32_t>& out) const {
    const auto hit = ranges_.find(word);
    if (hit == ranges_.end()) return false;
    for (size_t i = hit->second.first; i < hit->second.second; ++i) {
      const int32_t id = out[i];
      out.push_back(id);
    }
    return true;
  }
  void remember(std::string_view word, size_t first, size_t end) {
    if (word.size() <= 256) ranges_.emplace(word, std::pair{first, end});
  }

 private:
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> ranges_;
};

// BPE merges by the ids of their two sides: (left, right) → (rank, id of the merged text). Open addressing over
// one flat array, since the merge loop does a lookup per candidate pair and node-based maps miss the cache.
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  void build(const std::vector<std::pair<uint64_t, Merge>>& merges) {
    size_t capacity = 16;
    while (capacity < merges.size() * 2) capacity *= 2;
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, Merge{-1, -1});
    mask_ = capacity - 1;
    for (const auto& [key, merge] : merges) {
      size_t slot = hash(key) & mask_;
      while (keys_[slot] != kEmpty && keys_[slot] != key) slot = (slot + 1) & mask_;
      if (keys_[slot] == key && values_[slot].rank <= merge.rank) continue;  // the first of duplicates wins
      keys_[slot] = key;
      values_[slot] = merge;
    }
  }
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  const Merge* find(uint64_t key) const {
    if (keys_.empty()) return nullptr;
    for (size_t slot = hash(key) & mask_;; slot = (slot + 1) & mask_) {
      if (keys_[slot] == key) return &values_[slot];
      if (keys_[slot] == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are below 2^31, so no key is all ones
  static size_t hash(uint64_t x) {  // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    return static_cast<size_t>(x ^ (x >> 31));
  }
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
  size_t mask_ = 0;
};

// The reference's clean-up of decoded BPE text, pass by pass: no space before . , ! ?; " ' " → "'"; no space
// before 's 'm 're 've.
std::string clean_spaces(std::string_view text) {
  std::string a;
  a.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char x = text[i];
    if (i > 0 && text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) a.pop_back();
    a += x;
  }
  std::string b;
  b.reserve(a.size());
  char previous = 0;  // the reference blanks the space it skips, so a pattern right after does not see it
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    if (i > 0 && x == '\'' && i + 1 < a.size() && previous == ' ' && a[i + 1] == ' ') {
      b.pop_back();
      b += x;
      previous = 0;
      ++i;
      continue;
    }
    b += x;
    previous = x;
  }
  std::string c;
  c.reserve(b.size());
  for (size_t i = 0; i < b.size(); ++i) {
    const char x = b[i];
    if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
      const char x1 = b[i + 1];
      const char x2 = i + 2 < b.size() ? b[i + 2] : 0;
      if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) c.pop_back();
    }
    c += x;
  }
  return c;
}

// The bytes a token stands for (see Tokenizer::token_to_piece), control tokens as their text.
std::string render_piece(Model model, TokenType type, const std::string& text) {
  std::string piece;
  switch (type) {
    case TokenType::control:
    case TokenType::unknown:
    case TokenType::user_defined: return text;
    case TokenType::normal:
      if (model == Model::spm) {
        piece = text;
        replace_all(piece, kSpaceMark, " ");
        return piece;
      }
      // Each character stands for one byte; one outside the alphabet (an added token marked normal) is kept.
      for (size_t i = 0; i < text.size();) {
        const Utf8Check c = check_utf8_char(std::string_view(text).substr(i));
        std::optional<uint8_t> byte;
        if (c.status == Utf8Check::ok) {
          char32_t cp = static_cast<uint8_t>(text[i]);
          if (c.length > 1) {
            cp &= 0x7F >> c.length;
            for (size_t k = 1; k < c.length; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3F);
          }
          byte = byte_alphabet().decode(cp);
        }
        if (byte) {
          piece += static_cast<char>(*byte);
        } else {
          piece.append(text, i, c.length);
        }
        i += c.length;
      }
      return piece;
    case TokenType::byte: {  // "<0xXX>"
      unsigned value = 0;
      bool ok = text.size() == 6 && text.starts_with("<0x") && text.back() == '>';
      for (size_t k = 3; ok && k < 5; ++k) {
        const char h = text[k];
        const int d = h >= '0' && h <= '9'   ? h - '0'
                      : h >= 'A' && h <= 'F' ? h - 'A' + 10
                      : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                             : -1;
        ok = d >= 0;
        value = value * 16 + static_cast<unsigned>(d);
      }
      return ok ? std::string(1, static_cast<char>(value)) : text;
    }
    case TokenType::unused:
    case TokenType::undefined: return piece;  // the reference renders them as nothing
  }
  return piece;
}

}  // namespace

struct Tokenizer::Impl {
  std::optional<PreTokenizer> pre;  // BPE only
  std::string pre_name;
  bool clean_spaces = false;
  bool ignore_merges = false;
  std::vector<int32_t> specials;      // control, user-defined and unknown tokens, longest text first
  std::vector<std::string> pieces;    // token_to_piece of every id, control tokens as their text
  std::vector<int32_t> byte_tokens;   // SentencePiece: the token for each byte, -1 if none
  bool spm_split_words = false;       // SentencePiece: merges never cross the start of a word (see encode_spm)
  MergeTable merges;                  // BPE: merges whose two sides are tokens, by their ids;
                                      // SentencePiece: every token that is two tokens joined (rank unused)
  std::array<int32_t, 256> byte_symbol_ids{};  // BPE: the token of each byte's character, -1 if none
};

Tokenizer Tokenizer::from_file(const gguf::File& file, const TokenizerOptions& options) {
  return Tokenizer(Vocabulary::from_file(file), options);
}

Tokenizer::Tokenizer(Vocabulary vocabulary, const TokenizerOptions& options)
    : vocabulary_(std::move(vocabulary)), impl_(std::make_unique<Impl>()) {
  const Vocabulary& v = vocabulary_;
  if (v.model() == Model::bpe) {
    const PreTokenizerSpec* spec = find_pretokenizer(v.pre());
    if (!spec) {
      if (!options.fallback_to_default_pretokenizer) {
        std::string known;
        for (std::string_view name : pretokenizer_names()) known += (known.empty() ? "" : ", ") + std::string(name);
        throw Error(ErrorCode::unsupported,
                    v.file_name() + ": key 'tokenizer.ggml.pre' is '" + v.pre() +
                        "', a pre-tokenizer this build does not know (known: " + known +
                        "); to tokenize with the default pre-tokenizer anyway, and perhaps differently from the "
                        "model's training, set fallback_to_default_pretokenizer (switchyard: --fallback-pretokenizer)");
      }
      SPDLOG_WARN("{}: unknown pre-tokenizer '{}', using the default as asked; token ids may differ from training",
                  v.file_name(), v.pre());
      spec = &default_pretokenizer();
    } else if (v.pre().empty()) {
      SPDLOG_WARN("{}: no tokenizer.ggml.pre, using the default pre-tokenizer; re-convert the model if its text "
                  "looks wrong", v.file_name());
    }
    impl_->pre.emplace(*spec);
    std::vector<std::pair<uint64_t, MergeTable::Merge>> merges;
    merges.reserve(v.merge_ranks_.size());
    for (const auto& [merge, rank] : v.merge_ranks_) {
      const size_t space = merge.find(' ', 1);  // as Vocabulary::from_file split it
      const auto left = v.find(std::string_view(merge).substr(0, space));
      const auto right = v.find(std::string_view(merge).substr(space + 1));
      if (!left || !right) continue;  // a side that is no token: the merge loop looks such pairs up by text
      const auto result = v.find(merge.substr(0, space) + merge.substr(space + 1));
      merges.emplace_back(MergeTable::key(*left, *right), MergeTable::Merge{rank, result.value_or(-1)});
    }
    impl_->merges.build(merges);
    for (int b = 0; b < 256; ++b) {
      impl_->byte_symbol_ids[b] = v.find(byte_alphabet().encode(static_cast<uint8_t>(b))).value_or(-1);
    }
    impl_->pre_name = spec->name;
    impl_->clean_spaces = spec->clean_spaces;
    impl_->ignore_merges = spec->ignore_merges;
  }

  for (int32_t id = 0; id < v.size(); ++id) {
    const TokenType t = v.types_[id];
    if (t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown) {
      impl_->specials.push_back(id);
    }
  }
  std::stable_sort(impl_->specials.begin(), impl_->specials.end(),
                   [&](int32_t a, int32_t b) { return v.texts_[a].size() > v.texts_[b].size(); });

  impl_->pieces.resize(v.size());
  for (int32_t id = 0; id < v.size(); ++id) impl_->pieces[id] = render_piece(v.model(), v.types_[id], v.texts_[id]);

  if (v.model() == Model::spm) {
    impl_->spm_split_words = std::none_of(v.texts_.begin(), v.texts_.end(), [](const std::string& text) {
      for (size_t p = text.find(kSpaceMark, 1); p != std::string::npos; p = text.find(kSpaceMark, p + 1)) {
        if (p < kSpaceMark.size() || text.compare(p - kSpaceMark.size(), kSpaceMark.size(), kSpaceMark) != 0) {
          return true;
        }
      }
      return false;
    });
    std::vector<std::pair<uint64_t, MergeTable::Merge>> pairs;
    for (int32_t id = 0; id < v.size(); ++id) {
      const std::string_view text = v.texts_[id];
      for (size_t cut = 1; cut < text.size(); ++cut) {
        const auto left = v.find(text.substr(0, cut));
        if (!left) continue;
        if (const auto right = v.find(text.substr(cut))) {
          pairs.emplace_back(MergeTable::key(*left, *right), MergeTable::Merge{0, id});
        }
      }
    }
    impl_->merges.build(pairs);
    impl_->byte_tokens.assign(256, -1);
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
      const char name[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', 0};
      if (auto id = v.find(name)) {
        impl_->byte_tokens[b] = *id;
      } else if (auto single = v.find(std::string(1, static_cast<char>(b)))) {
        impl_->byte_tokens[b] = *single;
      } else if (auto unk = v.unknown()) {
        impl_->byte_tokens[b] = *unk;
      }
    }
  }
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

const std::string& Tokenizer::pre_tokenizer() const { return impl_->pre_name; }

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Vocabulary& v = vocabulary_;
  std::vector<int32_t> out;
  if (add_special && v.add_bos()) out.push_back(*v.bos());

  // Fragments of plain text (token < 0) and the special tokens between them.
  struct Fragment {
    size_t offset;
    size_t length;
    int32_t token;
  };
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({0, text.size(), -1});
  std::vector<Fragment> next;
  for (int32_t id : impl_->specials) {
    // User-defined tokens are matched even in plain text, as the reference does (Hugging Face's added tokens).
    if (!parse_special && v.types_[id] != TokenType::user_defined) continue;
    const std::string& special = v.texts_[id];
    next.clear();
    bool found = false;
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      const std::string_view body = text.substr(f.offset, f.length);
      size_t pos = 0;
      for (size_t hit; (hit = body.find(special, pos)) != std::string_view::npos; pos = hit + special.size()) {
        found = true;
        if (hit > pos) next.push_back({f.offset + pos, hit - pos, -1});
        next.push_back({f.offset + hit, special.size(), id});
      }
      if (pos < body.size()) next.push_back({f.offset + pos, body.size() - pos, -1});
    }
    if (found) fragments.swap(next);
  }

  bool previous_special = true;  // SentencePiece puts its space in front of the first fragment and after specials
  std::string scratch;
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
      previous_special = true;
      continue;
    }
    const std::string_view body = text.substr(f.offset, f.length);
    if (v.model() == Model::spm) {
      scratch.clear();
      if (v.add_space_prefix() && previous_special) scratch += ' ';
      scratch.append(body);
      replace_all(scratch, " ", kSpaceMark);
      encode_spm(scratch, out);
    } else {
      encode_bpe(body, out);
    }
    previous_special = false;
  }

  if (add_special && v.add_eos()) out.push_back(*v.eos());
  return out;
}

void Tokenizer::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
  if (!impl_->spm_split_words) {
    encode_spm_word(text, out);
    return;
  }
  // No token of this vocabulary holds a "▁" after another character, so no merge can cross the start of a word
  // ("▁" after a character that is not "▁"): the words merge independently with the very same result, in small
  // queues, and a word seen before is not merged again.
  WordCache cache;
  size_t start = 0;
  auto flush = [&](size_t end) {
    const std::string_view word = text.substr(start, end - start);
    if (word.empty() || cache.replay(word, out)) return;
    const size_t first = out.size();
    encode_spm_word(word, out);
    cache.remember(word, first, out.size());
  };
  for (size_t p = text.find(kSpaceMark, 1); p != std::string_view::npos; p = text.find(kSpaceMark, p + 1)) {
    if (p >= kSpaceMark.size() && text.substr(p - kSpaceMark.size(), kSpaceMark.size()) == kSpaceMark) continue;
    flush(p);
    start = p;
  }
  flush(text.size());
}

void Tokenizer::encode_spm_word(std::string_view text, std::vector<int32_t>& out) const {
  const Vocabulary& v = vocabulary_;
  if (text.empty()) return;
  std::vector<Symbol> symbols = split_symbols(text, v);
  merge_symbols<SpmOrder>(symbols, [&](const Symbol& left, const Symbol& right) -> std::optional<Bigram> {
    const size_t length = left.length + right.length;
    int32_t id;
    if (left.id >= 0 && right.id >= 0) {  // two tokens: their join is a token exactly when the table has it
      const MergeTable::Merge* m = impl_->merges.find(MergeTable::key(left.id, right.id));
      if (!m) return std::nullopt;
      id = m->result;
    } else {
      const auto found = v.find(text.substr(left.offset, length));
      if (!found) return std::nullopt;
      id = *found;
    }
    return Bigram{0, 0, v.scores_[id], 0, length, id};
  });
  for (int i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    for (size_t k = 0; k < s.length; ++k) {
      const auto byte = static_cast<uint8_t>(text[s.offset + k]);
      const int32_t id = impl_->byte_tokens[byte];
      if (id < 0) {
        throw Error(ErrorCode::unsupported, fmt::format("{}: cannot represent byte 0x{:02X}: the vocabulary has no "
                                                        "<0xXX> byte token and no unknown token "
                                                        "(tokenizer.ggml.unknown_token_id)",
                                                        v.file_name(), byte));
      }
      out.push_back(id);
    }
  }
}

void Tokenizer::encode_bpe(std::string_view text, std::vector<int32_t>& out) const {
  const Vocabulary& v = vocabulary_;
  std::vector<Piece> pieces;
  impl_->pre->split(text, pieces);
  WordCache cache;
  std::string word;  // the piece in GPT-2's byte alphabet
  std::string key;
  std::vector<Symbol> symbols;
  for (const Piece& piece : pieces) {
    const std::string_view raw = text.substr(piece.offset, piece.length);
    if (cache.replay(raw, out)) continue;
    const size_t first = out.size();
    // One symbol per byte: each byte's character in the alphabet.
    word.clear();
    symbols.clear();
    for (size_t k = 0; k < raw.size(); ++k) {
      const auto b = static_cast<uint8_t>(raw[k]);
      const int index = static_cast<int>(k);
      const std::string& encoded = byte_alphabet().encode(b);
      symbols.push_back({index - 1, k + 1 == raw.size() ? -1 : index + 1, word.size(), encoded.size(),
                         impl_->byte_symbol_ids[b]});
      word += encoded;
    }
    std::optional<int32_t> whole;
    if (impl_->ignore_merges) whole = v.find(word);
    if (whole) {
      out.push_back(*whole);
    } else {
      merge_symbols<BpeOrder>(symbols, [&](const Symbol& left, const Symbol& right) -> std::optional<Bigram> {
        const size_t length = left.length + right.length;
        if (left.id >= 0 && right.id >= 0) {
          const MergeTable::Merge* m = impl_->merges.find(MergeTable::key(left.id, right.id));
          if (!m) return std::nullopt;
          return Bigram{0, 0, 0.0f, m->rank, length, m->result};
        }
        // A side that is no token (only in unusual vocabularies): look the pair up by text, as the reference does.
        key.assign(word, left.offset, left.length).append(1, ' ').append(word, right.offset, right.length);
        const auto it = v.merge_ranks_.find(std::string_view(key));
        if (it == v.merge_ranks_.end()) return std::nullopt;
        const auto result = v.find(std::string_view(word).substr(left.offset, length));
        return Bigram{0, 0, 0.0f, it->second, length, result.value_or(-1)};
      });
      for (int i = 0; i != -1 && !symbols.empty(); i = symbols[i].next) {
        if (symbols[i].id >= 0) {
          out.push_back(symbols[i].id);
          continue;
        }
        // A symbol the vocabulary lacks: its bytes one by one, as the reference does. Where bytes are missing too
        // the reference drops them; we give one unknown token per run of them, if the vocabulary has one.
        bool in_missing_run = false;
        for (char c : std::string_view(word).substr(symbols[i].offset, symbols[i].length)) {
          if (auto id = v.find(std::string_view(&c, 1))) {
            out.push_back(*id);
            in_missing_run = false;
          } else if (auto unk = v.unknown(); unk && !in_missing_run) {
            out.push_back(*unk);
            in_missing_run = true;
          }
        }
      }
    }
    cache.remember(raw, first, out.size());
  }
}

std::string Tokenizer::token_to_piece(int32_t id, bool show_control) const {
  const TokenType t = vocabulary_.type(id);
  if (!show_control && (t == TokenType::control || t == TokenType::unknown)) return {};
  return impl_->pieces[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool show_control) const {
  std::string out;
  bool strip_space = vocabulary_.add_space_prefix();
  for (int32_t id : ids) {
    const TokenType t = vocabulary_.type(id);
    if (!show_control && (t == TokenType::control || t == TokenType::unknown)) continue;
    const std::string& piece = impl_->pieces[id];
    if (piece.empty()) continue;
    // SentencePiece's space in front of the first word is not part of the text.
    out.append(piece, strip_space && piece.front() == ' ' ? 1 : 0, std::string::npos);
    strip_space = false;
  }
  return impl_->clean_spaces ? clean_spaces(out) : out;
}

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool show_control)
    : tokenizer_(&tokenizer), show_control_(show_control) {}

std::string StreamingDecoder::push(int32_t id) {
  pending_ += tokenizer_->token_to_piece(id, show_control_);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const Utf8Check c = check_utf8_char(std::string_view(pending_).substr(i));
    if (c.status == Utf8Check::incomplete) break;
    if (c.status == Utf8Check::ok) {
      out.append(pending_, i, c.length);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += c.length;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamingDecoder::finish() {
  std::string out = pending_.empty() ? "" : "\xEF\xBF\xBD";
  pending_.clear();
  return out;
}

}  // namespace sy::tokenizer
