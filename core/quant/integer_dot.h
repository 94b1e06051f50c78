// A quantized weight row times a quantized activation row, with the reference implementation's arithmetic: each
// block pair's products summed exactly in integers, then one fused multiply-add per block, in block order, of that
// sum and the product of the two blocks' scales. That is what the reference's x86 kernels for the integer weight
// types (its AMX and AVX-512 VNNI paths for Q4_0, Q8_0, Q4_K and Q6_K) compute for every output, and it decides
// the last bit of each output, which decides how the next activation rounds to 8 bits: in small or random models
// one rounding flip moves every later logit by 1e-2 or more, so matching the reference means matching this order.
//
// Written once for every caller: the CPU plugin's scalar level calls the block functions below; its SIMD levels
// compute the same exact integer sums with vector instructions and pass them to accumulate_block (scaled_sums.h),
// so every level gives the same bits. Plain C++ callable from device code, like blocks.h.
#pragma once

#include <cstdint>

#include "blocks.h"
#include "scaled_sums.h"

namespace sy::quant {

// ---- Activation blocks, rounded as the reference rounds them ------------------------------------------------------

// Round to nearest, ties to even, through the float adder (1.5 * 2^23 puts the integer in the low mantissa bits), as
// the reference does; valid for |value| < 2^22 and defined for every input (NaN gives some code, never a trap).
SY_HOST_DEVICE inline int nearest_int(float value) {
  const float shifted = value + 12582912.f;
  return static_cast<int>(float_bits(shifted) & 0x007fffffu) - 0x00400000;
}

// Q8_0 for Q4_0 and Q8_0 weights (quantize.h, quantize_row_q8_0_activations): multiplier 127 / max|x|, ties to even.
SY_HOST_DEVICE inline void quantize_block_q8_0_activation(const float* x, BlockQ8_0& y) {
  float amax = 0.0f;
  for (int j = 0; j < kBlockElements; ++j) {
    // fmaxf's result (a NaN never wins), without the libm call that fmaxf is on x86-64 without -ffast-math
    const float magnitude = fabsf(x[j]);
    amax = magnitude > amax ? magnitude : amax;
  }
  y.d = fp32_to_fp16(amax / 127.f);
  const float id = amax != 0.0f ? 127.f / amax : 0.0f;
  for (int j = 0; j < kBlockElements; ++j) y.qs[j] = static_cast<int8_t>(nearest_int(x[j] * id));
}

// Q8_K for the k-quants: the scale from the element of largest magnitude with its sign, -127 / max, ties to even,
// codes capped at 127; bsums the sums of each 16 codes.
SY_HOST_DEVICE inline void quantize_block_q8_k(const float* x, BlockQ8_K& y) {
  float max = 0.0f, amax = 0.0f;
  for (int j = 0; j < kSuperBlockElements; ++j) {
    if (fabsf(x[j]) > amax) {
      amax = fabsf(x[j]);
      max = x[j];
    }
  }
  if (amax == 0.0f) {  // the reference leaves bsums unwritten here; zero them so that nothing reads old memory
    y.d = 0.0f;
    for (int j = 0; j < kSuperBlockElements; ++j) y.qs[j] = 0;
    for (int g = 0; g < kSuperBlockElements / 16; ++g) y.bsums[g] = 0;
    return;
  }
  const float iscale = -127.f / max;
  for (int j = 0; j < kSuperBlockElements; ++j) {
    const int v = nearest_int(iscale * x[j]);
    y.qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
  }
  for (int g = 0; g < kSuperBlockElements / 16; ++g) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += y.qs[16 * g + l];
    y.bsums[g] = static_cast<int16_t>(sum);
  }
  y.d = 1 / iscale;
}

// ---- Exact integer sums of one weight block against one activation block -----------------------------------------

// Q4_0 codes are the value plus 8.
SY_HOST_DEVICE inline int32_t block_sum_q4_0_q8_0(const BlockQ4_0& w, const BlockQ8_0& a) {
  int32_t sum = 0;
  for (int j = 0; j < kBlockElements / 2; ++j) {
    sum += ((w.qs[j] & 0x0F) - 8) * a.qs[j];
    sum += ((w.qs[j] >> 4) - 8) * a.qs[j + kBlockElements / 2];
  }
  return sum;
}

SY_HOST_DEVICE inline int32_t block_sum_q8_0_q8_0(const BlockQ8_0& w, const BlockQ8_0& a) {
  int32_t sum = 0;
  for (int j = 0; j < kBlockElements; ++j) sum += w.qs[j] * a.qs[j];
  return sum;
}

// TQ2_0 keeps lanes: lanes[l] is the exact sum over the elements e with (e mod 32) / 4 == l of code * x, minus the
// sum of x over elements 32l..32l+31 (codes are the value plus 1). The lanes add up to the block's dot product.
SY_HOST_DEVICE inline void block_lanes_tq2_0_q8_k(const BlockTQ2_0& w, const BlockQ8_K& a, int32_t* lanes) {
  for (int lane = 0; lane < kDotLanes; ++lane) lanes[lane] = -(a.bsums[2 * lane] + a.bsums[2 * lane + 1]);
  for (int e = 0; e < kSuperBlockElements; ++e) {
    const int code = (w.qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
    lanes[(e % 32) / 4] += code * a.qs[e];
  }
}

// Sum over the sixteen groups of 16 of scale * sum((code - 32) * x): the value of Q6_K element e is
// d * scales[e / 16] * (code - 32).
SY_HOST_DEVICE inline int32_t block_sum_q6_k_q8_k(const BlockQ6_K& w, const BlockQ8_K& a) {
  int32_t sum = 0;
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = w.ql + 64 * half;
    const uint8_t* qh = w.qh + 32 * half;
    const int8_t* x = a.qs + 128 * half;
    const int8_t* scales = w.scales + 8 * half;
    for (int l = 0; l < 32; ++l) {
      const int group = l / 16;
      const int c0 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
      const int c1 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int c2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int c3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      sum += scales[group + 0] * c0 * x[l] + scales[group + 2] * c1 * x[l + 32] + scales[group + 4] * c2 * x[l + 64] +
             scales[group + 6] * c3 * x[l + 96];
    }
  }
  return sum;
}

