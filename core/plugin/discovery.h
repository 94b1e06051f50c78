// Plugin discovery and the device inventory. The core knows no backend at build time: load_plugins finds
// libswitchyard-*.so files at run time (Boost.DLL), probes each new one first in a short-lived child process (so a
// plugin that crashes, exits or blocks while loading cannot take the host down), then negotiates the ABI with the
// ones that passed, probes them, opens their devices and records every file it looked at, loaded or skipped with
// one sentence saying why. Every value read from a plugin is bounded before it is believed. Libraries are never
// unloaded.
#pragma once

#include <switchyard/plugin.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/plugin/device.h"

namespace sy::plugin {

// $XDG_CACHE_HOME/switchyard/plugin-verdicts, else ~/.cache/switchyard/plugin-verdicts; nullopt without either.
std::optional<std::filesystem::path> default_verdict_cache();

struct LoaderOptions {
  // Searched in this order; a directory contributes its libswitchyard-*.so files (sorted by name), a file itself.
  std::vector<std::filesystem::path> explicit_files;  // e.g. the conformance suite's PLUGIN.so; loaded first
  std::vector<std::filesystem::path> config_paths;    // "plugin_paths" of the run config
  bool use_environment = true;  // SWITCHYARD_PLUGIN_PATH, colon-separated
  // The program's own plugin directory: an installed program's is <executable dir>/../lib/switchyard/plugins (its
  // prefix's, never the tree it was built in); a program of the build tree (in its bin/) uses the build tree's.
  bool use_install_dir = true;
  bool use_build_tree = true;
  // Each entry must match at least one device, by plugin name ("cuda"), device name ("cuda:1") or kind ("gpu");
  // otherwise load_plugins throws sy::Error(not_found) with the reasons the matching plugins were skipped.
  std::vector<std::string> require;
  // Probe each plugin file not yet open in this process in a short-lived child first (open, negotiate, probe,
  // count devices), so that a plugin that crashes, exits or blocks there is skipped instead of taking the host down.
  // SWITCHYARD_PLUGIN_ISOLATION=off turns it off. All children run at once, within probe_timeout.
  bool isolate = true;
  std::chrono::milliseconds probe_timeout{20000};
  // Where files that passed in a child are remembered (path, size, modification time, inode), so that the child
  // runs once per plugin file rather than on every command; nullopt: remember nothing.
  std::optional<std::filesystem::path> verdict_cache = default_verdict_cache();
  // key=value settings handed to every plugin at negotiation (e.g. {"threads", "8"}).
  std::vector<std::pair<std::string, std::string>> plugin_options;
};

// What happened to one plugin file.
struct PluginRecord {
  std::filesystem::path file;
  std::string origin;  // "explicit", "config", "SWITCHYARD_PLUGIN_PATH", "install", "build tree"
  bool loaded = false;
  std::string skip_reason;  // one sentence when !loaded
  std::string name, version, vendor;  // from the plugin object, when negotiation got that far
  uint32_t abi_version = 0;
  uint32_t probe_score = 0;
  std::string probe_reason;  // the plugin's own words (e.g. why it has no devices)
  std::vector<std::string> device_names;
};

// Every loaded plugin and its devices. Devices and plugin objects are destroyed with the inventory (buffers must
// be gone by then); the shared libraries themselves stay loaded until the process exits.
class Inventory {
 public:
  Inventory();
  ~Inventory();
  Inventory(Inventory&&) noexcept;
  Inventory& operator=(Inventory&&) noexcept;

  const std::vector<PluginRecord>& plugins() const { return records_; }
  const std::vector<std::unique_ptr<Device>>& devices() const { return devices_; }
  // nullptr when no device has that name.
  const Device* find_device(std::string_view name) const;

 private:
  friend Inventory load_plugins(const LoaderOptions& options);
  struct LoadedPlugin;
  std::vector<PluginRecord> records_;
  std::vector<std::unique_ptr<LoadedPlugin>> loaded_;  // declared before devices_: devices die first
  std::vector<std::unique_ptr<Device>> devices_;
};

Inventory load_plugins(const LoaderOptions& options);

// The directories searched when no explicit file is given, in order, each with its origin label.
std::vector<std::pair<std::filesystem::path, std::string>> plugin_search_directories(const LoaderOptions& options);

// The plugin directory of the program at `program` with its origin label ("install" or "build tree", see
// LoaderOptions), or nullopt when the options turn that one off.
std::optional<std::pair<std::filesystem::path, std::string>> program_plugin_directory(
    const std::filesystem::path& program, const LoaderOptions& options);

}  // namespace sy::plugin
