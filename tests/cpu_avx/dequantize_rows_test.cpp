// Pins plugins/cpu_avx/dequantize_rows.h: at every ISA level this CPU runs (scalar, avx2, avx512), every type the
// reference decodes row by row comes out bit for bit as core/quant's scalar decoder writes it (memcmp), NaN payloads
// included. Rows are random bytes (so any fp16 scale bits, with NaN, infinity, subnormal and signed-zero patterns
// forced into a share of the blocks), and blocks from the real quantizers where core/quant has one. Lengths: one
// block, odd block counts, odd element counts for the 16-bit floats (vector tails); sources at odd addresses; the
// output poisoned before the call and guarded past its end.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/gguf/tensor_type.h"
#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "plugins/cpu_avx/cpu_features.h"
#include "plugins/cpu_avx/dequantize_rows.h"
#include "tests/test_support.h"

namespace {

using sy::cpu::IsaLevel;
using sy::gguf::TensorType;
namespace quant = sy::quant;

// Every type quant::dequantize_row decodes.
constexpr TensorType kTypes[] = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,   TensorType::Q4_1,  TensorType::Q5_0,
    TensorType::Q5_1, TensorType::Q8_0, TensorType::Q8_1, TensorType::Q2_K,   TensorType::Q3_K,  TensorType::Q4_K,
    TensorType::Q5_K, TensorType::Q6_K, TensorType::Q8_K, TensorType::IQ4_NL, TensorType::TQ1_0, TensorType::TQ2_0,
};

// The types with AVX2 and AVX-512 decoders (the rest fall back to the reference at every level).
constexpr TensorType kSimdTypes[] = {TensorType::F16,  TensorType::BF16,   TensorType::Q4_0, TensorType::Q4_1,
                                     TensorType::Q5_0, TensorType::Q5_1,   TensorType::Q8_0, TensorType::IQ4_NL,
                                     TensorType::Q4_K, TensorType::Q6_K,   TensorType::TQ2_0};

std::vector<IsaLevel> runnable_levels() {
  std::vector<IsaLevel> levels;
  const IsaLevel best = sy::cpu::best_isa_level(sy::cpu::detect_cpu_features());
  for (const IsaLevel level : {IsaLevel::scalar, IsaLevel::avx2, IsaLevel::avx512})
    if (level <= best) levels.push_back(level);
  return levels;
}

// Byte offsets of each block's fp16 scales (for F16/BF16, whose blocks are one element: the element itself).
std::vector<size_t> half_offsets(TensorType type) {
  switch (type) {
    case TensorType::F16:
    case TensorType::BF16: return {0};
    case TensorType::Q4_0: return {offsetof(quant::BlockQ4_0, d)};
    case TensorType::Q4_1: return {offsetof(quant::BlockQ4_1, d), offsetof(quant::BlockQ4_1, m)};
    case TensorType::Q5_0: return {offsetof(quant::BlockQ5_0, d)};
    case TensorType::Q5_1: return {offsetof(quant::BlockQ5_1, d), offsetof(quant::BlockQ5_1, m)};
    case TensorType::Q8_0: return {offsetof(quant::BlockQ8_0, d)};
    case TensorType::Q8_1: return {offsetof(quant::BlockQ8_1, d)};
    case TensorType::Q2_K: return {offsetof(quant::BlockQ2_K, d), offsetof(quant::BlockQ2_K, dmin)};
    case TensorType::Q3_K: return {offsetof(quant::BlockQ3_K, d)};
    case TensorType::Q4_K: return {offsetof(quant::BlockQ4_K, d), offsetof(quant::BlockQ4_K, dmin)};
    case TensorType::Q5_K: return {offsetof(quant::BlockQ5_K, d), offsetof(quant::BlockQ5_K, dmin)};
    case TensorType::Q6_K: return {offsetof(quant::BlockQ6_K, d)};
    case TensorType::IQ4_NL: return {offsetof(quant::BlockIQ4_NL, d)};
    case TensorType::TQ1_0: return {offsetof(quant::BlockTQ1_0, d)};
    case TensorType::TQ2_0: return {offsetof(quant::BlockTQ2_0, d)};
    default: return {};  // F32 and Q8_K's float scale: random bits cover their NaNs and subnormals
  }
}

// fp16 (and, read as bf16, bfloat16) bit patterns where conversions and products go wrong first: infinities, quiet
// and signalling NaNs with payloads and either sign, subnormals, signed zeros, the largest finite values.
constexpr uint16_t kSpecialHalves[] = {0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFC01, 0x7D55, 0xFEAA, 0x7FFF,
                                       0xFFFF, 0x0001, 0x8001, 0x03FF, 0x83FF, 0x0200, 0x0000, 0x8000, 0x7BFF,
                                       0xFBFF, 0x0400, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0x0080, 0x007F};

