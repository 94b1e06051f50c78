// The loader carries out a placement plan: tensors placed on the CPU are adopted in place from the memory-mapped
// file (no copy, no resident memory beyond the pages the kernels touch); tensors for other devices stream through
// one bounded, reused staging buffer, converted chunk by chunk when the plan changed their type. Progressive mode
// loads everything in plan order; lazy mode loads a tensor on first use into a per-device LRU cache. When a
// device refuses an allocation it had reported room for, the rest is re-planned onto the next devices.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config/run_config.h"
#include "core/gguf/file.h"
#include "core/placement/planner.h"
#include "core/plugin/discovery.h"

namespace sy::loader {

struct Progress {
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  uint64_t zero_copy_bytes = 0;  // of bytes_done, adopted in place: no transfer (progress rates leave them out)
  std::string_view tensor;  // the tensor just loaded
};
// Called after each tensor; return false to cancel the load (load_model then frees everything it allocated and
// throws sy::Error(cancelled)).
using ProgressCallback = std::function<bool(const Progress&)>;

struct LoadOptions {
  ProgressCallback progress;  // (optional) default: none
};

struct DeviceLoadStats {
  std::string device;
  uint64_t tensors = 0;
  uint64_t bytes = 0;            // weight bytes the device holds (or would hold, in lazy mode)
  uint64_t zero_copy_bytes = 0;  // adopted from the mapping
  uint64_t copied_bytes = 0;     // uploaded (converted bytes included)
};

struct CacheStats {
  uint64_t budget_bytes = 0;
  uint64_t resident_bytes = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
};

struct LoadReport {
  std::string mode;
  std::vector<DeviceLoadStats> devices;
  uint64_t zero_copy_bytes = 0;
  uint64_t copied_bytes = 0;
  uint64_t converted_tensors = 0;
  uint64_t peak_resident_bytes = 0;  // the process's high-water mark (VmHWM)
  std::vector<std::pair<std::string, double>> phase_seconds;
  std::vector<std::string> notes;            // re-plans and other decisions taken while loading
  std::map<std::string, CacheStats> caches;  // lazy mode, per device
};

// loading.cpu_weights, decided once per load (exposed for its test): "map" adopts the CPU's weights from the
// mapping, "copy" copies them into the CPU's own memory, and "auto" (the default) copies them only where that pays:
// at least kAutoCopyMinBytes of them, a progressive load, a kernel with transparent huge pages, and either the
// file's page cache mapped 2 MiB at a time for under 90% of its resident bytes (gguf::File::huge_page_share) or a
// sample of the weights reading from memory under kAutoCopyReadRatio of the speed of the process's own memory
// (common::read_speed_against_own_memory); -1, unknown, maps. A one-token decode streams every weight: through
// 4 KiB pages (a file cached by a writer, or read in small pieces) it ran some 15% slower than through 2 MiB ones
// (bench/README.md, "Third round"), and in a virtual machine a page cache mapped 2 MiB at a time read a third slower
// than fresh memory ("Fourth round"); below some tens of MiB a copy's load time outweighs what either loses.
constexpr uint64_t kAutoCopyMinBytes = uint64_t{64} << 20;
constexpr double kAutoCopyShare = 0.9, kAutoCopyReadRatio = 0.95;
bool maps_cpu_weights(std::string_view mode, bool lazy, bool huge_pages_available, uint64_t cpu_weight_bytes,
                      double huge_page_share, double read_ratio);

// A model's weights on their devices. Destroy it before the inventory.
class LoadedModel {
 public:
  LoadedModel(LoadedModel&&) noexcept;
  LoadedModel& operator=(LoadedModel&&) = delete;
  ~LoadedModel();

  // The tensor's buffer on its device. In lazy mode this uploads it on first use (evicting least-recently-used
  // tensors of that device when its cache budget is full); the reference stays valid until the next acquire of a
  // tensor on the same device. Throws sy::Error(not_found) for an unknown tensor.
  const plugin::Buffer& acquire(std::string_view tensor);
  const plugin::Device& device_of(std::string_view tensor) const;

  const placement::Plan& plan() const;
  LoadReport report() const;

 private:
  friend LoadedModel load_model(const gguf::File&, const plugin::Inventory&, placement::Plan,
                                const std::vector<placement::TensorDescription>&, const placement::RunShape&,
                                const config::RunConfig&, const LoadOptions&);
  struct State;
  explicit LoadedModel(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Loads `file`'s weights as `plan` says. `file` and `inventory` are borrowed and must outlive the result.
LoadedModel load_model(const gguf::File& file, const plugin::Inventory& inventory, placement::Plan plan,
                       const std::vector<placement::TensorDescription>& tensors, const placement::RunShape& shape,
                       const config::RunConfig& config, const LoadOptions& options = {});

// What verify_model found: every tensor read back from its device and compared byte for byte with the file (or,
// for a tensor converted on upload, with the same conversion of the file's bytes).
struct VerifyReport {
  uint64_t tensors = 0;
  uint64_t bytes = 0;                   // read back
  std::vector<std::string> mismatches;  // one sentence per differing tensor: name, device, first differing byte
};

// Reads every planned tensor back, 16 MiB at a time. In lazy mode this acquires each tensor in turn (uploads,
// evictions). `model` and `file` are borrowed; `file` must be the one the model was loaded from.
// `progress` (optional) is called after each tensor with the bytes read back so far; returning false stops the
// check early (the report then covers the tensors read until then).
VerifyReport verify_model(LoadedModel& model, const gguf::File& file, const ProgressCallback& progress = {});

// Device descriptions for the planner from the live inventory (free memory asked now).
std::vector<placement::DeviceDescription> describe_devices(const plugin::Inventory& inventory);

// A whole tensor of `file` as float32 in ggml's row-major order, through core/quant's reference decoder. Throws
// sy::Error(unsupported) naming the file and the tensor for a type that decoder does not handle.
std::vector<float> dequantize_tensor(const gguf::File& file, const gguf::TensorInfo& tensor);

// The process's resident-memory high-water mark and current resident set, from /proc/self/status.
uint64_t peak_resident_bytes();
uint64_t current_resident_bytes();
// Starts the high-water mark again from the current resident set, so that a peak of the process's own making (a
// benchmark's probe buffer) does not count as the model's; false where the kernel does not allow it.
bool reset_peak_resident();

}  // namespace sy::loader
