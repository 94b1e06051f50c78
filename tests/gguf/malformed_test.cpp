// Malformed input, class by class: each corruption of an otherwise valid file yields its own error code and a
// message naming the file and byte offset; truncations and random byte flips of real files never crash. The
// published GGUF parser vulnerabilities (overflowing counts, string and array lengths, dimensions and byte
// sizes, out-of-bounds tensor data) each have a regression case here.
#include <doctest/doctest.h>

#include <functional>

#include "core/gguf/file.h"
#include "tests/gguf/raw_gguf.h"
#include "tests/test_support.h"

using namespace sy::gguf;
using sy::test::RawGguf;

namespace {

using Part = std::function<void(RawGguf&)>;

// A file with the given key-value pairs and tensor infos, padded to 32 bytes, then `data_bytes` of data.
RawGguf build(const std::vector<Part>& kvs, const std::vector<Part>& tensors, size_t data_bytes = 256,
              uint32_t version = 3) {
  RawGguf raw;
  raw.header(tensors.size(), kvs.size(), version);
  for (const auto& kv : kvs) kv(raw);
  for (const auto& t : tensors) t(raw);
  raw.pad_to(32).zeros(data_bytes);
  return raw;
}

Part kv_u32(std::string key, uint32_t v) {
  return [=](RawGguf& r) { r.kv_u32(key, v); };
}
Part kv_str(std::string key, std::string v) {
  return [=](RawGguf& r) { r.kv_str(key, v); };
}
Part tensor(std::string name, std::vector<uint64_t> ne, uint32_t type = 0, uint64_t offset = 0) {
  return [=](RawGguf& r) { r.tensor(name, ne, type, offset); };
}
// An array of `n` elements of `type` followed by `payload` raw bytes.
Part kv_array(std::string key, uint32_t element_type, uint64_t n, std::string payload) {
  return [=](RawGguf& r) { r.str(key).u32(9).u32(element_type).u64(n).raw(payload); };
}

GgufErrorCode code_of(const RawGguf& raw, std::string* message = nullptr) {
  try {
    File::parse(raw.span(), "case.gguf");
  } catch (const GgufError& e) {
    if (message) *message = e.what();
    return e.gguf_code();
  }
  FAIL("the file was accepted");
  return GgufErrorCode::io_error;
}

std::string floats(size_t n) { return std::string(n * 4, '\0'); }

}  // namespace

TEST_CASE("the minimal valid file is accepted") {
  const RawGguf raw = build({kv_str("general.name", "t")}, {tensor("a", {32})});
  const File file = File::parse(raw.span(), "ok.gguf");
  CHECK(file.tensors().size() == 1);
  CHECK(file.data_offset() % 32 == 0);
}

TEST_CASE("empty arrays of every element type are accepted") {
  // Regression: copying zero bytes from an empty array passed a null pointer to memcpy (found by the fuzzer).
  std::vector<Part> kvs;
  for (uint32_t type = 0; type < kValueTypeCount; ++type) kvs.push_back(kv_array("empty." + std::to_string(type), type, 0, ""));
  const File file = File::parse(build(kvs, {}).span(), "empty-arrays.gguf");
  for (uint32_t type = 0; type < kValueTypeCount; ++type) {
    const Array* a = file.find("empty." + std::to_string(type))->as_array();
    REQUIRE(a);
    CHECK(a->size() == 0);
    CHECK(static_cast<uint32_t>(a->element_type) == type);
  }
}

