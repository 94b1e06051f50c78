// Rope scaling as llama.cpp runs it (YaRN from metadata, llama3-style per-frequency factors from rope_freqs):
// the shared synthetic llama file is rewritten with those keys and that tensor, run through the runtime, and its
// logits compared with a plain double-precision forward pass that writes the rope's definition out.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/gguf/writer.h"
#include "core/runtime/engine.h"
#include "tests/runtime/runtime_support.h"
#include "tests/test_support.h"

using namespace sy;

namespace {

using Vector = std::vector<double>;

struct LlamaForward : test::PlainWeights {
  std::vector<float> factors;  // rope_freqs, empty for none

  // Normal (adjacent-pair) rope with YaRN and per-frequency factors, from the definition in plugin.h.
  void rope(Vector& v, size_t heads, int64_t position) const {
    const double pi = 3.14159265358979323846, n_rot = static_cast<double>(hp.n_rot);
    const auto corr_dim = [&](double turns) {
      return n_rot * std::log(static_cast<double>(hp.rope_n_ctx_orig) / (turns * 2 * pi)) / (2 * std::log(hp.rope_freq_base));
    };
    const double low = std::max(0.0, std::floor(corr_dim(hp.yarn_beta_fast)));
    const double high = std::min(n_rot - 1, std::ceil(corr_dim(hp.yarn_beta_slow)));
    for (size_t h = 0; h < heads; ++h) {
      for (size_t k = 0; k < hp.n_rot / 2; ++k) {
        double extrap = static_cast<double>(position) * std::pow(hp.rope_freq_base, -2.0 * static_cast<double>(k) / n_rot);
        if (!factors.empty()) extrap /= factors[k];
        const double interp = hp.rope_freq_scale * extrap;
        double theta = interp, mscale = hp.rope_attn_factor;
        if (hp.yarn_ext_factor != 0) {
          const double ramp = 1 - std::min(1.0, std::max(0.0, (static_cast<double>(k) - low) / std::max(0.001, high - low)));
          theta = interp * (1 - ramp * hp.yarn_ext_factor) + extrap * ramp * hp.yarn_ext_factor;
          mscale *= 1 + 0.1 * std::log(1 / hp.rope_freq_scale);
        }
        double& a = v[h * hp.head_dim + 2 * k];
        double& b = v[h * hp.head_dim + 2 * k + 1];
        const double x0 = a, x1 = b;
        a = (x0 * std::cos(theta) - x1 * std::sin(theta)) * mscale;
        b = (x0 * std::sin(theta) + x1 * std::cos(theta)) * mscale;
      }
    }
  }
  std::vector<Vector> run(const std::vector<int32_t>& tokens) const {
    const size_t n_embd = hp.n_embd;
    return forward(
        tokens, [&](Vector& v, size_t heads, int64_t position) { rope(v, heads, position); },
        [&](Vector& x, const std::string& p, const Vector& attention) {
          const Vector o = project(p + "attn_output", attention, n_embd);
          for (size_t i = 0; i < n_embd; ++i) x[i] += o[i];
          const Vector fn = norm(x, p + "ffn_norm.weight");
          const Vector gate = project(p + "ffn_gate", fn, hp.n_ff), up = project(p + "ffn_up", fn, hp.n_ff);
          Vector hidden(hp.n_ff);
          for (size_t i = 0; i < hp.n_ff; ++i) hidden[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
          const Vector d = project(p + "ffn_down", hidden, n_embd);
          for (size_t i = 0; i < n_embd; ++i) x[i] += d[i];
        });
  }
};

// synth-tiny-F32 with `keys` added (or replaced) under the llama prefix and, when given, a rope_freqs tensor.
std::filesystem::path rewrite(const test::ScratchDir& dir, const std::string& name,
                              const std::vector<std::pair<std::string, gguf::Value>>& keys,
                              const std::vector<float>& factors) {
  const auto source = gguf::File::open(test::shared_model("synth-tiny-F32.gguf"));
  gguf::Writer writer(source.alignment());
  for (const auto& kv : source.metadata()) {
    if (kv.key == "general.alignment") continue;
    writer.add(kv.key, kv.value);
  }
  for (const auto& [key, value] : keys) writer.add("llama." + key, value);
  for (const auto& t : source.tensors())
    writer.add_tensor(t.name, t.type, std::span<const uint64_t>(t.ne.data(), t.n_dims), source.tensor_data(t));
  if (!factors.empty()) {
    const uint64_t ne[1] = {factors.size()};
    writer.add_tensor("rope_freqs.weight", gguf::TensorType::F32, std::span<const uint64_t>(ne, 1),
                      std::as_bytes(std::span<const float>(factors)));
  }
  writer.write(dir / name);
  return dir / name;
}

gguf::Value f32(double v) { return gguf::Value::make_float(gguf::ValueType::FLOAT32, v); }

}  // namespace

TEST_CASE("YaRN and llama3-style rope factors run as their definition on the CPU") {
  test::ScratchDir dir;
  std::vector<float> factors(32);  // n_rot 64: llama3's shape, high frequencies kept, low ones divided by 8
  for (size_t i = 0; i < factors.size(); ++i) factors[i] = i < 8 ? 1.0f : i < 24 ? 1.0f + 7.0f * (i - 8) / 16.0f : 8.0f;
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, gguf::Value>> keys;
    bool factors;
  };
  const std::vector<Case> cases = {
      {"yarn.gguf",
       {{"rope.scaling.type", gguf::Value::make_string("yarn")},
        {"rope.scaling.factor", f32(4.0)},
        {"rope.scaling.original_context_length", gguf::Value::make_uint(gguf::ValueType::UINT32, 64)}},
       false},
      {"llama3.gguf", {}, true},
      {"yarn-factors.gguf",
       {{"rope.scaling.type", gguf::Value::make_string("yarn")},
        {"rope.scaling.factor", f32(2.0)},
        {"rope.scaling.attn_factor", f32(1.1)},
        {"rope.scaling.yarn_beta_fast", f32(16.0)}},
       true},
  };
  plugin::LoaderOptions plugins;
  plugins.use_environment = false;
  plugins.use_install_dir = false;
  const std::vector<int32_t> tokens = {1, 300, 17, 451, 2, 99, 7, 250};
  const auto plain = runtime::Engine::open(test::shared_model("synth-tiny-F32.gguf"),
                                           test::placement_config(test::Placement::cpu), plugins);
  const auto unscaled = plain->session().evaluate(tokens, true);
  for (const auto& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const auto path = rewrite(dir, c.name, c.keys, c.factors ? factors : std::vector<float>{});
    REQUIRE(model::check_model(gguf::File::open(path)).empty());
    auto engine = runtime::Engine::open(path, test::placement_config(test::Placement::cpu), plugins);
    REQUIRE(engine->model().hp.needs_rope_scaling());
    CHECK(engine->model().rope_freq_factors.size() == (c.factors ? 32u : 0u));
    const auto ours = engine->session().evaluate(tokens, true);
    const auto expected = LlamaForward{{engine->file(), engine->model().hp}, engine->model().rope_freq_factors}.run(tokens);
    double worst = 0, difference = 0;
    for (size_t t = 0; t < tokens.size(); ++t)
      for (size_t v = 0; v < expected[t].size(); ++v) {
        const size_t i = t * expected[t].size() + v;
        worst = std::max(worst, std::fabs(ours[i] - expected[t][v]));
        difference = std::max(difference, static_cast<double>(std::fabs(ours[i] - unscaled[i])));
      }
    MESSAGE(name, " against the definition: max |error| ", worst);
    CHECK(worst < 1e-4);
    CHECK(difference > 1e-3);  // the scaling changed the logits
  }
}

