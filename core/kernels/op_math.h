// The per-element math of the ops that every backend computes the same way: written once, marked SY_HOST_DEVICE,
// and used by the scalar reference (reference_ops.h), the CPU plugin and the CUDA/HIP kernels. Installed with the
// SDK beside reference_ops.h.
#pragma once

#include <cmath>
#include <cstdint>

#include "half.h"  // SY_HOST_DEVICE

namespace sy::kernels {

// Per-step values (SY_OP_FLAG_STEP_VALUES) as a kernel that reads them on the device uses them: clamped into the
// op's legal range, since a kernel cannot refuse (a host-side reader refuses instead, apply_step_values).
SY_HOST_DEVICE inline int64_t clamp_step_first_position(int64_t first_position, int64_t n_tokens, int64_t kv_capacity) {
  return first_position < 0 ? 0 : first_position > kv_capacity - n_tokens ? kv_capacity - n_tokens : first_position;
}
SY_HOST_DEVICE inline int64_t clamp_step_n_kv(int64_t n_kv, int64_t n_tokens, int64_t kv_capacity) {
  return n_kv < n_tokens ? n_tokens : n_kv > kv_capacity ? kv_capacity : n_kv;
}

// cos and sin of the rotation of pair k (k < n_rot / 2) at `position`. The angle is position * freq_base^(-2k/n_rot)
// * freq_scale, rounded as the reference implementation rounds it: in float, the power built by k successive
// multiplications by freq_base^(-2/n_rot), so that the rotated q and k match it to the last bit.
SY_HOST_DEVICE inline void rope_cos_sin(int32_t position, float freq_base, float freq_scale, int64_t n_rot, int64_t k,
                                        float& cos_theta, float& sin_theta) {
  const float theta_scale = powf(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(position);
  for (int64_t j = 0; j < k; ++j) theta *= theta_scale;
  theta *= freq_scale;
  cos_theta = cosf(theta);
  sin_theta = sinf(theta);
}

// rope_cos_sin for every pair of a head at once (the same values, in one pass).
SY_HOST_DEVICE inline void rope_cos_sin_all(int32_t position, float freq_base, float freq_scale, int64_t n_rot,
                                            float* cos_theta, float* sin_theta) {
  const float theta_scale = powf(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(position);
  for (int64_t k = 0; k < n_rot / 2; ++k) {
    const float t = theta * freq_scale;
    cos_theta[k] = cosf(t);
    sin_theta[k] = sinf(t);
    theta *= theta_scale;
  }
}

// Rope scaling (SY_OP_FLAG_ROPE_SCALING, plugin.h): YaRN's blend of interpolated and extrapolated angles and
// llama3-style per-frequency factors, computed as the reference implementation computes them, in float.
struct RopeScaling {
  float freq_scale = 1.0f;
  float ext_factor = 0.0f;   // 0: interpolation only (linear scaling)
  float attn_factor = 1.0f;  // multiplies cos and sin
  float corr_low = 0.0f;     // rope_yarn_corr_dims: the pairs where the ramp from extrapolation to interpolation runs
  float corr_high = 0.0f;
  const float* freq_factors = nullptr;  // [n_rot / 2] divisors of each pair's angle, or none; borrowed
};

// YaRN's correction range: the pair index where the rotation completes `n_turns` turns over n_ctx_orig positions.
SY_HOST_DEVICE inline float rope_yarn_corr_dim(int64_t n_rot, int32_t n_ctx_orig, float n_turns, float freq_base) {
  return static_cast<float>(n_rot) * logf(static_cast<float>(n_ctx_orig) / (n_turns * 2.0f * 3.14159265358979323846f)) /
         (2.0f * logf(freq_base));
}
SY_HOST_DEVICE inline void rope_yarn_corr_dims(int64_t n_rot, int32_t n_ctx_orig, float freq_base, float beta_fast,
                                               float beta_slow, float& low, float& high) {
  const float start = floorf(rope_yarn_corr_dim(n_rot, n_ctx_orig, beta_fast, freq_base));
  const float end = ceilf(rope_yarn_corr_dim(n_rot, n_ctx_orig, beta_slow, freq_base));
  low = start > 0.0f ? start : 0.0f;
  const float last = static_cast<float>(n_rot - 1);
  high = end < last ? end : last;
}

// The scaling of one op from its params (after the caller checked them).
SY_HOST_DEVICE inline RopeScaling rope_scaling_of(int64_t n_rot, float freq_base, float freq_scale, int32_t n_ctx_orig,
                                                  float ext_factor, float attn_factor, float beta_fast,
                                                  float beta_slow, const float* freq_factors) {
  RopeScaling r;
  r.freq_scale = freq_scale;
  r.ext_factor = ext_factor;
  r.attn_factor = attn_factor;
  r.freq_factors = freq_factors;
  rope_yarn_corr_dims(n_rot, n_ctx_orig, freq_base, beta_fast, beta_slow, r.corr_low, r.corr_high);
  return r;
}

// cos and sin of pair k from its unscaled angle theta_base = position * theta_scale^k (built as rope_cos_sin_all
// builds it): divided by the pair's factor, blended between interpolation and extrapolation by YaRN's ramp, and
// multiplied by the magnitude correction.
SY_HOST_DEVICE inline void rope_scaled_cos_sin(float theta_base, int64_t k, const RopeScaling& r, float& cos_theta,
                                               float& sin_theta) {
  const float theta_extrap = r.freq_factors ? theta_base / r.freq_factors[k] : theta_base;
  const float theta_interp = r.freq_scale * theta_extrap;
  float theta = theta_interp, mscale = r.attn_factor;
  if (r.ext_factor != 0.0f) {
    const float denominator = r.corr_high - r.corr_low > 0.001f ? r.corr_high - r.corr_low : 0.001f;
    float y = (static_cast<float>(k) - r.corr_low) / denominator;
    y = y < 0.0f ? 0.0f : y > 1.0f ? 1.0f : y;
    const float mix = (1.0f - y) * r.ext_factor;
    theta = theta_interp * (1.0f - mix) + theta_extrap * mix;
    mscale *= 1.0f + 0.1f * logf(1.0f / r.freq_scale);
  }
  cos_theta = cosf(theta) * mscale;
  sin_theta = sinf(theta) * mscale;
}

// rope_scaled_cos_sin for every pair of a head at once.
SY_HOST_DEVICE inline void rope_scaled_cos_sin_all(int32_t position, float freq_base, int64_t n_rot,
                                                   const RopeScaling& r, float* cos_theta, float* sin_theta) {
  const float theta_scale = powf(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(position);
  for (int64_t k = 0; k < n_rot / 2; ++k) {
    rope_scaled_cos_sin(theta, k, r, cos_theta[k], sin_theta[k]);
    theta *= theta_scale;
  }
}

// rope_scaled_cos_sin of pair k alone (a kernel thread per pair): the power built by k multiplications, as above.
SY_HOST_DEVICE inline void rope_scaled_cos_sin_at(int32_t position, float freq_base, int64_t n_rot, int64_t k,
                                                  const RopeScaling& r, float& cos_theta, float& sin_theta) {
  const float theta_scale = powf(freq_base, -2.0f / static_cast<float>(n_rot));
  float theta = static_cast<float>(position);
  for (int64_t j = 0; j < k; ++j) theta *= theta_scale;
  rope_scaled_cos_sin(theta, k, r, cos_theta, sin_theta);
}

// The element offsets of pair k within one head: adjacent elements (llama's "normal" mode) or the two halves of the
// rotated dimensions (NEOX mode, qwen2 and bitnet).
SY_HOST_DEVICE inline void rope_pair(bool neox, int64_t k, int64_t n_rot, int64_t& first, int64_t& second) {
  first = neox ? k : 2 * k;
  second = neox ? k + n_rot / 2 : 2 * k + 1;
}

// One pair rotated by the angle with cosine c and sine s, rounded as the reference's x86 build computes it: its
// compiler fuses the first product of each expression into a multiply-add (x0 c - x1 s as fma(x0, c, -(x1 s)),
// x0 s + x1 c as fma(x0, s, x1 c)); checked against its rotated queries value by value.
SY_HOST_DEVICE inline void rope_rotate(float x0, float x1, float c, float s, float& first, float& second) {
  const float x1s = x1 * s, x1c = x1 * c;
  first = fmaf(x0, c, -x1s);
  second = fmaf(x0, s, x1c);
}

// The factor RMS norm multiplies a row by: 1 / sqrt(mean(x^2) + eps). Rounded as the reference implementation
// rounds it (squares in float, summed in double, the mean and the root in float), because quantized matmuls
// round their activations to 8 bits next: a last-bit difference here moves a value across a rounding step.
SY_HOST_DEVICE inline float rms_norm_scale(const float* x, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  return 1.0f / sqrtf(mean + eps);
}

// x . y as the reference's AVX-512 build sums a float dot product (its ggml_vec_dot_f32): four accumulators of 16
// lanes over steps of 64 elements, one fused multiply-add per element, the accumulators added pairwise and their
// lanes by the compiler's reduction order (halves of 8, of 4, then pairs), the elements past the last step added
// to that float one product at a time. Attention's q . k runs through it, and its rounding decides the next 8-bit
// activations. x(i) and y(i) give the elements (dot_f32_reference: two arrays).
template <class X, class Y>
SY_HOST_DEVICE inline float dot_f32_reference_of(const X& x, const Y& y, int64_t n) {
  float acc[4][16] = {};
  const int64_t steps = n / 64 * 64;
  for (int64_t i = 0; i < steps; i += 64)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 16; ++l) acc[j][l] = fmaf(x(i + 16 * j + l), y(i + 16 * j + l), acc[j][l]);
  float lanes[16];
  for (int l = 0; l < 16; ++l) lanes[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  float eight[8], four[4];
  for (int l = 0; l < 8; ++l) eight[l] = lanes[l + 8] + lanes[l];
  for (int l = 0; l < 4; ++l) four[l] = eight[l + 4] + eight[l];
  float sum = (four[0] + four[2]) + (four[1] + four[3]);
  for (int64_t i = steps; i < n; ++i) sum += x(i) * y(i);  // product rounded, then the sum (nothing fused)
  return sum;
}

SY_HOST_DEVICE inline float dot_f32_reference(const float* x, const float* y, int64_t n) {
  return dot_f32_reference_of([x](int64_t i) { return x[i]; }, [y](int64_t i) { return y[i]; }, n);
}

// e^x as the reference's AVX-512 softmax computes it (its vector exp, adapted from Arm's optimized routines: within
// 1.5 ulp of the true value, flushing to 0 below about -104 and to infinity above about 88): x = n ln2 + b with n an
// integer, 2^n times a degree-5 polynomial in b, each step a float fused multiply-add. Scores minus their maximum are
// at most 0, so only the flush to 0 is ever taken; -infinity gives 0.
SY_HOST_DEVICE inline float exp_reference(float x) {
  const float round_bias = 0x1.8p23f;  // adding 1.5 * 2^23 rounds to an integer
  const float z = fmaf(x, 0x1.715476p+0f, round_bias);
  const float n = z - round_bias;  // x / ln2 rounded
  const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
  if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
  const float u = b * b;
  const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                       fmaf(0x1.ffffecp-1f, b, 1.0f));
  return ldexpf(j, static_cast<int>(n));
}

// Sixteen floats added as the compiler reduces a 512-bit vector: halves of 8, of 4, then pairs.
SY_HOST_DEVICE inline float add_16_lanes(const float* lanes) {
  float eight[8], four[4];
  for (int l = 0; l < 8; ++l) eight[l] = lanes[l + 8] + lanes[l];
  for (int l = 0; l < 4; ++l) four[l] = eight[l + 4] + eight[l];
  return (four[0] + four[2]) + (four[1] + four[3]);
}

// The reference keeps its KV cache's length in use padded to 32 rows without flash attention; the weighted sum of V
// of one query runs over that padded length (the padding's weights are 0).
constexpr int64_t kReferenceKvPadding = 32;

// One query's attention over float K and V rows as the reference's CPU computes it without flash attention (its
// default for these models): the scores q . k_j (dot_f32_reference) times `scale`; their softmax with exp_reference,
// the exponentials summed sixteen at a time in float and those sums added in double, each weight the exponential
// times the float inverse of that sum; then each output element as its matrix product computes it: for a batch of
// queries (`batch`) its float GEMM's sixteen lanes over the keys (key j in lane j mod 16, one fused multiply-add per
// key, the lanes added by add_16_lanes), for a single query its dot product (dot_f32_reference) over the cache
// length padded to kReferenceKvPadding. key(j) and value(j) give row j's head_dim floats; `weights` is scratch of
// n_keys floats; `out` receives head_dim floats.
template <class KeyRows, class ValueRows>
SY_HOST_DEVICE inline void attention_row_reference(const float* q, int64_t head_dim, int64_t n_keys, float scale,
                                                   bool batch, const KeyRows& key, const ValueRows& value,
                                                   float* weights, float* out) {
  float max_score = -INFINITY;
  for (int64_t j = 0; j < n_keys; ++j) {
    weights[j] = dot_f32_reference(key(j), q, head_dim) * scale;
    max_score = weights[j] > max_score ? weights[j] : max_score;  // fmaxf's result, without its libm call
  }
  double sum = 0;
  for (int64_t first = 0; first < n_keys; first += 16) {
    float lanes[16] = {};
    for (int l = 0; l < 16 && first + l < n_keys; ++l) lanes[l] = weights[first + l] = exp_reference(weights[first + l] - max_score);
    sum += static_cast<double>(add_16_lanes(lanes));
  }
  const auto inverse = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n_keys; ++j) weights[j] *= inverse;
  const int64_t padded = (n_keys + kReferenceKvPadding - 1) / kReferenceKvPadding * kReferenceKvPadding;
  for (int64_t d = 0; d < head_dim; ++d) {
    if (batch) {
      float lanes[16] = {};
      for (int64_t j = 0; j < n_keys; ++j) lanes[j % 16] = fmaf(value(j)[d], weights[j], lanes[j % 16]);
      out[d] = add_16_lanes(lanes);
    } else {
      out[d] = dot_f32_reference_of([&](int64_t j) { return j < n_keys ? value(j)[d] : 0.0f; },
                                    [&](int64_t j) { return j < n_keys ? weights[j] : 0.0f; }, padded);
    }
  }
}

// silu(gate) * up, in float as the reference implementation computes it.
SY_HOST_DEVICE inline float swiglu_value(float gate, float up) { return gate / (1.0f + expf(-gate)) * up; }

// relu(gate)^2 * up (BitNet b1.58's feed-forward gate).
SY_HOST_DEVICE inline float squared_relu_glu_value(float gate, float up) {
  const float r = gate > 0.0f ? gate : 0.0f;
  return r * r * up;
}

}  // namespace sy::kernels
