// The reference quantizers. Every float operation follows ggml's reference quantizers in order and precision
// (no importance matrix), because a file is only reproducible if each rounding step is: a single reordered sum
// changes which scale the search picks and with it every byte of the block. The target compiles with
// -ffp-contract=off for the same reason. Algorithms: ggml's ggml-quants.c; the code and names here are ours.
#include "core/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/quant/integer_dot.h"  // nearest_int and the activation blocks

namespace sy::quant {
namespace {

using gguf::TensorType;

// Below this the k-quant searches treat a group as all zero.
constexpr float kGroupMaxEpsilon = 1e-15f;


// Symmetric quantization of n values to integers in [-nmax, nmax - 1] (stored biased by nmax in `levels`),
// weighted by x^2, trying 18 scales around nmax / max|x| and keeping the one with the best weighted fit.
// Returns the scale. This is ggml's make_qx_quants with rmse_type 1 and no importance weights, the only form the
// non-imatrix reference quantizers (Q6_K here) use.
float symmetric_quants_weighted(int n, int nmax, const float* x, int8_t* levels) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEpsilon) {
    for (int i = 0; i < n; ++i) levels[i] = 0;
    return 0.f;
  }
  auto clamp_level = [nmax](int l) { return std::max(-nmax, std::min(nmax - 1, l)); };
  float iscale = static_cast<float>(-nmax) / max;
  float sum_lx = 0;
  float sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_level(nearest_int(iscale * x[i]));
    levels[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * static_cast<float>(l);
    sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    sum_lx = 0;
    sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_level(nearest_int(iscale * x[i]));
      const float w = x[i] * x[i];
      sum_lx += w * x[i] * static_cast<float>(l);
      sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) levels[i] = static_cast<int8_t>(nmax + clamp_level(nearest_int(iscale * x[i])));
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

// Asymmetric quantization x ~ scale * L + min with L in [0, nmax] and min <= 0: starts from the min/max fit, then
// tries nstep + 1 scales (rmin + rdelta * step + nmax) / (max - min), solving the weighted least-squares scale and
// min for each rounding and keeping the lowest weighted squared error. Note that a better fit updates `min`, which
// the following steps then use: that is the reference's behaviour and the bytes depend on it. Returns the scale
// and stores -min in `negated_min`. This is ggml's make_qkx2_quants with use_mad false.
float asymmetric_quants(int n, int nmax, const float* x, const float* weights, uint8_t* levels, float* negated_min,
                        uint8_t* scratch_levels, float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) levels[i] = 0;
    *negated_min = -min;
    return 0.f;
  }
  auto clamp_level = [nmax](int l) { return std::max(0, std::min(nmax, l)); };
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    levels[i] = static_cast<uint8_t>(clamp_level(nearest_int(iscale * (x[i] - min))));
    const float diff = scale * static_cast<float>(levels[i]) + min - x[i];
    best_error += weights[i] * (diff * diff);
  }
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_level(nearest_int(iscale * (x[i] - min)));
      scratch_levels[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * static_cast<float>(l);
      sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
      sum_xl += w * static_cast<float>(l) * x[i];
    }
    const float determinant = sum_w * sum_l2 - sum_l * sum_l;
    if (determinant > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / determinant;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / determinant;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * static_cast<float>(scratch_levels[i]) + this_min - x[i];
        error += weights[i] * (diff * diff);
      }
      if (error < best_error) {
        for (int i = 0; i < n; ++i) levels[i] = scratch_levels[i];
        best_error = error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *negated_min = -min;
  return scale;
}

