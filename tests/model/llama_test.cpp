#include <doctest/doctest.h>

#include "core/gguf/writer.h"
#include "core/model/llama.h"
#include "tests/test_support.h"

using namespace sy;

TEST_CASE("shared models pass the llama checks with the published hyperparameters") {
  const auto file = gguf::File::open(test::shared_model("stories260K.gguf"));
  CHECK(model::check_llama(file).empty());
  const auto hp = model::read_llama_hparams(file);
  CHECK(hp.n_vocab == 512);
  CHECK(hp.n_embd == 64);
  CHECK(hp.n_layer == 5);
  CHECK(hp.n_ff == 172);
  CHECK(hp.n_head == 8);
  CHECK(hp.n_head_kv == 4);
  CHECK(hp.head_dim == 8);

  const auto synth = gguf::File::open(test::shared_model("synth-tiny-Q4_K_M.gguf"));
  CHECK(model::check_llama(synth).empty());
  CHECK(model::read_llama_hparams(synth).n_head_kv == 2);
}

namespace {

// Copies `source` to `path`, leaving out tensor `drop` and giving tensor `reshape` the shape `new_ne`.
void copy_model(const gguf::File& source, const std::filesystem::path& path, const std::string& drop,
                const std::string& reshape = "", std::vector<uint64_t> new_ne = {}) {
  gguf::Writer writer(source.alignment());
  for (const auto& kv : source.metadata()) {
    if (kv.key != "general.alignment") writer.add(kv.key, kv.value);
  }
  for (const auto& t : source.tensors()) {
    if (t.name == drop) continue;
    if (t.name == reshape) {
      // Same element count, different shape: the data stay valid, only the shape check can catch it.
      writer.add_tensor(t.name, t.type, new_ne, source.tensor_data(t));
    } else {
      writer.add_tensor(t.name, t.type, std::span<const uint64_t>(t.ne.data(), t.n_dims), source.tensor_data(t));
    }
  }
  writer.write(path);
}

}  // namespace

TEST_CASE("a missing tensor and a wrong shape are each reported by name") {
  const auto source = gguf::File::open(test::shared_model("stories260K.gguf"));
  test::ScratchDir dir;
  copy_model(source, dir / "missing.gguf", "blk.3.ffn_up.weight");
  {
    // The file itself is still well-formed: block_count is backed by blk.4 tensors.
    const auto file = gguf::File::open(dir / "missing.gguf");
    const auto findings = model::check_llama(file);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].code == "missing_tensor");
    CHECK(findings[0].message.find("blk.3.ffn_up.weight") != std::string::npos);
  }
  copy_model(source, dir / "reshaped.gguf", "", "blk.1.attn_q.weight", {32, 128});
  {
    const auto file = gguf::File::open(dir / "reshaped.gguf");
    const auto findings = model::check_llama(file);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].code == "bad_shape");
    CHECK(findings[0].message.find("[32, 128], expected [64, 64]") != std::string::npos);
  }
}

TEST_CASE("missing hyperparameters and foreign architectures are findings, not crashes") {
  test::ScratchDir dir;
  gguf::Writer writer;
  writer.add("general.architecture", gguf::Value::make_string("llama"));
  writer.add("llama.embedding_length", gguf::Value::make_uint(gguf::ValueType::UINT32, 64));
  writer.write(dir / "sparse.gguf");
  const auto findings = model::check_llama(gguf::File::open(dir / "sparse.gguf"));
  CHECK(findings.size() >= 4);
  for (const auto& f : findings) CHECK(f.code == "missing_hyperparameter");

  gguf::Writer other;
  other.add("general.architecture", gguf::Value::make_string("mamba"));
  other.write(dir / "mamba.gguf");
  const auto foreign = model::check_llama(gguf::File::open(dir / "mamba.gguf"));
  REQUIRE(foreign.size() == 1);
  CHECK(foreign[0].code == "unsupported_architecture");
}

TEST_CASE("a huge declared layer count is one finding, found at once") {
  // Regression (found by the fuzzer): enumerating the expected tensors of 4 billion layers took forever.
  test::ScratchDir dir;
  gguf::Writer writer;
  writer.add("general.architecture", gguf::Value::make_string("llama"));
  for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.context_length"}) {
    writer.add(key, gguf::Value::make_uint(gguf::ValueType::UINT32, 32));
  }
  writer.add("llama.attention.head_count", gguf::Value::make_uint(gguf::ValueType::UINT32, 4));
  writer.add("llama.block_count", gguf::Value::make_uint(gguf::ValueType::UINT32, 4000000000u));
  writer.add("llama.vocab_size", gguf::Value::make_uint(gguf::ValueType::UINT32, 8));
  const uint64_t ne[] = {32};
  std::vector<std::byte> data(32 * 4);
  writer.add_tensor("blk.3999999999.attn_norm.weight", gguf::TensorType::F32, ne, data);
  writer.write(dir / "deep.gguf");
  const auto findings = model::check_llama(gguf::File::open(dir / "deep.gguf"));
  REQUIRE(findings.size() == 1);
  CAPTURE(findings[0].message);
  CHECK(findings[0].message.find("declares 4000000000 layers") != std::string::npos);
}
