// I2_S (BitNet b1.58, shared/formats/I2_S.md) end to end: a ternary tensor quantized by core/quant, written with
// gguf::Writer, read back with gguf::File and dequantized, against values and bytes worked out by hand from the
// format's facts (codes 0/1/2 = -1/0/+1, blocks of 128 over the flattened tensor, one float scale after the codes).
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "core/gguf/file.h"
#include "core/loader/loader.h"
#include "core/gguf/writer.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "tests/test_support.h"

using namespace sy;

namespace {

// A 128 x 2 ternary tensor with scale 0.75: element i is -1, 0 or +1 by i % 3 (i % 3 == 0 -> +1, 1 -> 0, 2 -> -1).
std::vector<float> ternary_tensor() {
  std::vector<float> x(256);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 3 == 0 ? 1.0f : i % 3 == 1 ? 0.0f : -1.0f) * 0.75f;
  return x;
}

}  // namespace

TEST_CASE("I2_S: quantize, write, read back, dequantize") {
  const auto x = ternary_tensor();
  std::vector<std::byte> packed(256 / 4 + 32);
  quant::quantize_i2_s(x, packed);

  // By hand: byte 0 holds elements 0, 32, 64, 96 at shifts 6, 4, 2, 0. 0 % 3 = 0 (+1, code 2), 32 % 3 = 2 (-1,
  // code 0), 64 % 3 = 1 (0, code 1), 96 % 3 = 0 (code 2): 10 00 01 10 = 0x86.
  CHECK(std::to_integer<int>(packed[0]) == 0x86);
  // Byte 32 starts the second block: elements 128, 160, 192, 224 -> 128 % 3 = 2 (code 0), 160 % 3 = 1 (code 1),
  // 192 % 3 = 0 (code 2), 224 % 3 = 2 (code 0): 00 01 10 00 = 0x18.
  CHECK(std::to_integer<int>(packed[32]) == 0x18);
  float scale;
  std::memcpy(&scale, packed.data() + 64, sizeof scale);
  CHECK(scale == 0.75f);
  for (size_t i = 68; i < packed.size(); ++i) CHECK(std::to_integer<int>(packed[i]) == 0);  // padding zeroed

  test::ScratchDir dir;
  const auto path = dir / "i2_s.gguf";
  {
    gguf::Writer writer;
    writer.add("general.architecture", gguf::Value::make_string("bitnet"));
    const uint64_t ne[] = {128, 2};
    writer.add_tensor("blk.0.ffn_up.weight", gguf::TensorType::I2_S, ne, packed);
    writer.write(path);
  }
  const auto file = gguf::File::open(path);
  const auto* tensor = file.find_tensor("blk.0.ffn_up.weight");
  REQUIRE(tensor != nullptr);
  CHECK(tensor->type == gguf::TensorType::I2_S);
  CHECK(tensor->n_bytes == packed.size());

  const auto values = loader::dequantize_tensor(file, *tensor);
  REQUIRE(values.size() == x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(i);
    CHECK(values[i] == x[i]);
  }
  CHECK_FALSE(std::signbit(values[1]));  // a zero weight decodes to +0.0

  // The 28 bytes after the scale are undefined in real files: garbage there must not change anything.
  auto garbage = packed;
  for (size_t i = 68; i < garbage.size(); ++i) garbage[i] = std::byte{0xA5};
  std::vector<float> from_garbage(x.size());
  quant::dequantize_range(gguf::TensorType::I2_S, garbage, x.size(), 0, from_garbage);
  CHECK(from_garbage == values);

  // The second block alone, as a range.
  std::vector<float> second(128);
  quant::dequantize_range(gguf::TensorType::I2_S, packed, x.size(), 128, second);
  CHECK(std::equal(second.begin(), second.end(), values.begin() + 128));
}

TEST_CASE("I2_S quantizer keeps only signs: near-zero values become 0, the scale is max |x|") {
  std::vector<float> x(128, 0.0f);
  x[0] = 2.0f;
  x[1] = -0.5f;   // any negative value becomes -scale
  x[2] = 5e-7f;   // below the 1e-6 threshold: zero
  x[3] = 0.001f;  // above it: +scale
  std::vector<std::byte> packed(128 / 4 + 32);
  quant::quantize_i2_s(x, packed);
  std::vector<float> y(128);
  quant::dequantize_range(gguf::TensorType::I2_S, packed, 128, 0, y);
  CHECK(y[0] == 2.0f);
  CHECK(y[1] == -2.0f);
  CHECK(y[2] == 0.0f);
  CHECK(y[3] == 2.0f);
  CHECK(y[4] == 0.0f);
  CHECK_THROWS_AS(quant::quantize_i2_s(std::span<const float>(x.data(), 100), packed), Error);
}
