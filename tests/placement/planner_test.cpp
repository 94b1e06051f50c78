// The planner against described devices (no plugin needed): policies split layers as documented, overrides
// move what they name, budgets are never exceeded, unsupported types move or convert, and failures re-plan.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <switchyard/plugin.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>

#include "core/placement/plan_report.h"
#include "core/placement/planner.h"
#include "tests/test_support.h"

using namespace sy;
using namespace sy::placement;

namespace {

constexpr uint64_t kAllTypes = ~uint64_t{0};

struct Fixture {
  gguf::File file = gguf::File::open(test::shared_model("stories260K.gguf"));
  model::ModelStructure structure = model::describe_model(file);
  model::Hparams hp = structure.hp;
  std::vector<TensorDescription> tensors = describe_tensors(structure);

  config::RunConfig config(const std::string& json = "{}") const {
    test::ScratchDir dir;
    std::ofstream(dir / "c.json") << json;
    return config::load_run_config(dir / "c.json", {}, {});
  }
  uint64_t layer_bytes(int64_t layer) const {
    uint64_t total = 0;
    for (const auto& t : tensors) total += t.layer == layer ? t.bytes : 0;
    return total;
  }
};

DeviceDescription gpu(const std::string& name, uint64_t free, uint64_t bandwidth = 900'000'000'000) {
  return {name, DeviceKind::gpu, free, bandwidth, kAllTypes, kAllTypes};
}
DeviceDescription cpu(uint64_t free = 8ull << 30) {
  return {"cpu", DeviceKind::cpu, free, 50'000'000'000, kAllTypes, kAllTypes};
}

std::vector<int64_t> layers_on(const Plan& plan, const std::string& device) {
  std::set<int64_t> out;
  for (const auto& t : plan.tensors) {
    if (t.device == device && t.layer >= 0) out.insert(t.layer);
  }
  return {out.begin(), out.end()};
}

void check_budgets(const Plan& plan, const std::vector<DeviceDescription>& devices, const config::RunConfig& c) {
  for (const auto& d : plan.devices) {
    CAPTURE(d.device);
    CHECK(d.used() <= d.budget);
    for (const auto& desc : devices) {
      if (desc.name == d.device) {
        CHECK(static_cast<double>(d.used()) <= static_cast<double>(desc.free_memory) * c.budget_for(d.device).max_utilization);
      }
    }
  }
}

}  // namespace

TEST_CASE("auto: two GPUs too small for the model, then the CPU, layers in order and whole") {
  Fixture f;
  const auto c = f.config(R"({"runtime": {"context_length": 64, "batch_size": 8}})");
  const RunShape shape = run_shape(f.hp, c);
  // Each GPU's budget (90% of free) holds two layers with their KV cache and the scratch, not three.
  const uint64_t per_layer = f.layer_bytes(0) + shape.kv_bytes_per_layer;
  const uint64_t free = static_cast<uint64_t>(static_cast<double>(2 * per_layer + shape.scratch_bytes + per_layer / 2) / 0.9);
  const std::vector<DeviceDescription> devices = {cpu(), gpu("simdev:1", free), gpu("simdev:0", free)};
  const Plan plan = make_plan(devices, f.tensors, shape, c);

  CHECK(layers_on(plan, "simdev:0") == std::vector<int64_t>{0, 1});
  CHECK(layers_on(plan, "simdev:1") == std::vector<int64_t>{2, 3});
  CHECK(layers_on(plan, "cpu") == std::vector<int64_t>{4});
  CHECK(plan.find("token_embd.weight")->device == "cpu");
  CHECK(plan.find("output.weight")->device == "cpu");  // beside the last layer
  CHECK(plan.find("blk.0.attn_q.weight")->reason.find("layer fits") == 0);
  CHECK(plan.usage("simdev:0")->kv_cache == 2 * shape.kv_bytes_per_layer);
  CHECK(plan.usage("simdev:0")->scratch == shape.scratch_bytes);
  check_budgets(plan, devices, c);
  CHECK(plan.tensors.size() == f.tensors.size());

  const std::string text = plan_to_text(plan);
  CHECK(text.find("blk.0.* → simdev:0: layer fits") != std::string::npos);
  const auto json = plan_to_json(plan);
  CHECK(json["schema"] == "switchyard.plan/1");
  CHECK(json["tensors"].size() == f.tensors.size());
}

TEST_CASE("balanced: layers split across GPUs in proportion to their free memory") {
  Fixture f;
  const auto c = f.config(R"({"placement": {"policy": "balanced"}, "runtime": {"context_length": 64, "batch_size": 8}})");
  const RunShape shape = run_shape(f.hp, c);
  // Budgets 1:4 of a pool that holds everything: 1 layer and 4 layers.
  const uint64_t unit = f.layer_bytes(0) + shape.kv_bytes_per_layer + shape.scratch_bytes;
  const std::vector<DeviceDescription> devices = {cpu(), gpu("simdev:0", unit * 2), gpu("simdev:1", unit * 8)};
  const Plan plan = make_plan(devices, f.tensors, shape, c);
  CHECK(layers_on(plan, "simdev:0") == std::vector<int64_t>{0});
  CHECK(layers_on(plan, "simdev:1") == std::vector<int64_t>{1, 2, 3, 4});
  CHECK(plan.find("blk.1.ffn_up.weight")->reason.find("balanced share of simdev:1") == 0);
  check_budgets(plan, devices, c);
}

TEST_CASE("overrides move the tensors they name, first matching rule wins") {
  Fixture f;
  const auto c = f.config(R"({"placement": {"policy": "gpu-first", "overrides": [
      {"pattern": "^blk\\.[0-9]+\\.ffn_(gate|up|down)\\.weight$", "device": "cpu"},
      {"pattern": "ffn", "device": "simdev:0"}]}})");
  const std::vector<DeviceDescription> devices = {cpu(), gpu("simdev:0", 1ull << 30)};
  const Plan plan = make_plan(devices, f.tensors, run_shape(f.hp, c), c);
  for (const auto& t : plan.tensors) {
    CAPTURE(t.tensor);
    if (t.tensor.find("ffn_gate") != std::string::npos || t.tensor.find("ffn_up") != std::string::npos ||
        t.tensor.find("ffn_down") != std::string::npos) {
      CHECK(t.device == "cpu");
      CHECK(t.reason.find("placement.overrides[0]") != std::string::npos);
    } else if (t.tensor.find("ffn_norm") != std::string::npos) {
      CHECK(t.device == "simdev:0");
      CHECK(t.reason.find("placement.overrides[1]") != std::string::npos);
    } else if (t.layer >= 0) {
      CHECK(t.device == "simdev:0");
    }
  }
  // The KV cache stays with the attention, on the GPU.
  CHECK(plan.usage("simdev:0")->kv_cache > 0);
  CHECK(plan.usage("cpu")->kv_cache == 0);
}

