// The loader with real plugins: the CPU plugin adopts weights from the mapping (zero copy), simulated GPUs get
// exact copies through bounded uploads, a device that lies about its free memory triggers a re-plan that
// completes, lazy mode evicts least-recently-used tensors exactly as an LRU model predicts, and a cancelled load
// frees every buffer.
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <vector>

#include "core/loader/loader.h"
#include "tests/test_support.h"

using namespace sy;

namespace {

std::filesystem::path simdev_plugin() {
  const char* path = std::getenv("SWITCHYARD_TEST_SIMDEV");
  REQUIRE_MESSAGE(path, "SWITCHYARD_TEST_SIMDEV must name the simdev plugin built by sdk_out_of_tree_simdev");
  return path;
}

plugin::Inventory inventory(const std::string& simdev_devices, std::vector<std::pair<std::string, std::string>> faults = {}) {
  plugin::LoaderOptions options;
  options.explicit_files = {simdev_plugin()};
  options.use_environment = false;
  options.use_install_dir = false;
  options.plugin_options = {{"simdev.devices", simdev_devices}};
  for (auto& f : faults) options.plugin_options.push_back(f);
  return plugin::load_plugins(options);
}

config::RunConfig make_config(const std::string& json) {
  test::ScratchDir dir;
  std::ofstream(dir / "c.json") << json;
  return config::load_run_config(dir / "c.json", {}, {});
}

// Every tensor reads back from its device exactly as the file holds it.
void check_contents(loader::LoadedModel& model, const gguf::File& file) {
  for (const auto& p : model.plan().tensors) {
    CAPTURE(p.tensor);
    const auto* info = file.find_tensor(p.tensor);
    const auto& buffer = model.acquire(p.tensor);
    REQUIRE(buffer.size() == info->n_bytes);
    std::vector<std::byte> back(info->n_bytes, std::byte{0xA5});  // poisoned
    buffer.download(0, back.data(), back.size());
    const auto expected = file.tensor_data(*info);
    CHECK(std::equal(back.begin(), back.end(), expected.begin(), expected.end()));
  }
}

struct Model {
  gguf::File file;
  model::ModelStructure structure;
  model::Hparams hp;
  std::vector<placement::TensorDescription> tensors;
  explicit Model(const std::string& name)
      : file(gguf::File::open(test::shared_model(name))), structure(model::describe_model(file)), hp(structure.hp),
        tensors(placement::describe_tensors(structure)) {}
  uint64_t weight_bytes() const {
    uint64_t total = 0;
    for (const auto& t : file.tensors()) total += t.n_bytes;
    return total;
  }
};

}  // namespace

TEST_CASE("progressive: two simulated GPUs too small for the model, then the CPU; CPU weights are zero-copy") {
  Model m("stories260K.gguf");
  const auto config = make_config(R"({"placement": {"policy": "gpu-first"}, "runtime": {"context_length": 32, "batch_size": 4}})");
  const auto shape = placement::run_shape(m.hp, config);
  const auto inv = inventory("2x640KiB");
  const auto devices = loader::describe_devices(inv);
  REQUIRE(inv.find_device("simdev:0"));
  REQUIRE(inv.find_device("simdev:1"));
  REQUIRE(inv.find_device("cpu"));
  auto plan = placement::make_plan(devices, m.tensors, shape, config);
  const auto* s0 = plan.usage("simdev:0");
  const auto* s1 = plan.usage("simdev:1");
  CHECK(!s0->layers.empty());
  CHECK(!s1->layers.empty());
  CHECK(!plan.usage("cpu")->layers.empty());  // the GPUs are too small for every layer
  CHECK(s0->used() <= s0->budget);

  auto model = loader::load_model(m.file, inv, plan, m.tensors, shape, config);
  const auto report = model.report();
  uint64_t cpu_bytes = 0;
  for (const auto& p : model.plan().tensors) cpu_bytes += p.device == "cpu" ? p.bytes : 0;
  CHECK(report.zero_copy_bytes == cpu_bytes);
  CHECK(report.copied_bytes == m.weight_bytes() - cpu_bytes);
  // Zero copy: the CPU buffer is the mapping itself.
  const auto* embd = m.file.find_tensor("token_embd.weight");
  CHECK(model.acquire("token_embd.weight").map() == static_cast<const void*>(m.file.tensor_data(*embd).data()));
  check_contents(model, m.file);
  // The devices hold what the plan says and no more than their budgets.
  for (const char* name : {"simdev:0", "simdev:1"}) {
    const auto* device = inv.find_device(name);
    CHECK(device->info().total_memory - device->free_memory() <= plan.usage(name)->budget);
  }
}

