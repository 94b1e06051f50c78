// Properties of the quantizers and decoders on fresh random data (seeded: replay with SWITCHYARD_TEST_SEED):
// quantize -> dequantize stays within each type's error bound, requantizing decoded data is stable where the format
// makes it so, odd block counts, ranges and misaligned buffers agree with whole-row decoding, and the decoders of
// types no shared model covers (Q2_K, Q3_K, Q5_K, IQ4_NL, TQ1_0, ...) agree with an element-by-element reading of
// the layout written independently here.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "tests/test_support.h"

using namespace sy::quant;
using sy::gguf::TensorType;

namespace {

// Gaussian weights with a different magnitude per 256 elements, as real tensors have, plus occasional outliers.
std::vector<float> random_weights(std::mt19937_64& rng, size_t n) {
  std::vector<float> x(n);
  std::lognormal_distribution<float> block_scale(-2.0f, 0.5f);  // scales whose fp16 d stays normal
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (size_t base = 0; base < n; base += 256) {
    const float scale = block_scale(rng);
    for (size_t i = base; i < std::min(n, base + 256); ++i) {
      x[i] = normal(rng) * scale * (uniform(rng) < 0.01f ? 8.0f : 1.0f);
    }
  }
  return x;
}

std::vector<std::byte> quantize(TensorType type, const std::vector<float>& x) {
  std::vector<std::byte> q(*sy::gguf::row_storage_bytes(type, x.size()));
  quantize_row(type, x.data(), q.data(), static_cast<int64_t>(x.size()));
  return q;
}

std::vector<float> dequantize(TensorType type, const std::vector<std::byte>& q, size_t n) {
  std::vector<float> y(n);
  dequantize_row(type, q.data(), y.data(), static_cast<int64_t>(n));
  return y;
}

struct ErrorBound {
  TensorType type;
  int group;               // elements the bound is taken over
  double of_group_amax;    // max |error| <= this * max |x| of the group ...
  double of_group_range;   // ... + this * (max x - min x) of the group
  double rms_of_rms;       // and over the whole row: rms error <= this * rms x (0: not checked)
  double absolute = 0;     // plus this much, for formats with subnormals (fp16 spaces them 2^-24 apart)
};

}  // namespace

TEST_CASE("quantize then dequantize stays within each type's error bound") {
  auto rng = sy::test::make_rng("quant round trip");
  // Bounds from the formats: half a quantization step plus the fp16 rounding of the scale (2^-11 relative, times
  // the largest level); Q4_0/Q5_0 lose a full step on the side opposite the signed maximum (clamped to 7 or 15).
  // The k-quants fit scales by least squares, so only their rms error is bounded, with margin over what the
  // reference reaches on this data (the worst of 40 seeds: 0.11, 0.049, 0.030 and 0.026 of the rms for Q4_K, Q5_K,
  // Q6_K and Q8_K; Q8_K maps an outlier-stretched range of 256 values onto 127 levels).
  const ErrorBound bounds[] = {
      {TensorType::Q8_0, 32, 0.5 / 127 + 0.001, 0, 0},
      {TensorType::Q8_1, 32, 0.5 / 127 + 0.001, 0, 0},
      {TensorType::Q4_0, 32, 1.0 / 8 + 0.01, 0, 0},
      {TensorType::Q5_0, 32, 1.0 / 16 + 0.01, 0, 0},
      {TensorType::Q4_1, 32, 0.002, 0.5 / 15 + 0.01, 0},
      {TensorType::Q5_1, 32, 0.002, 0.5 / 31 + 0.01, 0},
      {TensorType::Q4_K, 256, 0.25, 0, 0.15},
      {TensorType::Q5_K, 256, 0.12, 0, 0.075},
      {TensorType::Q6_K, 256, 0.06, 0, 0.045},
      {TensorType::Q8_K, 256, 0.5 / 127 + 1e-6, 0, 0.04},
      {TensorType::F16, 1, 1.0 / 2048, 0, 0, 0x1p-25},
      {TensorType::BF16, 1, 1.0 / 256, 0, 0},
  };
  for (const auto& bound : bounds) {
    CAPTURE(sy::gguf::to_string(bound.type));
    const size_t n = 256 * 7;  // an odd number of super-blocks, and of 32-blocks
    const auto x = random_weights(rng, n);
    const auto y = dequantize(bound.type, quantize(bound.type, x), n);
    double square_error = 0, square_x = 0;
    for (size_t base = 0; base < n; base += bound.group) {
      double amax = 0, min = x[base], max = x[base];
      for (size_t i = base; i < base + bound.group; ++i) {
        amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
        min = std::min(min, static_cast<double>(x[i]));
        max = std::max(max, static_cast<double>(x[i]));
      }
      const double limit = bound.of_group_amax * amax + bound.of_group_range * (max - min) + bound.absolute;
      for (size_t i = base; i < base + bound.group; ++i) {
        const double error = std::fabs(static_cast<double>(y[i]) - x[i]);
        square_error += error * error;
        square_x += static_cast<double>(x[i]) * x[i];
        if (error > limit) {
          CAPTURE(i);
          CAPTURE(x[i]);
          CAPTURE(y[i]);
          REQUIRE(error <= limit);
        }
      }
    }
    if (bound.rms_of_rms > 0) CHECK(std::sqrt(square_error / square_x) <= bound.rms_of_rms);
  }
}