TEST_CASE("a device that cannot multiply a type: the tensor converts when allowed, else moves on") {
  Fixture f;
  const uint64_t f16_only = uint64_t{1} << static_cast<uint32_t>(gguf::TensorType::F16);
  DeviceDescription picky = gpu("simdev:0", 1ull << 30);
  picky.multipliable_types = f16_only;
  picky.storable_types = f16_only | 1;  // F32 norms can be stored
  {
    const auto c = f.config(R"({"placement": {"policy": "gpu-first"}})");
    const Plan plan = make_plan({cpu(), picky}, f.tensors, run_shape(f.hp, c), c);
    const auto* q = plan.find("blk.0.attn_q.weight");
    CHECK(q->device == "simdev:0");
    CHECK(q->stored_type == gguf::TensorType::F16);
    CHECK(q->bytes == f.file.find_tensor("blk.0.attn_q.weight")->n_bytes / 2);
    CHECK(!plan.notes.empty());
    CHECK(plan.notes[0].find("converted from f32 to f16") != std::string::npos);
  }
  {
    const auto c = f.config(R"({"placement": {"policy": "gpu-first", "allow_conversion": false}})");
    const Plan plan = make_plan({cpu(), picky}, f.tensors, run_shape(f.hp, c), c);
    CHECK(plan.find("blk.0.attn_q.weight")->device == "cpu");
    CHECK(plan.find("blk.0.attn_q.weight")->stored_type == gguf::TensorType::F32);
  }
}

