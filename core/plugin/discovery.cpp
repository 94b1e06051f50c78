#include "core/plugin/discovery.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "core/common/error.h"
#include "core/common/regular_file.h"
#include "core/plugin/status.h"

#ifndef SWITCHYARD_BUILD_PLUGIN_DIR
#define SWITCHYARD_BUILD_PLUGIN_DIR ""
#endif

namespace sy::plugin {

namespace fs = std::filesystem;

namespace {

// ---- Process-wide library registry ------------------------------------------------------------------------------
// Libraries are never unloaded: a plugin may own driver contexts, thread-locals or atexit handlers that crash when
// their code disappears, and buffers of it may still be referenced. So each file is dlopen'ed at most once per
// process and its handle (and the host services lent to it) live until exit, reachable from a static pointer.

struct HostContext {
  std::string label;  // how log lines of this plugin are prefixed
  sy_host_services services{};
};

struct LoadedLibrary {
  boost::dll::shared_library library;
  HostContext host;
};

struct LibraryRegistry {
  std::mutex mutex;
  std::map<std::string, LoadedLibrary*> by_canonical_path;
};

LibraryRegistry& library_registry() {
  static auto* registry = new LibraryRegistry;  // intentionally never destroyed, see above
  return *registry;
}

void host_log(void* context, sy_log_level level, const char* message) {
  const auto* host = static_cast<const HostContext*>(context);
  const auto spd_level = level == SY_LOG_DEBUG  ? spdlog::level::debug
                         : level == SY_LOG_INFO ? spdlog::level::info
                         : level == SY_LOG_WARN ? spdlog::level::warn
                                                : spdlog::level::err;
  spdlog::log(spd_level, "[{}] {}", host->label, message ? message : "");
}

// Boost.DLL puts dlerror()'s text after this marker; that text is the precise reason (missing libcudart, ...).
std::string dlerror_text(const std::exception& error) {
  const std::string what = error.what();
  const std::string marker = "dlerror system message: ";
  if (auto at = what.find(marker); at != std::string::npos) {
    // "...failed (dlerror system message: TEXT): ERRNO TEXT": TEXT ends at the last parenthesis; the errno
    // after it is whatever errno happened to hold and says nothing about the library.
    std::string text = what.substr(at + marker.size());
    if (auto close = text.rfind(')'); close != std::string::npos) text.resize(close);
    return text;
  }
  return what;
}

// ---- Search ------------------------------------------------------------------------------------------------------

bool is_plugin_file_name(const std::string& name) {
  return name.starts_with("libswitchyard-") && name.ends_with(".so");
}

std::vector<fs::path> plugin_files_in(const fs::path& directory) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    // Not only regular files: a FIFO or directory with a plugin's name is reported as skipped, not ignored.
    if (is_plugin_file_name(entry.path().filename().string())) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Why `file` cannot be a plugin library before dlopen runs any of its code or reads it: missing, not a regular
// file (a FIFO would block the loader), or no ELF header (dlopen's own message for that is obscure). Empty when
// it looks like a shared library.
std::string not_a_library(const fs::path& file) {
  std::string error;
  const int fd = open_regular_file(file, error);
  if (fd < 0) {
    const std::string prefix = file.string() + ": ";
    return error.starts_with(prefix) ? error.substr(prefix.size()) : error;
  }
  unsigned char magic[4] = {};
  const ssize_t n = ::read(fd, magic, sizeof magic);
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof magic) || magic[0] != 0x7f || magic[1] != 'E' || magic[2] != 'L' || magic[3] != 'F')
    return "is not a shared library (it has no ELF header); a plugin is a libswitchyard-NAME.so built against the "
           "Switchyard SDK: remove this file from the plugin path";
  return {};
}

std::string plugin_label(const PluginRecord& record) {
  return (record.name.empty() ? std::string("plugin") : record.name + " plugin") + " (" + record.file.string() + ")";
}

}  // namespace

