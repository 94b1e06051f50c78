// Pins the scalar reference decoder to llama.cpp's: every tensor of every shared model listed in
// reference/dequant.jsonl, dequantized by core/quant, must hash (SHA-256 of the little-endian float32 values in
// ggml order) to the reference digest, and its first four values must be the reference's, bit for bit.
#include <doctest/doctest.h>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/common/sha256.h"
#include "core/gguf/file.h"
#include "core/loader/loader.h"
#include "core/quant/dequantize.h"
#include "tests/test_support.h"

namespace {

static_assert(std::endian::native == std::endian::little, "the reference hashes little-endian floats");

struct ReferenceTensor {
  std::string tensor;
  std::string type;
  uint64_t n;
  std::string sha256_f32;
  std::vector<float> first4;
};

// The first4 values read from the line's text: the reference prints negative zero as "-0", which a JSON parser
// reads as the integer 0 and so loses the sign. Printed with 9 significant digits, each parses to the exact float.
std::vector<float> first4_from_text(const std::string& line) {
  const std::string key = "\"first4\":[";
  const auto start = line.find(key);
  REQUIRE_MESSAGE(start != std::string::npos, "no first4 in: ", line);
  std::vector<float> values;
  const char* cursor = line.c_str() + start + key.size();
  while (*cursor != ']' && *cursor != '\0') {
    char* end = nullptr;
    values.push_back(std::strtof(cursor, &end));
    REQUIRE_MESSAGE(end != cursor, "unparsable first4 in: ", line);
    cursor = *end == ',' ? end + 1 : end;
  }
  return values;
}

// Reference lines grouped by model file (relative to the shared dir), in file order.
std::map<std::string, std::vector<ReferenceTensor>> read_reference() {
  const auto path = sy::test::shared_dir() / "reference" / "dequant.jsonl";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path.string());
  std::map<std::string, std::vector<ReferenceTensor>> by_model;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    ReferenceTensor t{j.at("tensor"), j.at("type"), j.at("n"), j.at("sha256_f32"), first4_from_text(line)};
    REQUIRE(t.first4.size() == j.at("first4").size());
    by_model[j.at("model")].push_back(std::move(t));
  }
  return by_model;
}

std::string sha256_of_floats(const std::vector<float>& values) {
  sy::Sha256 hasher;
  hasher.update(std::as_bytes(std::span<const float>(values)));
  return hasher.hex_digest();
}

}  // namespace

TEST_CASE("every tensor in reference/dequant.jsonl dequantizes to the reference's float32 bytes") {
  const auto reference = read_reference();
  REQUIRE(reference.size() >= 7);  // all shared models with weights: seven files at the time of writing

  size_t checked = 0;
  for (const auto& entry : reference) {
    // Named copies rather than structured bindings: CAPTURE captures them in a lambda, which clang 14 refuses.
    const auto& model = entry.first;
    const auto& tensors = entry.second;
    CAPTURE(model);
    const auto file = sy::gguf::File::open(sy::test::shared_dir() / model);
    for (const auto& expected : tensors) {
      CAPTURE(expected.tensor);
      const auto* info = file.find_tensor(expected.tensor);
      REQUIRE_MESSAGE(info != nullptr, "tensor missing from the model");
      CHECK(std::string(sy::gguf::to_string(info->type)) == expected.type);
      REQUIRE(info->n_elements == expected.n);
      REQUIRE(sy::quant::can_dequantize(info->type));

      const auto values = sy::loader::dequantize_tensor(file, *info);
      CHECK(sha256_of_floats(values) == expected.sha256_f32);
      REQUIRE(values.size() >= expected.first4.size());
      for (size_t i = 0; i < expected.first4.size(); ++i) {
        CAPTURE(i);
        CHECK(std::bit_cast<uint32_t>(values[i]) == std::bit_cast<uint32_t>(expected.first4[i]));
      }
      ++checked;
    }
  }
  MESSAGE("checked ", checked, " tensors");
  CHECK(checked >= 282);
}
