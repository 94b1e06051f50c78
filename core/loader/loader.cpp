#include "core/loader/loader.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "core/common/error.h"
#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"

namespace sy::loader {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t status_field_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stoull(line.substr(prefix.size()));
  }
  return 0;
}

placement::DeviceKind kind_of(const plugin::Device& d) {
  switch (d.info().kind) {
    case SY_DEVICE_CPU: return placement::DeviceKind::cpu;
    case SY_DEVICE_GPU: return placement::DeviceKind::gpu;
    default: return placement::DeviceKind::accelerator;
  }
}

}  // namespace

uint64_t peak_resident_bytes() { return status_field_kib("VmHWM") * 1024; }
uint64_t current_resident_bytes() { return status_field_kib("VmRSS") * 1024; }

std::vector<placement::DeviceDescription> describe_devices(const plugin::Inventory& inventory) {
  std::vector<placement::DeviceDescription> out;
  for (const auto& d : inventory.devices()) {
    out.push_back({d->name(), kind_of(*d), d->free_memory(), d->info().bandwidth_bytes_per_second,
                   d->info().storable_types, d->info().multipliable_types});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

struct LoadedModel::State {
  struct Entry {
    size_t plan_index = 0;
    const gguf::TensorInfo* info = nullptr;
    const plugin::Device* device = nullptr;
    plugin::Buffer buffer;
    bool resident = false;
    bool zero_copy = false;
    std::list<size_t>::iterator lru_position;
  };
  struct Cache {
    CacheStats stats;
    std::list<size_t> lru;  // entry indices, most recently used first
  };

  State(const gguf::File& f, const plugin::Inventory& inv, placement::Plan p,
        const std::vector<placement::TensorDescription>& t, const placement::RunShape& s, const config::RunConfig& c)
      : file(f), inventory(inv), plan(std::move(p)), tensors(t), shape(s), config(c) {}

  const gguf::File& file;
  const plugin::Inventory& inventory;
  placement::Plan plan;
  std::vector<placement::TensorDescription> tensors;
  placement::RunShape shape;
  const config::RunConfig& config;
  bool lazy = false;
  uint64_t staging_bytes = 64u << 20;
  std::vector<std::byte> staging;  // reused for every converted chunk; never larger than staging_bytes
  std::vector<float> floats;
  std::vector<Entry> entries;
  std::unordered_map<std::string, size_t> index;
  std::map<std::string, Cache> caches;
  LoadReport report;

  void build_entries() {
    entries.clear();
    index.clear();
    entries.reserve(plan.tensors.size());
    for (size_t i = 0; i < plan.tensors.size(); ++i) add_entry(i);
  }

  void add_entry(size_t plan_index) {
    const auto& p = plan.tensors[plan_index];
    Entry e;
    e.plan_index = plan_index;
    e.info = file.find_tensor(p.tensor);
    e.device = inventory.find_device(p.device);
    if (!e.info || !e.device) {
      throw Error(ErrorCode::internal, "the plan names " + p.tensor + " on " + p.device + ", which is not there");
    }
    index[p.tensor] = entries.size();
    entries.push_back(std::move(e));
  }

  bool can_adopt(const Entry& e) const {
    const auto& p = plan.tensors[e.plan_index];
    return p.stored_type == e.info->type && (e.device->info().flags & SY_DEVICE_FLAG_ADOPTS_HOST_MEMORY);
  }

  // Puts one tensor on its device: adopted in place when possible, else allocated and streamed (converted per
  // chunk when the plan changed its type). Throws sy::Error(out_of_memory) when the allocation is refused.
  void materialize(Entry& e) {
    const auto& p = plan.tensors[e.plan_index];
    const auto data = file.tensor_data(*e.info);
    if (can_adopt(e)) {
      // The mapping is read-only and the CPU plugin never writes weights: the cast only meets the C signature.
      if (auto adopted = e.device->adopt_host(const_cast<std::byte*>(data.data()), data.size())) {
        e.buffer = std::move(*adopted);
        e.zero_copy = true;
        e.resident = true;
        return;
      }
    }
    e.buffer = e.device->allocate(p.bytes);
    if (p.stored_type == e.info->type) {
      // Already host memory in the device's format: stream it in bounded pieces straight from the mapping.
      for (uint64_t done = 0; done < data.size(); done += staging_bytes) {
        const uint64_t n = std::min<uint64_t>(staging_bytes, data.size() - done);
        e.buffer.upload(done, data.data() + done, n);
      }
    } else {
      convert_and_upload(e, data, p.stored_type);
      report.converted_tensors += 1;
    }
    e.zero_copy = false;
    e.resident = true;
  }

  void convert_and_upload(Entry& e, std::span<const std::byte> data, gguf::TensorType target) {
    const uint64_t row = e.info->ne[0];
    const uint64_t out_size = target == gguf::TensorType::F16 ? 2 : 4;
    // Whole rows per chunk, so every chunk starts on a block boundary.
    const uint64_t rows_per_chunk = std::max<uint64_t>(1, staging_bytes / (row * sizeof(float)));
    const uint64_t chunk_elements = rows_per_chunk * row;
    floats.resize(std::min(chunk_elements, e.info->n_elements));
    staging.resize(floats.size() * out_size);
    for (uint64_t first = 0; first < e.info->n_elements; first += chunk_elements) {
      const uint64_t n = std::min(chunk_elements, e.info->n_elements - first);
      std::span<float> out(floats.data(), n);
      quant::dequantize_range(e.info->type, data, e.info->n_elements, first, out, e.info->name);
      if (target == gguf::TensorType::F16) {
        auto* half = reinterpret_cast<uint16_t*>(staging.data());
        for (uint64_t i = 0; i < n; ++i) half[i] = quant::fp32_to_fp16(out[i]);
        e.buffer.upload(first * 2, staging.data(), n * 2);
      } else {
        e.buffer.upload(first * 4, out.data(), n * 4);
      }
    }
  }

  void progressive_load(const LoadOptions& options) {
    uint64_t total = 0;
    for (const auto& p : plan.tensors) total += file.find_tensor(p.tensor)->n_bytes;
    uint64_t done_bytes = 0;
    std::set<std::string> failed_devices;
    for (size_t i = 0; i < entries.size(); ++i) {
      try {
        materialize(entries[i]);
      } catch (const Error& error) {
        if (error.code() != ErrorCode::out_of_memory) throw;
        const std::string device = entries[i].device->name();
        failed_devices.insert(device);
        spdlog::warn("{} refused {} for {} although it reported room ({}); re-planning the remaining tensors",
                     device, placement::format_bytes(plan.tensors[entries[i].plan_index].bytes),
                     plan.tensors[entries[i].plan_index].tensor, error.what());
        replan(i, failed_devices);
        --i;  // retry this tensor where the new plan puts it
        continue;
      }
      done_bytes += entries[i].info->n_bytes;
      if (options.progress && !options.progress({done_bytes, total, plan.tensors[entries[i].plan_index].tensor})) {
        throw Error(ErrorCode::cancelled, "loading cancelled after " + std::to_string(i + 1) + " of " +
                                              std::to_string(entries.size()) + " tensors; every buffer was freed");
      }
    }
  }

  // Keeps entries [0, loaded) where they are and re-plans the rest without the failed devices.
  void replan(size_t loaded, const std::set<std::string>& failed_devices) {
    std::map<std::string, std::string> pinned;
    for (size_t i = 0; i < loaded; ++i) pinned[plan.tensors[entries[i].plan_index].tensor] = entries[i].device->name();
    auto described = tensors;
    for (auto& t : described) {
      if (auto it = pinned.find(t.name); it != pinned.end()) t.pinned_device = it->second;
    }
    placement::Plan next = placement::replan_without(failed_devices, describe_devices(inventory), described, shape, config);
    for (const auto& note : next.notes) report.notes.push_back(note);
    // Loaded entries keep their buffers; the rest are rebuilt from the new plan, in its order.
    std::vector<Entry> kept(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.begin() + loaded));
    plan = std::move(next);
    entries = std::move(kept);
    index.clear();
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
      if (pinned.count(plan.tensors[i].tensor)) {
        for (size_t k = 0; k < entries.size(); ++k) {
          if (entries[k].info->name == plan.tensors[i].tensor) {
            entries[k].plan_index = i;
            index[plan.tensors[i].tensor] = k;
          }
        }
      }
    }
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
      if (!pinned.count(plan.tensors[i].tensor)) add_entry(i);
    }
  }

  void set_up_caches() {
    for (const auto& usage : plan.devices) {
      Cache cache;
      const uint64_t budget_mib = config.loading.lazy_budget_mib;
      const uint64_t plan_room = usage.budget > usage.kv_cache + usage.scratch ? usage.budget - usage.kv_cache - usage.scratch : 0;
      cache.stats.budget_bytes = budget_mib ? budget_mib << 20 : plan_room;
      caches[usage.device] = cache;
    }
  }

  const plugin::Buffer& acquire(size_t i) {
    Entry& e = entries[i];
    Cache& cache = caches[e.device->name()];
    if (e.resident) {
      cache.stats.hits += 1;
      if (!e.zero_copy) cache.lru.splice(cache.lru.begin(), cache.lru, e.lru_position);
      return e.buffer;
    }
    cache.stats.misses += 1;
    if (!can_adopt(e)) {
      const uint64_t bytes = plan.tensors[e.plan_index].bytes;
      if (bytes > cache.stats.budget_bytes) {
        throw Error(ErrorCode::out_of_memory,
                    fmt::format("{} needs {} on {}, more than its whole lazy cache budget of {}; raise "
                                "loading.lazy_budget_mib", e.info->name, placement::format_bytes(bytes),
                                e.device->name(), placement::format_bytes(cache.stats.budget_bytes)));
      }
      while (cache.stats.resident_bytes + bytes > cache.stats.budget_bytes) evict_oldest(cache);
    }
    materialize(e);
    if (!e.zero_copy) {
      cache.lru.push_front(i);
      e.lru_position = cache.lru.begin();
      cache.stats.resident_bytes += plan.tensors[e.plan_index].bytes;
    }
    return e.buffer;
  }

  void evict_oldest(Cache& cache) {
    const size_t victim = cache.lru.back();
    cache.lru.pop_back();
    Entry& v = entries[victim];
    v.buffer = plugin::Buffer();
    v.resident = false;
    cache.stats.resident_bytes -= plan.tensors[v.plan_index].bytes;
    cache.stats.evictions += 1;
  }

  LoadReport make_report() const {
    LoadReport r = report;
    r.mode = lazy ? "lazy" : "progressive";
    std::map<std::string, DeviceLoadStats> per_device;
    for (const auto& d : plan.devices) per_device[d.device].device = d.device;
    r.zero_copy_bytes = r.copied_bytes = 0;
    for (const auto& e : entries) {
      auto& s = per_device[e.device->name()];
      s.device = e.device->name();
      s.tensors += 1;
      const uint64_t bytes = plan.tensors[e.plan_index].bytes;
      s.bytes += bytes;
      if (!e.resident) continue;
      (e.zero_copy ? s.zero_copy_bytes : s.copied_bytes) += bytes;
      (e.zero_copy ? r.zero_copy_bytes : r.copied_bytes) += bytes;
    }
    for (auto& [name, stats] : per_device) r.devices.push_back(stats);
    if (lazy) {
      for (const auto& [name, cache] : caches) r.caches[name] = cache.stats;
    }
    r.peak_resident_bytes = peak_resident_bytes();
    return r;
  }
};

