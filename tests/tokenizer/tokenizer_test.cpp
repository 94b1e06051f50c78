// The tokenizers against the reference: every shared test vector (../shared/vocab), the reference runs' prompt
// tokens (../shared/reference), and the rules each behaviour hangs on (special tokens, BOS/EOS, space prefix),
// checked on copies of the shared vocabularies with one key changed.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/common/utf8.h"
#include "core/gguf/writer.h"
#include "core/tokenizer/pretokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"
#include "tests/test_support.h"

using namespace sy;
using tokenizer::Tokenizer;

namespace {

std::filesystem::path vocab_path(const std::string& name) {
  return test::shared_dir() / "vocab" / ("ggml-vocab-" + name + ".gguf");
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// The reference's format: inputs separated by "\n__ggml_vocab_test__\n", one line of ids per input.
std::vector<Case> read_cases(const std::string& name) {
  const std::string inp = read_text(vocab_path(name).string() + ".inp");
  const std::string out = read_text(vocab_path(name).string() + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Case> cases;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    cases.push_back({inp.substr(pos, next == std::string::npos ? std::string::npos : next - pos), {}});
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    REQUIRE(i < cases.size());
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) cases[i].ids.push_back(id);
    ++i;
  }
  REQUIRE(i == cases.size());
  return cases;
}

std::string joined_pieces(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) out += t.token_to_piece(id);
  return out;
}

// A copy of `source` with metadata key `key` replaced by `value` (or removed when nullopt), written to `path`.
std::filesystem::path rewrite(const std::filesystem::path& source, const std::filesystem::path& path,
                              const std::string& key, std::optional<gguf::Value> value) {
  const auto file = gguf::File::open(source);
  gguf::Writer writer(file.alignment());
  bool replaced = false;
  for (const auto& kv : file.metadata()) {
    if (kv.key == "general.alignment") continue;
    if (kv.key == key) {
      replaced = true;
      if (value) writer.add(kv.key, *value);
    } else {
      writer.add(kv.key, kv.value);
    }
  }
  if (!replaced && value) writer.add(key, *value);
  writer.write(path);
  return path;
}

Tokenizer open_tokenizer(const std::filesystem::path& path, const tokenizer::TokenizerOptions& options = {}) {
  return Tokenizer::from_file(gguf::File::open(path), options);
}