TEST_CASE("the plan says why: unused devices with numbers, conversions once per kind, the real cause of no fit") {
  Fixture f;
  const auto c = f.config(R"({"runtime": {"context_length": 64, "batch_size": 8}})");
  const RunShape shape = run_shape(f.hp, c);
  // The budget holds the scratch and half a layer: the GPU gets nothing, and the note gives the numbers.
  const uint64_t per_layer = f.layer_bytes(0) + shape.kv_bytes_per_layer;
  const auto free = static_cast<uint64_t>(static_cast<double>(shape.scratch_bytes + per_layer / 2) / 0.9);
  const Plan small = make_plan({cpu(), gpu("simdev:0", free)}, f.tensors, shape, c);
  CHECK(layers_on(small, "simdev:0").empty());
  const std::string expected = "simdev:0 unused: scratch " + format_bytes(shape.scratch_bytes) +
                               " plus the smallest layer " + format_bytes(per_layer) + " (with its KV cache) exceed " +
                               "its " + format_bytes(small.usage("simdev:0")->budget) +
                               " budget; lower --ctx-size or --batch-size";
  REQUIRE(small.notes.size() == 1);
  CHECK(small.notes[0].find(expected) == 0);

  // Thirty-odd f32 matrices converted for the same device: one note, with a count and examples.
  const uint64_t f16_only = uint64_t{1} << static_cast<uint32_t>(gguf::TensorType::F16);
  DeviceDescription picky = gpu("simdev:0", 1ull << 30);
  picky.multipliable_types = f16_only;
  picky.storable_types = f16_only | 1;
  const auto gpu_first = f.config(R"({"placement": {"policy": "gpu-first"}})");
  const Plan converted = make_plan({cpu(), picky}, f.tensors, run_shape(f.hp, gpu_first), gpu_first);
  size_t conversion_notes = 0;
  for (const auto& note : converted.notes) conversion_notes += note.find("converted from") != std::string::npos;
  CHECK(conversion_notes == 1);
  CHECK(converted.notes[0].find(" tensors (blk.0.attn_q.weight, blk.0.attn_k.weight, ...) converted from f32 to f16 "
                                "on upload to simdev:0: simdev:0 does not multiply f32") != std::string::npos);

  // Only a device that cannot multiply f32, and conversion off: the cause is the type, not memory.
  const auto strict = f.config(R"({"placement": {"device": "simdev:0", "allow_conversion": false}})");
  try {
    make_plan({cpu(), picky}, f.tensors, run_shape(f.hp, strict), strict);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("fits on no device:\n  simdev:0 cannot multiply f32 (blk.0.attn_q.weight), and "
                                     "placement.allow_conversion is false") != std::string::npos);
  }
  // Out of memory: the advice names the flags as well as the keys.
  const auto defaults = f.config();
  CHECK_THROWS_WITH_AS(make_plan({cpu(4096)}, f.tensors, run_shape(f.hp, defaults), defaults),
                       doctest::Contains("Lower --ctx-size / runtime.context_length or --batch-size"), Error);
}

TEST_CASE("plan text: bars within 80 columns with a legend, ASCII when asked") {
  Fixture f;
  const auto c = f.config();
  const Plan plan = make_plan({cpu(1000ull << 40), gpu("simdev:0", 1000ull << 30)}, f.tensors, run_shape(f.hp, c), c);
  for (bool unicode : {true, false}) {
    const std::string text = plan_to_text(plan, false, unicode);
    CHECK(text.find("bars: # weights  + KV cache  ~ scratch  . rest of the budget") != std::string::npos);
    size_t start = 0;
    for (int line = 0; line < 7; ++line) {  // the title, the devices' lines and the legend
      const size_t end = text.find('\n', start);
      CHECK(end - start <= 80);
      start = end + 1;
    }
    if (!unicode) {
      CHECK(std::all_of(text.begin(), text.end(), [](char ch) { return static_cast<unsigned char>(ch) < 128; }));
      CHECK(text.find("blk.0.* -> ") != std::string::npos);
    }
  }
}

TEST_CASE("max_utilization, reserve and the GPU memory limit bound every budget") {
  Fixture f;
  const auto c = f.config(R"({"placement": {"policy": "gpu-first", "gpu_memory_limit_mib": 1,
      "devices": {"simdev:0": {"max_utilization": 0.5, "reserve_mib": 0}}}})");
  const std::vector<DeviceDescription> devices = {cpu(), gpu("simdev:0", 64ull << 20)};
  const Plan plan = make_plan(devices, f.tensors, run_shape(f.hp, c), c);
  CHECK(plan.usage("simdev:0")->budget == (1ull << 20));  // min(64 MiB × 0.5, 1 MiB)
  check_budgets(plan, devices, c);
}

