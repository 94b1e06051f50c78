// Pins core/quant/reencode.h: TQ1_0 written as TQ2_0 decodes to the same floats bit for bit, whatever the bytes
// (the quantizer's own and any other byte a file may hold), and the refusals name what is wrong.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/gguf/tensor_type.h"
#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "core/quant/reencode.h"
#include "tests/test_support.h"

using sy::gguf::TensorType;

namespace {

// `blocks` TQ1_0 blocks re-encoded, then both decoded: the floats must be the same bits.
void check_same_values(const std::vector<uint8_t>& tq1_0, uint64_t n) {
  std::vector<uint8_t> tq2_0(*sy::gguf::tensor_storage_bytes(TensorType::TQ2_0, n), 0xA5);  // poisoned
  sy::quant::reencode_blocks(TensorType::TQ1_0, tq1_0.data(), n, tq2_0.data());
  std::vector<float> want(n), got(n);
  sy::quant::dequantize_row(TensorType::TQ1_0, tq1_0.data(), want.data(), static_cast<int64_t>(n));
  sy::quant::dequantize_row(TensorType::TQ2_0, tq2_0.data(), got.data(), static_cast<int64_t>(n));
  CHECK(std::memcmp(want.data(), got.data(), n * sizeof(float)) == 0);
  // Every TQ2_0 code is 0, 1 or 2: code 3 (which TQ2_0 would read as +2) never appears.
  for (uint64_t b = 0; b < n / 256; ++b)
    for (int j = 0; j < 64; ++j)
      for (int k = 0; k < 4; ++k) CHECK(((tq2_0[b * 66 + j] >> (2 * k)) & 3) != 3);
}

}  // namespace

TEST_CASE("reencoding_of pairs TQ1_0 with TQ2_0 and nothing else") {
  CHECK(sy::quant::reencoding_of(TensorType::TQ1_0) == TensorType::TQ2_0);
  for (const TensorType type : {TensorType::F32, TensorType::Q4_0, TensorType::TQ2_0, TensorType::I2_S})
    CHECK_FALSE(sy::quant::reencoding_of(type).has_value());
}

TEST_CASE("TQ1_0 re-encoded as TQ2_0: the same floats for quantized weights and for every byte value") {
  auto rng = sy::test::make_rng("reencode tq1_0");
  constexpr uint64_t kBlocks = 12, n = kBlocks * 256;
  // What the quantizer writes, from ternary-ish floats with zeros and both signs.
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  std::vector<uint8_t> quantized(*sy::gguf::tensor_storage_bytes(TensorType::TQ1_0, n));
  sy::quant::quantize_row(TensorType::TQ1_0, x.data(), quantized.data(), static_cast<int64_t>(n));
  check_same_values(quantized, n);
  // Any bytes at all (a file need not come from the quantizer): every value 0..255 in every position, scales
  // random but finite.
  std::vector<uint8_t> bytes(quantized.size());
  for (uint64_t b = 0; b < kBlocks; ++b) {
    for (int j = 0; j < 52; ++j) bytes[b * 54 + j] = static_cast<uint8_t>((b * 52 + j) * 7 + rng() % 3);
    const uint16_t d = sy::quant::fp32_to_fp16(0.01f + static_cast<float>(rng() % 100) / 50.0f);
    std::memcpy(bytes.data() + b * 54 + 52, &d, 2);
  }
  for (int value = 0; value < 256; ++value)  // blocks 0..4 hold every byte value once
    bytes[static_cast<size_t>(value % 52 + 54 * (value / 52))] = static_cast<uint8_t>(value);
  check_same_values(bytes, n);
}

TEST_CASE("reencode_blocks refuses a type without a re-encoding and a partial block") {
  std::vector<uint8_t> in(54 * 2), out(66 * 2);
  const auto refuses = [&](TensorType type, uint64_t n, sy::ErrorCode code, const std::string& named) {
    CAPTURE(named);
    try {
      sy::quant::reencode_blocks(type, in.data(), n, out.data());
      FAIL("accepted");
    } catch (const sy::Error& error) {
      CHECK(error.code() == code);
      CHECK(std::string(error.what()).find(named) != std::string::npos);
    }
  };
  refuses(TensorType::Q4_0, 256, sy::ErrorCode::unsupported, "q4_0");
  refuses(TensorType::TQ1_0, 300, sy::ErrorCode::invalid_argument, "300");  // not whole 256-element blocks
}