std::vector<std::pair<fs::path, std::string>> plugin_search_directories(const LoaderOptions& options) {
  std::vector<std::pair<fs::path, std::string>> directories;
  for (const auto& path : options.config_paths) directories.emplace_back(path, "config");
  if (options.use_environment) {
    if (const char* env = std::getenv("SWITCHYARD_PLUGIN_PATH"); env && *env) {
      std::stringstream stream(env);
      for (std::string part; std::getline(stream, part, ':');)
        if (!part.empty()) directories.emplace_back(part, "SWITCHYARD_PLUGIN_PATH");
    }
  }
  if (options.use_install_dir) {
    boost::system::error_code ec;
    const auto program = boost::dll::program_location(ec);
    if (!ec) {
      directories.emplace_back(
          (fs::path(program.parent_path().string()) / ".." / "lib" / "switchyard" / "plugins").lexically_normal(),
          "install");
    }
  }
  if (options.use_build_tree && *SWITCHYARD_BUILD_PLUGIN_DIR)
    directories.emplace_back(SWITCHYARD_BUILD_PLUGIN_DIR, "build tree");
  return directories;
}

// One plugin object and what the inventory opened from it.
struct Inventory::LoadedPlugin {
  sy_plugin* plugin = nullptr;
  ~LoadedPlugin() {
    if (plugin && plugin->vtable && plugin->vtable->destroy) plugin->vtable->destroy(plugin);
  }
};

Inventory::Inventory() = default;
Inventory::~Inventory() {
  devices_.clear();  // devices before the plugin objects that made them
  loaded_.clear();
}
Inventory::Inventory(Inventory&&) noexcept = default;
Inventory& Inventory::operator=(Inventory&&) noexcept = default;

const Device* Inventory::find_device(std::string_view name) const {
  for (const auto& device : devices_)
    if (device->name() == name) return device.get();
  return nullptr;
}

