// The placement planner: for every tensor of a model, which device holds it and why. It works from what the
// devices report (free memory, bandwidth, which types they store and multiply) and the run configuration, sizes
// and reserves the KV cache and scratch before any weight, and never exceeds a device's budget. Planning reads
// no tensor data; the loader (core/loader) carries a plan out.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/common/format.h"
#include "core/config/run_config.h"
#include "core/common/device_kind.h"
#include "core/gguf/file.h"
#include "core/model/architecture.h"

namespace sy::placement {

using sy::DeviceKind;

// What the planner needs to know of a device (built from the plugin inventory, or by tests).
struct DeviceDescription {
  std::string name;          // stable inventory name: "cpu", "cuda:0", "simdev:1"
  DeviceKind kind = DeviceKind::cpu;
  uint64_t free_memory = 0;  // live free bytes as reported now
  uint64_t bandwidth = 0;    // bytes per second, the device's estimate
  uint64_t storable_types = 0;      // bit i set: GGUF type id i can be stored
  uint64_t multipliable_types = 0;  // bit i set: matrix multiplication takes weights of type id i
  uint64_t max_attention_context = 0;  // longest KV cache its attention takes; 0 = any (no layer if below the run's)
  uint64_t buffer_alignment = 0;       // bytes every tensor offset needs; above model::kActivationAlignment: unused
  bool rope_scaling = true;  // its plugin speaks ABI 1.4 (scaled ropes); if not, no layer of a model that needs it
  // Bit i set: weights of type id i are stored re-encoded (quant::reencoding_of) where placement.reencode allows.
  uint64_t reencoded_types = 0;
};

enum class Role { embedding, attention, feed_forward, norm, output, other };
std::string_view to_string(Role role);

// A tensor as the planner sees it.
struct TensorDescription {
  std::string name;
  gguf::TensorType type;
  uint64_t n_elements = 0;
  uint64_t bytes = 0;
  int64_t layer = -1;  // blk.N → N; -1 for tensors outside the layers
  Role role = Role::other;
  bool is_matrix = false;  // consumed by matrix multiplication (else by lookups, norms or element-wise ops)
  std::optional<std::string> pinned_device;  // already loaded there (re-planning after a failed allocation)
  std::optional<gguf::TensorType> pinned_type;  // with pinned_device: the type it was loaded in
  // Non-empty for a second copy of a file tensor: "output.weight" copying token_embd.weight for a tied head, placed
  // only where the last layer runs on a GPU (so logits need no CPU round trip), else not at all.
  std::string copy_of;
};

// Every tensor of the model, with its role and layer from the architecture's structure (core/model).
std::vector<TensorDescription> describe_tensors(const model::ModelStructure& model);

// Memory the run needs besides weights, sized from the configured context, batch and KV type: the same figures
// the runtime allocates (model::kv_bytes_per_layer, model::activation_layout).
struct RunShape {
  uint64_t n_layer = 0;
  uint64_t kv_bytes_per_layer = 0;  // K and V for context_length tokens in runtime.kv_type
  uint64_t scratch_bytes = 0;       // activations for batch_size tokens on a device that computes
  bool needs_rope_scaling = false;  // the ropes need plugin ABI 1.4 (model::Hparams::needs_rope_scaling)
};
RunShape run_shape(const model::Hparams& hp, const config::RunConfig& config);

struct TensorPlacement {
  std::string tensor;
  std::string device;
  gguf::TensorType stored_type;  // differs from the file's type when converted on upload
  uint64_t bytes = 0;            // on the device
  int64_t layer = -1;
  Role role = Role::other;
  std::string reason;
  std::string copy_of;  // the file tensor this entry copies (a tied head's own copy), empty for the tensor itself
  // The tensor's name in the file: what the loader reads.
  const std::string& file_tensor() const { return copy_of.empty() ? tensor : copy_of; }
};

struct DeviceUsage {
  std::string device;
  DeviceKind kind = DeviceKind::cpu;
  uint64_t free_memory = 0;
  uint64_t budget = 0;  // what the plan may use: free × max_utilization, capped, less reserve
  uint64_t weights = 0;
  uint64_t kv_cache = 0;
  uint64_t scratch = 0;
  std::vector<int64_t> layers;
  uint64_t used() const { return weights + kv_cache + scratch; }
};

struct Plan {
  std::string policy;
  std::vector<TensorPlacement> tensors;  // in plan (load) order
  std::vector<DeviceUsage> devices;      // every device considered, in ranking order
  std::vector<std::string> notes;        // decisions worth telling the user (conversions, fallbacks)

  const TensorPlacement* find(std::string_view tensor) const;
  const DeviceUsage* usage(std::string_view device) const;
};

// Makes the plan. Throws sy::Error(invalid_argument) when the config names a device that does not exist, and
// sy::Error(out_of_memory) when some tensor fits on no device, naming it and the budgets.
Plan make_plan(const std::vector<DeviceDescription>& devices, const std::vector<TensorDescription>& tensors,
               const RunShape& shape, const config::RunConfig& config);

// Re-plans after the `failed_devices` refused allocations they had reported room for: tensors already placed
// (pinned) stay, the failed devices take nothing more, and the rest go to the next devices. Throws like make_plan.
Plan replan_without(const std::set<std::string>& failed_devices, const std::vector<DeviceDescription>& devices,
                    const std::vector<TensorDescription>& tensors, const RunShape& shape,
                    const config::RunConfig& config);

using sy::format_bytes;  // "39.1 GiB" (core/common/format.h), spelled placement::format_bytes by its callers

}  // namespace sy::placement
