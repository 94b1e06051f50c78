#include "core/tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

#include "core/common/error.h"
#include "core/tokenizer/unicode.h"

namespace sy::tokenizer {
namespace {

// The patterns as the reference runs them (llama.cpp's llm_tokenizer_bpe). Where the reference rewrote a model's
// original pattern for std::regex (case-insensitive contractions spelled out, letter classes through look-ahead),
// we run its rewritten form, since its token ids are the ones to match.
constexpr std::string_view kGpt2 = R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";
constexpr std::string_view kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kCjk = R"re([一-龥ࠀ-一가-퟿]+)re";
constexpr std::string_view kBloom = R"re( ?[^(\s|.,!?…。，、।۔،)]+)re";
constexpr std::string_view kContractionsOptional =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?)re";

struct Entry {
  std::vector<std::string_view> names;  // the first is the canonical one
  PreTokenizerSpec spec;
};

std::vector<Entry> make_table() {
  // Cased letters (Lu, Ll, Lt) as the model's tokenizer.json lists them, written as code points because the
  // Greek and letterlike ones change under Unicode normalization.
  static const std::string deepseek_letters =
      R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})re"
      R"re(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C})re"
      R"re(\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5})re"
      R"re(\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B})re"
      R"re(\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45})re"
      R"re(\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4})re"
      R"re(\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB})re"
      R"re(\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115})re"
      R"re(\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139})re"
      R"re(\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})re"
      R"re(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})re"
      R"re(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})re"
      R"re(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB})re"
      R"re(\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re";
  static const std::string tekken =
      R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
  static const std::string gpt4o =
      std::string(R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+)re") +
      std::string(kContractionsOptional) +
      R"re(|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*)re" + std::string(kContractionsOptional) +
      R"re(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

  PreTokenizerSpec base;
  auto spec = [&](std::string_view name, std::vector<std::string_view> patterns) {
    PreTokenizerSpec s = base;
    s.name = name;
    s.patterns = std::move(patterns);
    return s;
  };
  auto no_clean = [](PreTokenizerSpec s) {
    s.clean_spaces = false;
    return s;
  };

  PreTokenizerSpec llama3 = spec("llama3", {kLlama3});
  llama3.ignore_merges = true;
  llama3.add_bos = true;
  PreTokenizerSpec tekken_spec = no_clean(spec("tekken", {tekken}));
  tekken_spec.ignore_merges = true;
  tekken_spec.add_bos = true;
  PreTokenizerSpec chameleon = no_clean(spec(
      "chameleon", {R"re(<sentinel:[0-9]+>)re", R"re((IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z)re",
                    R"re(([\t\n]|    |  ))re", R"re(\p{N})re", R"re([\p{P}!-/:-@\[-`{-~])re", kGpt2}));
  chameleon.add_bos = true;
  PreTokenizerSpec chatglm = spec("chatglm-bpe", {kLlama3});
  chatglm.no_default_bos = true;
  const std::vector<std::string_view> starcoder = {R"re(\p{N})re", kGpt2};

  return {
      {{"default"}, spec("default", {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", R"re([0-9][0-9][0-9])re"})},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"}, llama3},
      {{"dbrx"}, spec("dbrx", {kLlama3})},
      {{"smaug-bpe"}, spec("smaug-bpe", {kLlama3})},
      {{"deepseek-llm"},
       no_clean(spec("deepseek-llm", {"[\r\n]", deepseek_letters, R"re(\s?[!-/:-~！-／：-～‘-‟　-。]+)re",
                                      R"re(\s+$)re", kCjk, R"re(\p{N}+)re"}))},
      {{"deepseek-coder"},
       no_clean(spec("deepseek-coder", {"[\r\n]", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kCjk, R"re(\p{N})re"}))},
      {{"deepseek-v3"},
       no_clean(spec("deepseek-v3",
                     {R"re(\p{N}{1,3})re", R"re([一-龥぀-ゟ゠-ヿ]+)re",
                      R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"}))},
      {{"falcon"}, spec("falcon", {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, R"re([0-9][0-9][0-9])re"})},
      {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "exaone4", "a.x-4.0", "mellum", "modern-bert", "gigachat", "jina-es",
        "jina-de", "jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe"},
       spec("gpt-2", {kGpt2})},
      {{"trillion"}, no_clean(spec("trillion", {kGpt2}))},
      {{"starcoder", "refact", "codeshell", "exaone", "minerva-7b"}, spec("starcoder", starcoder)},
      {{"command-r"}, no_clean(spec("command-r", starcoder))},
      {{"smollm"}, no_clean(spec("smollm", starcoder))},
      {{"qwen2", "deepseek-r1-qwen", "kormo"}, no_clean(spec("qwen2", {kQwen2}))},
      {{"stablelm2", "megrez"}, spec("stablelm2", {kQwen2})},
      {{"poro-chat"}, no_clean(spec("poro-chat", {kBloom}))},
      {{"bloom", "gpt3-finnish"}, spec("bloom", {kBloom})},
      {{"viking"}, no_clean(spec("viking", {kBloom, R"re(\p{N})re"}))},
      {{"chatglm-bpe", "glm4"}, chatglm},
      {{"tekken"}, tekken_spec},
      {{"chameleon"}, chameleon},
      {{"gpt-4o", "llama4"}, no_clean(spec("gpt-4o", {gpt4o}))},
  };
}

const std::vector<Entry>& table() {
  static const std::vector<Entry> entries = make_table();
  return entries;
}

// PCRE2 through JIT needs its own stack for deep backtracking; one per thread, shared by every pattern.
struct ThreadMatchContext {
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadMatchContext() {
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (context && stack) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchContext() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
  }
};

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

const PreTokenizerSpec* find_pretokenizer(std::string_view name) {
  if (name.empty()) return &default_pretokenizer();
  for (const auto& entry : table()) {
    for (std::string_view n : entry.names) {
      if (n == name) return &entry.spec;
    }
  }
  return nullptr;
}

const PreTokenizerSpec& default_pretokenizer() { return table().front().spec; }

std::vector<std::string_view> pretokenizer_names() {
  std::vector<std::string_view> names;
  for (const auto& entry : table()) names.insert(names.end(), entry.names.begin(), entry.names.end());
  return names;
}

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const PreTokenizerSpec& spec) : spec_(&spec) {
  // UCP: \s, \p{..} and classes by Unicode properties. MATCH_INVALID_UTF: bytes that are not UTF-8 simply never
  // match, instead of making every match fail. DOLLAR_ENDONLY: `$` is the end of the piece, as in std::regex.
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
  for (std::string_view pattern : spec.patterns) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    auto compiled = std::make_unique<Compiled>();
    compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                                   &error_offset, nullptr);
    if (!compiled->code) {
      throw Error(ErrorCode::internal, "pre-tokenizer '" + std::string(spec.name) + "': pattern rejected by PCRE2 at " +
                                           std::to_string(error_offset) + ": " + pcre2_message(error));
    }
    pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);  // no JIT (unsupported platform) falls back silently
    compiled_.push_back(std::move(compiled));
  }
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, std::vector<Piece>& pieces) const {
  thread_local ThreadMatchContext thread_context;
  pieces.clear();
  if (text.empty()) return;
  pieces.push_back({0, text.size()});
  std::vector<Piece> next;
  for (const auto& compiled : compiled_) {
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(compiled->code, nullptr);
    if (!match) throw Error(ErrorCode::out_of_memory, "pre-tokenizer: cannot allocate PCRE2 match data");
    next.clear();
    for (const Piece& piece : pieces) {
      // Each piece is its own subject, so look-ahead and `$` stop at its end, as in the reference.
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + piece.offset);
      size_t done = 0;  // end of the last match
      size_t start = 0;
      while (start < piece.length) {
        const int rc = pcre2_match(compiled->code, subject, piece.length, start, 0, match, thread_context.context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          pcre2_match_data_free(match);
          throw Error(ErrorCode::invalid_argument, "pre-tokenizer '" + std::string(spec_->name) +
                                                       "': matching failed at byte " +
                                                       std::to_string(piece.offset + start) + ": " + pcre2_message(rc));
        }
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
        const size_t begin = ovector[0], end = ovector[1];
        if (end == begin) {  // an empty match splits nothing: move on by one symbol
          start = begin + utf8_symbol_length({text.data() + piece.offset, piece.length}, begin);
          continue;
        }
        if (begin > done) next.push_back({piece.offset + done, begin - done});
        next.push_back({piece.offset + begin, end - begin});
        done = start = end;
      }
      if (done < piece.length) next.push_back({piece.offset + done, piece.length - done});
    }
    pcre2_match_data_free(match);
    pieces.swap(next);
  }
}

}  // namespace sy::tokenizer