// A row of `n` elements: random bytes, or the quantizer's output for random floats; then, in about one block in
// four, each fp16 scale replaced by a special pattern.
std::vector<uint8_t> make_row(TensorType type, int64_t n, bool quantized, std::mt19937_64& rng) {
  const auto& traits = sy::gguf::tensor_type_traits(type);
  std::vector<uint8_t> row(*sy::gguf::row_storage_bytes(type, static_cast<uint64_t>(n)));
  if (quantized) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> values(static_cast<size_t>(n));
    for (auto& v : values) v = normal(rng) * (rng() % 11 == 0 ? 50.0f : 1.0f);
    quant::quantize_row(type, values.data(), row.data(), n);
    return row;
  }
  for (auto& byte : row) byte = static_cast<uint8_t>(rng());
  const auto offsets = half_offsets(type);
  for (uint64_t block = 0; block < static_cast<uint64_t>(n) / traits.block_size; ++block) {
    for (const size_t offset : offsets) {
      if (rng() % 4 != 0) continue;
      const uint16_t bits = kSpecialHalves[rng() % std::size(kSpecialHalves)];
      std::memcpy(row.data() + block * traits.bytes_per_block + offset, &bits, sizeof bits);
    }
  }
  return row;
}

// The one place where bytes may differ. Q4_1 and Q5_1 compute q * d + m; when both the product and m are NaN, IEEE
// 754 leaves open which payload the sum carries, x86 returns the first operand, and which operand comes first is the
// compiler's choice: core/quant's own decoder returns the product's NaN through its aligned path and m's through
// its path for misaligned blocks in the same build. So there, and only there, either NaN is right.
bool either_nan_of_a_sum(TensorType type, const uint8_t* row, int64_t i, uint32_t got_bits, uint32_t want_bits) {
  if (type != TensorType::Q4_1 && type != TensorType::Q5_1) return false;
  const size_t block_bytes = sy::gguf::tensor_type_traits(type).bytes_per_block;
  const uint8_t* block = row + static_cast<size_t>(i / 32) * block_bytes;
  uint16_t d_bits, m_bits;
  std::memcpy(&d_bits, block + half_offsets(type)[0], 2);
  std::memcpy(&m_bits, block + half_offsets(type)[1], 2);
  const uint32_t m_nan = quant::float_bits(quant::fp16_to_fp32(m_bits));
  const uint32_t d_nan = quant::float_bits(quant::fp16_to_fp32(d_bits));
  constexpr uint32_t kDefaultNan = 0xFFC00000u;  // x86's NaN for 0 * infinity
  const auto is_nan = [](uint32_t bits) { return (bits & 0x7fffffffu) > 0x7f800000u; };
  const auto product_nan = [&](uint32_t bits) { return is_nan(bits) && (bits == d_nan || bits == kDefaultNan); };
  // Only m's NaN or the product's (d's own NaN, or 0 * infinity) qualify, and only when m is NaN.
  return is_nan(m_nan) && (got_bits == m_nan || product_nan(got_bits)) && (want_bits == m_nan || product_nan(want_bits));
}

// Decodes `row` at `level` from an odd address into a poisoned, guarded buffer and compares with the reference.
// Returns whether it matched.
bool check_row(IsaLevel level, TensorType type, const std::vector<uint8_t>& row, int64_t n) {
  std::vector<float> want(static_cast<size_t>(n));
  quant::dequantize_row(type, row.data(), want.data(), n);

  // One byte off alignment for the source, one float off for the output. The poison is a NaN whose low 13 bits are
  // set, which no fp16 or bf16 scale can produce; a guard of 64 floats after the row must stay poisoned too.
  constexpr uint32_t kPoison = 0xFFA5A5A5u;
  constexpr int64_t kGuard = 64;
  std::vector<uint8_t> source(row.size() + 1);
  std::memcpy(source.data() + 1, row.data(), row.size());
  std::vector<uint32_t> out(static_cast<size_t>(n + 1 + kGuard), kPoison);
  auto* got = reinterpret_cast<float*>(out.data() + 1);
  sy::cpu::dequantize_row(level, type, source.data() + 1, got, n);

  CAPTURE(std::string(sy::cpu::to_string(level)));
  CAPTURE(std::string(sy::gguf::to_string(type)));
  CAPTURE(n);
  int64_t first_difference = -1;
  if (std::memcmp(got, want.data(), want.size() * sizeof(float)) != 0) {
    for (int64_t i = 0; i < n && first_difference < 0; ++i) {
      uint32_t got_bits, want_bits;
      std::memcpy(&got_bits, got + i, 4);
      std::memcpy(&want_bits, want.data() + i, 4);
      if (got_bits != want_bits && !either_nan_of_a_sum(type, row.data(), i, got_bits, want_bits)) {
        first_difference = i;
        CAPTURE(i);
        CAPTURE(got_bits);
        CAPTURE(want_bits);
        FAIL_CHECK("first differing element");
      }
    }
  }
  const bool equal = first_difference < 0;
  CHECK(equal);
  bool guard_intact = out[0] == kPoison;
  for (int64_t i = n + 1; i < n + 1 + kGuard; ++i) guard_intact = guard_intact && out[static_cast<size_t>(i)] == kPoison;
  CHECK(guard_intact);
  return equal && guard_intact;
}

}  // namespace