TEST_CASE("explicit layer ranges, and layers no range covers go to the CPU") {
  Fixture f;
  const auto c = f.config(R"({"placement": {"policy": "layers", "layers": [
      {"device": "simdev:1", "first": 0, "last": 1}, {"device": "simdev:0", "first": 2, "last": 3}]}})");
  const Plan plan = make_plan({cpu(), gpu("simdev:0", 1ull << 30), gpu("simdev:1", 1ull << 30)}, f.tensors,
                              run_shape(f.hp, c), c);
  CHECK(layers_on(plan, "simdev:1") == std::vector<int64_t>{0, 1});
  CHECK(layers_on(plan, "simdev:0") == std::vector<int64_t>{2, 3});
  CHECK(layers_on(plan, "cpu") == std::vector<int64_t>{4});
}

TEST_CASE("gpu_layers (-ngl): the last N layers on the GPUs, the others on the CPU, the head beside the last") {
  Fixture f;
  const auto c = f.config(R"({"placement": {"gpu_layers": 2}})");
  const std::vector<DeviceDescription> devices = {cpu(), gpu("simdev:0", 1ull << 30)};
  const Plan plan = make_plan(devices, f.tensors, run_shape(f.hp, c), c);
  CHECK(layers_on(plan, "cpu") == std::vector<int64_t>{0, 1, 2});
  CHECK(layers_on(plan, "simdev:0") == std::vector<int64_t>{3, 4});
  CHECK(plan.find("output.weight")->device == "simdev:0");
  CHECK(plan.find("blk.0.attn_q.weight")->reason.find("placement.gpu_layers = 2: only blk.3.. go to GPUs") == 0);
  CHECK(plan.usage("cpu")->layers == std::vector<int64_t>{0, 1, 2});  // their KV cache stays with them

  // More than the model has: every layer; none on a machine without a GPU, said in a note.
  const auto all = f.config(R"({"placement": {"gpu_layers": 99}})");
  CHECK(layers_on(make_plan(devices, f.tensors, run_shape(f.hp, all), all), "simdev:0") ==
        std::vector<int64_t>{0, 1, 2, 3, 4});
  const Plan cpu_only = make_plan({cpu()}, f.tensors, run_shape(f.hp, all), all);
  CHECK(layers_on(cpu_only, "cpu") == std::vector<int64_t>{0, 1, 2, 3, 4});
  REQUIRE(cpu_only.notes.size() == 1);
  CHECK(cpu_only.notes[0].find("no GPU is usable here") != std::string::npos);

  // Zero: everything on the CPU even with a GPU present.
  const auto none = f.config(R"({"placement": {"gpu_layers": 0}})");
  CHECK(layers_on(make_plan(devices, f.tensors, run_shape(f.hp, none), none), "simdev:0").empty());

  // Policies that choose layers themselves conflict with it.
  CHECK_THROWS_WITH_AS(f.config(R"({"placement": {"gpu_layers": 1, "policy": "cpu"}})"),
                       doctest::Contains("keep one of them"), Error);
}

TEST_CASE("config errors: a device that does not exist, no room anywhere") {
  Fixture f;
  const auto missing = f.config(R"({"placement": {"overrides": [{"pattern": "ffn", "device": "cuda:3"}]}})");
  try {
    make_plan({cpu()}, f.tensors, run_shape(f.hp, missing), missing);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("'placement.overrides[0].device' is \"cuda:3\", a device that does not exist; "
                                     "devices here: cpu") != std::string::npos);
  }
  const auto c = f.config();
  try {
    make_plan({cpu(4096)}, f.tensors, run_shape(f.hp, c), c);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::out_of_memory);
    CHECK(std::string(e.what()).find("fits on no device") != std::string::npos);
    CHECK(std::string(e.what()).find("cpu:") != std::string::npos);
  }
  const auto only_cuda = f.config(R"({"placement": {"device": "cuda"}})");
  CHECK_THROWS_WITH_AS(make_plan({cpu()}, f.tensors, run_shape(f.hp, only_cuda), only_cuda),
                       "placement.device 'cuda' matches no device; devices here: cpu", Error);
}

