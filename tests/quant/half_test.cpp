// The 16-bit float conversions in core/quant/blocks.h: every block scale passes through them, so they must be
// IEEE-exact. fp16 -> fp32 is checked on all 65536 inputs, fp32 -> fp16 on every rounding boundary against the
// compiler's own _Float16 conversion (an independent implementation), bf16 on its ties and NaNs.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>

#include "core/quant/blocks.h"
#include "tests/test_support.h"

using namespace sy::quant;

TEST_CASE("fp16 -> fp32 is exact for all 65536 halves, and fp32 -> fp16 maps each back to itself") {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const auto half = static_cast<uint16_t>(bits);
    const float value = fp16_to_fp32(half);
    const uint32_t exponent = (bits >> 10) & 0x1f;
    const uint32_t mantissa = bits & 0x3ff;
    const double sign = (bits & 0x8000) ? -1.0 : 1.0;
    CAPTURE(bits);
    if (exponent == 0x1f) {
      CHECK((mantissa == 0 ? std::isinf(value) : std::isnan(value)));
      CHECK(std::signbit(value) == (sign < 0));
      // NaN stays NaN with its payload, made quiet (bit 9), as F16C does (tests/kernels/half_test.cpp).
      if (mantissa != 0) CHECK(fp32_to_fp16(value) == (half | 0x200u));
      continue;
    }
    // value = (implicit one + mantissa / 1024) * 2^(exponent - 15), subnormals without the implicit one.
    const double expected = exponent == 0 ? sign * std::ldexp(mantissa, -24)
                                          : sign * std::ldexp(1024.0 + mantissa, static_cast<int>(exponent) - 25);
    CHECK(static_cast<double>(value) == expected);
    CHECK(std::signbit(value) == (sign < 0));  // -0 keeps its sign
    CHECK(fp32_to_fp16(value) == half);
  }
}

#if defined(__FLT16_MAX__)
TEST_CASE("fp32 -> fp16 rounds to nearest even exactly like the compiler's _Float16, at every boundary") {
  auto check_against_compiler = [](float value) {
    const auto expected = std::bit_cast<uint16_t>(static_cast<_Float16>(value));
    CAPTURE(value);
    CAPTURE(std::bit_cast<uint32_t>(value));
    REQUIRE(fp32_to_fp16(value) == expected);
  };
  // Each midpoint between neighbouring halves, and one float-ulp either side: ties, and just-not-ties, both signs.
  for (uint32_t bits = 0; bits < 0x7c00; ++bits) {
    const double low = fp16_to_fp32(static_cast<uint16_t>(bits));
    const double high = bits + 1 == 0x7c00 ? 65536.0 : fp16_to_fp32(static_cast<uint16_t>(bits + 1));
    const auto midpoint = static_cast<float>((low + high) / 2);  // exact in float
    for (float value : {midpoint, std::nextafter(midpoint, 0.f), std::nextafter(midpoint, 1e9f)}) {
      check_against_compiler(value);
      check_against_compiler(-value);
    }
  }
  // A sweep through all float exponents, including float subnormals and the range that overflows to infinity.
  for (uint64_t bits = 0; bits <= 0xffffffffull; bits += 40009) {
    check_against_compiler(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  }
  check_against_compiler(INFINITY);
  check_against_compiler(-INFINITY);
}
#else
TEST_CASE("fp32 -> fp16 rounds to nearest even" * doctest::skip()) {
  MESSAGE("skipped: this compiler has no _Float16 to compare with");
}
#endif

TEST_CASE("bf16 conversions: exact widening, round to nearest even, quiet NaN") {
  CHECK(bf16_to_fp32(0x3f80) == 1.0f);
  CHECK(fp32_to_bf16(1.0f) == 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)) == 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: goes up to the even one.
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)) == 0x3f82);
  CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f808001u)) == 0x3f81);  // past the tie
  const uint16_t nan = fp32_to_bf16(std::bit_cast<float>(0x7f800001u));  // a signalling NaN whose payload is low
  CHECK((nan & 0x7f80u) == 0x7f80u);
  CHECK((nan & 0x0040u) != 0);  // quiet bit set, so it cannot turn into infinity
  CHECK(fp32_to_bf16(3.4e38f) == 0x7f80);  // rounds up past the largest bf16 to infinity
  // Widening then narrowing is the identity on every non-NaN bf16.
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    if ((bits & 0x7f80u) == 0x7f80u && (bits & 0x7fu) != 0) continue;
    CAPTURE(bits);
    REQUIRE(fp32_to_bf16(bf16_to_fp32(static_cast<uint16_t>(bits))) == bits);
  }
}
