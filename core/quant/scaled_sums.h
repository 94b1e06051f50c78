// The floating-point step of integer_dot.h: an exact integer block sum scaled and added to a row's accumulator,
// as the reference does it (one fused multiply-add, the two scales multiplied first). In a header of its own with no
// dependency and internal linkage, like k_scales.h, because the CPU plugin's ISA units (compiled with their own
// -m flags, see k_scales.h) call it too: every level then rounds each step identically.
#pragma once

#include <cmath>
#include <cstdint>

#include "k_scales.h"  // SY_HOST_DEVICE, from the one other header ISA units may include

namespace sy::quant {

// acc + sum * (w_scale * a_scale), rounded once (fmaf is exact before its one rounding, with or without FMA
// hardware, so scalar and vector code agree).
SY_HOST_DEVICE static inline float accumulate_block(float acc, int32_t sum, float w_scale, float a_scale) {
  return fmaf(static_cast<float>(sum), w_scale * a_scale, acc);
}

// The k-quants with a min (Q4_K, Q5_K): the scaled part first, then the min part subtracted, each fused.
SY_HOST_DEVICE static inline float accumulate_block_with_mins(float acc, int32_t scaled, int32_t mins, float d,
                                                             float dmin, float a_scale) {
  acc = fmaf(static_cast<float>(scaled), d * a_scale, acc);
  return fmaf(-static_cast<float>(mins), dmin * a_scale, acc);
}

// Lane accumulators of the reference's 256-bit kernels, added as its horizontal sum does: lanes i and i + 4, then
// those pairs i and i + 2, then the last two.
constexpr int kDotLanes = 8;
SY_HOST_DEVICE static inline float add_lanes(const float* l) {
  return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

}  // namespace sy::quant