TEST_CASE("re-planning after a failed allocation keeps what is loaded and avoids the failed device") {
  Fixture f;
  const auto c = f.config(R"({"placement": {"policy": "gpu-first"}})");
  const std::vector<DeviceDescription> devices = {cpu(), gpu("simdev:0", 1ull << 30), gpu("simdev:1", 1ull << 30)};
  const RunShape shape = run_shape(f.hp, c);
  const Plan first = make_plan(devices, f.tensors, shape, c);
  CHECK(layers_on(first, "simdev:0").size() == 5);
  // Pretend the loader got through blk.1 before simdev:0 refused an allocation.
  auto tensors = f.tensors;
  for (auto& t : tensors) {
    if (t.layer >= 0 && t.layer <= 1) t.pinned_device = "simdev:0";
  }
  const Plan second = replan_without({"simdev:0"}, devices, tensors, shape, c);
  CHECK(layers_on(second, "simdev:0") == std::vector<int64_t>{0, 1});
  CHECK(layers_on(second, "simdev:1") == std::vector<int64_t>{2, 3, 4});
  CHECK(second.find("blk.0.attn_q.weight")->reason == "already loaded here");
  CHECK(second.notes.front().find("simdev:0 refused an allocation") == 0);
  CHECK(second.usage("simdev:0")->kv_cache == 2 * shape.kv_bytes_per_layer);
}

// A device that refused is never chosen again in that load, whichever rule would pick it: re-planning without it
// must send nothing new there, or the loader would retry the same refusal forever.
TEST_CASE("re-planning never chooses a refusing device again: overrides, the layers policy and the cpu policy") {
  Fixture f;
  const std::vector<DeviceDescription> devices = {cpu(), gpu("simdev:0", 1ull << 30), gpu("simdev:1", 1ull << 30)};
  auto nothing_new_on = [](const Plan& plan, const std::string& device) {
    for (const auto& t : plan.tensors) {
      if (t.device == device) return false;
    }
    return true;
  };

  SUBCASE("an override naming the refusing device: the policy places its tensors instead") {
    const auto c = f.config(R"({"placement": {"overrides": [{"pattern": "ffn_", "device": "simdev:0"}]}})");
    const Plan plan = replan_without({"simdev:0"}, devices, f.tensors, run_shape(f.hp, c), c);
    CHECK(nothing_new_on(plan, "simdev:0"));
    CHECK(plan.find("blk.0.ffn_up.weight")->device == "simdev:1");
    CHECK(std::any_of(plan.notes.begin(), plan.notes.end(), [](const std::string& n) {
      return n.find("placement.overrides[0] sends blk.0.ffn_up.weight to simdev:0, which refused") == 0;
    }));
  }
  SUBCASE("a layer range naming the refusing device: the next device with room takes those layers") {
    const auto c = f.config(R"({"placement": {"policy": "layers", "layers": [
        {"device": "simdev:0", "first": 0, "last": 1}, {"device": "simdev:1", "first": 2, "last": 3}]}})");
    const Plan plan = replan_without({"simdev:0"}, devices, f.tensors, run_shape(f.hp, c), c);
    CHECK(nothing_new_on(plan, "simdev:0"));
    CHECK(layers_on(plan, "simdev:1") == std::vector<int64_t>{0, 1, 2, 3});
    CHECK(layers_on(plan, "cpu") == std::vector<int64_t>{4});
  }
  SUBCASE("uncovered layers with the cpu refusing go to the next device too") {
    const auto c = f.config(R"({"placement": {"policy": "layers", "layers": [{"device": "simdev:1", "first": 0, "last": 1}]}})");
    const Plan plan = replan_without({"cpu"}, devices, f.tensors, run_shape(f.hp, c), c);
    CHECK(nothing_new_on(plan, "cpu"));
  }
  SUBCASE("policy cpu with the cpu refusing: nothing is left, an out-of-memory error naming the layer") {
    const auto c = f.config(R"({"placement": {"policy": "cpu"}})");
    try {
      replan_without({"cpu"}, devices, f.tensors, run_shape(f.hp, c), c);
      FAIL("placed on the refusing cpu");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::out_of_memory);
      CHECK(std::string(e.what()).find("blk.0.* (placement.policy \"cpu\")") == 0);
      CHECK(std::string(e.what()).find("cpu: ") != std::string::npos);
      CHECK(std::string(e.what()).find("(excluded after a failed allocation)") != std::string::npos);
    }
  }
}

