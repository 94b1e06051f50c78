// The reference kernels on cases small enough to compute by hand: if these are wrong, every plugin's conformance
// run is checking against the wrong answer.
#include <switchyard/plugin_helpers.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/quant/row_decoder.h"
#include "core/kernels/reference_ops.h"

namespace {

using sy::sdk::make_op;

// Host "buffers": tensor refs whose buffer pointer is a fake sy_buffer, mapped back to vectors by address().
struct HostTensors {
  std::vector<std::vector<float>*> floats;
  std::vector<sy_buffer> buffers;
};

const sy::kernels::RowDecoder kNoQuant{};

}  // namespace

TEST_CASE("matmul: y[t, o] = sum_i w[o, i] x[t, i], F32 and F16 weights") {
  const std::vector<float> w = {1, 2, 3, 4, 5, 6};  // 2 outputs x 3 inputs
  const std::vector<float> x = {1, 0, -1, 2, 2, 2};  // 2 tokens
  std::vector<float> y(4, NAN);
  sy_op op = make_op(SY_OP_MATMUL);
  op.params.matmul = {2, 3, 2};
  sy::kernels::reference_matmul(op, w.data(), x.data(), y.data(), kNoQuant);
  CHECK(y == std::vector<float>{-2, -2, 12, 30});

  std::vector<uint16_t> w16(w.size());
  for (size_t i = 0; i < w.size(); ++i) w16[i] = sy::kernels::fp32_to_fp16(w[i]);
  op.src[0].type = SY_TYPE_F16;
  sy::kernels::reference_matmul(op, w16.data(), x.data(), y.data(), kNoQuant);
  CHECK(y == std::vector<float>{-2, -2, 12, 30});
}

TEST_CASE("get_rows decodes the chosen rows and refuses an id outside the table") {
  const std::vector<float> table = {0, 1, 10, 11, 20, 21};
  const std::vector<int32_t> ids = {2, 0, 2};
  std::vector<float> out(6);
  sy_op op = make_op(SY_OP_GET_ROWS);
  op.params.get_rows = {3, 2, 3};
  sy::kernels::reference_get_rows(op, table.data(), ids.data(), out.data(), kNoQuant);
  CHECK(out == std::vector<float>{20, 21, 0, 1, 20, 21});
  const std::vector<int32_t> bad = {3};
  op.params.get_rows.n_ids = 1;
  CHECK_THROWS_AS(sy::kernels::reference_get_rows(op, table.data(), bad.data(), out.data(), kNoQuant), std::out_of_range);
}

TEST_CASE("rms_norm divides by the root mean square and multiplies the weight") {
  const std::vector<float> x = {3, 4}, weight = {1, 2};
  std::vector<float> y(2);
  sy_op op = make_op(SY_OP_RMS_NORM);
  op.params.rms_norm = {1, 2, 0.0f};
  sy::kernels::reference_rms_norm(op, x.data(), weight.data(), y.data());
  const float rms = std::sqrt(12.5f);
  CHECK(y[0] == doctest::Approx(3 / rms));
  CHECK(y[1] == doctest::Approx(8 / rms));
}

TEST_CASE("mul and add broadcast b's rows over a") {
  const std::vector<float> a = {1, 2, 3, 4}, b = {10, 20};
  std::vector<float> out(4);
  sy_op op = make_op(SY_OP_ADD);
  op.params.binary = {2, 2, 1};
  sy::kernels::reference_binary(op, a.data(), b.data(), out.data());
  CHECK(out == std::vector<float>{11, 22, 13, 24});
  op.kind = SY_OP_MUL;
  sy::kernels::reference_binary(op, a.data(), b.data(), out.data());
  CHECK(out == std::vector<float>{10, 40, 30, 80});
}

