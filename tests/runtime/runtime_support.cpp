#include "tests/runtime/runtime_support.h"

#include <doctest/doctest.h>

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

}  // namespace sy::test