TEST_CASE("a device that reports room it does not have: the load re-plans onto the next device and completes") {
  Model m("stories260K.gguf");
  const auto config = make_config(R"({"placement": {"policy": "gpu-first"}, "runtime": {"context_length": 32, "batch_size": 4}})");
  const auto shape = placement::run_shape(m.hp, config);
  // simdev:0 and :1 claim 64 MiB but refuse allocations past 200 KiB each.
  const auto inv = inventory("2x64MiB", {{"simdev.fail_alloc_after", "200KiB"}});
  auto plan = placement::make_plan(loader::describe_devices(inv), m.tensors, shape, config);
  CHECK(plan.usage("simdev:0")->layers.size() == 5);  // the plan believed the lie
  auto model = loader::load_model(m.file, inv, plan, m.tensors, shape, config);
  const auto report = model.report();
  REQUIRE(!report.notes.empty());
  CHECK(report.notes.front().find("refused an allocation") != std::string::npos);
  bool used_next = false;
  for (const auto& p : model.plan().tensors) used_next |= p.device != "simdev:0";
  CHECK(used_next);
  check_contents(model, m.file);
}

TEST_CASE("lazy mode with a cache of a third of the model: every tensor reachable, evictions as an LRU predicts") {
  Model m("synth-tiny-F32.gguf");
  const uint64_t budget_mib = std::max<uint64_t>(1, (m.weight_bytes() / 3) >> 20);
  const auto config = make_config(R"({"placement": {"policy": "gpu-first"}, "loading": {"mode": "lazy", "lazy_budget_mib": )" +
                                  std::to_string(budget_mib) + R"(}, "runtime": {"context_length": 32, "batch_size": 4}})");
  const auto shape = placement::run_shape(m.hp, config);
  // One simulated GPU smaller than the model: lazy mode streams the weights through it.
  const uint64_t device_mib = budget_mib + 4;
  REQUIRE((device_mib << 20) < m.weight_bytes());
  const auto inv = inventory("1x" + std::to_string(device_mib) + "MiB");
  auto plan = placement::make_plan(loader::describe_devices(inv), m.tensors, shape, config);
  auto model = loader::load_model(m.file, inv, plan, m.tensors, shape, config);
  CHECK(model.report().caches.at("simdev:0").resident_bytes == 0);  // opening uploads nothing

  // Predict with an independent LRU model: two passes over the tensors in plan order.
  const uint64_t budget = budget_mib << 20;
  std::list<std::string> lru;
  std::map<std::string, uint64_t> size_of;
  uint64_t resident = 0, hits = 0, misses = 0, evictions = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& p : model.plan().tensors) {
      if (p.device != "simdev:0") continue;
      size_of[p.tensor] = p.bytes;
      auto it = std::find(lru.begin(), lru.end(), p.tensor);
      if (it != lru.end()) {
        ++hits;
        lru.erase(it);
        lru.push_front(p.tensor);
        continue;
      }
      ++misses;
      while (resident + p.bytes > budget) {
        resident -= size_of[lru.back()];
        lru.pop_back();
        ++evictions;
      }
      lru.push_front(p.tensor);
      resident += p.bytes;
    }
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& p : model.plan().tensors) model.acquire(p.tensor);
  }
  const auto stats = model.report().caches.at("simdev:0");
  CHECK(evictions > 0);
  CHECK(stats.misses == misses);
  CHECK(stats.hits == hits);
  CHECK(stats.evictions == evictions);
  CHECK(stats.resident_bytes == resident);
  CHECK(stats.resident_bytes <= budget);
  check_contents(model, m.file);
}

TEST_CASE("a cancelled load frees every buffer it allocated") {
  Model m("stories260K.gguf");
  const auto config = make_config(R"({"placement": {"policy": "gpu-first"}, "runtime": {"context_length": 32, "batch_size": 4}})");
  const auto shape = placement::run_shape(m.hp, config);
  const auto inv = inventory("1x64MiB");
  const auto* device = inv.find_device("simdev:0");
  const uint64_t free_before = device->free_memory();
  auto plan = placement::make_plan(loader::describe_devices(inv), m.tensors, shape, config);
  loader::LoadOptions options;
  int calls = 0;
  options.progress = [&](const loader::Progress& p) {
    CHECK(p.bytes_done <= p.bytes_total);
    return ++calls < 5;
  };
  try {
    loader::load_model(m.file, inv, plan, m.tensors, shape, config, options);
    FAIL("the load was not cancelled");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::cancelled);
  }
  CHECK(calls == 5);
  CHECK(device->free_memory() == free_before);
}