// The largest-magnitude element, keeping its sign; the first one wins a tie, as in the reference.
float signed_absolute_max(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// The smallest and largest element of x[0..n), for the asymmetric types (Q4_1, Q5_1).
void min_max(const float* x, int n, float* min, float* max) {
  *min = x[0];
  *max = x[0];
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

void require_whole_blocks(int64_t n, int block_size, const char* type_name) {
  if (n < 0 || n % block_size != 0) {
    throw Error(ErrorCode::invalid_argument, "cannot quantize " + std::to_string(n) + " elements to " + type_name +
                                                 ": rows must hold whole blocks of " + std::to_string(block_size) +
                                                 " elements; pick a type whose block size divides the row");
  }
}

// Q4_K and Q5_K share everything but nmax and the search grid: per 32 elements an asymmetric fit weighted by
// rms + |x|, then the eight scales and eight mins quantized to 6 bits against the block's largest, and finally
// every element re-quantized against the 6-bit scales actually stored.
template <class Block>
void quantize_k_scales_and_mins(const float* x, Block* block, uint8_t* levels, int nmax, float rmin, float rdelta,
                                int nstep) {
  float scales[8];
  float mins[8];
  float weights[32];
  uint8_t scratch_levels[32];
  float max_scale = 0;  // scales are positive because the min is subtracted
  float max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* group = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += group[l] * group[l];
    const float rms = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = rms + std::fabs(group[l]);
    scales[j] = asymmetric_quants(32, nmax, group, weights, levels + 32 * j, &mins[j], scratch_levels, rmin, rdelta,
                                  nstep);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }

  const float inverse_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inverse_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < 8; ++j) {
    const auto scale_code = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inverse_scale * scales[j])));
    const auto min_code = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inverse_min * mins[j])));
    if (j < 4) {
      block->scales[j] = scale_code;
      block->scales[j + 4] = min_code;
    } else {
      block->scales[j + 4] = static_cast<uint8_t>((scale_code & 0xF) | ((min_code & 0xF) << 4));
      block->scales[j - 4] = static_cast<uint8_t>(block->scales[j - 4] | ((scale_code >> 4) << 6));
      block->scales[j] = static_cast<uint8_t>(block->scales[j] | ((min_code >> 4) << 6));
    }
  }
  block->d = fp32_to_fp16(max_scale / 63.f);
  block->dmin = fp32_to_fp16(max_min / 63.f);

  for (int j = 0; j < 8; ++j) {
    float d, offset;
    k4_scale_offset(j, block->scales, fp16_to_fp32(block->d), fp16_to_fp32(block->dmin), &d, &offset);
    if (d == 0) continue;  // keep the search's levels: they decode to the offset alone either way
    for (int l = 0; l < 32; ++l) {
      levels[32 * j + l] = static_cast<uint8_t>(std::max(0, std::min(nmax, nearest_int((x[32 * j + l] + offset) / d))));
    }
  }
}

}  // namespace

// ---- 32-element types ------------------------------------------------------------------------------------------

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  require_whole_blocks(n, kBlockElements, "q4_0");
  for (int64_t i = 0; i < n / kBlockElements; ++i, x += kBlockElements) {
    // Mapping the signed extreme to -8 uses the full range [-8, 7] on the side where it matters most.
    const float d = signed_absolute_max(x, kBlockElements) / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kBlockElements / 2; ++j) {
      // Truncating x + 8.5 rounds half up; the reference converts through int8_t, so do we.
      const auto low = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const auto high = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(low | (high << 4));
    }
  }
}

void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
  require_whole_blocks(n, kBlockElements, "q4_1");
  for (int64_t i = 0; i < n / kBlockElements; ++i, x += kBlockElements) {
    float min, max;
    min_max(x, kBlockElements, &min, &max);
    const float d = (max - min) / 15;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    for (int j = 0; j < kBlockElements / 2; ++j) {
      const auto low = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - min) * id + 0.5f)));
      const auto high = std::min(15, static_cast<int>(static_cast<int8_t>((x[j + 16] - min) * id + 0.5f)));
      y[i].qs[j] = static_cast<uint8_t>(low | (high << 4));
    }
  }
}