TEST_CASE("dequantize_row: every type at every ISA level writes the reference's bytes") {
  auto rng = sy::test::make_rng("cpu_avx dequantize_row");
  INFO("replay with SWITCHYARD_TEST_SEED=" << sy::test::test_seed());
  const auto levels = runnable_levels();
  for (const TensorType type : kTypes) {
    const auto& traits = sy::gguf::tensor_type_traits(type);
    // One block, odd block counts (3, 7, 13), and a long row; elements past any vector width for the 1-element types.
    std::vector<int64_t> blocks = {1, 3, 7, 13, 64};
    if (traits.block_size == 1) blocks = {1, 7, 8, 15, 16, 17, 31, 33, 67, 256, 1000};
    for (const int64_t count : blocks) {
      const int64_t n = count * traits.block_size;
      for (const bool quantized : {false, true}) {
        if (quantized && !quant::can_quantize(type)) continue;
        for (int draw = 0; draw < 4; ++draw) {
          const auto row = make_row(type, n, quantized, rng);
          for (const IsaLevel level : levels) check_row(level, type, row, n);
        }
      }
    }
  }
}

TEST_CASE("dequantize_row: every fp16 scale pattern, each in every block of a row") {
  // All 65536 scale bits in turn for the decoders with fp16 scales, all other bytes random: the conversion and the
  // products with NaN, infinity and subnormal scales match the reference for each pattern, not just for a sample.
  auto rng = sy::test::make_rng("cpu_avx dequantize_row scales");
  INFO("replay with SWITCHYARD_TEST_SEED=" << sy::test::test_seed());
  const auto levels = runnable_levels();
  for (const TensorType type : kSimdTypes) {
    const auto& traits = sy::gguf::tensor_type_traits(type);
    const int64_t n = traits.block_size == 1 ? 4096 : 64 * static_cast<int64_t>(traits.block_size);
    const auto offsets = half_offsets(type);
    const uint64_t blocks = static_cast<uint64_t>(n) / traits.block_size;
    bool all_equal = true;  // stop a type at its first bad row: one report is enough
    for (uint32_t first = 0; first < 65536 && all_equal; first += static_cast<uint32_t>(blocks)) {
      std::vector<uint8_t> row = make_row(type, n, false, rng);
      for (uint64_t block = 0; block < blocks; ++block) {
        for (size_t k = 0; k < offsets.size(); ++k) {
          // The second scale (m, dmin) walks the patterns backwards, so both NaN at once happens too.
          const auto bits = static_cast<uint16_t>(k == 0 ? first + block : 65535 - first - block);
          std::memcpy(row.data() + block * traits.bytes_per_block + offsets[k], &bits, sizeof bits);
        }
      }
      for (const IsaLevel level : levels) all_equal = check_row(level, type, row, n) && all_equal;
    }
  }
}

TEST_CASE("dequantize_level: the SIMD types run at the requested level, the others fall back to the reference") {
  for (const IsaLevel level : {IsaLevel::scalar, IsaLevel::avx2, IsaLevel::avx512}) {
    for (const TensorType type : kTypes) {
      const bool simd = std::find(std::begin(kSimdTypes), std::end(kSimdTypes), type) != std::end(kSimdTypes);
      CAPTURE(std::string(sy::gguf::to_string(type)));
      CHECK(sy::cpu::dequantize_level(level, type) == (simd ? level : IsaLevel::scalar));
    }
  }
}

TEST_CASE("dequantize_row: a partial block or a type without a row decoder throws like the reference") {
  std::vector<uint8_t> row(64);
  std::vector<float> out(64);
  for (const IsaLevel level : runnable_levels()) {
    try {
      sy::cpu::dequantize_row(level, TensorType::Q4_0, row.data(), out.data(), 31);
      FAIL("a partial Q4_0 block was accepted");
    } catch (const sy::Error& error) {
      CHECK(error.code() == sy::ErrorCode::invalid_argument);
    }
    try {
      sy::cpu::dequantize_row(level, TensorType::I2_S, row.data(), out.data(), 128);
      FAIL("an I2_S row was accepted");
    } catch (const sy::Error& error) {
      CHECK(error.code() == sy::ErrorCode::unsupported);
    }
  }
}