TEST_CASE("requantizing dequantized data reproduces the bytes for Q8_0, Q4_0, Q5_0, TQ1_0 and TQ2_0") {
  // These formats map the block's extreme to a fixed level with a scale that survives fp16, so decoded data
  // quantizes back to itself. (Q4_1/Q5_1 recompute (max - min) / levels with a rounding in between, and the
  // k-quants search scales: neither is a fixed point, and neither claims to be.)
  auto rng = sy::test::make_rng("quant requantize");
  for (TensorType type : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q5_0, TensorType::TQ1_0, TensorType::TQ2_0}) {
    CAPTURE(sy::gguf::to_string(type));
    const size_t n = 256 * 5;
    const auto first = quantize(type, random_weights(rng, n));
    const auto second = quantize(type, dequantize(type, first, n));
    CHECK(first == second);
  }
}

TEST_CASE("ternary data round-trips exactly through TQ1_0, TQ2_0 and I2_S") {
  auto rng = sy::test::make_rng("quant ternary");
  std::uniform_int_distribution<int> trit(-1, 1);
  const size_t n = 256 * 3;
  std::vector<float> x(n);
  for (size_t base = 0; base < n; base += 256) {
    const float scale = std::ldexp(1.0f, static_cast<int>(base / 256) - 3);  // exact in fp16
    for (size_t i = base; i < base + 256; ++i) x[i] = static_cast<float>(trit(rng)) * scale;
    x[base] = scale;  // every block reaches its scale
  }
  for (TensorType type : {TensorType::TQ1_0, TensorType::TQ2_0}) {
    CAPTURE(sy::gguf::to_string(type));
    const auto y = dequantize(type, quantize(type, x), n);
    for (size_t i = 0; i < n; ++i) REQUIRE(y[i] == x[i]);
  }
}

TEST_CASE("odd block counts, sub-ranges and misaligned buffers decode like whole aligned rows") {
  auto rng = sy::test::make_rng("quant alignment");
  for (TensorType type : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                          TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::TQ1_0,
                          TensorType::TQ2_0, TensorType::F16, TensorType::BF16, TensorType::Q8_K}) {
    CAPTURE(sy::gguf::to_string(type));
    const size_t n = 256 * 3;
    const auto x = random_weights(rng, n);
    const auto q = quantize(type, x);
    const auto whole = dequantize(type, q, n);

    // Quantizing into and decoding from an odd address gives the same bytes and floats.
    std::vector<std::byte> shifted(q.size() + 1);
    quantize_row(type, x.data(), shifted.data() + 1, static_cast<int64_t>(n));
    CHECK(std::equal(q.begin(), q.end(), shifted.begin() + 1));
    std::vector<float> from_shifted(n);
    dequantize_row(type, shifted.data() + 1, from_shifted.data(), static_cast<int64_t>(n));
    CHECK(std::memcmp(from_shifted.data(), whole.data(), n * sizeof(float)) == 0);

    // The last super-block alone, as a range of the whole tensor.
    std::vector<float> tail(256);
    dequantize_range(type, q, n, n - 256, tail, "tail");
    CHECK(std::memcmp(tail.data(), whole.data() + n - 256, 256 * sizeof(float)) == 0);
  }
}

