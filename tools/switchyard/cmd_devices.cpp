// `switchyard devices`: what the plugin loader (core/plugin) found on this machine — every plugin file, loaded or
// skipped and why, and every device with its capabilities and live free memory — as text or as JSON (schema
// "switchyard.devices/2").
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <variant>

#include "core/common/format.h"
#include "core/common/json_text.h"
#include "core/common/utf8.h"
#include "core/config/run_config.h"
#include "core/gguf/tensor_type.h"
#include "core/plugin/discovery.h"
#include "core/quant/reencode.h"
#include "tools/switchyard/commands.h"

namespace sy::cli {
namespace {

using nlohmann::ordered_json;

std::vector<std::string> type_names(uint64_t mask) {
  std::vector<std::string> names;
  for (uint32_t id = 0; id < 64; ++id) {
    if (!(mask & (uint64_t{1} << id))) continue;
    const auto traits = gguf::tensor_type_traits(id);
    names.push_back(traits ? std::string(traits->name) : "type" + std::to_string(id));
  }
  return names;
}

std::string join(const std::vector<std::string>& parts) {
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : " ") + part;
  return text.empty() ? "-" : text;
}

std::string version_text(uint32_t version) {
  return fmt::format("{}.{}", SY_ABI_VERSION_MAJOR_OF(version), SY_ABI_VERSION_MINOR_OF(version));
}

// A device whose free-memory query fails is still listed; the failure is the value shown.
std::variant<uint64_t, std::string> free_memory_of(const plugin::Device& device) {
  try {
    return device.free_memory();
  } catch (const std::exception& error) {
    return std::string(error.what());
  }
}

ordered_json to_json(const plugin::LoaderOptions& options, const plugin::Inventory& inventory) {
  ordered_json out;
  out["schema"] = "switchyard.devices/2";
  out["search_path"] = ordered_json::array();
  for (const auto& [path, origin] : plugin::plugin_search_directories(options))
    out["search_path"].push_back({{"path", path.string()}, {"origin", origin}});
  out["plugins"] = ordered_json::array();
  for (const auto& record : inventory.plugins()) {
    ordered_json plugin = {{"path", record.file.string()}, {"origin", record.origin}, {"loaded", record.loaded}};
    if (!record.name.empty()) {
      plugin["name"] = record.name;
      plugin["version"] = record.version;
      plugin["vendor"] = record.vendor;
      plugin["abi_version"] = version_text(record.abi_version);
    }
    if (record.loaded) {
      plugin["probe_score"] = record.probe_score;
      plugin["probe_reason"] = record.probe_reason;
      plugin["devices"] = record.device_names;
    } else {
      plugin["skip_reason"] = record.skip_reason;
    }
    out["plugins"].push_back(plugin);
  }
  std::map<std::string, std::string> plugin_of;  // device name → the plugin's name (its path is in "plugins")
  for (const auto& record : inventory.plugins()) {
    for (const auto& name : record.device_names) plugin_of[name] = record.name;
  }
  out["devices"] = ordered_json::array();
  for (const auto& device : inventory.devices()) {
    const auto& info = device->info();
    ordered_json entry = {{"device", device->name()},
                          {"plugin", plugin_of.count(device->name()) ? plugin_of[device->name()] : device->owner()},
                          {"kind", to_string(info.kind)},
                          {"model", info.name},
                          {"arch", info.arch},
                          {"total_bytes", info.total_memory}};
    const auto free_bytes = free_memory_of(*device);
    if (const auto* bytes = std::get_if<uint64_t>(&free_bytes)) entry["free_bytes"] = *bytes;
    else entry["free_bytes_error"] = std::get<std::string>(free_bytes);
    entry["max_allocation_bytes"] = info.max_allocation;
    entry["bandwidth_bytes_per_second"] = info.bandwidth_bytes_per_second;
    entry["compute_units"] = info.compute_units;
    entry["host_visible"] = (info.flags & SY_DEVICE_FLAG_HOST_VISIBLE) != 0;
    entry["unified_memory"] = (info.flags & SY_DEVICE_FLAG_UNIFIED_MEMORY) != 0;
    entry["adopts_host_memory"] = (info.flags & SY_DEVICE_FLAG_ADOPTS_HOST_MEMORY) != 0;
    entry["storable_types"] = type_names(info.storable_types);
    entry["multipliable_types"] = type_names(info.multipliable_types);
    entry["reencoded_types"] = type_names(info.reencoded_types);
    out["devices"].push_back(entry);
  }
  return out;
}

// "tq1_0 as tq2_0" for each type of `mask` (core/quant/reencode.h).
std::vector<std::string> reencoding_names(uint64_t mask) {
  std::vector<std::string> out;
  for (uint32_t id = 0; id < 64; ++id) {
    if (!(mask & SY_TYPE_BIT(id)) || !gguf::tensor_type_traits(id)) continue;
    const auto type = static_cast<gguf::TensorType>(id);
    const auto target = quant::reencoding_of(type);
    out.push_back(std::string(gguf::to_string(type)) + (target ? " as " + std::string(gguf::to_string(*target)) : ""));
  }
  return out;
}

void print_text(const plugin::LoaderOptions& options, const plugin::Inventory& inventory) {
  std::cout << "Plugin search path (in order):\n";
  for (const auto& [path, origin] : plugin::plugin_search_directories(options))
    std::cout << fmt::format("  {:<24} {}\n", origin, printable(path.string()));
  std::cout << "\nPlugins:\n";
  if (inventory.plugins().empty()) std::cout << "  (no libswitchyard-*.so found)\n";
  for (const auto& record : inventory.plugins()) {
    if (record.loaded) {
      // Everything a plugin says of itself is escaped: its strings could hold escape sequences or forge lines.
      std::cout << fmt::format("  loaded   {} {} ({}), ABI {}: {}\n", printable(record.name), printable(record.version),
                               printable(record.vendor), version_text(record.abi_version),
                               printable(record.file.string()));
      std::cout << fmt::format("           {}; probe score {}: {}\n", count_of(record.device_names.size(), "device"),
                               record.probe_score, printable(record.probe_reason));
    } else {
      std::cout << fmt::format("  skipped  {}\n           {}\n", printable(record.file.string()),
                               printable(record.skip_reason));
    }
  }
  std::cout << "\nDevices:\n";
  if (inventory.devices().empty()) std::cout << "  (none)\n";
  for (const auto& device : inventory.devices()) {
    const auto& info = device->info();
    const auto free_bytes = free_memory_of(*device);
    const std::string free_text =
        std::holds_alternative<uint64_t>(free_bytes)
            ? format_bytes(std::get<uint64_t>(free_bytes)) + " free"
            : "free memory unknown (" + printable(std::get<std::string>(free_bytes)) + ")";
    std::vector<std::string> flags;
    if (info.flags & SY_DEVICE_FLAG_HOST_VISIBLE) flags.push_back("host-visible");
    if (info.flags & SY_DEVICE_FLAG_UNIFIED_MEMORY) flags.push_back("unified-memory");
    if (info.flags & SY_DEVICE_FLAG_ADOPTS_HOST_MEMORY) flags.push_back("zero-copy-host-memory");
    std::cout << fmt::format("  {:<10} {} ({}, {})\n", printable(device->name()), printable(info.name),
                             to_string(info.kind), printable(info.arch));
    std::cout << fmt::format("             memory {} total, {}, max allocation {}; ~{:.0f} GB/s; {}\n",
                             format_bytes(info.total_memory), free_text, format_bytes(info.max_allocation),
                             static_cast<double>(info.bandwidth_bytes_per_second) / 1e9,
                             count_of(info.compute_units, "compute unit"));
    std::cout << fmt::format("             flags: {}\n", join(flags));
    std::cout << fmt::format("             multiplies: {}\n", join(type_names(info.multipliable_types)));
    if (info.reencoded_types != 0)
      std::cout << fmt::format("             stores re-encoded (placement.reencode): {}\n",
                               join(reencoding_names(info.reencoded_types)));
  }
}

}  // namespace

