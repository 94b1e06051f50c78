// core/kernels/half.h must agree bit for bit with core/quant's conversions (the SDK ships half.h, the core uses
// blocks.h; two copies of one piece of math are only acceptable while a test pins them equal).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <initializer_list>

#include "core/kernels/half.h"
#include "core/quant/blocks.h"

namespace {
uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
float float_of(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
}  // namespace

TEST_CASE("fp16 -> fp32 equals core/quant's for all 65536 halves") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float ours = sy::kernels::fp16_to_fp32(static_cast<uint16_t>(h));
    const float theirs = sy::quant::fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(theirs)) {
      REQUIRE(std::isnan(ours));
    } else {
      REQUIRE(bits_of(ours) == bits_of(theirs));
    }
  }
}

TEST_CASE("fp32 -> fp16 equals core/quant's over a sweep of floats, including ties and subnormals") {
  // Every 4099th bit pattern covers all exponents; the halfway patterns check ties-to-even.
  for (uint64_t b = 0; b <= 0xffffffffull; b += 4099) {
    const float f = float_of(static_cast<uint32_t>(b));
    if (std::isnan(f)) continue;  // NaN payloads may differ; both give a NaN
    REQUIRE(sy::kernels::fp32_to_fp16(f) == sy::quant::fp32_to_fp16(f));
  }
  for (const float f : {65504.0f, 65519.0f, 65520.0f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 1.0009766f,
                        1.00048828125f, 1.00146484375f, -0.0f, INFINITY})
    CHECK(sy::kernels::fp32_to_fp16(f) == sy::quant::fp32_to_fp16(f));
  CHECK(std::isnan(sy::kernels::fp16_to_fp32(sy::kernels::fp32_to_fp16(NAN))));
}

TEST_CASE("bf16 rounds to nearest even and keeps NaN") {
  CHECK(sy::kernels::fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(sy::kernels::fp32_to_bf16(float_of(0x3f808000)) == 0x3f80);  // tie, even stays
  CHECK(sy::kernels::fp32_to_bf16(float_of(0x3f818000)) == 0x3f82);  // tie, odd rounds up
  CHECK(sy::kernels::fp32_to_bf16(float_of(0x3f808001)) == 0x3f81);
  CHECK(std::isnan(sy::kernels::bf16_to_fp32(sy::kernels::fp32_to_bf16(NAN))));
  CHECK(sy::kernels::bf16_to_fp32(0xc000) == -2.0f);
}