// Re-planning is bounded: a refusing device is never chosen again in that load, whatever rule picked it first.
// Before, an override or a layer range naming it sent the tensor back there forever (the test timed out).
TEST_CASE("a refusing device named by an override or a layer range: the load re-plans once and completes") {
  Model m("stories260K.gguf");
  const char* configs[] = {
      R"({"placement": {"policy": "gpu-first", "overrides": [{"pattern": "ffn_", "device": "simdev:0"}]},
          "runtime": {"context_length": 32, "batch_size": 4}})",
      R"({"placement": {"policy": "layers", "layers": [{"device": "simdev:0", "first": 0, "last": 4}]},
          "runtime": {"context_length": 32, "batch_size": 4}})",
  };
  for (const char* json : configs) {
    CAPTURE(json);
    const auto config = make_config(json);
    const auto shape = placement::run_shape(m.hp, config);
    const auto inv = inventory("2x64MiB", {{"simdev.fail_alloc_after", "200KiB"}});
    auto plan = placement::make_plan(loader::describe_devices(inv), m.tensors, shape, config);
    auto model = loader::load_model(m.file, inv, plan, m.tensors, shape, config);
    const auto notes = model.report().notes;
    CHECK(std::count_if(notes.begin(), notes.end(), [](const std::string& n) {
            return n.find("refused an allocation it had reported room for") != std::string::npos;
          }) == 2);  // simdev:0, then simdev:1: one re-plan per refusing device
    check_contents(model, m.file);
  }
}

TEST_CASE("every device refuses: one error naming the tensor, each device tried and why it refused") {
  Model m("stories260K.gguf");
  const auto config = make_config(R"({"placement": {"device": "simdev", "policy": "gpu-first"},
                                      "runtime": {"context_length": 32, "batch_size": 4}})");
  const auto shape = placement::run_shape(m.hp, config);
  const auto inv = inventory("2x64MiB", {{"simdev.fail_alloc_after", "100KiB"}});
  auto plan = placement::make_plan(loader::describe_devices(inv), m.tensors, shape, config);
  try {
    loader::load_model(m.file, inv, plan, m.tensors, shape, config);
    FAIL("the load succeeded");
  } catch (const Error& e) {
    const std::string what = e.what();
    CAPTURE(what);
    CHECK(e.code() == ErrorCode::out_of_memory);
    CHECK(what.rfind("cannot load token_embd.weight: ", 0) == 0);  // the first tensor, 128 KiB
    CHECK(what.find("simdev:0 refused") != std::string::npos);
    CHECK(what.find("simdev:1 refused") != std::string::npos);
    CHECK(what.find("injected allocation failure") != std::string::npos);
    CHECK(what.find("fits on no device") != std::string::npos);
  }
  CHECK(inv.find_device("simdev:0")->free_memory() == inv.find_device("simdev:0")->info().total_memory);
}

TEST_CASE("lazy mode re-plans too: a refusal on first use moves the tensor to the next device") {
  Model m("stories260K.gguf");
  const auto config = make_config(R"({"placement": {"policy": "gpu-first"}, "loading": {"mode": "lazy"},
                                      "runtime": {"context_length": 32, "batch_size": 4}})");
  const auto shape = placement::run_shape(m.hp, config);
  const auto inv = inventory("2x64MiB", {{"simdev.fail_alloc_after", "200KiB"}});
  auto plan = placement::make_plan(loader::describe_devices(inv), m.tensors, shape, config);
  auto model = loader::load_model(m.file, inv, plan, m.tensors, shape, config);
  for (const auto& p : plan.tensors) model.acquire(p.tensor);  // the original plan's order
  const auto notes = model.report().notes;
  REQUIRE(!notes.empty());
  CHECK(notes.front().find("simdev:0 refused an allocation") == 0);
  bool moved = false;
  for (const auto& p : model.plan().tensors) moved |= p.device != "simdev:0" && p.layer >= 0;
  CHECK(moved);
  check_contents(model, m.file);
}

TEST_CASE("reset_peak_resident: a peak already given back stops counting") {
  constexpr size_t kBytes = size_t{96} << 20;
  // Straight from the kernel (not malloc, which a sanitizer's quarantine would keep resident), touched, returned.
  void* block = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(block != MAP_FAILED);
  std::memset(block, 1, kBytes);
  const uint64_t with_block = sy::loader::peak_resident_bytes();
  REQUIRE(munmap(block, kBytes) == 0);
  // A high-water mark keeps the peak (Linux counts resident pages approximately, so within a few pages).
  CHECK(sy::loader::peak_resident_bytes() + kBytes / 8 > with_block);
  CHECK(sy::loader::current_resident_bytes() + kBytes / 2 < with_block);
  if (!sy::loader::reset_peak_resident()) return;  // a kernel without clear_refs: nothing more to check
  CHECK(sy::loader::peak_resident_bytes() + kBytes / 2 < with_block);
}