TEST_CASE("rope: position 0 is the identity; pair k turns by pos * base^(-2k/n_rot); dims past n_rot are copied") {
  const std::vector<float> x = {1, 0, 1, 0, 7, 8};  // head_dim 6, n_rot 4
  std::vector<float> out(6);
  sy_op op = make_op(SY_OP_ROPE);
  op.params.rope = {1, 1, 6, 4, 100.0f, 1.0f, 0, 0.0f, 1.0f, 0.0f, 0.0f};
  const std::vector<int32_t> zero = {0}, two = {2};
  sy::kernels::reference_rope(op, x.data(), zero.data(), nullptr, out.data());
  CHECK(out == x);
  sy::kernels::reference_rope(op, x.data(), two.data(), nullptr, out.data());
  CHECK(out[0] == doctest::Approx(std::cos(2.0)));
  CHECK(out[1] == doctest::Approx(std::sin(2.0)));
  CHECK(out[2] == doctest::Approx(std::cos(2.0 / 10.0)));  // 100^(-2/4) = 0.1
  CHECK(out[3] == doctest::Approx(std::sin(2.0 / 10.0)));
  CHECK(out[4] == 7);
  CHECK(out[5] == 8);
}

TEST_CASE("attention: causal window, softmax weights, grouped KV heads") {
  // 2 query heads sharing 1 KV head, head_dim 1, cache of 3 positions; 2 new tokens at positions 1 and 2.
  const std::vector<float> q = {0, 0, 1, 1};  // token0: heads (0,0); token1: heads (1,1)
  const std::vector<float> k = {0, 0, std::log(2.0f)};
  const std::vector<float> v = {1, 3, 5};
  std::vector<float> out(4);
  sy_op op = make_op(SY_OP_ATTENTION);
  op.src[1].type = op.src[2].type = SY_TYPE_F32;
  op.params.attention = {2, 2, 1, 1, 3, 3, 1.0f};
  sy::kernels::reference_attention(op, q.data(), k.data(), v.data(), out.data(), kNoQuant, true);
  // token0 sees positions 0..1 with equal scores: mean of 1 and 3.
  CHECK(out[0] == doctest::Approx(2.0));
  CHECK(out[1] == doctest::Approx(2.0));
  // token1 sees 0..2 with weights 1, 1, 2: (1 + 3 + 10) / 4.
  CHECK(out[2] == doctest::Approx(3.5));
  CHECK(out[3] == doctest::Approx(3.5));
}

TEST_CASE("exp_reference: the reference's vector exp, within 2.5 ulp of e^x, 0 for -infinity") {
  // Floats from -104 to 0 in relative steps of about 1e-4 (the range of a score minus the largest score), each
  // against e^x in double (the largest error seen is 2.15 ulp, near -3.17; results below FLT_MIN are not counted).
  double worst_ulps = 0;
  for (float x = -104.0f; x <= 0.0f; x += 1.0e-4f * (1.0f + std::fabs(x))) {
    const double exact = std::exp(static_cast<double>(x));
    const float ours = sy::kernels::exp_reference(x);
    const float next = std::nextafter(static_cast<float>(exact), INFINITY);
    const double ulp = static_cast<double>(next) - static_cast<float>(exact);
    if (exact > FLT_MIN) worst_ulps = std::max(worst_ulps, std::fabs(ours - exact) / ulp);
  }
  CHECK(worst_ulps <= 2.5);
  CHECK(sy::kernels::exp_reference(0.0f) == 1.0f);
  CHECK(sy::kernels::exp_reference(-INFINITY) == 0.0f);
  CHECK(sy::kernels::exp_reference(-200.0f) == 0.0f);
  // Its rounding is not the C library's: one of the inputs where they differ (found in a shared model's attention).
  CHECK(sy::kernels::exp_reference(-0.248929739f) != std::exp(-0.248929739f));
}

TEST_CASE("attention_row_reference: softmax(q . k * scale) . V to float precision, in the reference's order") {
  // Fresh random rows of a head of 64 over 1..70 keys (across the sixteen-lane groups and the 32-row padding), as
  // part of a batch and alone, against the definition in double: the orders differ only in rounding.
  uint64_t state = 0x9e3779b97f4a7c15ull;
  const auto draw = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<int64_t>(state >> 11) % 2000001 - 1000000) * 2e-6f;
  };
  constexpr int64_t kDim = 64;
  for (const bool batch : {true, false})
  for (const int64_t n_keys : {1, 2, 15, 16, 17, 33, 70}) {
    CAPTURE(batch);
    CAPTURE(n_keys);
    std::vector<float> q(kDim), keys(static_cast<size_t>(n_keys * kDim)), values(keys.size()), weights(n_keys), out(kDim, NAN);
    for (auto& x : q) x = draw();
    for (auto& x : keys) x = draw();
    for (auto& x : values) x = draw();
    const auto key = [&](int64_t j) { return keys.data() + j * kDim; };
    const auto value = [&](int64_t j) { return values.data() + j * kDim; };
    sy::kernels::attention_row_reference(q.data(), kDim, n_keys, 0.125f, batch, key, value, weights.data(), out.data());
    std::vector<double> scores(static_cast<size_t>(n_keys));
    double max_score = -INFINITY, total = 0;
    for (int64_t j = 0; j < n_keys; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < kDim; ++d) dot += static_cast<double>(q[d]) * key(j)[d];
      scores[j] = dot * 0.125;
      max_score = std::max(max_score, scores[j]);
    }
    for (auto& s : scores) total += s = std::exp(s - max_score);
    for (int64_t d = 0; d < kDim; ++d) {
      double expected = 0;
      for (int64_t j = 0; j < n_keys; ++j) expected += scores[j] / total * value(j)[d];
      CHECK(out[d] == doctest::Approx(expected).epsilon(1e-5).scale(1.0));
    }
  }
}

