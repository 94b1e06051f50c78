#include "core/loader/loader.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/common/error.h"
#include "core/common/memory_read.h"
#include "core/common/parallel_copy.h"
#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"
#include "core/quant/reencode.h"

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

// Bytes `n` elements take in a type the loader converts to (F32, F16, or a re-encoding of the file's type); `n`
// is whole rows, hence whole blocks.
uint64_t converted_bytes(gguf::TensorType target, uint64_t n) { return *gguf::tensor_storage_bytes(target, n); }

// Elements [first, first + n) of `tensor` (stored as `data` in the file's type) in `target` (F32, F16, or its
// lossless re-encoding, quant::reencoding_of) at `destination`; `floats` is scratch for the F16 case. The one
// definition of what a converted tensor holds: the upload writes it and verify_model compares against it.
void convert_elements(const gguf::TensorInfo& tensor, std::span<const std::byte> data, uint64_t first, uint64_t n,
                      gguf::TensorType target, std::byte* destination, std::vector<float>& floats) {
  if (quant::reencoding_of(tensor.type) == target) {
    const uint64_t at = *gguf::tensor_storage_bytes(tensor.type, first);
    if (first + n > tensor.n_elements || at + *gguf::tensor_storage_bytes(tensor.type, n) > data.size())
      throw Error(ErrorCode::internal,
                  fmt::format("{}: re-encoding elements {}..{} past its end", tensor.name, first, first + n));
    quant::reencode_blocks(tensor.type, data.data() + at, n, destination);
  } else if (target == gguf::TensorType::F16) {
    floats.resize(n);
    quant::dequantize_range(tensor.type, data, tensor.n_elements, first, std::span<float>(floats.data(), n),
                            tensor.name);
    auto* half = reinterpret_cast<uint16_t*>(destination);
    for (uint64_t i = 0; i < n; ++i) half[i] = quant::fp32_to_fp16(floats[i]);
  } else {
    quant::dequantize_range(tensor.type, data, tensor.n_elements, first,
                            std::span<float>(reinterpret_cast<float*>(destination), n), tensor.name);
  }
}

}  // namespace

uint64_t peak_resident_bytes() { return status_field_kib("VmHWM") * 1024; }
uint64_t current_resident_bytes() { return status_field_kib("VmRSS") * 1024; }

bool reset_peak_resident() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";  // resets the high-water mark to the current resident set (Linux 4.0)
  clear_refs.flush();
  return clear_refs.good();
}

std::vector<placement::DeviceDescription> describe_devices(const plugin::Inventory& inventory) {
  std::vector<placement::DeviceDescription> out;
  for (const auto& d : inventory.devices()) {
    out.push_back({d->name(), d->info().kind, d->free_memory(), d->info().bandwidth_bytes_per_second,
                   d->info().storable_types, d->info().multipliable_types, d->info().max_attention_context,
                   d->info().buffer_alignment, d->speaks(1, 4), d->info().reencoded_types});
  }
  return out;
}

bool maps_cpu_weights(std::string_view mode, bool lazy, bool huge_pages_available, uint64_t cpu_weight_bytes,
                      double huge_page_share, double read_ratio) {
  if (mode != "auto") return mode == "map";
  if (lazy || !huge_pages_available || cpu_weight_bytes < kAutoCopyMinBytes) return true;
  if (huge_page_share >= 0 && huge_page_share < kAutoCopyShare) return false;
  return read_ratio < 0 || read_ratio >= kAutoCopyReadRatio;
}