TEST_CASE("unsupported types and malformed sizes throw errors that name the type") {
  float out[256];
  std::byte in[512] = {};
  try {
    dequantize_row(TensorType::IQ2_XXS, in, out, 256);
    FAIL("expected an exception");
  } catch (const sy::Error& e) {
    CHECK(e.code() == sy::ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("iq2_xxs") != std::string::npos);
  }
  CHECK_FALSE(can_dequantize(TensorType::IQ2_XXS));
  CHECK_FALSE(can_dequantize(TensorType::MXFP4));
  CHECK(can_dequantize(TensorType::I2_S));
  CHECK_FALSE(can_dequantize_row(TensorType::I2_S));
  CHECK_THROWS_AS(dequantize_row(TensorType::I2_S, in, out, 128), sy::Error);

  try {
    quantize_row(TensorType::Q4_K, out, in, 100);
    FAIL("expected an exception");
  } catch (const sy::Error& e) {
    CHECK(e.code() == sy::ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("q4_K") != std::string::npos);
  }
  try {
    quantize_row(TensorType::IQ4_NL, out, in, 32);
    FAIL("expected an exception");
  } catch (const sy::Error& e) {
    CHECK(e.code() == sy::ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("iq4_nl") != std::string::npos);
  }
  // A storage size that does not match the element count names the tensor.
  try {
    std::vector<float> values(64);
    dequantize_range(TensorType::Q8_0, std::span<const std::byte>(in, 60), 64, 0, values, "blk.0.attn_q.weight");
    FAIL("expected an exception");
  } catch (const sy::Error& e) {
    CHECK(e.code() == sy::ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("blk.0.attn_q.weight") != std::string::npos);
  }
}

// ---- Decoders against an element-by-element reading of each layout ----------------------------------------------