void add_devices_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string format = "text";
    std::vector<std::string> plugin_paths;
    std::vector<std::string> require;
    std::string config_file;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("devices", "List backend plugins (loaded or skipped, and why) and devices");
  command->add_option("--format", options->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  command->add_option("--plugin-path", options->plugin_paths,
                      "Extra plugin directory or file, searched before SWITCHYARD_PLUGIN_PATH (repeatable)");
  command->add_option("--require-device", options->require,
                      "Fail unless a device of this plugin, name or kind exists, e.g. cuda, cuda:1, gpu (repeatable)");
  command->add_option("--config", options->config_file,
                      "Run configuration (JSON) whose plugins.paths and plugins.require apply, as for plan and load")
      ->check(CLI::ExistingFile);
  command->callback([options, &exit_code] {
    // The same plugins plan and load would see: the config's paths and requirements, then the flags'.
    plugin::LoaderOptions loader_options;
    if (!options->config_file.empty()) {
      const config::RunConfig config =
          config::load_run_config(options->config_file, config::settings_from_environment(), {});
      for (const auto& path : config.plugins.paths) loader_options.config_paths.emplace_back(path);
      loader_options.require = config.plugins.require;
    }
    for (const auto& path : options->plugin_paths) loader_options.config_paths.emplace_back(path);
    loader_options.require.insert(loader_options.require.end(), options->require.begin(), options->require.end());
    const auto inventory = plugin::load_plugins(loader_options);  // a missing required device throws sy::Error
    if (options->format == "json") {
      std::cout << json_text(to_json(loader_options, inventory), 2) << "\n";
    } else {
      print_text(loader_options, inventory);
    }
    exit_code = 0;
  });
}

}  // namespace sy::cli