// Q4_K: element e of sub-block s is d * scale_s * code - dmin * min_s. Two sums: *scaled = sum_s scale_s *
// sum(code * x), *mins = sum_s min_s * sum(x over the sub-block) (the activation's bsums, two per sub-block).
SY_HOST_DEVICE inline void block_sums_q4_k_q8_k(const BlockQ4_K& w, const BlockQ8_K& a, int32_t* scaled,
                                                int32_t* mins) {
  int32_t s = 0, m = 0;
  for (int sub = 0; sub < 8; ++sub) {
    uint8_t scale, min;
    scale_min_k4(sub, w.scales, &scale, &min);
    const uint8_t* q = w.qs + 32 * (sub / 2);
    const int8_t* x = a.qs + 32 * sub;
    int32_t products = 0;
    for (int l = 0; l < 32; ++l) products += ((sub % 2 == 0) ? (q[l] & 0x0F) : (q[l] >> 4)) * x[l];
    s += scale * products;
    m += min * (a.bsums[2 * sub] + a.bsums[2 * sub + 1]);
  }
  *scaled = s;
  *mins = m;
}

// ---- Whole rows: `blocks` block pairs, accumulated in block order --------------------------------------------------

// The activation block's scale: fp16 in Q8_0 blocks, float in Q8_K ones.
SY_HOST_DEVICE inline float block_scale(const BlockQ8_0& a) { return fp16_to_fp32(a.d); }
SY_HOST_DEVICE inline float block_scale(const BlockQ8_K& a) { return a.d; }

// Q4_0, Q8_0, Q4_K and Q6_K: one exact sum per block, fused in block order (the reference's AMX and AVX-512 VNNI
// kernels for all four, its repacked Q4_0 and its Q4_K and Q6_K kernels elsewhere). Q4_K, with its mins, below.
template <class WeightBlock, class ActivationBlock, int32_t (*block_sum)(const WeightBlock&, const ActivationBlock&)>
SY_HOST_DEVICE inline float row_dot_block_sums(const WeightBlock* w, const ActivationBlock* a, int64_t blocks) {
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b)
    acc = accumulate_block(acc, block_sum(w[b], a[b]), fp16_to_fp32(w[b].d), block_scale(a[b]));
  return acc;
}

SY_HOST_DEVICE inline float row_dot_q4_0_q8_0(const BlockQ4_0* w, const BlockQ8_0* a, int64_t blocks) {
  return row_dot_block_sums<BlockQ4_0, BlockQ8_0, block_sum_q4_0_q8_0>(w, a, blocks);
}
SY_HOST_DEVICE inline float row_dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* a, int64_t blocks) {
  return row_dot_block_sums<BlockQ8_0, BlockQ8_0, block_sum_q8_0_q8_0>(w, a, blocks);
}
SY_HOST_DEVICE inline float row_dot_q6_k_q8_k(const BlockQ6_K* w, const BlockQ8_K* a, int64_t blocks) {
  return row_dot_block_sums<BlockQ6_K, BlockQ8_K, block_sum_q6_k_q8_k>(w, a, blocks);
}

SY_HOST_DEVICE inline float row_dot_q4_k_q8_k(const BlockQ4_K* w, const BlockQ8_K* a, int64_t blocks) {
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    int32_t scaled, mins;
    block_sums_q4_k_q8_k(w[b], a[b], &scaled, &mins);
    acc = accumulate_block_with_mins(acc, scaled, mins, fp16_to_fp32(w[b].d), fp16_to_fp32(w[b].dmin), a[b].d);
  }
  return acc;
}

// TQ2_0 keeps the eight lanes of the reference's AVX2 dot product (it has no other x86 kernel for the type): eight
// lane accumulators, each fusing its block's lane sum times d_w * d_x in block order, added as the reference adds
// them at the end.
template <class WeightBlock, class ActivationBlock,
          void (*block_lanes)(const WeightBlock&, const ActivationBlock&, int32_t*)>
SY_HOST_DEVICE inline float row_dot_lanes(const WeightBlock* w, const ActivationBlock* a, int64_t blocks) {
  float acc[kDotLanes] = {};
  for (int64_t b = 0; b < blocks; ++b) {
    int32_t lanes[kDotLanes];
    block_lanes(w[b], a[b], lanes);
    const float scale = fp16_to_fp32(w[b].d) * block_scale(a[b]);
    for (int lane = 0; lane < kDotLanes; ++lane) acc[lane] = fmaf(static_cast<float>(lanes[lane]), scale, acc[lane]);
  }
  return add_lanes(acc);
}

SY_HOST_DEVICE inline float row_dot_tq2_0_q8_k(const BlockTQ2_0* w, const BlockQ8_K* a, int64_t blocks) {
  return row_dot_lanes<BlockTQ2_0, BlockQ8_K, block_lanes_tq2_0_q8_k>(w, a, blocks);
}

}  // namespace sy::quant