namespace {

// Random block bytes with a finite, moderate fp16 scale at each of the given offsets.
template <class Block>
std::vector<Block> random_blocks(std::mt19937_64& rng, size_t count, std::initializer_list<size_t> half_offsets) {
  std::vector<Block> blocks(count);
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> scale(0.0f, 0.05f);
  for (auto& block : blocks) {
    auto* bytes = reinterpret_cast<uint8_t*>(&block);
    for (size_t i = 0; i < sizeof(Block); ++i) bytes[i] = static_cast<uint8_t>(byte(rng));
    for (size_t offset : half_offsets) {
      const uint16_t half = fp32_to_fp16(scale(rng));
      std::memcpy(bytes + offset, &half, 2);
    }
  }
  return blocks;
}

template <class Block>
std::vector<float> decode_all(TensorType type, const std::vector<Block>& blocks, size_t block_elements) {
  std::vector<float> out(blocks.size() * block_elements);
  dequantize_row(type, blocks.data(), out.data(), static_cast<int64_t>(out.size()));
  return out;
}

// 2-bit code of element e of a 256-element Q2_K/Q3_K block: each 128 elements use 32 bytes of qs, bit pair
// (e % 128) / 32 of byte e % 32.
int two_bit_code(const uint8_t* qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

}  // namespace

TEST_CASE("decoders agree with an independent element-by-element reading of each layout") {
  auto rng = sy::test::make_rng("quant layouts");
  constexpr size_t kBlocks = 9;

  SUBCASE("Q2_K") {
    const auto blocks = random_blocks<BlockQ2_K>(rng, kBlocks, {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)});
    const auto got = decode_all(TensorType::Q2_K, blocks, 256);
    for (size_t b = 0; b < kBlocks; ++b) {
      const auto& block = blocks[b];
      for (int e = 0; e < 256; ++e) {
        const uint8_t packed = block.scales[e / 16];
        const float expected = fp16_to_fp32(block.d) * static_cast<float>(packed & 0xF) *
                                   static_cast<float>(two_bit_code(block.qs, e)) -
                               fp16_to_fp32(block.dmin) * static_cast<float>(packed >> 4);
        REQUIRE(got[b * 256 + e] == expected);
      }
    }
  }
  SUBCASE("Q3_K") {
    const auto blocks = random_blocks<BlockQ3_K>(rng, kBlocks, {offsetof(BlockQ3_K, d)});
    const auto got = decode_all(TensorType::Q3_K, blocks, 256);
    for (size_t b = 0; b < kBlocks; ++b) {
      const auto& block = blocks[b];
      // The 6-bit scales as ggml documents them: 12 bytes read as three little-endian words, low nibbles from
      // words 0 and 1, high bit pairs from word 2.
      uint32_t words[3];
      std::memcpy(words, block.scales, 12);
      int scales[16];
      for (int s = 0; s < 16; ++s) {
        const uint32_t low = (words[(s % 8) / 4] >> (8 * (s % 4) + 4 * (s / 8))) & 0xF;
        const uint32_t high = (words[2] >> (8 * (s % 4) + 2 * (s / 4))) & 3;
        scales[s] = static_cast<int>(low | (high << 4)) - 32;
      }
      for (int e = 0; e < 256; ++e) {
        const bool high_bit = (block.hmask[e % 32] >> (e / 32)) & 1;
        const int level = two_bit_code(block.qs, e) - (high_bit ? 0 : 4);
        const float expected = fp16_to_fp32(block.d) * static_cast<float>(scales[e / 16]) * static_cast<float>(level);
        REQUIRE(got[b * 256 + e] == expected);
      }
    }
  }
  SUBCASE("Q5_K and Q4_K") {
    const auto blocks = random_blocks<BlockQ5_K>(rng, kBlocks, {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)});
    const auto got5 = decode_all(TensorType::Q5_K, blocks, 256);
    std::vector<BlockQ4_K> blocks4(kBlocks);
    for (size_t b = 0; b < kBlocks; ++b) {  // the same scales and low nibbles without the fifth bit
      blocks4[b].d = blocks[b].d;
      blocks4[b].dmin = blocks[b].dmin;
      std::memcpy(blocks4[b].scales, blocks[b].scales, 12);
      std::memcpy(blocks4[b].qs, blocks[b].qs, 128);
    }
    const auto got4 = decode_all(TensorType::Q4_K, blocks4, 256);
    for (size_t b = 0; b < kBlocks; ++b) {
      const auto& block = blocks[b];
      for (int e = 0; e < 256; ++e) {
        const int sub = e / 32;  // eight sub-blocks; scale/min j: 6 bits spread as documented in ggml-common.h
        const int scale = sub < 4 ? block.scales[sub] & 63
                                  : (block.scales[sub + 4] & 0xF) | ((block.scales[sub - 4] >> 6) << 4);
        const int min = sub < 4 ? block.scales[sub + 4] & 63
                                : (block.scales[sub + 4] >> 4) | ((block.scales[sub] >> 6) << 4);
        const int low = (block.qs[32 * (e / 64) + e % 32] >> (4 * (sub % 2))) & 0xF;
        const int fifth = (block.qh[e % 32] >> sub) & 1;
        const float d = fp16_to_fp32(block.d) * static_cast<float>(scale);
        const float m = fp16_to_fp32(block.dmin) * static_cast<float>(min);
        REQUIRE(got5[b * 256 + e] == d * static_cast<float>(low + 16 * fifth) - m);
        REQUIRE(got4[b * 256 + e] == d * static_cast<float>(low) - m);
      }
    }
  }
  SUBCASE("IQ4_NL") {
    const auto blocks = random_blocks<BlockIQ4_NL>(rng, kBlocks, {offsetof(BlockIQ4_NL, d)});
    const auto got = decode_all(TensorType::IQ4_NL, blocks, 32);
    const int codebook[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    for (size_t b = 0; b < kBlocks; ++b) {
      for (int e = 0; e < 32; ++e) {
        const int nibble = (blocks[b].qs[e % 16] >> (4 * (e / 16))) & 0xF;
        REQUIRE(got[b * 32 + e] == fp16_to_fp32(blocks[b].d) * static_cast<float>(codebook[nibble]));
      }
    }
  }
  SUBCASE("TQ1_0 on every byte value") {
    // Each byte b stores five trits as the base-3 number floor(b * 243 / 256), most significant trit first.
    auto blocks = random_blocks<BlockTQ1_0>(rng, 6, {offsetof(BlockTQ1_0, d)});
    for (size_t i = 0; i < 256; ++i) {
      auto& block = blocks[i / 52];
      const size_t slot = i % 52;
      if (slot < 48) block.qs[slot] = static_cast<uint8_t>(i);
      else block.qh[slot - 48] = static_cast<uint8_t>(i);
    }
    const auto got = decode_all(TensorType::TQ1_0, blocks, 256);
    auto trit = [](uint8_t byte, int n) {
      int number = byte * 243 / 256;
      for (int k = n; k < 4; ++k) number /= 3;
      return number % 3;
    };
    for (size_t b = 0; b < blocks.size(); ++b) {
      const auto& block = blocks[b];
      const float d = fp16_to_fp32(block.d);
      for (int e = 0; e < 256; ++e) {
        int level;
        if (e < 160) level = trit(block.qs[e % 32], e / 32);
        else if (e < 240) level = trit(block.qs[32 + (e - 160) % 16], (e - 160) / 16);
        else level = trit(block.qh[(e - 240) % 4], (e - 240) / 4);
        REQUIRE(got[b * 256 + e] == static_cast<float>(level - 1) * d);
      }
    }
  }
  SUBCASE("Q4_1 and Q5_1") {
    const auto blocks = random_blocks<BlockQ5_1>(rng, kBlocks, {offsetof(BlockQ5_1, d), offsetof(BlockQ5_1, m)});
    const auto got = decode_all(TensorType::Q5_1, blocks, 32);
    std::vector<BlockQ4_1> blocks4(kBlocks);
    for (size_t b = 0; b < kBlocks; ++b) {
      blocks4[b].d = blocks[b].d;
      blocks4[b].m = blocks[b].m;
      std::memcpy(blocks4[b].qs, blocks[b].qs, 16);
    }
    const auto got4 = decode_all(TensorType::Q4_1, blocks4, 32);
    for (size_t b = 0; b < kBlocks; ++b) {
      const auto& block = blocks[b];
      uint32_t high_bits = 0;
      for (int byte = 0; byte < 4; ++byte) high_bits |= static_cast<uint32_t>(block.qh[byte]) << (8 * byte);
      for (int e = 0; e < 32; ++e) {
        const int low = (block.qs[e % 16] >> (4 * (e / 16))) & 0xF;
        const int level = low | (static_cast<int>((high_bits >> e) & 1) << 4);
        REQUIRE(got[b * 32 + e] == static_cast<float>(level) * fp16_to_fp32(block.d) + fp16_to_fp32(block.m));
        REQUIRE(got4[b * 32 + e] == static_cast<float>(low) * fp16_to_fp32(block.d) + fp16_to_fp32(block.m));
      }
    }
  }
}

TEST_CASE("Q8_K activations: bsums are the sums of each 16 quants and d * q reproduces the input closely") {
  auto rng = sy::test::make_rng("quant q8_k");
  const auto x = random_weights(rng, 512);
  std::vector<BlockQ8_K> blocks(2);
  quantize_row_q8_k(x.data(), blocks.data(), 512);
  for (const auto& block : blocks) {
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += block.qs[16 * g + l];
      CHECK(block.bsums[g] == sum);
    }
    const int extreme =
        *std::max_element(block.qs, block.qs + 256, [](int8_t a, int8_t b) { return std::abs(a) < std::abs(b); });
    CHECK(std::abs(extreme) == 127);  // the largest magnitude maps to 127, never -128
  }
  std::vector<float> zeros(256, 0.0f);
  quantize_row_q8_k(zeros.data(), blocks.data(), 256);
  CHECK(blocks[0].d == 0.0f);
  CHECK(std::all_of(blocks[0].bsums, blocks[0].bsums + 16, [](int16_t s) { return s == 0; }));
}