namespace {

// Loads (or finds already loaded) the library; fills record.skip_reason and returns nullptr when it cannot.
LoadedLibrary* open_library(const fs::path& canonical, PluginRecord& record) {
  auto& registry = library_registry();
  std::lock_guard lock(registry.mutex);
  if (auto it = registry.by_canonical_path.find(canonical.string()); it != registry.by_canonical_path.end())
    return it->second;
  auto loaded = std::make_unique<LoadedLibrary>();
  try {
    loaded->library.load(boost::dll::fs::path(canonical.string()),
                         boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    const std::string text = dlerror_text(error);
    // Only a missing dependency is cured by installing something; other failures (a wrong architecture, an
    // undefined symbol) need a rebuilt plugin.
    record.skip_reason = "cannot be loaded: " + text +
                         (text.find("cannot open shared object file") != std::string::npos
                              ? "; install the libraries it depends on (e.g. the CUDA or HIP runtime) or remove the file"
                              : "; rebuild the plugin for this machine against this Switchyard's SDK, or remove the file");
    return nullptr;
  }
  if (!loaded->library.has(SY_PLUGIN_NEGOTIATE_SYMBOL)) {
    // Keep it loaded anyway: unloading is what we never do, and a retry would fail the same way.
    record.skip_reason = std::string("does not export ") + SY_PLUGIN_NEGOTIATE_SYMBOL +
                         ": it is not a Switchyard plugin, or was built without SY_PLUGIN_EXPORT";
  }
  loaded->host.label = canonical.filename().string();
  loaded->host.services.struct_size = sizeof(sy_host_services);
  loaded->host.services.abi_version = SY_ABI_VERSION;
  loaded->host.services.context = &loaded->host;
  loaded->host.services.log = host_log;
  auto* raw = loaded.release();
  registry.by_canonical_path.emplace(canonical.string(), raw);
  return raw;
}

std::string version_text(uint32_t version) {
  return std::to_string(SY_ABI_VERSION_MAJOR_OF(version)) + "." + std::to_string(SY_ABI_VERSION_MINOR_OF(version));
}

std::string describe_status_failure(sy_status* status) {
  int32_t code = 0;
  std::string message = take_status_message(status, &code);
  if (code == SY_STATUS_ABI_MISMATCH) return "ABI mismatch: " + message;
  return message;
}

}  // namespace

Inventory load_plugins(const LoaderOptions& options) {
  Inventory inventory;
  std::set<std::string> seen_files;
  std::map<std::string, fs::path> loaded_names;

  std::vector<sy_option> plugin_options;
  for (const auto& [key, value] : options.plugin_options) {
    sy_option option{};
    option.struct_size = sizeof option;
    option.abi_version = SY_ABI_VERSION;
    option.key = key.c_str();
    option.value = value.c_str();
    plugin_options.push_back(option);
  }

  // Everything below a plugin file either ends in `loaded` or in one skip sentence.
  const auto load_one = [&](const fs::path& file, const std::string& origin) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(file, ec);
    if (ec) canonical = fs::absolute(file);
    if (!seen_files.insert(canonical.string()).second) return;  // the same file through two paths: harmless

    PluginRecord record;
    record.file = canonical;
    record.origin = origin;
    const auto skip = [&](std::string reason, sy_plugin* plugin_to_release) {
      if (plugin_to_release && plugin_to_release->vtable && plugin_to_release->vtable->destroy)
        plugin_to_release->vtable->destroy(plugin_to_release);
      record.skip_reason = std::move(reason);
      spdlog::info("plugin {} skipped: {}", record.file.string(), record.skip_reason);
      inventory.records_.push_back(std::move(record));
    };

    if (std::string why = not_a_library(canonical); !why.empty()) return skip(why, nullptr);
    LoadedLibrary* library = open_library(canonical, record);
    if (!library || !record.skip_reason.empty()) return skip(record.skip_reason, nullptr);

    sy_negotiation_request request{};
    request.struct_size = sizeof request;
    request.abi_version = SY_ABI_VERSION;
    request.min_abi_version = SY_ABI_MAKE_VERSION(SY_ABI_VERSION_MAJOR, 0);
    request.max_abi_version = SY_ABI_VERSION;
    request.host = &library->host.services;
    request.options = plugin_options.data();
    request.option_count = static_cast<uint32_t>(plugin_options.size());

    sy_plugin* plugin = nullptr;
    try {
      auto negotiate = library->library.get<sy_status*(const sy_negotiation_request*, sy_plugin**)>(
          SY_PLUGIN_NEGOTIATE_SYMBOL);
      if (sy_status* status = negotiate(&request, &plugin))
        return skip("negotiation failed: " + describe_status_failure(status), nullptr);
      if (!plugin) return skip("negotiation reported success but returned no plugin object", nullptr);
      if (plugin->struct_size < sizeof(uint32_t) * 2 || !plugin->vtable)
        return skip("negotiation returned a malformed plugin object (no vtable)", nullptr);
      // A different major: the layout of everything past the headers is unknown, so only destroy may be called.
      if (SY_ABI_VERSION_MAJOR_OF(plugin->abi_version) != SY_ABI_VERSION_MAJOR)
        return skip("ABI mismatch: the plugin speaks ABI " + version_text(plugin->abi_version) +
                        " but this Switchyard speaks " + version_text(request.min_abi_version) + " to " +
                        version_text(request.max_abi_version) + "; rebuild the plugin against this Switchyard's SDK",
                    plugin);
      if (plugin->struct_size >= offsetof(sy_plugin, vendor) + sizeof(plugin->vendor)) {
        record.name = plugin->name ? plugin->name : "";
        record.version = plugin->version ? plugin->version : "";
        record.vendor = plugin->vendor ? plugin->vendor : "";
      }
      record.abi_version = plugin->abi_version;
      if (record.name.empty()) return skip("the plugin object has no name", plugin);

      const auto* vtable = plugin->vtable;
      auto probe = SY_VTABLE_SLOT(vtable, probe);
      auto device_count = SY_VTABLE_SLOT(vtable, device_count);
      auto device_open = SY_VTABLE_SLOT(vtable, device_open);
      if (!probe || !device_count || !device_open)
        return skip("its plugin vtable lacks probe, device_count or device_open; rebuild it against this SDK", plugin);

      sy_probe_result probe_result{};
      probe_result.struct_size = sizeof probe_result;
      probe_result.abi_version = SY_ABI_VERSION;
      if (sy_status* status = probe(plugin, &probe_result))
        return skip("probe failed: " + describe_status_failure(status), plugin);
      probe_result.reason[sizeof probe_result.reason - 1] = '\0';
      record.probe_score = probe_result.score;
      record.probe_reason = probe_result.reason;
      if (probe_result.score == 0)
        return skip("probe score 0 (cannot run on this machine): " +
                        (record.probe_reason.empty() ? std::string("the plugin gave no reason") : record.probe_reason),
                    plugin);
      if (auto it = loaded_names.find(record.name); it != loaded_names.end())
        return skip("a plugin named '" + record.name + "' is already loaded from " + it->second.string() +
                        "; this copy is ignored (the first one found in the search order wins)",
                    plugin);

      uint32_t count = 0;
      if (sy_status* status = device_count(plugin, &count))
        return skip("device_count failed: " + describe_status_failure(status), plugin);

      auto holder = std::make_unique<Inventory::LoadedPlugin>();
      holder->plugin = plugin;
      const std::string owner = plugin_label(record);
      std::vector<std::unique_ptr<Device>> devices;
      for (uint32_t index = 0; index < count; ++index) {
        sy_device* raw_device = nullptr;
        if (sy_status* status = device_open(plugin, index, &raw_device)) {
          spdlog::warn("{}: device {} could not be opened: {}", owner, index, describe_status_failure(status));
          continue;
        }
        if (!raw_device) continue;
        const bool single_cpu = record.name == "cpu" && count == 1;
        std::string device_name = single_cpu ? std::string("cpu") : record.name + ":" + std::to_string(index);
        try {
          devices.push_back(std::make_unique<Device>(device_name, owner, raw_device));
          record.device_names.push_back(device_name);
        } catch (const Error& error) {
          spdlog::warn("{}: device {} ignored: {}", owner, index, error.what());
        }
      }
      record.loaded = true;
      loaded_names.emplace(record.name, record.file);
      inventory.loaded_.push_back(std::move(holder));
      for (auto& device : devices) inventory.devices_.push_back(std::move(device));
      spdlog::debug("plugin {} loaded from {} with {} device(s)", record.name, record.file.string(), count);
      inventory.records_.push_back(std::move(record));
    } catch (const std::exception& error) {
      // Only reachable when a plugin lets an exception escape across the C boundary (a plugin bug).
      skip(std::string("a call into the plugin threw a C++ exception across the ABI: ") + error.what(), nullptr);
    }
  };