TEST_CASE("each malformed-input class yields its own error code") {
  struct Case {
    std::string what;
    RawGguf raw;
    GgufErrorCode expected;
  };
  RawGguf bad_magic = build({}, {});
  std::memcpy(bad_magic.bytes.data(), "GGML", 4);
  RawGguf big_endian;
  big_endian.raw("GGUF").u32(0x03000000).u64(0).u64(0);
  RawGguf huge_counts;  // a 64-byte file declaring 2^63 of everything
  huge_counts.header(1ull << 63, 1ull << 63).zeros(40);
  RawGguf string_past_end;
  string_past_end.header(0, 1).u64(1ull << 62).raw("key").zeros(20);
  std::vector<Part> deep;
  Part nested = [](RawGguf& r) {
    r.str("deep").u32(9);
    for (int i = 0; i < 10; ++i) r.u32(9).u64(1);
    r.u32(4).u64(0);
  };

  std::vector<Case> cases;
  cases.push_back({"truncated header", [] { RawGguf r; r.raw("GGUF").u32(3).u64(0); return r; }(),
                   GgufErrorCode::truncated});
  cases.push_back({"truncated value", [] { RawGguf r; r.header(0, 1).str("key").u32(10).u32(7).zeros(2); return r; }(),
                   GgufErrorCode::truncated});
  cases.push_back({"bad magic", bad_magic, GgufErrorCode::bad_magic});
  cases.push_back({"big-endian", big_endian, GgufErrorCode::big_endian});
  cases.push_back({"version 1", build({}, {}, 0, 1), GgufErrorCode::unsupported_version});
  cases.push_back({"version 4", build({}, {}, 0, 4), GgufErrorCode::unsupported_version});
  cases.push_back({"counts of 2^63", huge_counts, GgufErrorCode::count_too_large});
  cases.push_back({"kv count for the size", [] { RawGguf r; r.header(0, 1000).zeros(100); return r; }(),
                   GgufErrorCode::count_too_large});
  cases.push_back({"string length past the end", string_past_end, GgufErrorCode::string_past_end});
  cases.push_back({"string value past the end",
                   build({[](RawGguf& r) { r.str("k").u32(8).u64(1ull << 40).raw("x"); }}, {}, 0),
                   GgufErrorCode::string_past_end});
  cases.push_back({"array length past the end", build({kv_array("k", 6, 1ull << 61, floats(1))}, {}),
                   GgufErrorCode::array_past_end});
  cases.push_back({"array of strings past the end", build({kv_array("k", 8, 1ull << 60, "")}, {}),
                   GgufErrorCode::array_past_end});
  cases.push_back({"array count times width overflows", build({kv_array("k", 10, 1ull << 61, "")}, {}),
                   GgufErrorCode::array_past_end});
  cases.push_back({"unknown value type", build({[](RawGguf& r) { r.str("k").u32(13).u32(0); }}, {}),
                   GgufErrorCode::unknown_value_type});
  cases.push_back({"unknown array element type", build({kv_array("k", 99, 0, "")}, {}),
                   GgufErrorCode::unknown_value_type});
  cases.push_back({"arrays nested too deep", build({nested}, {}), GgufErrorCode::nesting_too_deep});
  // 100,000 empty nested arrays: 1.2 MB in the file, would be 8 MB of Array objects.
  cases.push_back({"empty nested arrays past the file's size in memory", build({[](RawGguf& r) {
                     r.str("k").u32(9).u32(9).u64(100000);
                     for (int i = 0; i < 100000; ++i) r.u32(4).u64(0);
                   }}, {}),
                   GgufErrorCode::array_past_end});
  cases.push_back({"key not UTF-8", build({kv_u32("k\xff\xfe", 1)}, {}), GgufErrorCode::key_not_utf8});
  cases.push_back({"key with an overlong encoding", build({kv_u32("\xc0\xaf", 1)}, {}), GgufErrorCode::key_not_utf8});
  cases.push_back({"empty key", build({kv_u32("", 1)}, {}), GgufErrorCode::empty_key});
  cases.push_back({"duplicate key", build({kv_u32("k", 1), kv_u32("k", 2)}, {}), GgufErrorCode::duplicate_key});
  cases.push_back({"duplicate tensor", build({}, {tensor("a", {32}), tensor("a", {32}, 0, 128)}),
                   GgufErrorCode::duplicate_tensor});
  cases.push_back({"tensor name of 64 bytes", build({}, {tensor(std::string(64, 'n'), {32})}),
                   GgufErrorCode::tensor_name_too_long});
  cases.push_back({"tensor name not UTF-8", build({}, {tensor("bad\x80name", {32})}), GgufErrorCode::key_not_utf8});
  cases.push_back({"zero dimensions", build({}, {tensor("a", {})}), GgufErrorCode::bad_dimension_count});
  cases.push_back({"five dimensions", build({}, {tensor("a", {32, 1, 1, 1, 1})}), GgufErrorCode::bad_dimension_count});
  cases.push_back({"a dimension of zero", build({}, {tensor("a", {32, 0})}), GgufErrorCode::bad_dimension});
  cases.push_back({"a negative dimension", build({}, {tensor("a", {32, uint64_t(-5)})}), GgufErrorCode::bad_dimension});
  cases.push_back({"element count overflow", build({}, {tensor("a", {1ull << 32, 1ull << 32, 1ull << 32})}),
                   GgufErrorCode::size_overflow});
  cases.push_back({"byte size overflow", build({}, {tensor("a", {1ull << 31, 1ull << 31}, 28)}),
                   GgufErrorCode::size_overflow});
  cases.push_back({"row not a multiple of the block", build({}, {tensor("a", {33}, 2)}),
                   GgufErrorCode::row_not_block_multiple});
  cases.push_back({"retired tensor type id", build({}, {tensor("a", {32}, 4)}), GgufErrorCode::unknown_tensor_type});
  cases.push_back({"unknown tensor type id", build({}, {tensor("a", {32}, 1000)}), GgufErrorCode::unknown_tensor_type});
  cases.push_back({"offset not aligned", build({}, {tensor("a", {32}, 0, 4)}), GgufErrorCode::offset_misaligned});
  cases.push_back({"data past the end", build({}, {tensor("a", {32}, 0, 1024)}), GgufErrorCode::data_past_end});
  cases.push_back({"data offset overflows", build({}, {tensor("a", {32}, 0, uint64_t(-32))}),
                   GgufErrorCode::data_past_end});
  cases.push_back({"overlapping tensors", build({}, {tensor("a", {64}), tensor("b", {32}, 0, 128)}, 512),
                   GgufErrorCode::tensors_overlap});
  cases.push_back({"alignment zero", build({kv_u32("general.alignment", 0)}, {}), GgufErrorCode::bad_alignment});
  cases.push_back({"alignment not a power of two", build({kv_u32("general.alignment", 48)}, {}),
                   GgufErrorCode::bad_alignment});
  cases.push_back({"alignment over 1 MiB", build({kv_u32("general.alignment", 1u << 21)}, {}),
                   GgufErrorCode::bad_alignment});
  cases.push_back({"alignment as UINT64",
                   build({[](RawGguf& r) { r.str("general.alignment").u32(10).u64(32); }}, {}),
                   GgufErrorCode::bad_alignment});
  cases.push_back({"scores as bytes",
                   build({kv_array("tokenizer.ggml.tokens", 8, 1, std::string("\1\0\0\0\0\0\0\0a", 9)),
                          kv_array("tokenizer.ggml.scores", 0, 1, "x")},
                         {}),
                   GgufErrorCode::wrong_value_type});
  cases.push_back({"block_count as a string",
                   build({kv_str("general.architecture", "llama"), kv_str("llama.block_count", "five")}, {}),
                   GgufErrorCode::wrong_value_type});
  cases.push_back({"scores shorter than tokens",
                   build({kv_array("tokenizer.ggml.tokens", 8, 2, std::string("\1\0\0\0\0\0\0\0a\1\0\0\0\0\0\0\0b", 18)),
                          kv_array("tokenizer.ggml.scores", 6, 1, floats(1))},
                         {}),
                   GgufErrorCode::tokenizer_length_mismatch});
  cases.push_back({"special token outside the vocabulary",
                   build({kv_array("tokenizer.ggml.tokens", 8, 1, std::string("\1\0\0\0\0\0\0\0a", 9)),
                          kv_u32("tokenizer.ggml.eos_token_id", 7)},
                         {}),
                   GgufErrorCode::token_id_out_of_range});
  cases.push_back({"more layers than the tensors hold",
                   build({kv_str("general.architecture", "llama"), kv_u32("llama.block_count", 3)},
                         {tensor("blk.0.attn_norm.weight", {32})}),
                   GgufErrorCode::layer_count_mismatch});

  for (const auto& c : cases) {
    CAPTURE(c.what);
    std::string message;
    CHECK(code_of(c.raw, &message) == c.expected);
    CHECK(message.find("case.gguf") == 0);  // every message names the file first
  }
}

