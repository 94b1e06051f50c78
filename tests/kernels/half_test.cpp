// core/kernels/half.h is the one definition of the 16-bit float conversions (core/quant names the same functions,
// and the GPU kernels compile them as device code). Here it is pinned bit for bit, NaNs included, against x86's
// F16C instructions, the hardware the CPU kernels use and the definition ggml's CPU reference follows.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "core/kernels/half.h"
#include "core/quant/blocks.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace {

uint32_t bits_of(float f) { return sy::kernels::float_bits(f); }
float float_of(uint32_t b) { return sy::kernels::float_from_bits(b); }

#if defined(__x86_64__) && defined(__GNUC__)
#define SY_TEST_HAS_F16C_CHECK 1
__attribute__((target("f16c"))) float hardware_fp16_to_fp32(uint16_t half) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(half)));
}
__attribute__((target("f16c"))) uint16_t hardware_fp32_to_fp16(float value) {
  return static_cast<uint16_t>(_mm_cvtsi128_si32(_mm_cvtps_ph(_mm_set_ss(value), 0)));  // 0: to nearest even
}
// CPUID leaf 1, ECX bit 29 (clang's __builtin_cpu_supports does not know "f16c").
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
}
#endif

}  // namespace

// A second definition would reappear as a second function; the using-declarations in blocks.h keep it one.
// (Through constants, since GCC flags a direct comparison of the two names as a self-comparison, which it is.)
constexpr float (*kQuantFp16ToFp32)(uint16_t) = &sy::quant::fp16_to_fp32;
constexpr uint16_t (*kQuantFp32ToFp16)(float) = &sy::quant::fp32_to_fp16;
constexpr float (*kQuantBf16ToFp32)(uint16_t) = &sy::quant::bf16_to_fp32;
constexpr uint16_t (*kQuantFp32ToBf16)(float) = &sy::quant::fp32_to_bf16;
static_assert(kQuantFp16ToFp32 == &sy::kernels::fp16_to_fp32);
static_assert(kQuantFp32ToFp16 == &sy::kernels::fp32_to_fp16);
static_assert(kQuantBf16ToFp32 == &sy::kernels::bf16_to_fp32);
static_assert(kQuantFp32ToBf16 == &sy::kernels::fp32_to_bf16);

#if defined(SY_TEST_HAS_F16C_CHECK)
TEST_CASE("fp16 -> fp32 equals F16C's vcvtph2ps for all 65536 halves, NaN payloads and quieting included") {
  if (!cpu_has_f16c()) {
    MESSAGE("skipped: this CPU has no F16C");
    return;
  }
  for (uint32_t h = 0; h < 65536; ++h) {
    CAPTURE(h);
    REQUIRE(bits_of(sy::kernels::fp16_to_fp32(static_cast<uint16_t>(h))) ==
            bits_of(hardware_fp16_to_fp32(static_cast<uint16_t>(h))));
  }
}

TEST_CASE("fp32 -> fp16 equals F16C's vcvtps2ph over a sweep of floats, NaNs included") {
  if (!cpu_has_f16c()) {
    MESSAGE("skipped: this CPU has no F16C");
    return;
  }
  // A stride of 4099 (prime) visits every exponent, both signs and all NaN classes with varied low bits.
  for (uint64_t b = 0; b <= 0xffffffffull; b += 4099) {
    const float f = float_of(static_cast<uint32_t>(b));
    CAPTURE(b);
    REQUIRE(sy::kernels::fp32_to_fp16(f) == hardware_fp32_to_fp16(f));
  }
  for (const uint32_t b : {0x7f800001u, 0x7fc00000u, 0xffa00000u, 0x7f802000u, 0x7fbfffffu, 0x7f800000u})
    CHECK(sy::kernels::fp32_to_fp16(float_of(b)) == hardware_fp32_to_fp16(float_of(b)));
}
#endif

TEST_CASE("fp32 -> fp16 at the edges: largest half, overflow, subnormal ties, NaN payload") {
  CHECK(sy::kernels::fp32_to_fp16(65504.0f) == 0x7bff);
  CHECK(sy::kernels::fp32_to_fp16(65519.0f) == 0x7bff);  // just below the rounding boundary
  CHECK(sy::kernels::fp32_to_fp16(65520.0f) == 0x7c00);  // the boundary rounds to infinity
  CHECK(sy::kernels::fp32_to_fp16(5.9604645e-8f) == 0x0001);      // the smallest subnormal
  CHECK(sy::kernels::fp32_to_fp16(float_of(0x33000000u)) == 0);   // exactly half of it: tie to even (zero)
  CHECK(sy::kernels::fp32_to_fp16(float_of(0x33000001u)) == 1);   // just past the tie
  CHECK(sy::kernels::fp32_to_fp16(1.00048828125f) == 0x3c00);     // tie between 1 and 1 + 2^-10: stays even
  CHECK(sy::kernels::fp32_to_fp16(1.00146484375f) == 0x3c02);     // tie above an odd mantissa: rounds up
  CHECK(sy::kernels::fp32_to_fp16(-0.0f) == 0x8000);
  CHECK(sy::kernels::fp32_to_fp16(INFINITY) == 0x7c00);
  // A signalling NaN whose payload sits in the top bits keeps them and comes out quiet.
  CHECK(sy::kernels::fp32_to_fp16(float_of(0xff802000u)) == 0xfe01);
  // A half NaN widens to a quiet float NaN carrying the same payload; infinity stays infinity.
  CHECK(bits_of(sy::kernels::fp16_to_fp32(0x7c01)) == 0x7fc02000u);
  CHECK(bits_of(sy::kernels::fp16_to_fp32(0xfc00)) == 0xff800000u);
}

TEST_CASE("bf16 rounds to nearest even and keeps NaN") {
  CHECK(sy::kernels::fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(sy::kernels::fp32_to_bf16(float_of(0x3f808000)) == 0x3f80);  // tie, even stays
  CHECK(sy::kernels::fp32_to_bf16(float_of(0x3f818000)) == 0x3f82);  // tie, odd rounds up
  CHECK(sy::kernels::fp32_to_bf16(float_of(0x3f808001)) == 0x3f81);
  CHECK(std::isnan(sy::kernels::bf16_to_fp32(sy::kernels::fp32_to_bf16(NAN))));
  CHECK(sy::kernels::bf16_to_fp32(0xc000) == -2.0f);
}