LoadedModel::LoadedModel(std::unique_ptr<State> state) : state_(std::move(state)) {}
LoadedModel::LoadedModel(LoadedModel&&) noexcept = default;
LoadedModel::~LoadedModel() = default;

const plugin::Buffer& LoadedModel::acquire(std::string_view tensor) {
  auto it = state_->index.find(std::string(tensor));
  if (it == state_->index.end()) throw Error(ErrorCode::not_found, "no tensor '" + std::string(tensor) + "' in the model");
  if (!state_->lazy) return state_->entries[it->second].buffer;
  return state_->acquire(it->second);
}

const plugin::Device& LoadedModel::device_of(std::string_view tensor) const {
  auto it = state_->index.find(std::string(tensor));
  if (it == state_->index.end()) throw Error(ErrorCode::not_found, "no tensor '" + std::string(tensor) + "' in the model");
  return *state_->entries[it->second].device;
}

const placement::Plan& LoadedModel::plan() const { return state_->plan; }
LoadReport LoadedModel::report() const { return state_->make_report(); }

LoadedModel load_model(const gguf::File& file, const plugin::Inventory& inventory, placement::Plan plan,
                       const std::vector<placement::TensorDescription>& tensors, const placement::RunShape& shape,
                       const config::RunConfig& config, const LoadOptions& options) {
  auto state = std::make_unique<LoadedModel::State>(file, inventory, std::move(plan), tensors, shape, config);
  state->lazy = config.loading.mode == "lazy";
  state->staging_bytes = config.loading.staging_mib << 20;
  const auto start = Clock::now();
  state->build_entries();
  if (state->lazy) {
    state->set_up_caches();
  } else {
    state->progressive_load(options);
  }
  state->report.phase_seconds.push_back(
      {state->lazy ? "handles" : "load", std::chrono::duration<double>(Clock::now() - start).count()});
  return LoadedModel(std::move(state));
}

}  // namespace sy::loader