void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
  require_whole_blocks(n, kBlockElements, "q5_0");
  for (int64_t i = 0; i < n / kBlockElements; ++i, x += kBlockElements) {
    const float d = signed_absolute_max(x, kBlockElements) / -16;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    uint32_t high_bits = 0;
    for (int j = 0; j < kBlockElements / 2; ++j) {
      const auto low = static_cast<uint32_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f))));
      const auto high =
          static_cast<uint32_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 16.5f))));
      y[i].qs[j] = static_cast<uint8_t>((low & 0x0F) | ((high & 0x0F) << 4));
      high_bits |= ((low & 0x10u) >> 4) << j;
      high_bits |= ((high & 0x10u) >> 4) << (j + 16);
    }
    for (int b = 0; b < 4; ++b) y[i].qh[b] = static_cast<uint8_t>(high_bits >> (8 * b));  // little-endian word
  }
}

void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n) {
  require_whole_blocks(n, kBlockElements, "q5_1");
  for (int64_t i = 0; i < n / kBlockElements; ++i, x += kBlockElements) {
    float min, max;
    min_max(x, kBlockElements, &min, &max);
    const float d = (max - min) / 31;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    uint32_t high_bits = 0;
    for (int j = 0; j < kBlockElements / 2; ++j) {
      // No clamp here in the reference: (x - min) * id + 0.5 stays below 32 for finite input.
      const auto low = static_cast<uint32_t>(static_cast<uint8_t>((x[j] - min) * id + 0.5f));
      const auto high = static_cast<uint32_t>(static_cast<uint8_t>((x[j + 16] - min) * id + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>((low & 0x0F) | ((high & 0x0F) << 4));
      high_bits |= ((low & 0x10u) >> 4) << j;
      high_bits |= ((high & 0x10u) >> 4) << (j + 16);
    }
    for (int b = 0; b < 4; ++b) y[i].qh[b] = static_cast<uint8_t>(high_bits >> (8 * b));
  }
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  require_whole_blocks(n, kBlockElements, "q8_0");
  for (int64_t i = 0; i < n / kBlockElements; ++i, x += kBlockElements) {
    float amax = 0.0f;
    for (int j = 0; j < kBlockElements; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    // roundf (half away from zero), not nearest_int: the reference differs between families and ties matter.
    for (int j = 0; j < kBlockElements; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

void quantize_row_q8_0_activations(const float* x, BlockQ8_0* y, int64_t n) {
  require_whole_blocks(n, kBlockElements, "q8_0");
  for (int64_t i = 0; i < n / kBlockElements; ++i) quantize_block_q8_0_activation(x + i * kBlockElements, y[i]);
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  require_whole_blocks(n, kBlockElements, "q8_1");
  for (int64_t i = 0; i < n / kBlockElements; ++i, x += kBlockElements) {
    float amax = 0.0f;
    for (int j = 0; j < kBlockElements; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < kBlockElements; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

// ---- 256-element k-quants --------------------------------------------------------------------------------------

void quantize_row_q4_k(const float* x, BlockQ4_K* y, int64_t n) {
  require_whole_blocks(n, kSuperBlockElements, "q4_K");
  uint8_t levels[kSuperBlockElements];
  for (int64_t i = 0; i < n / kSuperBlockElements; ++i, x += kSuperBlockElements) {
    std::memset(y[i].scales, 0, sizeof y[i].scales);
    quantize_k_scales_and_mins(x, &y[i], levels, 15, -1.f, 0.1f, 20);
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kSuperBlockElements; j += 64, q += 32) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(levels[j + l] | (levels[j + l + 32] << 4));
    }
  }
}

void quantize_row_q5_k(const float* x, BlockQ5_K* y, int64_t n) {
  require_whole_blocks(n, kSuperBlockElements, "q5_K");
  uint8_t levels[kSuperBlockElements];
  for (int64_t i = 0; i < n / kSuperBlockElements; ++i, x += kSuperBlockElements) {
    std::memset(y[i].scales, 0, sizeof y[i].scales);
    quantize_k_scales_and_mins(x, &y[i], levels, 31, -0.5f, 0.1f, 15);
    std::memset(y[i].qh, 0, sizeof y[i].qh);
    uint8_t* ql = y[i].qs;
    uint8_t mask_low = 1, mask_high = 2;
    for (int base = 0; base < kSuperBlockElements; base += 64, ql += 32) {
      for (int j = 0; j < 32; ++j) {
        int low = levels[base + j];
        if (low > 15) {
          low -= 16;
          y[i].qh[j] |= mask_low;
        }
        int high = levels[base + j + 32];
        if (high > 15) {
          high -= 16;
          y[i].qh[j] |= mask_high;
        }
        ql[j] = static_cast<uint8_t>(low | (high << 4));
      }
      mask_low = static_cast<uint8_t>(mask_low << 2);
      mask_high = static_cast<uint8_t>(mask_high << 2);
    }
  }
}

void quantize_row_q6_k(const float* x, BlockQ6_K* y, int64_t n) {
  require_whole_blocks(n, kSuperBlockElements, "q6_K");
  int8_t levels[kSuperBlockElements];
  float scales[kSuperBlockElements / 16];
  for (int64_t i = 0; i < n / kSuperBlockElements; ++i, x += kSuperBlockElements) {
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int group = 0; group < kSuperBlockElements / 16; ++group) {
      scales[group] = symmetric_quants_weighted(16, 32, x + 16 * group, levels + 16 * group);
      if (std::fabs(scales[group]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[group]);
        max_scale = scales[group];
      }
    }
    if (max_abs_scale < kGroupMaxEpsilon) {
      std::memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    // The group scales become signed 8-bit multiples of d; the extreme maps to -128 like Q4_0's -8.
    const float iscale = -128.f / max_scale;
    y[i].d = fp32_to_fp16(1 / iscale);
    for (int group = 0; group < kSuperBlockElements / 16; ++group) {
      y[i].scales[group] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[group])));
    }
    for (int group = 0; group < kSuperBlockElements / 16; ++group) {
      const float d = fp16_to_fp32(y[i].d) * static_cast<float>(y[i].scales[group]);
      if (d == 0) continue;
      for (int l = 0; l < 16; ++l) {
        const int level = std::max(-32, std::min(31, nearest_int(x[16 * group + l] / d)));
        levels[16 * group + l] = static_cast<int8_t>(level + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int base = 0; base < kSuperBlockElements; base += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = levels[base + l];
        const int q2 = levels[base + l + 32];
        const int q3 = levels[base + l + 64];
        const int q4 = levels[base + l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n) {
  require_whole_blocks(n, kSuperBlockElements, "q8_K");
  for (int64_t i = 0; i < n / kSuperBlockElements; ++i) quantize_block_q8_k(x + i * kSuperBlockElements, y[i]);
}

// ---- Ternary types ----------------------------------------------------------------------------------------------

namespace {

// -1, 0, +1 (relative to the block's max |x|) as the trit 0, 1, 2; lround rounds half away from zero.
int ternary_digit(float value, float inverse_scale) { return static_cast<int>(std::lround(value * inverse_scale)) + 1; }

// Stores a base-3 number of five trits as ceil(t * 256 / 243): a fixed-point fraction the decoder can take apart
// with multiplications only (see tq1_0_trit in blocks.h).
uint8_t pack_trits(int trits) { return static_cast<uint8_t>((trits * 256 + (243 - 1)) / 243); }

float absolute_max(const float* x, int n) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

}  // namespace

void quantize_row_tq1_0(const float* x, BlockTQ1_0* y, int64_t n) {
  require_whole_blocks(n, kSuperBlockElements, "tq1_0");
  for (int64_t i = 0; i < n / kSuperBlockElements; ++i) {
    const float d = absolute_max(x, kSuperBlockElements);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    // Elements 0..159: byte m holds elements m, m+32, ..., m+128, the first as the most significant trit.
    for (int m = 0; m < 32; ++m) {
      int trits = 0;
      for (int t = 0; t < 5; ++t) trits = trits * 3 + ternary_digit(x[m + 32 * t], id);
      y[i].qs[m] = pack_trits(trits);
    }
    x += 160;
    // Elements 160..239: the same along 16 bytes.
    for (int m = 0; m < 16; ++m) {
      int trits = 0;
      for (int t = 0; t < 5; ++t) trits = trits * 3 + ternary_digit(x[m + 16 * t], id);
      y[i].qs[32 + m] = pack_trits(trits);
    }
    x += 80;
    // Elements 240..255: four trits per byte, shifted up one trit so the decoder treats all bytes alike.
    for (int j = 0; j < 4; ++j) {
      int trits = 0;
      for (int t = 0; t < 4; ++t) trits = trits * 3 + ternary_digit(x[j + 4 * t], id);
      y[i].qh[j] = pack_trits(trits * 3);
    }
    x += 16;
  }
}

void quantize_row_tq2_0(const float* x, BlockTQ2_0* y, int64_t n) {
  require_whole_blocks(n, kSuperBlockElements, "tq2_0");
  for (int64_t i = 0; i < n / kSuperBlockElements; ++i) {
    const float d = absolute_max(x, kSuperBlockElements);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int base = 0; base < kSuperBlockElements / 4; base += 32, x += 128) {
      for (int m = 0; m < 32; ++m) {
        int packed = 0;
        for (int t = 0; t < 4; ++t) packed |= (ternary_digit(x[m + 32 * t], id) & 3) << (2 * t);
        y[i].qs[base + m] = static_cast<uint8_t>(packed);
      }
    }
  }
}

// ---- Dispatch ---------------------------------------------------------------------------------------------------

bool can_quantize(TensorType type) {
  switch (type) {
    case TensorType::F32: case TensorType::F16: case TensorType::BF16:
    case TensorType::Q4_0: case TensorType::Q4_1: case TensorType::Q5_0: case TensorType::Q5_1:
    case TensorType::Q8_0: case TensorType::Q8_1:
    case TensorType::Q4_K: case TensorType::Q5_K: case TensorType::Q6_K: case TensorType::Q8_K:
    case TensorType::TQ1_0: case TensorType::TQ2_0:
      return true;
    default:
      return false;
  }
}

namespace {

// Quantizes into aligned blocks, then copies out, so `dst` may have any alignment (a Writer producer's buffer
// offset, a packed test buffer). Rows are quantized in pieces to bound the scratch memory.
template <class Block, void (*quantize)(const float*, Block*, int64_t)>
void quantize_unaligned(const float* src, std::byte* dst, int64_t n, int block_elements) {
  if (reinterpret_cast<uintptr_t>(dst) % alignof(Block) == 0) {
    quantize(src, reinterpret_cast<Block*>(dst), n);
    return;
  }
  constexpr int64_t kBlocksPerPiece = 64;
  Block piece[kBlocksPerPiece];
  const int64_t n_blocks = n / block_elements;
  for (int64_t first = 0; first < n_blocks; first += kBlocksPerPiece) {
    const int64_t count = std::min(kBlocksPerPiece, n_blocks - first);
    quantize(src + first * block_elements, piece, count * block_elements);
    std::memcpy(dst + first * static_cast<int64_t>(sizeof(Block)), piece, static_cast<size_t>(count) * sizeof(Block));
  }
}

template <uint16_t (*convert)(float)>
void quantize_16_bit(const float* src, std::byte* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t bits = convert(src[i]);
    std::memcpy(dst + 2 * i, &bits, sizeof bits);
  }
}

}  // namespace

void quantize_row(TensorType type, const float* src, void* dst, int64_t n) {
  if (!can_quantize(type)) {
    throw Error(ErrorCode::unsupported,
                "cannot quantize to type " + std::string(gguf::to_string(type)) +
                    ": the reference quantizer writes f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q4_K, "
                    "q5_K, q6_K, q8_K, tq1_0 and tq2_0 (and i2_s per tensor); choose one of these");
  }
  const auto block = static_cast<int>(gguf::tensor_type_traits(type).block_size);
  require_whole_blocks(n, block, std::string(gguf::to_string(type)).c_str());
  auto* out = static_cast<std::byte*>(dst);
  switch (type) {
    case TensorType::F32: std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float)); break;
    case TensorType::F16: quantize_16_bit<fp32_to_fp16>(src, out, n); break;
    case TensorType::BF16: quantize_16_bit<fp32_to_bf16>(src, out, n); break;
    case TensorType::Q4_0: quantize_unaligned<BlockQ4_0, quantize_row_q4_0>(src, out, n, block); break;
    case TensorType::Q4_1: quantize_unaligned<BlockQ4_1, quantize_row_q4_1>(src, out, n, block); break;
    case TensorType::Q5_0: quantize_unaligned<BlockQ5_0, quantize_row_q5_0>(src, out, n, block); break;
    case TensorType::Q5_1: quantize_unaligned<BlockQ5_1, quantize_row_q5_1>(src, out, n, block); break;
    case TensorType::Q8_0: quantize_unaligned<BlockQ8_0, quantize_row_q8_0>(src, out, n, block); break;
    case TensorType::Q8_1: quantize_unaligned<BlockQ8_1, quantize_row_q8_1>(src, out, n, block); break;
    case TensorType::Q4_K: quantize_unaligned<BlockQ4_K, quantize_row_q4_k>(src, out, n, block); break;
    case TensorType::Q5_K: quantize_unaligned<BlockQ5_K, quantize_row_q5_k>(src, out, n, block); break;
    case TensorType::Q6_K: quantize_unaligned<BlockQ6_K, quantize_row_q6_k>(src, out, n, block); break;
    case TensorType::Q8_K: quantize_unaligned<BlockQ8_K, quantize_row_q8_k>(src, out, n, block); break;
    case TensorType::TQ1_0: quantize_unaligned<BlockTQ1_0, quantize_row_tq1_0>(src, out, n, block); break;
    case TensorType::TQ2_0: quantize_unaligned<BlockTQ2_0, quantize_row_tq2_0>(src, out, n, block); break;
    default: break;  // excluded by can_quantize
  }
}

void quantize_i2_s(std::span<const float> src, std::span<std::byte> dst) {
  const uint64_t n = src.size();
  if (n % kI2SBlockElements != 0 || dst.size() != n / 4 + kI2STailBytes) {
    throw Error(ErrorCode::invalid_argument,
                "cannot quantize " + std::to_string(n) + " elements to i2_s into " + std::to_string(dst.size()) +
                    " bytes: i2_s needs a multiple of 128 elements and exactly n/4 + 32 bytes (" +
                    std::to_string(n / 4 + kI2STailBytes) + " here)");
  }
  std::memset(dst.data() + n / 4, 0, kI2STailBytes);
  // One pass, a byte at a time with its four elements (j, j + 32, j + 64, j + 96 of a block): branch-free selects
  // the compiler vectorises, where an element at a time with a read-modify-write of its byte ran at 85 M/s.
  float scale = 0;
  auto* packed = reinterpret_cast<uint8_t*>(dst.data());
  constexpr int kGroup = kI2SBlockElements / 4;
  for (uint64_t block = 0; block < n / kI2SBlockElements; ++block) {
    const float* x = src.data() + block * kI2SBlockElements;
    uint8_t* out = packed + block * kGroup;
    for (int j = 0; j < kGroup; ++j) {
      unsigned byte = 0;
      for (int m = 0; m < 4; ++m) {
        const float value = x[kGroup * m + j];
        scale = std::max(scale, std::fabs(value));
        const unsigned code = std::fabs(value) < 1e-6f ? 1u : (value > 0 ? 2u : 0u);
        byte |= code << (6 - 2 * m);
      }
      out[j] = static_cast<uint8_t>(byte);
    }
  }
  std::memcpy(dst.data() + n / 4, &scale, sizeof scale);
}

}  // namespace sy::quant