TEST_CASE("swiglu, kv_write and convert") {
  const std::vector<float> gate = {0, 2}, up = {5, 3};
  std::vector<float> out(2);
  sy_op op = make_op(SY_OP_SWIGLU);
  op.params.swiglu = {1, 2};
  sy::kernels::reference_swiglu(op, gate.data(), up.data(), out.data());
  CHECK(out[0] == 0);
  CHECK(out[1] == doctest::Approx(2.0 / (1.0 + std::exp(-2.0)) * 3));

  std::vector<uint16_t> cache(6, 0xffff);
  const std::vector<float> row = {1.5f, -2.0f};
  sy_op write = make_op(SY_OP_KV_WRITE);
  write.dst.type = SY_TYPE_F16;
  write.params.kv_write = {1, 2, 1, 3};
  sy::kernels::reference_kv_write(write, row.data(), cache.data(), kNoQuant);
  CHECK(cache == std::vector<uint16_t>{0xffff, 0xffff, 0x3e00, 0xc000, 0xffff, 0xffff});
}

TEST_CASE("check_op names the op, the tensor and the sizes when something is wrong") {
  sy_buffer small{};
  small.size = 8;
  sy_op op = make_op(SY_OP_SWIGLU);
  op.src[0] = op.src[1] = op.dst = {&small, 0, SY_TYPE_F32, 0};
  op.params.swiglu = {1, 2};
  CHECK(sy::kernels::check_op(op, kNoQuant).empty());
  op.params.swiglu = {1, 3};
  CHECK(sy::kernels::check_op(op, kNoQuant) == "swiglu: gate needs 12 bytes at offset 0 but its buffer holds 8");
  op.params.swiglu = {1, 2};
  op.dst.type = SY_TYPE_F16;
  CHECK(sy::kernels::check_op(op, kNoQuant) == "swiglu: tensor has type id 1, expected 0");

  sy_op matmul = make_op(SY_OP_MATMUL);
  matmul.src[0].type = 2;  // Q4_0: unknown without a decoder, known with the core's
  matmul.params.matmul = {1, 32, 1};
  CHECK(sy::kernels::check_op(matmul, kNoQuant).find("matmul: weight type id 2 is not supported") == 0);
  std::vector<sy::kernels::TensorUse> uses;
  CHECK(sy::kernels::describe_op_tensors(matmul, sy::quant::row_decoder(), uses).empty());
  CHECK(uses[0].bytes == 18);  // one Q4_0 block
  matmul.params.matmul.n_in = 33;
  CHECK_FALSE(sy::kernels::describe_op_tensors(matmul, sy::quant::row_decoder(), uses).empty());
}

