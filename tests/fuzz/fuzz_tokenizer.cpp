// libFuzzer entry point for the tokenizers. The first byte picks what the rest is:
//   0-2: text for the shared llama-spm, gpt-2 or starcoder vocabulary (bit 2: parse special tokens). Encoding
//        never fails, every id is in the vocabulary, the pieces give back the bytes (SentencePiece: after its
//        space prefix; BPE: where the vocabulary can spell every byte), and the streaming decoder emits only
//        valid UTF-8.
//   3:   a GGUF file whose tokenizer metadata is read; it either builds a tokenizer that encodes and decodes a
//        fixed text, or is refused with a sy::Error.
// Anything else (a crash, a sanitizer report, another exception, a hang, an abort below) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/common/error.h"
#include "core/gguf/file.h"
#include "core/common/utf8.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"

namespace {

using sy::tokenizer::Tokenizer;

const Tokenizer& shared_tokenizer(int which) {
  static const char* const kNames[] = {"llama-spm", "gpt-2", "starcoder"};
  static std::unique_ptr<Tokenizer> loaded[3];
  if (!loaded[which]) {
    const std::string path = std::string(SWITCHYARD_SHARED_DIR) + "/vocab/ggml-vocab-" + kNames[which] + ".gguf";
    loaded[which] = std::make_unique<Tokenizer>(Tokenizer::from_file(sy::gguf::File::open(path)));
  }
  return *loaded[which];
}

// SentencePiece has <0xXX> for every byte in these vocabularies; starcoder's BPE lacks the bytes UTF-8 never uses.
bool spells_every_byte(const Tokenizer& t) {
  if (t.vocabulary().model() == sy::tokenizer::Model::spm) return true;
  for (int b = 0; b < 256; ++b) {
    if (!t.vocabulary().find(sy::tokenizer::byte_alphabet().encode(static_cast<uint8_t>(b)))) return false;
  }
  return true;
}

void check_text(const Tokenizer& t, std::string_view text, bool parse_special) {
  const auto& v = t.vocabulary();
  const std::vector<int32_t> ids = t.encode(text, /*add_special=*/true, parse_special);
  std::string joined;
  sy::tokenizer::StreamingDecoder stream(t);
  for (int32_t id : ids) {
    if (!v.contains(id)) std::abort();
    joined += t.token_to_piece(id, /*show_control=*/true);
    if (!sy::is_valid_utf8(stream.push(id))) std::abort();
  }
  if (!sy::is_valid_utf8(stream.finish())) std::abort();
  (void)t.decode(ids);
  if (parse_special || text.find("\xE2\x96\x81") != std::string_view::npos) return;
  std::string expected;
  if (v.add_bos() && v.bos()) expected += v.text(*v.bos());
  if (v.add_space_prefix() && !text.empty()) expected += ' ';
  expected += text;
  if (spells_every_byte(t) && joined != expected) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0] & 3;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode < 3) {
    check_text(shared_tokenizer(mode), rest, (data[0] & 4) != 0);
    return 0;
  }
  try {
    const auto file = sy::gguf::File::parse(std::span(reinterpret_cast<const std::byte*>(rest.data()), rest.size()),
                                            "fuzz.gguf");
    const Tokenizer t = Tokenizer::from_file(file);
    const auto ids = t.encode("Hello world, <s> ½ 🦙 33333", true, true);
    for (int32_t id : ids) {
      if (!t.vocabulary().contains(id)) std::abort();
    }
    (void)t.decode(ids, true);
  } catch (const sy::Error&) {
  }
  return 0;
}
