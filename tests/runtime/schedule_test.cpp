// The schedule's placement of ops and hand-offs, from plans made without loading anything.
#include <doctest/doctest.h>

#include <switchyard/plugin.h>

#include <fstream>

#include "core/runtime/schedule.h"
#include "tests/test_support.h"

using namespace sy;

namespace {

placement::DeviceDescription device(const std::string& name, placement::DeviceKind kind) {
  placement::DeviceDescription d;
  d.name = name;
  d.kind = kind;
  d.free_memory = uint64_t{1} << 30;
  d.bandwidth = kind == placement::DeviceKind::cpu ? 1 : 100;
  d.storable_types = d.multipliable_types = ~uint64_t{0};
  return d;
}

placement::Plan plan_for(const model::ModelStructure& m, const std::string& json) {
  test::ScratchDir dir;
  std::ofstream(dir / "c.json") << json;
  const auto config = config::load_run_config(dir / "c.json", {}, {{"runtime.context_length", "128", "test"}});
  return placement::make_plan({device("cpu", placement::DeviceKind::cpu), device("gpu:0", placement::DeviceKind::gpu)},
                              placement::describe_tensors(m), placement::run_shape(m.hp, config), config);
}

}  // namespace

TEST_CASE("one device: no hand-offs, every op there") {
  const auto file = gguf::File::open(test::shared_model("synth-qwen2-F32.gguf"));
  const auto m = model::describe_model(file);
  const auto schedule = runtime::make_schedule(m, plan_for(m, R"({"placement": {"device": "cpu"}})"));
  CHECK(schedule.devices == std::vector<std::string>{"cpu"});
  CHECK(schedule.transfers.empty());
  CHECK(runtime::describe_handoffs(schedule).empty());
  // qwen2: NEOX rope, q/k/v biases as ADD steps; the tied head multiplies by token_embd.
  int neox = 0, bias_adds = 0;
  for (const auto& st : schedule.steps) {
    neox += st.kind == SY_OP_ROPE_NEOX;
    bias_adds += st.kind == SY_OP_ADD && st.weight != nullptr;
  }
  CHECK(neox == 2 * 4);
  CHECK(bias_adds == 3 * 4);
  CHECK(schedule.steps.back().weight == &m.token_embd);
}

TEST_CASE("layers on a GPU with the feed-forward on the CPU: the residual crosses twice per layer") {
  const auto file = gguf::File::open(test::shared_model("synth-tiny-F32.gguf"));
  const auto m = model::describe_model(file);
  const auto plan = plan_for(m, R"({"placement": {"policy": "gpu-first", "overrides": [{"pattern": "ffn_", "device": "cpu"}]}})");
  const auto schedule = runtime::make_schedule(m, plan);
  REQUIRE(schedule.layers.size() == 4);
  const int gpu = schedule.layers[0].attention;
  CHECK(schedule.devices[static_cast<size_t>(gpu)] == "gpu:0");
  CHECK(schedule.layers[0].kv_cache == gpu);
  CHECK(schedule.devices[static_cast<size_t>(schedule.layers[0].feed_forward)] == "cpu");
  // Into layer 0's attention (embedding on the CPU), then per layer: to the CPU for the feed-forward block and
  // back for the next attention; the head sits beside the last layer's output.
  const auto lines = runtime::describe_handoffs(schedule);
  CAPTURE(lines.size());
  CHECK(std::count(lines.begin(), lines.end(), "layer 0: residual cpu -> gpu:0") == 1);
  CHECK(std::count(lines.begin(), lines.end(), "layer 1: residual gpu:0 -> cpu") == 1);
  for (const auto& t : schedule.transfers) CHECK(t.from != t.to);
}
