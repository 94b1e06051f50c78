// Options shared by the commands that run a model (plan, load, and later generate): the run configuration file,
// the flags that override it, and plugin discovery. Precedence: the file, then SWITCHYARD_* variables, then flags.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config/run_config.h"
#include "core/plugin/discovery.h"

namespace sy::cli {

struct RunOptions {
  std::string config_file;
  bool print_config = false;
  struct FlagValue {
    std::string key;   // the configuration key it sets, e.g. "runtime.threads"
    std::string text;  // as typed
    std::string flag;  // e.g. "--threads", for messages and --print-config
  };
  std::vector<FlagValue> flag_values;  // in command-line order
  std::vector<std::string> tensor_overrides;  // --override-tensor / -ot REGEX=DEVICE, in command-line order
  std::vector<std::string> plugin_paths;
  std::vector<std::string> require_devices;

  // The merged configuration; throws sy::Error(invalid_argument) listing every problem. --override-tensor rules
  // come before the file's placement.overrides (the first matching rule wins, and flags override the file).
  config::RunConfig load() const;
  // Loader options from the configuration (plugin paths and required devices, threads for the CPU plugin).
  plugin::LoaderOptions loader_options(const config::RunConfig& config) const;
};

// Registers --config, --print-config and the override flags on `command`; values land in `options`.
void add_run_options(CLI::App& command, const std::shared_ptr<RunOptions>& options);

// --cpu-weights's help, shared by the commands that offer it (run's options above, bench).
inline constexpr const char* kCpuWeightsHelp =
    "CPU weights: map (the file's pages, no copy), copy (the CPU's own memory, huge pages where possible) or auto "
    "(map where the kernel maps the file's page cache in 2 MiB pages and it reads as fast as the process's own "
    "memory, else copy)";
// Registers the sampling flags (-n, --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n), which
// set the config's sampling.* keys like the other override flags.
void add_sampling_options(CLI::App& command, const std::shared_ptr<RunOptions>& options);

}  // namespace sy::cli
