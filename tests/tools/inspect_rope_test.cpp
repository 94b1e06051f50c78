// `switchyard inspect` summarises the rope as the runtime resolves it: a copy of synth-tiny-F32 with YaRN keys and a
// rope_freqs tensor added, inspected through the command line (SWITCHYARD_BIN) in JSON and in text.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "core/gguf/file.h"
#include "core/gguf/writer.h"
#include "tests/test_support.h"

using namespace sy;

namespace {

std::string output_of(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> chunk{};
  while (const size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe)) out.append(chunk.data(), n);
  CHECK(pclose(pipe) == 0);
  return out;
}

}  // namespace

TEST_CASE("inspect shows the rope's scaling as the runtime resolves it") {
  const char* binary = std::getenv("SWITCHYARD_BIN");
  REQUIRE(binary != nullptr);
  test::ScratchDir dir;
  const auto source = gguf::File::open(test::shared_model("synth-tiny-F32.gguf"));
  gguf::Writer writer(source.alignment());
  for (const auto& kv : source.metadata())
    if (kv.key != "general.alignment") writer.add(kv.key, kv.value);
  writer.add("llama.rope.scaling.type", gguf::Value::make_string("yarn"));
  writer.add("llama.rope.scaling.factor", gguf::Value::make_float(gguf::ValueType::FLOAT32, 4.0));
  writer.add("llama.rope.scaling.original_context_length", gguf::Value::make_uint(gguf::ValueType::UINT32, 64));
  for (const auto& t : source.tensors())
    writer.add_tensor(t.name, t.type, std::span<const uint64_t>(t.ne.data(), t.n_dims), source.tensor_data(t));
  const std::vector<float> factors(32, 2.0f);
  const uint64_t ne[1] = {factors.size()};
  writer.add_tensor("rope_freqs.weight", gguf::TensorType::F32, std::span<const uint64_t>(ne, 1),
                    std::as_bytes(std::span<const float>(factors)));
  const auto model = dir / "yarn.gguf";
  writer.write(model);

  const auto json = nlohmann::json::parse(output_of(std::string(binary) + " inspect --format json -m " + model.string()));
  const auto& rope = json.at("rope");
  CHECK(rope.at("style") == "normal");
  CHECK(rope.at("dimensions") == 64);
  CHECK(rope.at("scaling") == "yarn");
  CHECK(rope.at("factor").get<double>() == doctest::Approx(4.0));
  CHECK(rope.at("original_context_length") == 64);
  CHECK(rope.at("ext_factor").get<double>() == doctest::Approx(1.0));  // YaRN's default
  CHECK(rope.at("beta_fast").get<double>() == doctest::Approx(32.0));
  CHECK(rope.at("freq_factors") == true);

  const std::string text = output_of(std::string(binary) + " inspect -m " + model.string());
  CHECK(text.find("rope          normal, 64 dims, base 10000.0, yarn scaling x4.0 from 64 tokens (ext 1.0, beta "
                  "32.0/1.0), per-frequency factors (rope_freqs)") != std::string::npos);
}
