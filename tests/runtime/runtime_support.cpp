#include "tests/runtime/runtime_support.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

#include "tests/test_support.h"

namespace sy::test {

const char* to_string(Placement placement) {
  switch (placement) {
    case Placement::cpu: return "cpu";
    case Placement::simulated: return "two simulated GPUs";
    case Placement::mixed: return "mixed";
    case Placement::lazy: return "lazy";
  }
  return "?";
}

config::RunConfig placement_config(Placement placement, uint64_t batch) {
  std::string json;
  switch (placement) {
    case Placement::cpu: json = R"({"placement": {"device": "cpu"}})"; break;
    case Placement::simulated: json = R"({"placement": {"policy": "balanced"}})"; break;
    case Placement::mixed:
      json = R"({"placement": {"policy": "layers", "layers": [{"device": "simdev:0", "first": 0, "last": 1}],
                 "overrides": [{"pattern": "ffn_", "device": "cpu"}]}})";
      break;
    case Placement::lazy:
      json = R"({"placement": {"policy": "gpu-first"}, "loading": {"mode": "lazy", "lazy_budget_mib": 2}})";
      break;
  }
  ScratchDir dir;
  std::ofstream(dir / "c.json") << json;
  const std::vector<config::Setting> flags = {{"runtime.context_length", "256", "test"},
                                              {"runtime.batch_size", std::to_string(batch), "test"}};
  // The environment counts (SWITCHYARD_CPU_ISA picks the CPU plugin's kernel level for the per-ISA runs).
  return config::load_run_config(dir / "c.json", config::settings_from_environment(), flags);
}

std::unique_ptr<runtime::Engine> open_engine(const std::string& name, Placement placement, uint64_t batch,
                                             int threads,
                                             const std::vector<std::pair<std::string, std::string>>& simdev_options) {
  const config::RunConfig config = placement_config(placement, batch);
  plugin::LoaderOptions plugins;
  plugins.use_environment = false;
  plugins.use_install_dir = false;
  plugins.plugin_options = config.plugin_settings();
  if (threads > 0) plugins.plugin_options.push_back({"threads", std::to_string(threads)});
  if (placement != Placement::cpu) {
    const char* simdev = std::getenv("SWITCHYARD_TEST_SIMDEV");
    REQUIRE_MESSAGE(simdev, "SWITCHYARD_TEST_SIMDEV must name the simdev plugin built by sdk_out_of_tree_simdev");
    plugins.explicit_files = {simdev};
    plugins.plugin_options.push_back({"simdev.devices", placement == Placement::mixed ? "1x256MiB" : "2x256MiB"});
    for (const auto& option : simdev_options) plugins.plugin_options.push_back(option);
  }
  return runtime::Engine::open(shared_model(name), config, plugins);
}

std::vector<double> attend(const std::vector<double>& q, const std::vector<std::vector<double>>& keys,
                           const std::vector<std::vector<double>>& values, size_t n_head, size_t n_kv, size_t head_dim) {
  const size_t hd = head_dim, n = keys.size();
  std::vector<double> attention(n_head * hd, 0.0);
  for (size_t h = 0; h < n_head; ++h) {
    const size_t g = h / (n_head / n_kv);
    std::vector<double> scores(n);
    double best = -INFINITY;
    for (size_t j = 0; j < n; ++j) {
      double dot = 0;
      for (size_t d = 0; d < hd; ++d) dot += q[h * hd + d] * keys[j][g * hd + d];
      scores[j] = dot / std::sqrt(static_cast<double>(hd));
      best = std::max(best, scores[j]);
    }
    double total = 0;
    for (double& s : scores) total += s = std::exp(s - best);
    for (size_t j = 0; j < n; ++j)
      for (size_t d = 0; d < hd; ++d) attention[h * hd + d] += scores[j] / total * values[j][g * hd + d];
  }
  return attention;
}

const float* PlainWeights::tensor(const std::string& name) const {
  const auto* info = file.find_tensor(name);
  REQUIRE_MESSAGE(info, name);
  REQUIRE(info->type == gguf::TensorType::F32);
  return reinterpret_cast<const float*>(file.tensor_data(*info).data());
}

double PlainWeights::scale(const std::string& matrix) const {
  return file.find_tensor(matrix + ".scale") ? tensor(matrix + ".scale")[0] : 1.0;
}

std::vector<double> PlainWeights::project(const std::string& matrix, const std::vector<double>& x, size_t n_out) const {
  const float* w = tensor(matrix + ".weight");
  const double s = scale(matrix);
  std::vector<double> y(n_out);
  for (size_t o = 0; o < n_out; ++o) {
    double sum = 0;
    for (size_t i = 0; i < x.size(); ++i) sum += static_cast<double>(w[o * x.size() + i]) * x[i];
    y[o] = sum * s;
  }
  return y;
}

std::vector<double> PlainWeights::norm(const std::vector<double>& x, const std::string& weight) const {
  const float* w = tensor(weight);
  double ss = 0;
  for (double v : x) ss += v * v;
  const double k = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + hp.rms_norm_eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * k * w[i];
  return y;
}

std::vector<std::vector<double>> PlainWeights::forward(
    const std::vector<int32_t>& tokens, const std::function<void(std::vector<double>&, size_t, int64_t)>& rope,
    const std::function<void(std::vector<double>&, const std::string&, const std::vector<double>&)>& layer) const {
  const size_t n_embd = hp.n_embd;
  std::vector<std::vector<std::vector<double>>> keys(hp.n_layer), values(hp.n_layer);
  std::vector<std::vector<double>> out;
  const float* embd = tensor("token_embd.weight");
  const std::string head = file.find_tensor("output.weight") ? "output" : "token_embd";
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::vector<double> x(embd + tokens[t] * n_embd, embd + (tokens[t] + 1) * n_embd);
    for (size_t l = 0; l < hp.n_layer; ++l)
      layer(x, "blk." + std::to_string(l) + ".", attention(x, l, static_cast<int64_t>(t), keys[l], values[l], rope));
    out.push_back(project(head, norm(x, "output_norm.weight"), hp.n_vocab));
  }
  return out;
}

std::vector<double> PlainWeights::attention(const std::vector<double>& x, size_t layer, int64_t position,
                                            std::vector<std::vector<double>>& keys,
                                            std::vector<std::vector<double>>& values,
                                            const std::function<void(std::vector<double>&, size_t, int64_t)>& rope) const {
  const size_t hd = hp.head_dim, n_head = hp.n_head, n_kv = hp.n_head_kv;
  const std::string p = "blk." + std::to_string(layer) + ".";
  const std::vector<double> xn = norm(x, p + "attn_norm.weight");
  std::vector<double> q = project(p + "attn_q", xn, n_head * hd);
  std::vector<double> k = project(p + "attn_k", xn, n_kv * hd);
  rope(q, n_head, position);
  rope(k, n_kv, position);
  keys.push_back(std::move(k));
  values.push_back(project(p + "attn_v", xn, n_kv * hd));
  return attend(q, keys, values, n_head, n_kv, hd);
}

}  // namespace sy::test
