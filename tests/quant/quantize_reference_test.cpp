// Pins the reference quantizers to llama.cpp's bytes: the shared quantized models were written by llama-quantize
// (no importance matrix) from an F32 parent, so quantizing the parent's tensor with core/quant must reproduce the
// stored bytes of the same tensor exactly, whatever type llama-quantize chose for it (Q4_K_M mixes Q4_K and Q6_K,
// Q4_0 files keep a Q6_K output, the q4mix file has Q4_0, Q5_0, Q8_0 and F16).
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/gguf/file.h"
#include "core/loader/loader.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "tests/test_support.h"

namespace {

using sy::gguf::TensorType;

// Quantizes every tensor of `parent_name` (all F32) to the type its counterpart in `child_name` has and compares
// bytes. Returns how many tensors of each type matched, for the caller to insist on the types it expects.
std::map<std::string, int> check_reproduces(const std::string& parent_name, const std::string& child_name) {
  const auto parent = sy::gguf::File::open(sy::test::shared_model(parent_name));
  const auto child = sy::gguf::File::open(sy::test::shared_model(child_name));
  std::map<std::string, int> matched_by_type;
  for (const auto& tensor : child.tensors()) {
    CAPTURE(child_name);
    CAPTURE(tensor.name);
    const auto* source = parent.find_tensor(tensor.name);
    REQUIRE_MESSAGE(source != nullptr, "the parent model lacks this tensor");
    REQUIRE(source->type == TensorType::F32);
    REQUIRE(source->n_elements == tensor.n_elements);
    const std::string type_name(sy::gguf::to_string(tensor.type));
    CAPTURE(type_name);
    REQUIRE_MESSAGE(sy::quant::can_quantize(tensor.type), "no reference quantizer for this type");

    const auto floats = sy::loader::dequantize_tensor(parent, *source);
    const auto expected = child.tensor_data(tensor);
    std::vector<std::byte> produced(expected.size());
    sy::quant::quantize_row(tensor.type, floats.data(), produced.data(), static_cast<int64_t>(floats.size()));

    // Name the first differing block: a single block is what one needs to debug a quantizer.
    const auto& traits = sy::gguf::tensor_type_traits(tensor.type);
    size_t differing_blocks = 0;
    size_t first_difference = SIZE_MAX;
    for (size_t offset = 0; offset < expected.size(); offset += traits.bytes_per_block) {
      if (std::memcmp(expected.data() + offset, produced.data() + offset, traits.bytes_per_block) != 0) {
        if (differing_blocks++ == 0) first_difference = offset / traits.bytes_per_block;
      }
    }
    CHECK_MESSAGE(differing_blocks == 0, differing_blocks, " of ", expected.size() / traits.bytes_per_block,
                  " blocks differ, the first being block ", first_difference);
    if (differing_blocks == 0) ++matched_by_type[type_name];
  }
  return matched_by_type;
}

}  // namespace

TEST_CASE("quantizing synth-tiny-F32 reproduces llama-quantize's bytes") {
  SUBCASE("Q8_0") {
    const auto matched = check_reproduces("synth-tiny-F32.gguf", "synth-tiny-Q8_0.gguf");
    CHECK(matched.count("q8_0"));
  }
  SUBCASE("Q4_0 (with its Q6_K output)") {
    const auto matched = check_reproduces("synth-tiny-F32.gguf", "synth-tiny-Q4_0.gguf");
    CHECK(matched.count("q4_0"));
  }
  SUBCASE("Q4_K_M: Q4_K and Q6_K") {
    const auto matched = check_reproduces("synth-tiny-F32.gguf", "synth-tiny-Q4_K_M.gguf");
    CHECK(matched.count("q4_K"));
    CHECK(matched.count("q6_K"));
  }
  SUBCASE("Q6_K") {
    const auto matched = check_reproduces("synth-tiny-F32.gguf", "synth-tiny-Q6_K.gguf");
    CHECK(matched.count("q6_K"));
  }
  SUBCASE("TQ2_0") {
    const auto matched = check_reproduces("synth-tiny-F32.gguf", "synth-tiny-TQ2_0.gguf");
    CHECK(matched.count("tq2_0"));
  }
  SUBCASE("F16 conversion") {
    const auto matched = check_reproduces("synth-tiny-F32.gguf", "synth-tiny-F16.gguf");
    CHECK(matched.count("f16"));
  }
}

TEST_CASE("quantizing stories260K reproduces the q4mix file (Q4_0, Q5_0, Q8_0, F16)") {
  const auto matched = check_reproduces("stories260K.gguf", "stories260K-q4mix.gguf");
  CHECK(matched.count("q4_0"));
  CHECK(matched.count("q5_0"));
  CHECK(matched.count("q8_0"));
  CHECK(matched.count("f16"));
}