  for (const auto& file : options.explicit_files) load_one(file, "explicit");
  for (const auto& [path, origin] : plugin_search_directories(options)) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      for (const auto& file : plugin_files_in(path)) load_one(file, origin);
    } else if (fs::exists(path, ec)) {
      load_one(path, origin);
    } else if (origin == "config") {
      spdlog::warn("plugin path {} from the config does not exist", path.string());
    }
  }

  // A required device that did not show up is an error naming why its plugin was skipped (or that none was found).
  for (const auto& wanted : options.require) {
    const bool present = std::any_of(inventory.devices_.begin(), inventory.devices_.end(), [&](const auto& device) {
      const std::string& name = device->name();
      return name == wanted || name.substr(0, name.find(':')) == wanted || to_string(device->info().kind) == wanted;
    });
    if (present) continue;
    std::string why;
    for (const auto& record : inventory.records_) {
      const bool matches = record.name == wanted ||
                           record.file.filename().string().find("switchyard-" + wanted) != std::string::npos;
      if (!matches) continue;
      why += "; " + record.file.string() + ": " +
             (record.loaded ? "loaded with no device (" + record.probe_reason + ")" : record.skip_reason);
    }
    if (why.empty()) why = "; no plugin file for it was found (set SWITCHYARD_PLUGIN_PATH or the config's plugin paths)";
    throw Error(ErrorCode::not_found, "required device '" + wanted + "' is not available" + why);
  }
  return inventory;
}

}  // namespace sy::plugin