TEST_CASE("rope scaling keys are checked, and kinds Switchyard does not run are refused") {
  test::ScratchDir dir;
  const auto findings = [&](const std::string& key, gguf::Value value, const std::string& name) {
    return model::check_model(gguf::File::open(rewrite(dir, name, {{key, std::move(value)}}, {})));
  };
  auto found = findings("rope.scaling.type", gguf::Value::make_string("longrope"), "longrope.gguf");
  REQUIRE(found.size() == 1);
  CHECK(found[0].code == "unsupported_feature");
  CHECK(found[0].message.find("longrope") != std::string::npos);
  found = findings("rope.scaling.yarn_beta_fast", f32(NAN), "beta.gguf");
  REQUIRE(found.size() == 1);
  CHECK(found[0].code == "bad_hyperparameter");
  CHECK(found[0].message.find("llama.rope.scaling.yarn_beta_fast") != std::string::npos);
  found = findings("rope.scaling.attn_factor", f32(0.0), "attn.gguf");
  REQUIRE(found.size() == 1);
  CHECK(found[0].message.find("llama.rope.scaling.attn_factor") != std::string::npos);
  found = findings("rope.scaling.original_context_length", gguf::Value::make_uint(gguf::ValueType::UINT32, 0), "ctx.gguf");
  REQUIRE(found.size() == 1);
  CHECK(found[0].message.find("original_context_length") != std::string::npos);
  // Factors of the wrong length, or not positive.
  auto bad = model::check_model(gguf::File::open(rewrite(dir, "short.gguf", {}, std::vector<float>(16, 1.0f))));
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].code == "bad_shape");
  std::vector<float> zero(32, 1.0f);
  zero[5] = 0.0f;
  bad = model::check_model(gguf::File::open(rewrite(dir, "zero.gguf", {}, zero)));
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].message.find("index 5") != std::string::npos);
  // Defaults: YaRN's extrapolation factor is 1, linear's 0; the original context is the training one.
  const auto yarn = gguf::File::open(rewrite(dir, "defaults.gguf", {{"rope.scaling.type", gguf::Value::make_string("yarn")},
                                                                    {"rope.scaling.factor", f32(4.0)}}, {}));
  const auto m = model::describe_model(yarn);
  CHECK(m.hp.yarn_ext_factor == 1.0);
  CHECK(m.hp.rope_freq_scale == 0.25);
  CHECK(m.hp.rope_n_ctx_orig == m.hp.n_ctx_train);
  CHECK(m.hp.rope_op_attn_factor() == 1.0f);
  const auto linear = gguf::File::open(rewrite(dir, "linear.gguf", {{"rope.scaling.type", gguf::Value::make_string("linear")},
                                                                    {"rope.scaling.factor", f32(2.0)}}, {}));
  const auto l = model::describe_model(linear);
  CHECK(l.hp.yarn_ext_factor == 0.0);
  CHECK_FALSE(l.hp.needs_rope_scaling());  // linear alone runs on every plugin
}