TEST_CASE("loading.cpu_weights copy: the CPU holds its own copy of every weight, none adopted from the mapping") {
  Model m("stories260K.gguf");
  const auto config = make_config(
      R"({"loading": {"cpu_weights": "copy"}, "placement": {"device": "cpu"}, "runtime": {"context_length": 32, "batch_size": 4}})");
  CHECK(config.loading.cpu_weights == "copy");
  const auto shape = placement::run_shape(m.hp, config);
  const auto inv = inventory("1x640KiB");
  auto plan = placement::make_plan(loader::describe_devices(inv), m.tensors, shape, config);
  auto model = loader::load_model(m.file, inv, plan, m.tensors, shape, config);
  const auto report = model.report();
  CHECK(report.zero_copy_bytes == 0);
  CHECK(report.copied_bytes == m.weight_bytes());
  const auto* embd = m.file.find_tensor("token_embd.weight");
  CHECK(model.acquire("token_embd.weight").map() != static_cast<const void*>(m.file.tensor_data(*embd).data()));
  check_contents(model, m.file);  // the released file pages read back from the page cache
  // The copies share one region end to end (so that huge pages hold them whole), each on a 64-byte boundary,
  // and no two overlap.
  std::vector<std::pair<uintptr_t, uint64_t>> ranges;
  uint64_t padded = 0;
  for (const auto& p : model.plan().tensors) {
    const auto& buffer = model.acquire(p.tensor);
    ranges.emplace_back(reinterpret_cast<uintptr_t>(buffer.map()), buffer.size());
    padded += (buffer.size() + 63) / 64 * 64;
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 0; i < ranges.size(); ++i) {
    CHECK(ranges[i].first % 64 == 0);
    if (i > 0) CHECK(ranges[i - 1].first + ranges[i - 1].second <= ranges[i].first);
  }
  CHECK(ranges.back().first + ranges.back().second - ranges.front().first <= padded);
}

TEST_CASE("loading.cpu_weights auto copies only where the file's pages are mapped 4 KiB at a time or read slowly") {
  constexpr uint64_t big = loader::kAutoCopyMinBytes, small = loader::kAutoCopyMinBytes - 1;
  // map and copy are what they say, whatever the page cache
  CHECK(loader::maps_cpu_weights("map", false, true, big, 0.0, 0.1));
  CHECK_FALSE(loader::maps_cpu_weights("copy", false, true, big, 1.0, 1.0));
  CHECK_FALSE(loader::maps_cpu_weights("copy", true, false, small, -1.0, -1.0));
  // auto: a copy for large CPU weights of a progressive load whose pages the kernel maps 4 KiB at a time
  CHECK_FALSE(loader::maps_cpu_weights("auto", false, true, big, 0.0, 1.0));
  CHECK_FALSE(loader::maps_cpu_weights("auto", false, true, big, 0.89, 1.0));
  CHECK(loader::maps_cpu_weights("auto", false, true, big, 0.9, 1.0));
  CHECK(loader::maps_cpu_weights("auto", false, true, big, 1.0, 1.0));
  // or whose pages read from memory slower than the process's own
  CHECK_FALSE(loader::maps_cpu_weights("auto", false, true, big, 1.0, 0.94));
  CHECK(loader::maps_cpu_weights("auto", false, true, big, 1.0, 0.95));
  CHECK(loader::maps_cpu_weights("auto", false, true, big, 1.0, 1.3));
  CHECK(loader::maps_cpu_weights("auto", false, true, big, 1.0, -1.0));  // not measured
  CHECK(loader::maps_cpu_weights("auto", false, true, small, 0.0, 0.1));  // small weights: the copy would not pay
  CHECK(loader::maps_cpu_weights("auto", true, true, big, 0.0, 0.1));     // lazy: fault in only what runs
  CHECK(loader::maps_cpu_weights("auto", false, false, big, 0.0, 0.1));   // no transparent huge pages to copy into
  CHECK(loader::maps_cpu_weights("auto", false, true, big, -1.0, -1.0));  // unknown (a file read into memory)
}

TEST_CASE("loading.cpu_weights auto, the default, keeps a small model's CPU weights in the mapping") {
  Model m("stories260K.gguf");
  const auto config = make_config(R"({"placement": {"device": "cpu"}, "runtime": {"context_length": 32, "batch_size": 4}})");
  CHECK(config.loading.cpu_weights == "auto");
  const auto shape = placement::run_shape(m.hp, config);
  const auto inv = inventory("1x640KiB");
  auto plan = placement::make_plan(loader::describe_devices(inv), m.tensors, shape, config);
  auto model = loader::load_model(m.file, inv, plan, m.tensors, shape, config);
  CHECK(model.report().zero_copy_bytes == m.weight_bytes());
  CHECK(model.report().copied_bytes == 0);
}