TEST_CASE("rope_neox rotates the pairs (k, k + n_rot/2) and copies the dimensions past n_rot") {
  // One token at position 1, one head of 6 dims, n_rot 4, base 10000: pair 0 turns by 1 radian, pair 1 by 0.01.
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> position = {1};
  std::vector<float> y(6, NAN);
  sy_op op = make_op(SY_OP_ROPE_NEOX);
  op.params.rope = {1, 1, 6, 4, 10000.0f, 1.0f, 0, 0.0f, 1.0f, 0.0f, 0.0f};
  sy::kernels::reference_rope(op, x.data(), position.data(), nullptr, y.data());
  const double c0 = std::cos(1.0), s0 = std::sin(1.0), c1 = std::cos(0.01), s1 = std::sin(0.01);
  CHECK(y[0] == doctest::Approx(1 * c0 - 3 * s0));  // pair 0: elements 0 and 2
  CHECK(y[2] == doctest::Approx(1 * s0 + 3 * c0));
  CHECK(y[1] == doctest::Approx(2 * c1 - 4 * s1));  // pair 1: elements 1 and 3
  CHECK(y[3] == doctest::Approx(2 * s1 + 4 * c1));
  CHECK(y[4] == 5);
  CHECK(y[5] == 6);
  // The normal pairing of the same input differs: pair 0 is elements 0 and 1.
  op.kind = SY_OP_ROPE;
  sy::kernels::reference_rope(op, x.data(), position.data(), nullptr, y.data());
  CHECK(y[0] == doctest::Approx(1 * c0 - 2 * s0));
  CHECK(y[1] == doctest::Approx(1 * s0 + 2 * c0));
}

TEST_CASE("squared_relu_glu is relu(gate)^2 * up, swiglu is silu(gate) * up") {
  const std::vector<float> gate = {-2, 0, 3}, up = {5, 7, 2};
  std::vector<float> y(3, NAN);
  sy_op op = make_op(SY_OP_SQUARED_RELU_GLU);
  op.params.swiglu = {1, 3};
  sy::kernels::reference_swiglu(op, gate.data(), up.data(), y.data());
  CHECK(y == std::vector<float>{0, 0, 18});
  op.kind = SY_OP_SWIGLU;
  sy::kernels::reference_swiglu(op, gate.data(), up.data(), y.data());
  CHECK(y[0] == doctest::Approx(-2.0 / (1 + std::exp(2.0)) * 5));
  CHECK(y[1] == 0);
  CHECK(y[2] == doctest::Approx(3.0 / (1 + std::exp(-3.0)) * 2));
}

namespace {

// Rope with scaling as plugin.h defines it, in double with plain loops: the definition the float kernels (which
// round as the reference implementation does) must stay close to.
std::vector<double> rope_scaled_definition(const sy_op& op, const std::vector<float>& x,
                                           const std::vector<int32_t>& positions, const float* factors) {
  const auto& p = op.params.rope;
  const bool neox = op.kind == SY_OP_ROPE_NEOX;
  const double pi = 3.14159265358979323846;
  const auto corr_dim = [&](double turns) {
    return static_cast<double>(p.n_rot) * std::log(p.n_ctx_orig / (turns * 2 * pi)) / (2 * std::log(double{p.freq_base}));
  };
  const double low = std::max(0.0, std::floor(corr_dim(p.beta_fast)));
  const double high = std::min(static_cast<double>(p.n_rot - 1), std::ceil(corr_dim(p.beta_slow)));
  std::vector<double> y(x.begin(), x.end());
  for (int64_t t = 0; t < p.n_tokens; ++t)
    for (int64_t h = 0; h < p.n_heads; ++h)
      for (int64_t k = 0; k < p.n_rot / 2; ++k) {
        double extrap = positions[static_cast<size_t>(t)] * std::pow(double{p.freq_base}, -2.0 * k / p.n_rot);
        if (factors) extrap /= factors[k];
        const double interp = p.freq_scale * extrap;
        double theta = interp, mscale = p.attn_factor;
        if (p.ext_factor != 0) {
          const double ramp = 1 - std::min(1.0, std::max(0.0, (k - low) / std::max(0.001, high - low)));
          const double mix = ramp * p.ext_factor;
          theta = interp * (1 - mix) + extrap * mix;
          mscale *= 1 + 0.1 * std::log(1 / double{p.freq_scale});
        }
        const int64_t base = (t * p.n_heads + h) * p.head_dim;
        const int64_t a = base + (neox ? k : 2 * k), b = base + (neox ? k + p.n_rot / 2 : 2 * k + 1);
        const double x0 = x[static_cast<size_t>(a)], x1 = x[static_cast<size_t>(b)];
        y[static_cast<size_t>(a)] = (x0 * std::cos(theta) - x1 * std::sin(theta)) * mscale;
        y[static_cast<size_t>(b)] = (x0 * std::sin(theta) + x1 * std::cos(theta)) * mscale;
      }
  return y;
}

}  // namespace