TEST_CASE("messages name the byte offset, the field and what was found") {
  std::string message;
  code_of(build({}, {tensor("blk.0.attn_q.weight", {33}, 2)}), &message);
  CHECK(message.find("at byte ") != std::string::npos);
  CHECK(message.find("blk.0.attn_q.weight") != std::string::npos);
  CHECK(message.find("33") != std::string::npos);
  CHECK(message.find("32") != std::string::npos);
}

TEST_CASE("several table problems are all reported") {
  try {
    File::parse(build({}, {tensor("a", {32}, 0, 4), tensor("b", {32}, 0, 4096)}).span(), "two.gguf");
    FAIL("accepted");
  } catch (const GgufError& e) {
    REQUIRE(e.findings().size() >= 2);
    CHECK(e.findings()[0].code == GgufErrorCode::offset_misaligned);
    CHECK(e.findings()[1].code == GgufErrorCode::data_past_end);
  }
}

TEST_CASE("OnFindings::keep: the header of a file with table problems is readable, its tensor data is not") {
  sy::test::ScratchDir dir;
  const std::string path = (dir / "two.gguf").string();
  sy::test::write_file(path, build({}, {tensor("a", {32}, 0, 4), tensor("b", {32}, 0, 4096)}).span());
  CHECK_THROWS_AS(File::open(path), GgufError);
  const File file = File::open(path, OnFindings::keep);
  REQUIRE(file.findings().size() >= 2);
  CHECK(file.findings()[0].code == GgufErrorCode::offset_misaligned);
  REQUIRE(file.tensors().size() == 2);
  CHECK(file.tensors()[1].name == "b");
  CHECK_THROWS_AS(file.tensor_data(file.tensors()[0]), GgufError);
  // A sound file opened the same way has no findings and its data as usual.
  const File sound = File::open(sy::test::shared_model("stories260K.gguf"), OnFindings::keep);
  CHECK(sound.findings().empty());
  CHECK(sound.tensor_data(sound.tensors()[0]).size() == sound.tensors()[0].n_bytes);
}

