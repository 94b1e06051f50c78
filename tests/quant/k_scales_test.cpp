// Pins core/quant/k_scales.h: scales_mins_k4, the word-parallel decode of Q4_K/Q5_K's packed 6-bit scales and mins
// that the CPU plugin's kernels use, gives byte for byte what scale_min_k4 (the reference's decode) gives.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>

#include "core/quant/k_scales.h"
#include "tests/test_support.h"

namespace {

void check_agrees(const uint8_t (&packed)[12]) {
  uint64_t scales = 0, mins = 0;
  sy::quant::scales_mins_k4(packed, &scales, &mins);
  for (int j = 0; j < 8; ++j) {
    uint8_t scale = 0, min = 0;
    sy::quant::scale_min_k4(j, packed, &scale, &min);
    CAPTURE(j);
    CHECK(static_cast<uint8_t>(scales >> (8 * j)) == scale);
    CHECK(static_cast<uint8_t>(mins >> (8 * j)) == min);
  }
}

}  // namespace

TEST_CASE("k_scales: scales_mins_k4 agrees with scale_min_k4") {
  // Every value of every byte on its own (the others zero, then all ones), so each bit's destination is pinned.
  for (int position = 0; position < 12; ++position) {
    for (int value = 0; value < 256; ++value) {
      for (const uint8_t rest : {uint8_t{0x00}, uint8_t{0xFF}}) {
        uint8_t packed[12];
        for (auto& byte : packed) byte = rest;
        packed[position] = static_cast<uint8_t>(value);
        check_agrees(packed);
      }
    }
  }
  // And random blocks.
  auto rng = sy::test::make_rng("k_scales");
  for (int i = 0; i < 10000; ++i) {
    uint8_t packed[12];
    for (auto& byte : packed) byte = static_cast<uint8_t>(rng());
    check_agrees(packed);
  }
}
