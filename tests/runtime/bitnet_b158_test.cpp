// BitNet b1.58 (the published 2B4T files' architecture): no reference run exists here, so the runtime is checked
// against its published definition, written out below in plain double-precision loops — RMS norms, per-tensor
// weight scales, NEOX rope, attention with a sub-norm before the output projection, and the squared-ReLU gate
// relu(gate)^2 * up with a sub-norm before the down projection, the head tied to the embedding. The model is the
// shared random-weight BitNet file relabelled as bitnet-b1.58.
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

struct Reference : test::PlainWeights {
  // NEOX rope: pair i of a head is (i, i + n_rot/2).
  void rope(Vector& v, size_t heads, int64_t position) const {
    const size_t hd = hp.head_dim, half = hp.n_rot / 2;
    for (size_t h = 0; h < heads; ++h) {
      for (size_t i = 0; i < half; ++i) {
        const double theta = static_cast<double>(position) * std::pow(hp.rope_freq_base, -2.0 * i / hp.n_rot);
        double& a = v[h * hd + i];
        double& b = v[h * hd + i + half];
        const double x0 = a, x1 = b;
        a = x0 * std::cos(theta) - x1 * std::sin(theta);
        b = x0 * std::sin(theta) + x1 * std::cos(theta);
      }
    }
  }

  // Logits after each token of `tokens`.
  std::vector<Vector> run(const std::vector<int32_t>& tokens) const {
    const size_t n_embd = hp.n_embd;
    return forward(
        tokens, [&](Vector& v, size_t heads, int64_t position) { rope(v, heads, position); },
        [&](Vector& x, const std::string& p, const Vector& attention) {
          const Vector o = project(p + "attn_output", norm(attention, p + "attn_sub_norm.weight"), n_embd);
          for (size_t i = 0; i < n_embd; ++i) x[i] += o[i];
          const Vector fn = norm(x, p + "ffn_norm.weight");
          const Vector gate = project(p + "ffn_gate", fn, hp.n_ff), up = project(p + "ffn_up", fn, hp.n_ff);
          Vector hidden(hp.n_ff);
          for (size_t i = 0; i < hp.n_ff; ++i) {
            const double r = std::max(gate[i], 0.0);
            hidden[i] = r * r * up[i];  // BitNet b1.58: squared ReLU
          }
          const Vector d = project(p + "ffn_down", norm(hidden, p + "ffn_sub_norm.weight"), n_embd);
          for (size_t i = 0; i < n_embd; ++i) x[i] += d[i];
        });
  }
};

}  // namespace

TEST_CASE("bitnet-b1.58 runs its published definition: squared-ReLU gate, sub-norms, scales, tied head") {
  const auto source = gguf::File::open(test::shared_model("synth-bitnet-F32.gguf"));
  test::ScratchDir dir;
  gguf::Writer writer(source.alignment());
  for (const auto& kv : source.metadata()) {
    if (kv.key == "general.alignment") continue;
    if (kv.key == "general.architecture") writer.add(kv.key, gguf::Value::make_string("bitnet-b1.58"));
    else if (kv.key.rfind("bitnet.", 0) == 0) writer.add("bitnet-b1.58." + kv.key.substr(7), kv.value);
    else writer.add(kv.key, kv.value);
  }
  for (const auto& t : source.tensors())
    writer.add_tensor(t.name, t.type, std::span<const uint64_t>(t.ne.data(), t.n_dims), source.tensor_data(t));
  writer.write(dir / "b158.gguf");

  plugin::LoaderOptions plugins;
  plugins.use_environment = false;
  plugins.use_install_dir = false;
  auto engine = runtime::Engine::open(dir / "b158.gguf", test::placement_config(test::Placement::cpu), plugins);
  REQUIRE(engine->model().architecture == model::Architecture::bitnet_b158);
  CHECK(engine->model().gate == model::GateActivation::squared_relu);

  const std::vector<int32_t> tokens = {1, 300, 17, 451, 2, 99};
  const auto ours = engine->session().evaluate(tokens, true);
  const auto expected = Reference{{engine->file(), engine->model().hp}}.run(tokens);
  double worst = 0, spread = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (size_t v = 0; v < expected[t].size(); ++v) {
      worst = std::max(worst, std::fabs(ours[t * expected[t].size() + v] - expected[t][v]));
      spread = std::max(spread, std::fabs(expected[t][v]));
    }
  }
  MESSAGE("bitnet-b1.58 against its definition: max |error| ", worst, " (logits up to ", spread, ")");
  CHECK(worst < 1e-4);
  // The gate matters: the same weights as plain bitnet (SiLU) give other logits.
  auto silu = runtime::Engine::open(test::shared_model("synth-bitnet-F32.gguf"), test::placement_config(test::Placement::cpu),
                                    plugins);
  const auto other = silu->session().evaluate(tokens, true);
  double difference = 0;
  for (size_t i = 0; i < other.size(); ++i) difference = std::max(difference, static_cast<double>(std::fabs(other[i] - ours[i])));
  CHECK(difference > 1e-2);
}