TEST_CASE("every truncation of a real model is refused cleanly") {
  const File file = File::open(sy::test::shared_model("stories260K-q4mix.gguf"));
  const auto bytes = file.bytes();
  const size_t header = file.data_offset();
  // Every cut inside the header, and a sample of cuts inside the data section.
  for (size_t cut = 0; cut < bytes.size(); cut += (cut < header ? 1 : 4093)) {
    CAPTURE(cut);
    CHECK_THROWS_AS(File::parse(bytes.first(cut), "cut.gguf"), GgufError);
  }
}

TEST_CASE("random byte flips in a real header never crash the reader") {
  const File file = File::open(sy::test::shared_model("stories260K-q4mix.gguf"));
  std::vector<std::byte> bytes(file.bytes().begin(), file.bytes().end());
  auto rng = sy::test::make_rng("gguf byte flips");
  std::uniform_int_distribution<size_t> position(0, file.data_offset() - 1);
  for (int round = 0; round < 3000; ++round) {
    auto copy = bytes;
    const int flips = std::uniform_int_distribution<int>(1, 4)(rng);
    for (int i = 0; i < flips; ++i) copy[position(rng)] = static_cast<std::byte>(rng());
    try {
      const File parsed = File::parse(copy, "flipped.gguf");
      for (const auto& t : parsed.tensors()) {
        const auto data = parsed.tensor_data(t);
        REQUIRE(data.data() + data.size() <= copy.data() + copy.size());
      }
    } catch (const GgufError&) {
    }
  }
}