// Whether the kernel can give this process transparent huge pages (the mode in the sysfs file is not "[never]").
bool transparent_huge_pages_available() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  return std::getline(in, modes) && modes.find("[never]") == std::string::npos;
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
  std::vector<float> floats;  // decoded rows on their way to F16, one chunk at a time
  // Copies into a host-visible device's own memory (loading.cpu_weights copy, or auto's copy) share one buffer per
  // device, each tensor adopted from its range: end to end they lie in huge pages, where a buffer per tensor left
  // each one's tail past its last 2 MiB in small pages (tokens 2-4% slower). Declared before `entries`, whose
  // adopted buffers borrow it and so must go first.
  struct HostArena {
    plugin::Buffer buffer;
    uint64_t used = 0;
  };
  std::map<const plugin::Device*, HostArena> arenas;
  std::vector<Entry> entries;
  std::unordered_map<std::string, size_t> index;
  std::map<std::string, Cache> caches;
  LoadReport report;

  // Double-buffered uploads to one device: two staging halves (pinned where the plugin offers it), each with its
  // own stream, so that filling one half overlaps the copy out of the other. Declared after `entries` so that the
  // streams (which wait for their copies) go before the buffers they copy into.
  struct Pipeline {
    plugin::StagingMemory halves[2];
    std::optional<plugin::Stream> streams[2];
    bool in_flight[2] = {false, false};
    int next = 0;
  };
  std::map<const plugin::Device*, Pipeline> pipelines;

  Pipeline& pipeline_for(const plugin::Device& device) {
    auto it = pipelines.find(&device);
    if (it != pipelines.end()) return it->second;
    Pipeline& p = pipelines[&device];
    const uint64_t half = std::max<uint64_t>(staging_bytes / 2, 1u << 16);
    for (int k = 0; k < 2; ++k) {
      p.halves[k] = device.allocate_staging(half);
      p.streams[k] = device.create_stream();
    }
    if (!p.halves[0].pinned()) {
      spdlog::debug("{} offers no pinned host memory: uploads stage through pageable memory", device.name());
    }
    return p;
  }

  // Fills the next free staging half through `fill(destination, bytes)` and enqueues its upload to `buffer` at
  // `offset`. `bytes` must not exceed a half.
  template <class Fill>
  void stage_upload(const plugin::Device& device, plugin::Buffer& buffer, uint64_t offset, uint64_t bytes, Fill fill) {
    Pipeline& p = pipeline_for(device);
    const int k = p.next;
    p.next ^= 1;
    if (p.in_flight[k]) {
      p.streams[k]->synchronize();  // its previous copy must be done before the half is overwritten
      p.in_flight[k] = false;
    }
    fill(p.halves[k].data(), bytes);
    if (p.streams[k]) {
      buffer.upload(offset, p.halves[k].data(), bytes, *p.streams[k]);
      p.in_flight[k] = true;
    } else {
      buffer.upload(offset, p.halves[k].data(), bytes);
    }
  }

  // Waits for every enqueued upload; after it, every uploaded tensor is complete on its device.
  void drain() {
    for (auto& [device, p] : pipelines) {
      for (int k = 0; k < 2; ++k) {
        if (p.in_flight[k]) {
          p.streams[k]->synchronize();
          p.in_flight[k] = false;
        }
      }
    }
  }

  // Threads for copying weights into CPU memory: runtime.threads (0 = every core).
  unsigned copy_threads() const {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    return config.runtime.threads > 0 ? static_cast<unsigned>(std::min<uint64_t>(config.runtime.threads, cores)) : cores;
  }

  uint64_t staging_half() const { return std::max<uint64_t>(staging_bytes / 2, 1u << 16); }

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
    e.info = file.find_tensor(p.file_tensor());
    e.device = inventory.find_device(p.device);
    if (!e.info || !e.device) {
      throw Error(ErrorCode::internal, "the plan names " + p.tensor + " on " + p.device + ", which is not there");
    }
    index[p.tensor] = entries.size();
    entries.push_back(std::move(e));
  }

  // Whether the plan keeps the tensor in the file's format on a device that can use host memory in place (the CPU).
  bool adoptable(const Entry& e) const {
    const auto& p = plan.tensors[e.plan_index];
    return p.stored_type == e.info->type && (e.device->info().flags & SY_DEVICE_FLAG_ADOPTS_HOST_MEMORY);
  }

  bool can_adopt(const Entry& e) {
    if (!adoptable(e)) return false;
    if (!cpu_weights_mapped) cpu_weights_mapped = decide_cpu_weights();
    return *cpu_weights_mapped;
  }

  // loading.cpu_weights (maps_cpu_weights, loader.h), decided at a load's first adoptable tensor. gguf::File maps
  // the file at huge-page boundaries with that advice, so a page cache of 2 MiB folios is mapped 2 MiB at a time.
  std::optional<bool> cpu_weights_mapped;

  bool decide_cpu_weights() {
    const std::string& mode = config.loading.cpu_weights;
    if (mode != "auto") return mode == "map";
    uint64_t bytes = 0;
    std::vector<std::span<const std::byte>> weights;
    for (const Entry& e : entries)
      if (adoptable(e)) {
        bytes += e.info->n_bytes;
        weights.push_back(file.tensor_data(*e.info));
      }
    const bool huge_pages = transparent_huge_pages_available();
    // Where the rule maps even a page cache of 4 KiB folios, there is nothing to measure: skip the faults.
    if (maps_cpu_weights(mode, lazy, huge_pages, bytes, 0.0, 0.0)) return true;
    for (const auto range : weights) file.populate(range);  // the faults the first token would take, now
    const double share = file.huge_page_share();
    if (!maps_cpu_weights(mode, lazy, huge_pages, bytes, share, -1)) {
      report.notes.push_back(fmt::format(
          "CPU weights copied into 2 MiB pages: the kernel maps only {:.0f}% of the file's page cache 2 MiB at a "
          "time (a file just written or read in small pieces is cached in 4 KiB pages, which slow every token); "
          "loading.cpu_weights map keeps them in place",
          100 * share));
      return false;
    }
    const auto sample = sample_pieces(weights);
    const double ratio = common::read_speed_against_own_memory(sample, 5);
    uint64_t sampled = 0;
    for (const auto piece : sample) sampled += piece.size();
    if (!maps_cpu_weights(mode, lazy, huge_pages, bytes, share, ratio)) {
      report.notes.push_back(fmt::format(
          "CPU weights copied into the CPU's memory: {} MiB of them read from the file's pages at {:.0f}% of the "
          "speed of this process's own memory (a page cache in slower memory, as a virtual machine's can be); "
          "loading.cpu_weights map keeps them in place",
          sampled >> 20, 100 * ratio));
      return false;
    }
    if (share >= 0)
      report.notes.push_back(fmt::format(
          "CPU weights used in place: the kernel maps {:.0f}% of the file's pages 2 MiB at a time{} "
          "(loading.cpu_weights auto)",
          100 * share, ratio >= 0 ? fmt::format(", and they read at {:.0f}% of the speed of fresh memory", 100 * ratio)
                                  : std::string()));
    return true;
  }

  // Up to kSamplePieces pieces of kSamplePieceBytes, evenly spread over the weights taken in order (the tensors of
  // at least a piece: the small ones, norms and biases, are a few pages each): what read_speed_against_own_memory
  // reads of them.
  static std::vector<std::span<const std::byte>> sample_pieces(std::vector<std::span<const std::byte>> weights) {
    constexpr uint64_t kSamplePieces = 16, kSamplePieceBytes = uint64_t{2} << 20;
    std::erase_if(weights, [&](std::span<const std::byte> range) { return range.size() < kSamplePieceBytes; });
    uint64_t total = 0;
    for (const auto range : weights) total += range.size();
    std::vector<std::span<const std::byte>> pieces;
    uint64_t start = 0;  // of the current range, in the weights taken in order
    size_t range = 0;
    for (uint64_t k = 0; k < kSamplePieces && range < weights.size(); ++k) {
      const uint64_t at = total / kSamplePieces * k;
      while (range < weights.size() && start + weights[range].size() <= at) start += weights[range++].size();
      if (range == weights.size()) break;
      const uint64_t offset = at - start;
      const uint64_t n = std::min<uint64_t>(kSamplePieceBytes, weights[range].size() - offset);
      pieces.push_back(weights[range].subspan(offset, n));
    }
    return pieces;
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
    if (host_visible_copy(e)) {
      // loading.cpu_weights copy, or a tensor converted for the CPU: written straight into the device's host
      // memory (its arena where it has one), after which the file's pages leave this process's resident set (they
      // stay in the page cache), so the weights are not resident twice.
      e.buffer = host_copy_buffer(e, p.bytes);
      if (p.stored_type == e.info->type) {
        common::copy_parallel(e.buffer.map(), data.data(), data.size(), copy_threads());
      } else {
        convert_in_host_memory(e, data, p.stored_type, static_cast<std::byte*>(e.buffer.map()));
        report.converted_tensors += 1;
      }
      file.release(data);
      e.zero_copy = false;
      e.resident = true;
      return;
    }
    e.buffer = e.device->allocate(p.bytes);
    if (p.stored_type == e.info->type) {
      // Already in the device's format: copied piece by piece through the staging halves (pinned memory is what
      // lets a GPU copy asynchronously; the mapping itself is pageable).
      const uint64_t half = staging_half();
      for (uint64_t done = 0; done < data.size(); done += half) {
        const uint64_t n = std::min<uint64_t>(half, data.size() - done);
        stage_upload(*e.device, e.buffer, done, n,
                     [&](std::byte* destination, uint64_t bytes) { std::memcpy(destination, data.data() + done, bytes); });
      }
    } else {
      convert_and_upload(e, data, p.stored_type);
      report.converted_tensors += 1;
    }
    e.zero_copy = false;
    e.resident = true;
  }

  // Whether `e`, when not adopted, is written straight into host memory its device uses in place (the CPU's).
  bool host_visible_copy(const Entry& e) const {
    const uint32_t flags = e.device->info().flags;
    return (flags & SY_DEVICE_FLAG_ADOPTS_HOST_MEMORY) && (flags & SY_DEVICE_FLAG_HOST_VISIBLE);
  }

  static constexpr uint64_t kArenaAlignment = 64;  // a cache line, the widest vector load
  static uint64_t arena_bytes(uint64_t bytes) { return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

  // One buffer per device for the copies of a progressive load, sized for all of them (lazy loads evict tensor by
  // tensor and keep a buffer each). A device that refuses it gets a buffer per tensor instead, whose own refusals
  // the load handles as for any device.
  void prepare_host_arenas() {
    if (lazy) return;
    std::map<const plugin::Device*, uint64_t> totals;
    for (Entry& e : entries)
      if (host_visible_copy(e) && !can_adopt(e)) totals[e.device] += arena_bytes(plan.tensors[e.plan_index].bytes);
    for (const auto& [device, total] : totals) {
      try {
        arenas[device].buffer = device->allocate(total);
      } catch (const Error& error) {
        if (error.code() != ErrorCode::out_of_memory) throw;
        spdlog::debug("{} refused one buffer of {} for its copies ({}); one buffer per tensor instead",
                      device->name(), placement::format_bytes(total), error.what());
        arenas.erase(device);
      }
    }
  }

  // The buffer `e`'s copy goes into: its range of the device's arena, or a buffer of its own.
  plugin::Buffer host_copy_buffer(const Entry& e, uint64_t bytes) {
    if (auto it = arenas.find(e.device); it != arenas.end() && it->second.buffer.map() &&
                                         it->second.used + arena_bytes(bytes) <= it->second.buffer.size()) {
      auto* at = static_cast<std::byte*>(it->second.buffer.map()) + it->second.used;
      if (auto adopted = e.device->adopt_host(at, bytes)) {
        it->second.used += arena_bytes(bytes);
        return std::move(*adopted);
      }
    }
    return e.device->allocate(plan.tensors[e.plan_index].bytes);
  }

  // The conversion of `e` to `target` written at `destination` (host memory of the tensor's converted size), in
  // pieces of whole rows over the copy threads.
  void convert_in_host_memory(const Entry& e, std::span<const std::byte> data, gguf::TensorType target,
                              std::byte* destination) {
    const uint64_t row = e.info->ne[0];
    const uint64_t rows = e.info->n_elements / row;
    const uint64_t rows_per_piece = std::max<uint64_t>(1, (uint64_t{4} << 20) / converted_bytes(target, row));
    common::for_each_piece_parallel((rows + rows_per_piece - 1) / rows_per_piece, copy_threads(), [&](size_t k) {
      const uint64_t first = k * rows_per_piece * row;
      const uint64_t n = std::min(rows_per_piece * row, e.info->n_elements - first);
      std::vector<float> scratch;
      convert_elements(*e.info, data, first, n, target, destination + converted_bytes(target, first), scratch);
    });
  }

  void convert_and_upload(Entry& e, std::span<const std::byte> data, gguf::TensorType target) {
    const uint64_t row = e.info->ne[0];
    const uint64_t row_bytes = converted_bytes(target, row);
    // Whole rows per chunk, so every chunk starts on a block boundary, and as many as fit in a staging half.
    const uint64_t rows_per_chunk = std::max<uint64_t>(1, staging_half() / row_bytes);
    const uint64_t chunk_elements = std::min(rows_per_chunk * row, e.info->n_elements);
    if (converted_bytes(target, chunk_elements) > staging_half()) {
      throw Error(ErrorCode::invalid_argument,
                  fmt::format("{}: one row ({} converted bytes) does not fit a staging half of {}; raise "
                              "loading.staging_mib", e.info->name, row_bytes, placement::format_bytes(staging_half())));
    }
    for (uint64_t first = 0; first < e.info->n_elements; first += chunk_elements) {
      const uint64_t n = std::min(chunk_elements, e.info->n_elements - first);
      stage_upload(*e.device, e.buffer, converted_bytes(target, first), converted_bytes(target, n),
                   [&](std::byte* destination, uint64_t) {
        convert_elements(*e.info, data, first, n, target, destination, floats);
      });
    }
  }

  void progressive_load(const LoadOptions& options) {
    prepare_host_arenas();
    uint64_t total = 0;
    for (const auto& p : plan.tensors) total += file.find_tensor(p.file_tensor())->n_bytes;
    uint64_t done_bytes = 0, zero_copy_bytes = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      try {
        materialize(entries[i]);
      } catch (const Error& error) {
        if (error.code() != ErrorCode::out_of_memory) throw;
        refused(entries[i], error);
        std::vector<bool> keep(entries.size(), false);
        std::fill(keep.begin(), keep.begin() + static_cast<std::ptrdiff_t>(i), true);
        replan(keep, entries[i]);
        --i;  // retry this tensor where the new plan puts it
        continue;
      }
      done_bytes += entries[i].info->n_bytes;
      if (entries[i].zero_copy) zero_copy_bytes += entries[i].info->n_bytes;
      if (i + 1 == entries.size()) drain();
      if (options.progress &&
          !options.progress({done_bytes, total, zero_copy_bytes, plan.tensors[entries[i].plan_index].tensor})) {
        throw Error(ErrorCode::cancelled, "loading cancelled after " + std::to_string(i + 1) + " of " +
                                              std::to_string(entries.size()) + " tensors; every buffer was freed");
      }
    }
  }

  // One refused allocation: the device, the tensor, its size and the device's own words.
  struct Refusal {
    std::string device, tensor, reason;
    uint64_t bytes = 0;
  };
  std::vector<Refusal> refusals;  // in order; each device at most once, so a load re-plans at most once per device

  std::string refusals_text() const {
    std::string text;
    for (const auto& r : refusals) {
      text += fmt::format("\n  {} refused {} for {}: {}", r.device, placement::format_bytes(r.bytes), r.tensor, r.reason);
    }
    return text;
  }

  // Records that `e`'s device refused its allocation. A device refuses at most once per load: the re-plan never
  // chooses it again, so a second refusal means the planner broke that promise, and looping would never end.
  void refused(const Entry& e, const Error& error) {
    const auto& p = plan.tensors[e.plan_index];
    const std::string device = e.device->name();
    const bool again = std::any_of(refusals.begin(), refusals.end(), [&](const Refusal& r) { return r.device == device; });
    refusals.push_back({device, p.tensor, error.what(), p.bytes});
    if (again) {
      throw Error(ErrorCode::internal, fmt::format("{} was placed again on {}, which had already refused an allocation "
                                                   "in this load:{}", p.tensor, device, refusals_text()));
    }
    spdlog::warn("{} refused {} for {} although it reported room ({}); re-planning the remaining tensors", device,
                 placement::format_bytes(p.bytes), p.tensor, error.what());
  }

  // Re-plans every entry not marked in `keep` (loaded tensors stay where they are, pinned) without the devices
  // that refused. Entries are updated in place, so buffers already handed out stay where they are. When no device
  // is left for some tensor, throws one sy::Error(out_of_memory) naming `failed` (the tensor being placed), every
  // refusal and why the remaining devices cannot take it.
  void replan(const std::vector<bool>& keep, const Entry& failed) {
    std::set<std::string> failed_devices;
    for (const auto& r : refusals) failed_devices.insert(r.device);
    auto described = tensors;
    std::unordered_map<std::string, const Entry*> kept;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (keep[i]) kept[plan.tensors[entries[i].plan_index].tensor] = &entries[i];
    }
    for (auto& t : described) {
      if (auto it = kept.find(t.name); it != kept.end()) {
        t.pinned_device = it->second->device->name();
        t.pinned_type = plan.tensors[it->second->plan_index].stored_type;
      }
    }
    placement::Plan next;
    try {
      next = placement::replan_without(failed_devices, describe_devices(inventory), described, shape, config);
    } catch (const Error& error) {
      if (error.code() != ErrorCode::out_of_memory) throw;
      throw Error(ErrorCode::out_of_memory,
                  fmt::format("cannot load {}: every device that could take it refused or has no room.\nRefused "
                              "allocations:{}\nThe remaining devices: {}", failed.info->name, refusals_text(),
                              error.what()));
    }
    for (const auto& note : next.notes) report.notes.push_back(note);
    std::vector<std::string> plan_names;
    for (const auto& e : entries) plan_names.push_back(plan.tensors[e.plan_index].tensor);
    std::unordered_map<std::string, size_t> position;
    for (size_t i = 0; i < next.tensors.size(); ++i) position[next.tensors[i].tensor] = i;
    plan = std::move(next);
    std::vector<Entry> kept_entries;  // a tied head's copy the re-plan no longer wants is dropped
    std::vector<size_t> new_index(entries.size(), SIZE_MAX);
    for (size_t i = 0; i < entries.size(); ++i) {
      Entry& e = entries[i];
      const std::string& name = plan_names[i];
      const auto it = position.find(name);
      if (it == position.end()) {
        if (!keep[i] && name != e.info->name) continue;  // a copy, never loaded: nothing to keep
        throw Error(ErrorCode::internal, "the re-plan lost tensor " + name);
      }
      e.plan_index = it->second;
      if (!keep[i]) {
        e.device = inventory.find_device(plan.tensors[e.plan_index].device);
        if (!e.device) throw Error(ErrorCode::internal, "the re-plan names unknown device " + plan.tensors[e.plan_index].device);
      }
      new_index[i] = kept_entries.size();
      kept_entries.push_back(std::move(e));
    }
    for (auto& [device, cache] : caches)  // resident entries are kept, so each has a new index
      for (size_t& k : cache.lru) k = new_index[k];
    // Entries keep their order, so one dropped after the one being loaded shifts nothing already done.
    entries = std::move(kept_entries);
    index.clear();
    for (size_t i = 0; i < entries.size(); ++i) index[plan.tensors[entries[i].plan_index].tensor] = i;
  }

  void set_up_caches() {
    for (const auto& usage : plan.devices) {
      Cache cache;
      const uint64_t budget_mib = config.loading.lazy_budget_mib;
      const uint64_t plan_room = usage.budget > usage.kv_cache + usage.scratch ? usage.budget - usage.kv_cache - usage.scratch : 0;
      // Never more than the plan leaves on the device: a budget larger than the device is no budget at all (the
      // planner says so in a note).
      cache.stats.budget_bytes = budget_mib ? std::min(budget_mib << 20, plan_room) : plan_room;
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
    try {
      materialize(e);
    } catch (const Error& error) {
      if (error.code() != ErrorCode::out_of_memory) throw;
      // Lazy mode re-plans too: resident tensors stay, the rest (this one included) move off the refusing device.
      refused(e, error);
      std::vector<bool> keep(entries.size());
      for (size_t k = 0; k < entries.size(); ++k) keep[k] = entries[k].resident;
      const std::string name = plan.tensors[e.plan_index].tensor;
      replan(keep, e);
      const auto it = index.find(name);
      if (it == index.end())  // a tied head's copy the re-plan dropped: the session planned with it
        throw Error(ErrorCode::out_of_memory, fmt::format("{} was refused and the re-plan has no room for it:{}", name,
                                                          refusals_text()));
      return acquire(it->second);  // bounded: each device refuses at most once per load
    }
    drain();  // the caller uses the tensor now
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

VerifyReport verify_model(LoadedModel& model, const gguf::File& file, const ProgressCallback& progress) {
  constexpr uint64_t kChunkBytes = uint64_t{16} << 20;  // host memory used, whatever the tensor's size
  VerifyReport report;
  uint64_t total = 0;
  for (const auto& p : model.plan().tensors) total += p.bytes;
  std::vector<std::byte> expected, found;
  std::vector<float> floats;
  for (const auto& p : model.plan().tensors) {
    const gguf::TensorInfo* info = file.find_tensor(p.file_tensor());
    if (!info) throw Error(ErrorCode::internal, "verify: the plan names " + p.file_tensor() + ", which the file lacks");
    const auto data = file.tensor_data(*info);
    const plugin::Buffer& buffer = model.acquire(p.tensor);
    const bool converted = p.stored_type != info->type;
    const uint64_t size = converted ? converted_bytes(p.stored_type, info->n_elements) : data.size();
    if (buffer.size() < size) {
      report.mismatches.push_back(fmt::format("{} on {}: the device buffer holds {} bytes, expected {}", p.tensor,
                                              p.device, buffer.size(), size));
      continue;
    }
    // A converted chunk holds whole rows, so that it starts on a block boundary of the file's type.
    const uint64_t converted_row = converted ? converted_bytes(p.stored_type, info->ne[0]) : 0;
    const uint64_t chunk = converted ? std::max<uint64_t>(1, kChunkBytes / converted_row) * converted_row : kChunkBytes;
    for (uint64_t offset = 0; offset < size; offset += chunk) {
      const uint64_t n = std::min(chunk, size - offset);
      found.resize(n);
      buffer.download(offset, found.data(), n);
      const std::byte* want = data.data() + offset;
      if (converted) {
        expected.resize(n);
        convert_elements(*info, data, offset / converted_row * info->ne[0], n / converted_row * info->ne[0],
                         p.stored_type, expected.data(), floats);
        want = expected.data();
      }
      const auto at = std::mismatch(found.begin(), found.end(), want).first;
      if (at != found.end()) {
        report.mismatches.push_back(fmt::format("{} on {}: byte {} of {} differs from the file{} (found 0x{:02x}, "
                                                "expected 0x{:02x})", p.tensor, p.device, offset + (at - found.begin()),
                                                size, converted ? "'s conversion" : "", static_cast<unsigned>(*at),
                                                static_cast<unsigned>(want[at - found.begin()])));
        break;
      }
    }
    report.tensors += 1;
    report.bytes += size;
    if (progress && !progress({report.bytes, total, 0, p.tensor})) break;
  }
  return report;
}

std::vector<float> dequantize_tensor(const gguf::File& file, const gguf::TensorInfo& tensor) {
  std::vector<float> out(tensor.n_elements);  // bounded: the reader checked the tensor's bytes lie in the file
  quant::dequantize_range(tensor.type, file.tensor_data(tensor), tensor.n_elements, 0, out,
                          file.name() + ": " + tensor.name);
  return out;
}

}  // namespace sy::loader
