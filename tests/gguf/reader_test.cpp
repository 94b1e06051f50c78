// The reader on real files: every shared model and vocabulary opens, its facts are right, and tensor data are
// views into the mapping (nothing copied), also past 4 GiB.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/gguf/file.h"
#include "core/gguf/writer.h"
#include "tests/gguf/raw_gguf.h"
#include "tests/test_support.h"

using namespace sy::gguf;

TEST_CASE("every shared model opens") {
  for (const auto& entry : std::filesystem::directory_iterator(sy::test::shared_dir() / "models")) {
    if (entry.path().extension() != ".gguf") continue;
    CAPTURE(entry.path().string());
    const File file = File::open(entry.path());
    // The file names its architecture by the prefix its hyperparameters use.
    const std::string architecture = file.architecture();
    CHECK(!architecture.empty());
    CHECK(file.find(architecture + ".block_count") != nullptr);
    CHECK(!file.tensors().empty());
    for (const auto& t : file.tensors()) {
      const auto data = file.tensor_data(t);
      CHECK(data.size() == t.n_bytes);
      CHECK(data.data() >= file.bytes().data());
      CHECK(data.data() + data.size() <= file.bytes().data() + file.bytes().size());
    }
  }
}

TEST_CASE("stories260K: hyperparameters, tokenizer and tensors as published") {
  const File file = File::open(sy::test::shared_model("stories260K.gguf"));
  CHECK(file.version() == 3);
  CHECK(file.find_arch("block_count")->as_uint() == 5u);
  CHECK(file.find_arch("embedding_length")->as_uint() == 64u);
  CHECK(file.find_arch("feed_forward_length")->as_uint() == 172u);
  CHECK(file.find_arch("attention.head_count")->as_uint() == 8u);
  CHECK(file.find_arch("attention.head_count_kv")->as_uint() == 4u);
  const Array* tokens = file.find("tokenizer.ggml.tokens")->as_array();
  REQUIRE(tokens);
  CHECK(tokens->size() == 512);
  CHECK(*file.find("tokenizer.ggml.model")->as_string() == "llama");
  const TensorInfo* embd = file.find_tensor("token_embd.weight");
  REQUIRE(embd);
  CHECK(embd->type == TensorType::F32);
  CHECK(embd->n_dims == 2);
  CHECK(embd->ne[0] == 64);
  CHECK(embd->ne[1] == 512);
  CHECK(embd->n_bytes == 64 * 512 * 4);
  CHECK(file.find_tensor("no.such.tensor") == nullptr);
}

TEST_CASE("vocabulary-only files open: metadata and no tensors") {
  for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-starcoder.gguf"}) {
    CAPTURE(name);
    const File file = File::open(sy::test::shared_dir() / "vocab" / name);
    CHECK(file.tensors().empty());
    CHECK(file.find("tokenizer.ggml.tokens")->as_array()->size() > 0);
  }
}

TEST_CASE("tensor data past 4 GiB is addressed with 64-bit offsets") {
  sy::test::ScratchDir dir;
  const std::string path = (dir / "big.gguf").string();
  const uint64_t far = (5ull << 30);  // 5 GiB into the data section
  sy::test::RawGguf raw;
  raw.header(2, 0).tensor("near", {32}, 0, 0).tensor("far", {32}, 0, far).pad_to(32);
  const uint64_t data_offset = raw.bytes.size();
  sy::test::write_file(path, raw.span());
  {
    // A sparse file: the hole costs no disk space, the mapping covers it lazily.
    std::filesystem::resize_file(path, data_offset + far + 32 * 4);
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(data_offset + far));
    const float marker = 42.5f;
    f.write(reinterpret_cast<const char*>(&marker), sizeof marker);
  }
  const File file = File::open(path);
  const TensorInfo* t = file.find_tensor("far");
  REQUIRE(t);
  CHECK(t->offset == far);
  const auto data = file.tensor_data(*t);
  float value;
  std::memcpy(&value, data.data(), sizeof value);
  CHECK(value == 42.5f);
}

TEST_CASE("opening reads no tensor data: a header-only prefix parses the same metadata") {
  const File full = File::open(sy::test::shared_model("stories260K.gguf"));
  // The header alone, with the data section cut off, must give the same metadata (tensor checks aside).
  std::vector<std::byte> header(full.bytes().begin(), full.bytes().begin() + full.data_offset());
  try {
    File::parse(header, "header-only");
    FAIL("a file without its data section must be refused");
  } catch (const GgufError& e) {
    CHECK(e.gguf_code() == GgufErrorCode::data_past_end);
  }
}

namespace {
// The VmFlags line of the mapping in /proc/self/smaps that holds `address` ("" if none does).
std::string vm_flags_of(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  const auto at = reinterpret_cast<uintptr_t>(address);
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &begin, &end) == 2) {  // a mapping's first line: "begin-end perms ..."
      inside = at >= begin && at < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}
}  // namespace

TEST_CASE("a file of a huge page or more is mapped at a huge-page boundary, with the advice, and reads the same") {
  // Address and file offset agreeing modulo 2 MiB is what lets the kernel map the file's 2 MiB page-cache folios
  // whole (bench/README.md, "Third round"); the mapping must still be exactly the file.
  const auto path = sy::test::shared_model("synth-tiny-F32.gguf");
  const File file = File::open(path);
  const auto bytes = file.bytes();
  REQUIRE(bytes.size() >= (2u << 20));
  CHECK(reinterpret_cast<uintptr_t>(bytes.data()) % (2u << 20) == 0);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(expected.size() == bytes.size());
  CHECK(std::memcmp(expected.data(), bytes.data(), bytes.size()) == 0);
  if (std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled")) {
    const std::string flags = vm_flags_of(bytes.data());
    INFO(flags);
    CHECK(flags.find(" hg") != std::string::npos);  // VM_HUGEPAGE: madvise(MADV_HUGEPAGE) was taken
  }
  // A small file keeps an ordinary mapping, which reads the same.
  const File small = File::open(sy::test::shared_model("stories260K.gguf"));
  CHECK(small.bytes().size() < (2u << 20));
  CHECK(small.tensors().size() > 0);
}

TEST_CASE("populate faults a mapped range in; huge_page_share is a share of the resident bytes, or -1 unknown") {
  const File file = File::open(sy::test::shared_model("synth-tiny-F32.gguf"));
  const TensorInfo* t = file.find_tensor("token_embd.weight");
  REQUIRE(t);
  file.populate(file.tensor_data(*t));
  const double share = file.huge_page_share();
  INFO(share);
  CHECK(share >= 0.0);  // resident now, so known where /proc/self/smaps exists (every Linux these tests run on)
  CHECK(share <= 1.0);
  // The bytes read the same after populating.
  std::ifstream in(sy::test::shared_model("synth-tiny-F32.gguf"), std::ios::binary);
  in.seekg(static_cast<std::streamoff>(file.data_offset() + t->offset));
  std::vector<char> expected(static_cast<size_t>(t->n_bytes));
  in.read(expected.data(), static_cast<std::streamsize>(expected.size()));
  CHECK(std::memcmp(expected.data(), file.tensor_data(*t).data(), expected.size()) == 0);
  // A file parsed from memory has no mapping of its own: unknown, and populating it is a no-op.
  const std::vector<std::byte> bytes(file.bytes().begin(), file.bytes().end());
  const File parsed = File::parse(bytes, "in memory");
  parsed.populate(parsed.tensor_data(*parsed.find_tensor("token_embd.weight")));
  CHECK(parsed.huge_page_share() == -1.0);
}