TEST_CASE("rope with scaling (YaRN, per-frequency factors, attention factor) follows its definition") {
  const int64_t n_heads = 2, head_dim = 72, n_rot = 64;
  const std::vector<int32_t> positions = {0, 7, 300, 3000};
  const auto n_tokens = static_cast<int64_t>(positions.size());
  std::vector<float> x(static_cast<size_t>(n_tokens * n_heads * head_dim));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * static_cast<double>(i)) * 2.0;
  std::vector<float> factors(static_cast<size_t>(n_rot / 2));
  for (size_t i = 0; i < factors.size(); ++i) factors[i] = i < 10 ? 1.0f : i < 20 ? 1.0f + 0.3f * (i - 10) : 8.0f;
  struct Case {
    float freq_scale, ext_factor, attn_factor;
    bool factors;
  };
  for (const sy_op_kind kind : {SY_OP_ROPE, SY_OP_ROPE_NEOX}) {
    for (const Case c : {Case{0.25f, 1.0f, 1.0f, false}, Case{0.125f, 0.5f, 1.2f, true}, Case{1.0f, 0.0f, 1.0f, true},
                         Case{0.5f, 0.0f, 0.9f, false}}) {
      CAPTURE(kind);
      CAPTURE(c.freq_scale);
      CAPTURE(c.ext_factor);
      sy_op op = make_op(kind);
      op.flags = SY_OP_FLAG_ROPE_SCALING;
      op.params.rope = {n_tokens, n_heads, head_dim, n_rot, 10000.0f, c.freq_scale, 2048, c.ext_factor, c.attn_factor,
                        32.0f, 1.0f};
      std::vector<float> y(x.size(), NAN);
      const float* f = c.factors ? factors.data() : nullptr;
      sy::kernels::reference_rope(op, x.data(), positions.data(), f, y.data());
      const std::vector<double> want = rope_scaled_definition(op, x, positions, f);
      double worst = 0;
      for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::fabs(y[i] - want[i]));
      CHECK(worst < 2e-3);  // float angles at position 3000 carry ~1e-4 relative error
      // Dimensions past n_rot are copied untouched.
      CHECK(y[static_cast<size_t>(head_dim - 1)] == x[static_cast<size_t>(head_dim - 1)]);
    }
  }
  // The flag with neutral values is the plain op, bit for bit.
  sy_op plain = make_op(SY_OP_ROPE);
  plain.src[0].type = SY_TYPE_F32;
  plain.src[1].type = SY_TYPE_I32;
  plain.dst.type = SY_TYPE_F32;
  plain.params.rope = {n_tokens, n_heads, head_dim, n_rot, 10000.0f, 0.5f, 0, 0.0f, 1.0f, 0.0f, 0.0f};
  sy_op flagged = plain;
  flagged.flags = SY_OP_FLAG_ROPE_SCALING;
  flagged.params.rope.n_ctx_orig = 2048;
  flagged.params.rope.attn_factor = 1.0f;
  flagged.params.rope.beta_fast = 32.0f;
  flagged.params.rope.beta_slow = 1.0f;
  std::vector<float> a(x.size()), b(x.size());
  sy::kernels::reference_rope(plain, x.data(), positions.data(), nullptr, a.data());
  sy::kernels::reference_rope(flagged, x.data(), positions.data(), nullptr, b.data());
  CHECK(a == b);
  // Validation: the flag on another op, a non-positive n_ctx_orig, a non-finite factor.
  std::vector<sy::kernels::TensorUse> uses;
  CHECK(sy::kernels::describe_op_tensors(flagged, kNoQuant, uses).empty());
  flagged.params.rope.n_ctx_orig = 0;
  CHECK(sy::kernels::describe_op_tensors(flagged, kNoQuant, uses) == "rope: n_ctx_orig must be positive");
  flagged.params.rope.n_ctx_orig = 2048;
  flagged.params.rope.ext_factor = INFINITY;
  CHECK_FALSE(sy::kernels::describe_op_tensors(flagged, kNoQuant, uses).empty());
  sy_op add = make_op(SY_OP_ADD);
  add.flags = SY_OP_FLAG_ROPE_SCALING;
  add.params.binary = {1, 1, 1};
  CHECK(sy::kernels::describe_op_tensors(add, kNoQuant, uses).find("rope and rope_neox only") != std::string::npos);
}