// A backtracking engine (std::regex, before) takes exponential time on this pattern against every tensor name that
// does not end in X: minutes for one plan. RE2 matches in linear time.
TEST_CASE("override patterns match in linear time: ^(.|.|.)*X$ plans at once") {
  Fixture f;
  const auto c = f.config(R"json({"placement": {"overrides": [{"pattern": "^(.|.|.)*X$", "device": "simdev:0"},
                                                                {"pattern": "ffn_(up|down)", "device": "simdev:0"}]}})json");
  const auto start = std::chrono::steady_clock::now();
  const Plan plan = make_plan({cpu(), gpu("simdev:0", 1ull << 30)}, f.tensors, run_shape(f.hp, c), c);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(plan.find("blk.0.ffn_up.weight")->reason == "override 'ffn_(up|down)' (placement.overrides[1])");
  CHECK(plan.find("blk.0.attn_q.weight")->reason.find("override") == std::string::npos);
}

TEST_CASE("a device whose attention context is below the run's gets no layers, and the plan says why") {
  Fixture f;
  const auto c = f.config(R"({"runtime": {"context_length": 256, "batch_size": 8}, "placement": {"policy": "gpu-first"}})");
  DeviceDescription short_context = gpu("simdev:0", 1ull << 30);
  short_context.max_attention_context = 128;
  DeviceDescription long_enough = gpu("simdev:1", 1ull << 30, 800'000'000'000);
  long_enough.max_attention_context = 256;
  const std::vector<DeviceDescription> devices = {cpu(), short_context, long_enough};
  const Plan plan = make_plan(devices, f.tensors, run_shape(f.hp, c), c);
  CHECK(layers_on(plan, "simdev:0").empty());
  CHECK(layers_on(plan, "simdev:1").size() == f.hp.n_layer);
  CHECK(std::any_of(plan.notes.begin(), plan.notes.end(), [](const std::string& note) {
    return note.find("simdev:0 takes no attention layers: its attention handles at most 128 positions and "
                     "runtime.context_length is 256") != std::string::npos;
  }));
  // The layers policy naming it falls back to the next device that can, with the same note.
  const auto ranged = f.config(R"({"runtime": {"context_length": 256, "batch_size": 8}, "placement": {"policy": "layers",
      "layers": [{"device": "simdev:0", "first": 0, "last": 4}]}})");
  const Plan fallback = make_plan(devices, f.tensors, run_shape(f.hp, ranged), ranged);
  CHECK(layers_on(fallback, "simdev:0").empty());
  // A shorter context fits it again.
  const auto short_run = f.config(R"({"runtime": {"context_length": 128, "batch_size": 8}, "placement": {"policy": "gpu-first"}})");
  CHECK(layers_on(make_plan({cpu(), short_context}, f.tensors, run_shape(f.hp, short_run), short_run), "simdev:0").size() ==
        f.hp.n_layer);
}

TEST_CASE("a device asking for more alignment than the runtime gives is left out, with a note") {
  Fixture f;
  const auto c = f.config(R"({"placement": {"policy": "gpu-first"}})");
  DeviceDescription picky = gpu("simdev:0", 1ull << 30);
  picky.buffer_alignment = 4096;
  DeviceDescription fine = gpu("simdev:1", 1ull << 30, 800'000'000'000);
  fine.buffer_alignment = 256;
  const Plan plan = make_plan({cpu(), picky, fine}, f.tensors, run_shape(f.hp, c), c);
  CHECK(plan.usage("simdev:0") == nullptr);
  CHECK(layers_on(plan, "simdev:1").size() == f.hp.n_layer);
  CHECK(std::any_of(plan.notes.begin(), plan.notes.end(), [](const std::string& note) {
    return note.find("simdev:0 unused: it needs tensor offsets aligned to 4096 bytes") != std::string::npos;
  }));
}

TEST_CASE("a tied head whose last layer is on a GPU gets its own copy of token_embd there, counted in its weights") {
  const gguf::File file = gguf::File::open(test::shared_model("synth-qwen2-F32.gguf"));
  const model::ModelStructure structure = model::describe_model(file);
  REQUIRE(structure.tied_output());
  const auto tensors = describe_tensors(structure);
  test::ScratchDir dir;
  std::ofstream(dir / "c.json") << R"({"placement": {"policy": "gpu-first"}})";
  const auto c = config::load_run_config(dir / "c.json", {}, {});
  const Plan plan = make_plan({cpu(), gpu("simdev:0", 1ull << 30)}, tensors, run_shape(structure.hp, c), c);
  const TensorPlacement* embedding = plan.find("token_embd.weight");
  const TensorPlacement* copy = plan.find("output.weight");
  REQUIRE(embedding != nullptr);
  REQUIRE(copy != nullptr);
  CHECK(embedding->device == "cpu");
  CHECK(copy->device == "simdev:0");
  CHECK(copy->copy_of == "token_embd.weight");
  CHECK(copy->file_tensor() == "token_embd.weight");
  CHECK(copy->bytes == embedding->bytes);
  uint64_t on_gpu = 0;
  for (const auto& t : plan.tensors) on_gpu += t.device == "simdev:0" ? t.bytes : 0;
  CHECK(plan.usage("simdev:0")->weights == on_gpu);  // the copy is in the device's figures
  CHECK(plan_to_text(plan, false, false).find("output.weight") != std::string::npos);
  // On the CPU alone the head shares token_embd: no copy.
  const Plan cpu_only = make_plan({cpu()}, tensors, run_shape(structure.hp, c), c);
  CHECK(cpu_only.find("output.weight") == nullptr);
  // Without room for the copy the head shares token_embd, and a note says what that costs.
  const uint64_t layers_and_scratch = on_gpu - copy->bytes + plan.usage("simdev:0")->kv_cache +
                                      plan.usage("simdev:0")->scratch;
  test::ScratchDir tight_dir;
  std::ofstream(tight_dir / "c.json") << R"({"placement": {"policy": "gpu-first", "devices": {"simdev:0":
      {"max_utilization": 1.0, "reserve_mib": 0}}}})";
  const auto tight = config::load_run_config(tight_dir / "c.json", {}, {});
  const Plan no_room = make_plan({cpu(), gpu("simdev:0", layers_and_scratch + copy->bytes / 2)}, tensors,
                                 run_shape(structure.hp, tight), tight);
  CHECK(no_room.find("output.weight") == nullptr);
  CHECK(std::any_of(no_room.notes.begin(), no_room.notes.end(), [](const std::string& note) {
    return note.find("has no room for its own copy") != std::string::npos;
  }));
}