// Decoding drops SentencePiece's leading space and, for these BPE vocabularies, the space before . , ! ? and
// some contractions, as the reference does; texts without those round-trip exactly.
bool has_cleanup_pattern(const std::string& text) {
  for (const char* p : {" ?", " !", " .", " ,", " '"}) {
    if (text.find(p) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("every shared test vector gives the reference's ids, and its ids decode back to the text") {
  for (const std::string name : {"llama-spm", "gpt-2", "starcoder"}) {
    const Tokenizer t = open_tokenizer(vocab_path(name));
    const auto cases = read_cases(name);
    CHECK(cases.size() == 46);
    for (const Case& c : cases) {
      CAPTURE(name);
      CAPTURE(c.text);
      const auto ids = t.encode(c.text, /*add_special=*/false, /*parse_special=*/false);
      CHECK(ids == c.ids);
      if (t.vocabulary().model() == tokenizer::Model::spm || !has_cleanup_pattern(c.text)) {
        CHECK(t.decode(c.ids) == c.text);
      } else {
        CHECK(joined_pieces(t, c.ids) == c.text);
      }
    }
  }
}

TEST_CASE("BPE decoding cleans spaces before punctuation as the reference does, SentencePiece does not") {
  const Tokenizer gpt2 = open_tokenizer(vocab_path("gpt-2"));
  CHECK(gpt2.pre_tokenizer() == "gpt-2");
  CHECK(gpt2.decode(gpt2.encode("Hello , world ! Is it ? yes . I 'm sure ' quoted ' it 's", false, false)) ==
        "Hello, world! Is it? yes. I'm sure'quoted'it's");
  const Tokenizer spm = open_tokenizer(vocab_path("llama-spm"));
  CHECK(spm.decode(spm.encode("Hello , world !", false, false)) == "Hello , world !");
}

TEST_CASE("stories260K: the reference's prompt tokens, and its greedy output decodes to the published sentence") {
  for (const std::string run : {"once-upon-a-time", "lily-and-ben"}) {
    const auto j = nlohmann::json::parse(read_text(test::shared_dir() / "reference" / ("stories260K." + run + ".json")));
    const Tokenizer t = open_tokenizer(test::shared_model("stories260K.gguf"));
    const auto prompt = j["prompt_tokens"].get<std::vector<int32_t>>();
    const auto generated = j["generated_tokens"].get<std::vector<int32_t>>();
    CAPTURE(run);
    CHECK(t.encode(j["prompt"].get<std::string>(), /*add_special=*/true, false) == prompt);
    CHECK(t.decode(generated) == j["generated_text"].get<std::string>());
    if (run == "once-upon-a-time") {
      std::vector<int32_t> all = prompt;
      all.insert(all.end(), generated.begin(), generated.end());
      CHECK(t.decode(all).starts_with("Once upon a time, there was a little girl named Lily."));
      CHECK(t.decode(all, /*show_control=*/true).starts_with("<s> Once upon a time,"));
    }
  }
  // The same vocabulary inside another architecture's file.
  const auto j = nlohmann::json::parse(read_text(test::shared_dir() / "reference" / "synth-qwen2-F32.quick-brown-fox.json"));
  const Tokenizer q = open_tokenizer(test::shared_model("synth-qwen2-F32.gguf"));
  CHECK(q.encode(j["prompt"].get<std::string>(), true, false) == j["prompt_tokens"].get<std::vector<int32_t>>());
}

TEST_CASE("the vocabulary: special ids, -1 as none, flags, end of generation") {
  const Tokenizer stories = open_tokenizer(test::shared_model("stories260K.gguf"));
  const auto& v = stories.vocabulary();
  CHECK(v.size() == 512);
  CHECK(v.bos() == 1);
  CHECK(v.eos() == 2);
  CHECK(v.unknown() == 0);
  CHECK_FALSE(v.padding().has_value());  // 0xFFFFFFFF in the file
  CHECK_FALSE(v.special(tokenizer::SpecialToken::separator).has_value());
  CHECK(v.add_bos());
  CHECK_FALSE(v.add_eos());
  CHECK(v.add_space_prefix());
  CHECK(v.text(1) == "<s>");
  CHECK(v.is_control(1));
  CHECK(v.is_end_of_generation(2));
  CHECK_FALSE(v.is_end_of_generation(1));
  CHECK_FALSE(v.is_end_of_generation(-5));
  CHECK_THROWS_AS(v.text(512), Error);

  const Tokenizer gpt2 = open_tokenizer(vocab_path("gpt-2"));
  CHECK(gpt2.vocabulary().model() == tokenizer::Model::bpe);
  CHECK(gpt2.vocabulary().merge_count() == 50000);
  CHECK(gpt2.vocabulary().merge_rank("Ġ", "t") == 0);
  CHECK_FALSE(gpt2.vocabulary().merge_rank("t", "Ġ").has_value());
  CHECK(gpt2.vocabulary().eot() == 50256);  // <|endoftext|>, recognised by its text
  CHECK(gpt2.vocabulary().is_control(50256));
  CHECK(gpt2.vocabulary().is_end_of_generation(50256));
  CHECK_FALSE(gpt2.vocabulary().add_bos());
  CHECK_FALSE(gpt2.vocabulary().add_space_prefix());
}

TEST_CASE("special tokens are plain text unless parse_special is asked for") {
  const Tokenizer spm = open_tokenizer(vocab_path("llama-spm"));
  const auto parsed = spm.encode("<s>Hello</s>", false, /*parse_special=*/true);
  CHECK(parsed == std::vector<int32_t>{1, 15043, 2});  // a space prefix after a special token, as the reference
  const auto plain = spm.encode("<s>Hello</s>", false, /*parse_special=*/false);
  CHECK(std::find(plain.begin(), plain.end(), 1) == plain.end());
  CHECK(std::find(plain.begin(), plain.end(), 2) == plain.end());
  CHECK(spm.decode(plain) == "<s>Hello</s>");

  const Tokenizer gpt2 = open_tokenizer(vocab_path("gpt-2"));
  CHECK(gpt2.encode("a<|endoftext|>b", false, true) ==
        std::vector<int32_t>{*gpt2.vocabulary().find("a"), 50256, *gpt2.vocabulary().find("b")});
  const auto as_text = gpt2.encode("a<|endoftext|>b", false, false);
  CHECK(std::find(as_text.begin(), as_text.end(), 50256) == as_text.end());
  CHECK(joined_pieces(gpt2, as_text) == "a<|endoftext|>b");

  // Control tokens are hidden when decoding unless asked for.
  CHECK(gpt2.token_to_piece(50256).empty());
  CHECK(gpt2.token_to_piece(50256, /*show_control=*/true) == "<|endoftext|>");
  CHECK(gpt2.decode(std::vector<int32_t>{50256, *gpt2.vocabulary().find("a")}) == "a");
}

TEST_CASE("BOS and EOS follow add_bos_token / add_eos_token, with the reference's defaults") {
  const Tokenizer spm = open_tokenizer(vocab_path("llama-spm"));
  CHECK(spm.encode("Hello", /*add_special=*/true, false) == std::vector<int32_t>{1, 15043});
  CHECK(spm.encode("Hello", /*add_special=*/false, false) == std::vector<int32_t>{15043});
  CHECK(spm.encode("", true, false) == std::vector<int32_t>{1});

  test::ScratchDir dir;
  const Tokenizer eos = open_tokenizer(rewrite(vocab_path("llama-spm"), dir / "eos.gguf",
                                               "tokenizer.ggml.add_eos_token", gguf::Value::make_uint(gguf::ValueType::BOOL, 1)));
  CHECK(eos.encode("Hello", true, false) == std::vector<int32_t>{1, 15043, 2});
  const Tokenizer no_bos = open_tokenizer(rewrite(vocab_path("llama-spm"), dir / "nobos.gguf",
                                                  "tokenizer.ggml.add_bos_token", gguf::Value::make_uint(gguf::ValueType::BOOL, 0)));
  CHECK(no_bos.encode("Hello", true, false) == std::vector<int32_t>{15043});
  // Without the key, SentencePiece adds BOS (the reference's default) and byte-level BPE does not.
  const Tokenizer spm_default = open_tokenizer(rewrite(vocab_path("llama-spm"), dir / "default.gguf",
                                                       "tokenizer.ggml.add_bos_token", std::nullopt));
  CHECK(spm_default.encode("Hello", true, false) == std::vector<int32_t>{1, 15043});
  const Tokenizer gpt2 = open_tokenizer(vocab_path("gpt-2"));
  CHECK(gpt2.encode("Hello", true, false) == gpt2.encode("Hello", false, false));
  // llama-bpe's default is to add BOS.
  const Tokenizer llama3 = open_tokenizer(rewrite(vocab_path("gpt-2"), dir / "llama3.gguf", "tokenizer.ggml.pre",
                                                  gguf::Value::make_string("llama-bpe")));
  CHECK(llama3.vocabulary().add_bos());
  CHECK(llama3.encode("Hello", true, false).front() == 50256);

  // A BOS that is to be added but names no token is refused at load, naming both keys.
  const auto broken = rewrite(vocab_path("llama-spm"), dir / "broken.gguf", "tokenizer.ggml.bos_token_id",
                              gguf::Value::make_int(gguf::ValueType::INT32, -1));
  CHECK_THROWS_WITH_AS(open_tokenizer(broken), doctest::Contains("tokenizer.ggml.add_bos_token"), Error);
}

TEST_CASE("SentencePiece's space prefix follows add_space_prefix") {
  const Tokenizer spm = open_tokenizer(vocab_path("llama-spm"));
  CHECK(spm.encode("Hello", false, false) == std::vector<int32_t>{15043});  // "▁Hello"
  test::ScratchDir dir;
  const Tokenizer no_prefix = open_tokenizer(rewrite(vocab_path("llama-spm"), dir / "noprefix.gguf",
                                                     "tokenizer.ggml.add_space_prefix",
                                                     gguf::Value::make_uint(gguf::ValueType::BOOL, 0)));
  CHECK_FALSE(no_prefix.vocabulary().add_space_prefix());
  const auto ids = no_prefix.encode("Hello", false, false);
  CHECK(ids != std::vector<int32_t>{15043});
  CHECK(no_prefix.decode(ids) == "Hello");
  CHECK(no_prefix.decode(spm.encode("Hello", false, false)) == " Hello");  // no prefix to strip
}

TEST_CASE("unknown pre-tokenizers and unsupported tokenizer models are refused by name") {
  test::ScratchDir dir;
  const auto odd = rewrite(vocab_path("gpt-2"), dir / "odd.gguf", "tokenizer.ggml.pre", gguf::Value::make_string("no-such-pre"));
  CHECK_THROWS_WITH_AS(open_tokenizer(odd), doctest::Contains("'no-such-pre'"), Error);
  try {
    open_tokenizer(odd);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("tokenizer.ggml.pre") != std::string::npos);
  }
  tokenizer::TokenizerOptions fallback;
  fallback.fallback_to_default_pretokenizer = true;
  const Tokenizer t = open_tokenizer(odd, fallback);
  CHECK(t.pre_tokenizer() == "default");
  CHECK(t.decode(t.encode("Hello world", false, false)) == "Hello world");

  for (const char* model : {"bert", "t5", "rwkv"}) {
    const auto path = rewrite(vocab_path("llama-spm"), dir / (std::string(model) + ".gguf"), "tokenizer.ggml.model",
                              gguf::Value::make_string(model));
    const std::string quoted = "'" + std::string(model) + "'";
    CHECK_THROWS_WITH_AS(open_tokenizer(path), doctest::Contains(quoted.c_str()), Error);
  }
  const auto weights_only = rewrite(vocab_path("llama-spm"), dir / "none.gguf", "tokenizer.ggml.model", std::nullopt);
  CHECK_THROWS_WITH_AS(open_tokenizer(weights_only), doctest::Contains("no tokenizer"), Error);
}

TEST_CASE("every pre-tokenizer name compiles and splits text losslessly") {
  test::ScratchDir dir;
  const std::string text = "Hello, y'all! 1234567 ½ нещо 我想在apple工作 \t\n  x 🦙.cpp <sentinel:3> IMGIMGABZ";
  for (const char* name : {"default", "llama3", "llama-bpe", "falcon3", "deepseek-llm", "deepseek-coder", "deepseek-v3",
                           "falcon", "mpt", "starcoder", "gpt-2", "phi-2", "refact", "command-r", "qwen2", "stablelm2",
                           "olmo", "dbrx", "smaug-bpe", "poro-chat", "chatglm-bpe", "viking", "jais", "tekken", "smollm",
                           "codeshell", "bloom", "gpt3-finnish", "exaone", "chameleon", "minerva-7b", "megrez",
                           "jina-v1-en", "jina-v2-es", "jina-v2-de", "jina-v2-code", "jina-es", "jina-de",
                           "roberta-bpe", "gigachat", "gpt-4o", "llama4"}) {
    CAPTURE(name);
    const auto path = rewrite(vocab_path("gpt-2"), dir / "pre.gguf", "tokenizer.ggml.pre", gguf::Value::make_string(name));
    const Tokenizer t = open_tokenizer(path);
    const auto ids = t.encode(text, false, false);
    CHECK(joined_pieces(t, ids) == text);
  }
}

namespace {

// Random text from many scripts and classes: ASCII, Latin-1, combining marks, CJK, Arabic and Hebrew, emoji
// with joiners and variation selectors, whitespace runs, digits, the supplementary planes.
std::string random_unicode(std::mt19937_64& rng, size_t n_chars) {
  const std::pair<char32_t, char32_t> ranges[] = {
      {0x20, 0x7E},     {0x09, 0x0D},     {0xA0, 0xFF},     {0x300, 0x36F},   {0x400, 0x4FF},   {0x590, 0x5FF},
      {0x600, 0x6FF},   {0x900, 0x97F},   {0xE00, 0xE7F},   {0x1780, 0x17FF}, {0x2000, 0x206F}, {0x3000, 0x30FF},
      {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xFE00, 0xFE0F}, {0xFF00, 0xFFEF}, {0x1F300, 0x1FAFF},
      {0x10000, 0x1FFFF}, {0x20000, 0x2FFFF}, {0xE0000, 0xE007F}, {0xF0000, 0x10FFFF}, {0x30, 0x39},
  };
  std::string out;
  for (size_t i = 0; i < n_chars; ++i) {
    const auto& [lo, hi] = ranges[rng() % std::size(ranges)];
    char32_t cp = lo + static_cast<char32_t>(rng() % (hi - lo + 1));
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0x200D;
    if (cp == 0x2581) cp = ' ';  // SentencePiece's own space mark would decode as a space
    if (rng() % 8 == 0) cp = 0x200D;  // zero-width joiner
    tokenizer::append_utf8(out, cp);
  }
  return out;
}

// Random bytes, leaving out those the vocabulary cannot spell (starcoder's lacks the bytes that never occur in
// UTF-8: they become its unknown token, checked separately).
std::string random_bytes(std::mt19937_64& rng, size_t n, const Tokenizer& t) {
  std::string out;
  while (out.size() < n) {
    const auto b = static_cast<uint8_t>(rng() % 256);
    if (t.vocabulary().model() == tokenizer::Model::bpe && !t.vocabulary().find(tokenizer::byte_alphabet().encode(b))) continue;
    out += static_cast<char>(b);
  }
  // The byte sequence of "▁" would decode as a space in SentencePiece: the one input it cannot round-trip.
  for (size_t pos; (pos = out.find("\xE2\x96\x81")) != std::string::npos;) out[pos] = ' ';
  return out;
}

void check_round_trip(const Tokenizer& t, const std::string& text) {
  CAPTURE(text);
  const auto ids = t.encode(text, false, false);
  // The pieces always give back the bytes; SentencePiece's decode too (its leading space is its own).
  CHECK(joined_pieces(t, ids) == (t.vocabulary().add_space_prefix() && !text.empty() ? " " + text : text));
  if (t.vocabulary().model() == tokenizer::Model::spm) CHECK(t.decode(ids) == text);
  // Streaming never emits invalid UTF-8, and for valid input emits exactly the pieces.
  tokenizer::StreamingDecoder stream(t);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string part = stream.push(id);
    CHECK(is_valid_utf8(part));
    streamed += part;
  }
  streamed += stream.finish();
  CHECK(is_valid_utf8(streamed));
  if (is_valid_utf8(text)) CHECK(streamed == joined_pieces(t, ids));
}

}  // namespace

TEST_CASE("random Unicode and invalid UTF-8 round-trip through every vocabulary") {
  auto rng = test::make_rng("tokenizer round trips");
  for (const std::string name : {"llama-spm", "gpt-2", "starcoder"}) {
    const Tokenizer t = open_tokenizer(vocab_path(name));
    CAPTURE(name);
    for (int i = 0; i < 40; ++i) check_round_trip(t, random_unicode(rng, 1 + rng() % 200));
    for (int i = 0; i < 40; ++i) check_round_trip(t, random_bytes(rng, 1 + rng() % 200, t));
    check_round_trip(t, std::string(5000, ' '));
    check_round_trip(t, std::string(3000, '3'));
    check_round_trip(t, std::string("\0\0a\0", 4));
    check_round_trip(t, "\xC8 x\xE2\x96 \xF0\x9F\xA6 y");  // broken sequences right before spaces
  }
  const Tokenizer starcoder = open_tokenizer(vocab_path("starcoder"));
  CHECK(starcoder.encode("a\xFF", false, false) == std::vector<int32_t>{*starcoder.vocabulary().find("a"), 0});
}

TEST_CASE("the streaming decoder holds back split characters and replaces what can never be one") {
  const Tokenizer t = open_tokenizer(vocab_path("llama-spm"));
  const auto byte = [&](const char* name) { return *t.vocabulary().find(name); };
  tokenizer::StreamingDecoder d(t);
  CHECK(d.push(byte("<0xC3>")) == "");
  CHECK(d.push(byte("<0xA9>")) == "é");
  CHECK(d.push(byte("<0xF0>")) == "");
  CHECK(d.push(byte("<0x9F>")) == "");
  CHECK(d.push(byte("<0xA6>")) == "");
  CHECK(d.push(byte("<0x99>")) == "🦙");
  CHECK(d.push(byte("<0xFF>")) == "\xEF\xBF\xBD");               // never UTF-8: replaced at once
  CHECK(d.push(byte("<0xE2>")) == "");
  CHECK(d.push(byte("<0x41>")) == "\xEF\xBF\xBD" "A");           // a broken sequence, then what broke it
  CHECK(d.push(*t.vocabulary().find("▁Hello")) == " Hello");     // no space stripped in a stream
  CHECK(d.push(byte("<0xE2>")) == "");
  CHECK(d.finish() == "\xEF\xBF\xBD");                           // left over at the end
  CHECK(d.finish() == "");
  CHECK(d.push(1) == "");                                        // <s> hidden
  tokenizer::StreamingDecoder shown(t, /*show_control=*/true);
  CHECK(shown.push(1) == "<s>");
}

TEST_CASE("the reader checks every special-token key the tokenizer reads, with -1 as none") {
  test::ScratchDir dir;
  const auto fim = rewrite(vocab_path("llama-spm"), dir / "fim.gguf", "tokenizer.ggml.fim_pre_token_id",
                           gguf::Value::make_uint(gguf::ValueType::UINT32, 32000));
  CHECK_THROWS_WITH_AS(gguf::File::open(fim), doctest::Contains("tokenizer.ggml.fim_pre_token_id"), gguf::GgufError);
  const auto typed = rewrite(vocab_path("llama-spm"), dir / "typed.gguf", "tokenizer.ggml.eom_token_id",
                             gguf::Value::make_string("7"));
  CHECK_THROWS_WITH_AS(gguf::File::open(typed), doctest::Contains("expected an integer"), gguf::GgufError);
  const auto none = rewrite(vocab_path("llama-spm"), dir / "none.gguf", "tokenizer.ggml.fim_pre_token_id",
                            gguf::Value::make_int(gguf::ValueType::INT32, -1));
  CHECK_FALSE(open_tokenizer(none).vocabulary().special(tokenizer::SpecialToken::fim_prefix).has_value());
  const auto set = rewrite(vocab_path("llama-spm"), dir / "set.gguf", "tokenizer.ggml.fim_pre_token_id",
                           gguf::Value::make_uint(gguf::ValueType::UINT32, 7));
  CHECK(open_tokenizer(set).vocabulary().special(tokenizer::SpecialToken::fim_prefix) == 7);
}

TEST_CASE("SentencePiece gives the same ids word by word as over the whole text") {
  // encode_spm merges words separately when no token holds a "▁" after another character. A vocabulary with one
  // such token (appended, so that no other id changes) takes the whole-text path; both must agree.
  test::ScratchDir dir;
  const auto source = gguf::File::open(vocab_path("llama-spm"));
  gguf::Writer writer(source.alignment());
  for (const auto& kv : source.metadata()) {
    if (kv.key == "general.alignment") continue;
    gguf::Array a = kv.value.as_array() ? *kv.value.as_array() : gguf::Array{};
    if (kv.key == "tokenizer.ggml.tokens") {
      a.strings.push_back("q\xE2\x96\x81z");
    } else if (kv.key == "tokenizer.ggml.scores") {
      const float score = -1e9f;
      a.raw.insert(a.raw.end(), reinterpret_cast<const std::byte*>(&score), reinterpret_cast<const std::byte*>(&score) + 4);
    } else if (kv.key == "tokenizer.ggml.token_type") {
      const int32_t normal = 1;
      a.raw.insert(a.raw.end(), reinterpret_cast<const std::byte*>(&normal), reinterpret_cast<const std::byte*>(&normal) + 4);
    } else {
      writer.add(kv.key, kv.value);
      continue;
    }
    writer.add(kv.key, gguf::Value::make_array(std::move(a)));
  }
  writer.write(dir / "whole.gguf");
  const Tokenizer words = open_tokenizer(vocab_path("llama-spm"));
  const Tokenizer whole = open_tokenizer(dir / "whole.gguf");
  CHECK(whole.vocabulary().size() == words.vocabulary().size() + 1);
  auto rng = test::make_rng("SentencePiece word split");
  std::vector<std::string> texts;
  for (const Case& c : read_cases("llama-spm")) texts.push_back(c.text);
  for (int i = 0; i < 50; ++i) texts.push_back(random_unicode(rng, 1 + rng() % 300));
  texts.push_back(read_text(test::shared_dir() / "text" / "park-story.txt"));
  for (const std::string& text : texts) {
    if (text.find("q z") != std::string::npos) continue;  // where the appended token could appear
    CAPTURE(text);
    CHECK(whole.encode(text, false, false) == words.encode(text, false, false));
  }
}

namespace {

std::vector<std::string> split_with(const char* name, const std::string& text) {
  const tokenizer::PreTokenizer pre(*tokenizer::find_pretokenizer(name));
  std::vector<tokenizer::Piece> pieces;
  pre.split(text, pieces);
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back(text.substr(p.offset, p.length));
  return out;
}

}  // namespace

TEST_CASE("pre-tokenizers cut text as their patterns say, each pattern splitting what the previous left") {
  using V = std::vector<std::string>;
  // A space run before a word gives all but its last space to `\s+(?!\S)`.
  CHECK(split_with("gpt-2", "Hello world's 123  x") == V{"Hello", " world", "'s", " 123", " ", " x"});
  CHECK(split_with("llama3", "1234567 Hello\n\nworld") == V{"123", "456", "7", " Hello", "\n\n", "world"});
  CHECK(split_with("qwen2", "x123") == V{"x", "1", "2", "3"});
  CHECK(split_with("starcoder", "ab12 c") == V{"ab", "1", "2", " c"});
  // default: punctuation first, then the GPT-2 pattern, then digit runs, then groups of three digits.
  CHECK(split_with("default", "Hello, world! 1234") == V{"Hello", ",", " world", "!", " ", "123", "4"});
  // deepseek-llm: newlines alone first, then letter runs with one leading space, ...
  CHECK(split_with("deepseek-llm", "ab  \n") == V{"ab", "  ", "\n"});
  CHECK(split_with("bloom", "Hello, world. Ok") == V{"Hello", ",", " world", ".", " Ok"});
  CHECK_FALSE(tokenizer::find_pretokenizer("no-such-pre"));
  CHECK(tokenizer::find_pretokenizer("")->name == "default");
  CHECK(tokenizer::find_pretokenizer("llama-bpe")->name == "llama3");
}
