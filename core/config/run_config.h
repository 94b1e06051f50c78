// The run configuration: one JSON document (configs/schema.json) merged with environment variables and command-
// line flags, in that order of precedence, each value remembering where it came from for `--print-config`.
// Every error names the key path, the value, what is allowed, and the source (file, variable or flag).
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/common/error.h"

namespace sy::config {

struct DeviceBudget {
  double max_utilization = 0.9;  // fraction of the device's free memory the plan may use
  uint64_t reserve_mib = 0;      // kept free on top of that
};

struct LayerRange {
  std::string device;
  uint64_t first = 0;  // inclusive
  uint64_t last = 0;   // inclusive
};

struct Override {
  std::string pattern;  // RE2 regular expression searched for in the tensor name (linear time, no backreferences)
  std::string device;
};

struct RunConfig {
  struct {
    std::vector<std::string> paths;
    std::vector<std::string> require;
    std::map<std::string, std::string> options;  // plugin-specific settings ("isa"), handed to every plugin
  } plugins;
  struct {
    std::string policy = "auto";
    std::string device = "auto";
    uint64_t gpu_memory_limit_mib = 0;
    std::map<std::string, DeviceBudget> devices;
    std::vector<LayerRange> layers;
    std::vector<Override> overrides;
    std::optional<uint64_t> gpu_layers;  // the last N layers on GPUs, the rest on the CPU (-ngl); none: the policy's
    bool allow_conversion = true;
    bool reencode = true;  // store weights re-encoded where a device asks (sy_device_info.reencoded_types)
  } placement;
  struct {
    std::string mode = "progressive";
    uint64_t lazy_budget_mib = 0;
    uint64_t staging_mib = 64;
    // "auto" (map where the file's page cache is in 2 MiB pages, else copy), "map" (adopt the file's pages) or
    // "copy" (the CPU device's own memory)
    std::string cpu_weights = "auto";
  } loading;
  struct {
    uint64_t threads = 0;
    uint64_t context_length = 2048;
    uint64_t batch_size = 512;
    std::string kv_type = "f32";  // "f32" or "f16"
    uint64_t seed = 0;
  } runtime;
  struct {
    double temperature = 0.8;
    uint64_t top_k = 40;
    double top_p = 0.95;
    double min_p = 0.05;
    double repeat_penalty = 1.0;
    uint64_t repeat_last_n = 64;
    uint64_t max_tokens = 128;
  } sampling;

  // The merged document (defaults filled in) and, per leaf key path, where its value came from:
  // "default", "file <path>", "env SWITCHYARD_THREADS", "flag --threads".
  nlohmann::ordered_json document;
  std::map<std::string, std::string> origins;

  // Budget for `device`: its entry in placement.devices, else the defaults.
  DeviceBudget budget_for(const std::string& device) const;

  // The key=value settings every plugin receives at negotiation: plugins.options, and runtime.threads as
  // "threads" when set. This is the only way settings reach plugins (they read no environment themselves), so the
  // precedence config < environment < flags resolved here is the one they see.
  std::vector<std::pair<std::string, std::string>> plugin_settings() const;
};

// One value set from outside the file: the key path ("runtime.threads"), the value as text, and its source
// ("flag --threads"). Text is parsed according to the schema's type for that key.
struct Setting {
  std::string path;
  std::string text;
  std::string source;
};

// The environment variables that override the file, as settings (SWITCHYARD_DEVICE → placement.device,
// SWITCHYARD_GPU_MEMORY_LIMIT → placement.gpu_memory_limit_mib, SWITCHYARD_THREADS → runtime.threads,
// SWITCHYARD_SEED → runtime.seed, SWITCHYARD_CPU_ISA → plugins.options.isa). `getenv` is injectable for tests.
std::vector<Setting> settings_from_environment(const char* (*getenv)(const char*) = nullptr);

// A run configuration is a few kilobytes; anything this large is a mistake (or an attack) and is refused with
// its size before it is read.
constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;

// Loads `file` (optional), then applies `environment` and then `flags`. Throws sy::Error(invalid_argument) that
// lists every problem, each naming its key path, value, what is allowed and its source.
RunConfig load_run_config(const std::optional<std::filesystem::path>& file, const std::vector<Setting>& environment,
                          const std::vector<Setting>& flags);

// As load_run_config, from the text of a configuration (nullopt: none) that `name` designates in messages.
RunConfig parse_run_config(const std::optional<std::string_view>& text, const std::string& name,
                           const std::vector<Setting>& environment, const std::vector<Setting>& flags);

// The merged configuration as text: one line per leaf, "key = value   (source)".
std::string describe(const RunConfig& config);

}  // namespace sy::config