TEST_CASE("a model that needs rope scaling gets no layer on a device whose plugin lacks ABI 1.4, with a note") {
  Fixture f;
  const auto c = f.config("{}");
  DeviceDescription old_gpu = gpu("simdev:0", 1ull << 30);
  old_gpu.rope_scaling = false;
  RunShape shape = run_shape(f.hp, c);
  // Without scaling the old plugin takes layers as before.
  CHECK_FALSE(layers_on(make_plan({cpu(), old_gpu}, f.tensors, shape, c), "simdev:0").empty());
  shape.needs_rope_scaling = true;
  const Plan plan = make_plan({cpu(), old_gpu}, f.tensors, shape, c);
  CHECK(layers_on(plan, "simdev:0").empty());
  CHECK(layers_on(plan, "cpu") == std::vector<int64_t>{0, 1, 2, 3, 4});
  const bool noted = std::any_of(plan.notes.begin(), plan.notes.end(), [](const std::string& n) {
    return n.find("simdev:0 takes no attention layers") == 0 && n.find("ABI 1.4") != std::string::npos;
  });
  CHECK(noted);
  // A 1.4 plugin takes them.
  CHECK_FALSE(layers_on(make_plan({cpu(), gpu("simdev:0", 1ull << 30)}, f.tensors, shape, c), "simdev:0").empty());
}

TEST_CASE("a device that asks for a re-encoding: TQ1_0 matrices stored as TQ2_0 while the model fits") {
  Fixture f;
  using gguf::TensorType;
  // The model's tensors described as TQ1_0 (the planner reads types and sizes only).
  for (auto& t : f.tensors) {
    if (t.n_elements % 256 != 0) continue;
    t.type = TensorType::TQ1_0;
    t.bytes = *gguf::tensor_storage_bytes(TensorType::TQ1_0, t.n_elements);
  }
  DeviceDescription asking = cpu();
  asking.reencoded_types = SY_TYPE_BIT(static_cast<uint32_t>(TensorType::TQ1_0));
  const auto defaults = f.config();
  const RunShape shape = run_shape(f.hp, defaults);
  const Plan plan = make_plan({asking}, f.tensors, shape, defaults);
  uint64_t file_bytes = 0, stored = 0, matrices = 0;
  for (const auto& t : f.tensors) {
    if (t.type != TensorType::TQ1_0) continue;
    CAPTURE(t.name);
    const auto* p = plan.find(t.name);
    REQUIRE(p != nullptr);
    // Matrices only: a lookup table (GET_ROWS) is not what the device said it multiplies faster.
    CHECK(p->stored_type == (t.is_matrix ? TensorType::TQ2_0 : TensorType::TQ1_0));
    CHECK(p->bytes == *gguf::tensor_storage_bytes(p->stored_type, t.n_elements));
    if (t.is_matrix) file_bytes += t.bytes, stored += p->bytes, matrices += 1;
  }
  REQUIRE(matrices > 2);
  const std::string note = fmt::format("{} tensors (blk.0.attn_q.weight, blk.0.attn_k.weight, ...) re-encoded from "
                                       "tq1_0 to tq2_0 on upload to cpu: the same values, which cpu multiplies faster, "
                                       "in {} instead of {} (placement.reencode false keeps tq1_0)",
                                       matrices, format_bytes(stored), format_bytes(file_bytes));
  CHECK(std::find(plan.notes.begin(), plan.notes.end(), note) != plan.notes.end());

  // placement.reencode false, or a device that does not ask, or one that asks without multiplying TQ2_0: the
  // file's types, and no such note.
  DeviceDescription lacking = asking;
  lacking.multipliable_types &= ~SY_TYPE_BIT(static_cast<uint32_t>(TensorType::TQ2_0));
  const auto off = f.config(R"({"placement": {"reencode": false}})");
  for (const auto& [device, c] : {std::pair{asking, off}, std::pair{cpu(), defaults}, std::pair{lacking, defaults}}) {
    const Plan kept = make_plan({device}, f.tensors, shape, c);
    CHECK(kept.find("blk.0.attn_q.weight")->stored_type == TensorType::TQ1_0);
    for (const auto& n : kept.notes) CHECK(n.find("re-encoded") == std::string::npos);
  }

  // A budget between the two sizes: the model fits only in the file's types, so it is planned that way, and the
  // first note says why.
  const uint64_t small = make_plan({asking}, f.tensors, shape, off).usage("cpu")->used();
  const uint64_t large = plan.usage("cpu")->used();
  REQUIRE(large > small);
  DeviceDescription tight = asking;
  tight.free_memory = static_cast<uint64_t>(static_cast<double>(small + (large - small) / 2) / 0.9);
  const Plan fitted = make_plan({tight}, f.tensors, shape, defaults);
  CHECK(fitted.find("blk.0.attn_q.weight")->stored_type == TensorType::TQ1_0);
  REQUIRE(!fitted.notes.empty());
  CHECK(fitted.notes[0].find("weights kept in the file's types: re-encoded as the devices ask (placement.reencode), "
                             "they would not fit: ") == 0);
  check_budgets(fitted, {tight}, defaults);

  // A re-plan keeps the type a loaded tensor holds, whatever it would choose now.
  auto pinned = f.tensors;
  for (auto& t : pinned)
    if (t.name == "blk.0.attn_q.weight") t.pinned_device = "cpu", t.pinned_type = TensorType::TQ1_0;
  const Plan again = replan_without({}, {asking}, pinned, shape, defaults);
  CHECK(again.find("blk.0.attn_q.weight")->stored_type == TensorType::TQ1_0);
  CHECK(again.find("blk.0.attn_k.weight")->stored_type == TensorType::TQ2_0);
}

TEST_CASE("a device that holds a type only re-encoded: the refusal names the tensor it really cannot hold") {
  Fixture f;
  using gguf::TensorType;
  for (auto& t : f.tensors) {
    if (!t.is_matrix) continue;
    const TensorType type = t.name == "blk.0.ffn_down.weight" ? TensorType::Q4_0 : TensorType::TQ1_0;
    t.type = type;
    t.bytes = *gguf::tensor_storage_bytes(type, t.n_elements);
  }
  // It multiplies F32 and TQ2_0 only, and asks for TQ1_0 as TQ2_0: every matrix but the Q4_0 one can live there.
  DeviceDescription only_tq2_0 = cpu();
  only_tq2_0.multipliable_types = SY_TYPE_BIT(SY_TYPE_F32) | SY_TYPE_BIT(static_cast<uint32_t>(TensorType::TQ2_0));
  only_tq2_0.reencoded_types = SY_TYPE_BIT(static_cast<uint32_t>(TensorType::TQ1_0));
  const auto strict = f.config(R"({"placement": {"allow_conversion": false}})");
  try {
    make_plan({only_tq2_0}, f.tensors, run_shape(f.hp, strict), strict);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("cpu cannot multiply q4_0 (blk.0.ffn_down.weight), and placement.allow_conversion "
                                     "is false") != std::string::npos);
  }
}
