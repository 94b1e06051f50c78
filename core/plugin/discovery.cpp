#include "core/plugin/discovery.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
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
#ifndef SWITCHYARD_BUILD_BIN_DIR
#define SWITCHYARD_BUILD_BIN_DIR ""
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
  boost::system::error_code ec;
  const auto program = boost::dll::program_location(ec);
  if (!ec) {
    if (auto directory = program_plugin_directory(program.string(), options)) directories.push_back(*directory);
  }
  return directories;
}

std::optional<std::pair<fs::path, std::string>> program_plugin_directory(const fs::path& program,
                                                                         const LoaderOptions& options) {
  std::error_code ec;
  const fs::path directory = fs::weakly_canonical(program.parent_path(), ec);
  std::error_code build_ec;
  const bool in_build_tree = *SWITCHYARD_BUILD_BIN_DIR && !ec &&
                             directory == fs::weakly_canonical(SWITCHYARD_BUILD_BIN_DIR, build_ec) && !build_ec;
  if (in_build_tree) {
    if (!options.use_build_tree) return std::nullopt;
    return std::pair<fs::path, std::string>{SWITCHYARD_BUILD_PLUGIN_DIR, "build tree"};
  }
  if (!options.use_install_dir) return std::nullopt;
  const fs::path prefix = program.parent_path() / "..";
  return std::pair<fs::path, std::string>{(prefix / "lib" / "switchyard" / "plugins").lexically_normal(), "install"};
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

// ---- Negotiation and probing -------------------------------------------------------------------------------------
// The same steps run twice for a plugin: first in a short-lived child process (isolation, below), then, for a plugin
// that passed there, in the host. Either way every value read from the plugin is bounded before it is believed.

// Nothing legitimate is larger: a struct_size past this is garbage, and believing it would make the host read
// vtable slots past the real table.
constexpr uint32_t kMaxStructSize = 1u << 16;
// More devices than any machine has; a count past it (2^32 - 1, say) would make the host open devices forever.
constexpr uint32_t kMaxDevicesPerPlugin = 256;
// Strings from the plugin object (name, version, vendor) are read at most this far.
constexpr size_t kMaxPluginStringBytes = 256;

std::string bounded_string(const char* text) {
  if (!text) return {};
  return std::string(text, strnlen(text, kMaxPluginStringBytes));
}

bool is_usable_plugin_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// What negotiating with and probing a plugin found: its object and device count, or nullptr with
// record.skip_reason saying why (the object already released).
struct Probed {
  sy_plugin* plugin = nullptr;
  uint32_t device_count = 0;
};

void release_plugin(sy_plugin* plugin) {
  try {
    if (plugin && plugin->vtable && plugin->vtable->destroy) plugin->vtable->destroy(plugin);
  } catch (...) {
    // A destroy that throws across the C ABI: nothing is left to do with the object.
  }
}

// Opens `canonical`, negotiates, probes and counts its devices. Never throws: an exception of any type that a
// plugin lets cross the C ABI becomes record.skip_reason.
Probed negotiate_and_probe(const fs::path& canonical, const std::vector<sy_option>& options, PluginRecord& record) {
  sy_plugin* plugin = nullptr;
  const auto skip = [&](std::string reason, sy_plugin* to_release) {
    release_plugin(to_release);
    record.skip_reason = std::move(reason);
    return Probed{};
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
  request.options = options.data();
  request.option_count = static_cast<uint32_t>(options.size());

  try {
    auto negotiate = library->library.get<sy_status*(const sy_negotiation_request*, sy_plugin**)>(
        SY_PLUGIN_NEGOTIATE_SYMBOL);
    if (sy_status* status = negotiate(&request, &plugin))
      return skip("negotiation failed: " + describe_status_failure(status), nullptr);
    if (!plugin) return skip("negotiation reported success but returned no plugin object", nullptr);
    if (plugin->struct_size < sizeof(uint32_t) * 2 || !plugin->vtable)
      return skip("negotiation returned a malformed plugin object (no vtable)", nullptr);
    if (plugin->struct_size > kMaxStructSize || plugin->vtable->struct_size > kMaxStructSize)
      return skip("negotiation returned a plugin object or vtable claiming " +
                      std::to_string(std::max(plugin->struct_size, plugin->vtable->struct_size)) +
                      " bytes (at most " + std::to_string(kMaxStructSize) + " are plausible); it is garbage, and "
                      "the plugin is not called again",
                  plugin);  // destroy only: the first slot, whatever the table's size (as for an ABI mismatch)
    // A different major: the layout of everything past the headers is unknown, so only destroy may be called.
    if (SY_ABI_VERSION_MAJOR_OF(plugin->abi_version) != SY_ABI_VERSION_MAJOR)
      return skip("ABI mismatch: the plugin speaks ABI " + version_text(plugin->abi_version) +
                      " but this Switchyard speaks " + version_text(request.min_abi_version) + " to " +
                      version_text(request.max_abi_version) + "; rebuild the plugin against this Switchyard's SDK",
                  plugin);
    if (plugin->struct_size >= offsetof(sy_plugin, vendor) + sizeof(plugin->vendor)) {
      record.name = bounded_string(plugin->name);
      record.version = bounded_string(plugin->version);
      record.vendor = bounded_string(plugin->vendor);
    }
    record.abi_version = plugin->abi_version;
    if (record.name.empty()) return skip("the plugin object has no name", plugin);
    // The name becomes every device's name ("NAME:0") that configs, overrides and --require-device spell, and that
    // output prints: control characters, ':' or '.' in it would forge output lines or split those names wrongly.
    if (!is_usable_plugin_name(record.name))
      return skip("its name '" + record.name + "' cannot name devices: a plugin name is ASCII letters, "
                  "digits, '_' and '-' only; rename it in the plugin's source and rebuild it",
                  plugin);

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

    uint32_t count = 0;
    if (sy_status* status = device_count(plugin, &count))
      return skip("device_count failed: " + describe_status_failure(status), plugin);
    if (count > kMaxDevicesPerPlugin)
      return skip("device_count reported " + std::to_string(count) + " devices, more than the " +
                      std::to_string(kMaxDevicesPerPlugin) + " any machine has; the plugin is broken",
                  plugin);
    return {plugin, count};
  } catch (const std::exception& error) {
    // Only reachable when a plugin lets an exception escape across the C boundary (a plugin bug); its object, if
    // any, is still destroyed (release_plugin guards that call too).
    return skip(std::string("a call into the plugin threw a C++ exception across the ABI: ") + error.what(), plugin);
  } catch (...) {
    return skip("a call into the plugin threw an exception of unknown type (not a std::exception) across the ABI; "
                "exceptions must not cross the C ABI",
                plugin);
  }
}

// ---- Isolation ----------------------------------------------------------------------------------------------------
// Opening a library runs its constructors in our process, so a plugin that crashes, aborts, exits or blocks there
// (or in negotiation or probing) would take the host down. Each new plugin file is therefore first opened, negotiated,
// probed and counted in a forked child, all children at once, under one deadline. What the child found comes back
// through a pipe; a child that dies, exits without a verdict or runs past the deadline is the verdict. Only plugins
// that passed are opened in the host. Isolation cannot cover what a plugin does later, during execution (a kernel
// that corrupts memory): that runs in the host.

struct Verdict {
  bool passed = false;
  std::string skip_reason;
  PluginRecord found;  // name, version, vendor, ABI and probe fields as the child saw them
};

void put_field(std::string& out, const std::string& value) { out += std::to_string(value.size()) + ":" + value; }

bool take_field(std::string_view& in, std::string& value) {
  const auto colon = in.find(':');
  if (colon == std::string_view::npos || colon > 8) return false;
  size_t length = 0;
  for (char c : in.substr(0, colon)) {
    if (c < '0' || c > '9') return false;
    length = length * 10 + static_cast<size_t>(c - '0');
  }
  in.remove_prefix(colon + 1);
  if (length > in.size()) return false;
  value.assign(in.substr(0, length));
  in.remove_prefix(length);
  return true;
}

std::string encode_verdict(const PluginRecord& record, bool passed) {
  std::string out;
  for (const auto* field : {&record.skip_reason, &record.name, &record.version, &record.vendor, &record.probe_reason})
    put_field(out, *field);
  put_field(out, std::to_string(record.abi_version));
  put_field(out, std::to_string(record.probe_score));
  put_field(out, passed ? "passed" : "skipped");
  return out;
}

std::optional<Verdict> decode_verdict(std::string_view in) {
  Verdict v;
  std::string abi, score, outcome;
  for (auto* field : {&v.skip_reason, &v.found.name, &v.found.version, &v.found.vendor, &v.found.probe_reason, &abi,
                      &score, &outcome}) {
    if (!take_field(in, *field)) return std::nullopt;
  }
  if (!in.empty() || (outcome != "passed" && outcome != "skipped")) return std::nullopt;
  v.passed = outcome == "passed";
  v.found.abi_version = static_cast<uint32_t>(std::strtoul(abi.c_str(), nullptr, 10));
  v.found.probe_score = static_cast<uint32_t>(std::strtoul(score.c_str(), nullptr, 10));
  return v;
}

struct Child {
  pid_t pid = -1;
  int pipe = -1;
  std::string report;
  bool finished = false;  // the pipe reached end of file
};

Child spawn_probe(const fs::path& canonical, const std::vector<sy_option>& options) {
  Child child;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return child;
  std::fflush(nullptr);  // nothing buffered in the host is written twice
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    // The host's handlers (a test framework's crash reporter, the CLI's clean-up on SIGINT, the SIGBUS recovery
    // of mapped reads) are not the child's business: a crash here must end the child with its signal.
    for (int signal : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGINT, SIGTERM, SIGPIPE}) std::signal(signal, SIG_DFL);
    spdlog::set_level(spdlog::level::off);  // the host logs what the child finds, once
    PluginRecord record;
    record.file = canonical;
    const Probed probed = negotiate_and_probe(canonical, options, record);
    const std::string text = encode_verdict(record, probed.plugin != nullptr);
    for (size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fds[1], text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(0);  // no destructors, no atexit handlers: nothing of the plugin runs again
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return child;
  }
  child.pid = pid;
  child.pipe = fds[0];
  return child;
}

std::string signal_text(int signal) {
  const char* name = strsignal(signal);
  return "signal " + std::to_string(signal) + (name ? std::string(" (") + name + ")" : std::string());
}

// Probes `files` in children, all at once, within `timeout`; one verdict per file.
std::vector<Verdict> probe_in_children(const std::vector<fs::path>& files, const std::vector<sy_option>& options,
                                       std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  std::vector<Child> children;
  for (const auto& file : files) children.push_back(spawn_probe(file, options));

  constexpr size_t kMaxReportBytes = 1u << 16;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<size_t> owners;
    for (size_t i = 0; i < children.size(); ++i) {
      if (children[i].pipe >= 0 && !children[i].finished) {
        fds.push_back({children[i].pipe, POLLIN, 0});
        owners.push_back(i);
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (fds.empty() || left <= 0) break;
    if (::poll(fds.data(), fds.size(), static_cast<int>(left)) < 0 && errno != EINTR) break;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      Child& c = children[owners[k]];
      char buffer[4096];
      const ssize_t n = ::read(c.pipe, buffer, sizeof buffer);
      if (n > 0 && c.report.size() < kMaxReportBytes) c.report.append(buffer, static_cast<size_t>(n));
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) c.finished = true;
    }
  }

  std::vector<Verdict> verdicts(children.size());
  const auto seconds = std::to_string(static_cast<double>(timeout.count()) / 1000.0);
  for (size_t i = 0; i < children.size(); ++i) {
    Child& c = children[i];
    Verdict& v = verdicts[i];
    if (c.pid < 0) {
      v.skip_reason = std::string("could not start the child process that probes it: ") + std::strerror(errno);
      continue;
    }
    // A child that closed its pipe exits at once; one still running at the deadline is killed.
    int status = 0;
    pid_t done = 0;
    while ((done = ::waitpid(c.pid, &status, WNOHANG)) == 0 && Clock::now() < deadline) ::usleep(1000);
    bool timed_out = false;
    if (done == 0) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      timed_out = true;
    }
    ::close(c.pipe);
    const auto decoded = c.finished ? decode_verdict(c.report) : std::nullopt;
    if (timed_out && !decoded) {
      v.skip_reason = "did not finish loading and probing within " +
                      std::string(seconds.substr(0, seconds.find('.') + 2)) +
                      " s in a child process (a library constructor or a plugin call blocks); it was killed and is "
                      "not opened in this process";
    } else if (WIFSIGNALED(status)) {
      v.skip_reason = "crashed with " + signal_text(WTERMSIG(status)) +
                      " while being loaded and probed in a child process (in a library constructor, negotiation or "
                      "probe); it is not opened in this process";
    } else if (!decoded) {
      v.skip_reason = "exited with code " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                      " while being loaded and probed in a child process (a library constructor or a plugin call "
                      "ended the process); it is not opened in this process";
    } else {
      v = *decoded;
    }
  }
  return verdicts;
}

// ---- Verdict cache -------------------------------------------------------------------------------------------------
// Where a GPU runtime's start-up dominates a probe (75 ms for CUDA's without a driver, seconds with one), paying it
// in a child on every command doubles it. Files that passed are remembered by path, size, modification time and
// inode, so the child runs once per plugin file. Only passes are remembered: a plugin that failed is probed again
// (the machine may have changed), and a file that changes in any of those ways is probed again.

struct FileIdentity {
  uint64_t size = 0, mtime_ns = 0, inode = 0;
  bool operator==(const FileIdentity&) const = default;
};

std::optional<FileIdentity> identity_of(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  return FileIdentity{static_cast<uint64_t>(st.st_size),
                      static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000u + static_cast<uint64_t>(st.st_mtim.tv_nsec),
                      static_cast<uint64_t>(st.st_ino)};
}

// One line per file that passed: "SIZE MTIME_NS INODE PATH".
std::map<std::string, FileIdentity> read_verdict_cache(const fs::path& cache) {
  std::map<std::string, FileIdentity> passed;
  std::string text;
  try {
    text = read_regular_file(cache, 1u << 20, "the plugin verdict cache");
  } catch (const Error&) {
    return passed;  // none yet, or unusable: every plugin is probed
  }
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    FileIdentity id;
    std::string path;
    if (fields >> id.size >> id.mtime_ns >> id.inode && std::getline(fields >> std::ws, path) && !path.empty())
      passed[path] = id;
  }
  return passed;
}

void write_verdict_cache(const fs::path& cache, const std::map<std::string, FileIdentity>& passed) {
  std::error_code ec;
  fs::create_directories(cache.parent_path(), ec);
  std::string text;
  for (const auto& [path, id] : passed) {
    if (path.find('\n') != std::string::npos) continue;
    text += std::to_string(id.size) + " " + std::to_string(id.mtime_ns) + " " + std::to_string(id.inode) + " " + path + "\n";
  }
  // A private temporary beside it, renamed over it: a concurrent reader sees the old or the new list, whole.
  std::string temporary = (cache.parent_path() / (cache.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(temporary.data());
  if (fd < 0) {
    spdlog::debug("plugin verdict cache {} not written: {}", cache.string(), std::strerror(errno));
    return;
  }
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), cache.c_str()) != 0) ::unlink(temporary.c_str());
}

bool isolation_wanted(const LoaderOptions& options) {
  if (!options.isolate) return false;
  const char* env = std::getenv("SWITCHYARD_PLUGIN_ISOLATION");
  return !(env && (std::string_view(env) == "off" || std::string_view(env) == "0"));
}

bool already_open(const fs::path& canonical) {
  auto& registry = library_registry();
  std::lock_guard lock(registry.mutex);
  return registry.by_canonical_path.count(canonical.string()) > 0;
}

}  // namespace

std::optional<fs::path> default_verdict_cache() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg == '/') return fs::path(xdg) / "switchyard" / "plugin-verdicts";
  if (const char* home = std::getenv("HOME"); home && *home == '/') return fs::path(home) / ".cache" / "switchyard" / "plugin-verdicts";
  return std::nullopt;
}

namespace {

// Why no device answers to `wanted` (a plugin name such as "cuda", a device name such as "cuda:1", or a kind such
// as "gpu"), from what happened to each plugin file that could have provided it.
std::string explain_missing_device(const std::string& wanted, const std::vector<PluginRecord>& records,
                                   const LoaderOptions& options) {
  const bool kind = is_device_kind_name(wanted);
  const std::string plugin_name = wanted.substr(0, wanted.find(':'));
  std::string why;
  for (const auto& record : records) {
    // Any plugin could provide a kind, except one whose devices are all there (and of other kinds); a name is
    // provided by the plugin of that name, or by the file named for it when the plugin never gave its name.
    const bool candidate = kind ? !(record.loaded && !record.device_names.empty())
                                : record.name == plugin_name ||
                                      record.file.filename() == "libswitchyard-" + plugin_name + ".so";
    if (!candidate) continue;
    why += "\n  " + record.file.string() + ": ";
    if (!record.loaded) {
      why += "not loaded: " + record.skip_reason;
    } else if (record.device_names.empty()) {
      why += "plugin '" + record.name + "' loaded but reports no device (" +
             (record.probe_reason.empty() ? std::string("it gave no reason") : record.probe_reason) +
             "): check that the device and its driver work (nvidia-smi, rocminfo) and are visible to this process";
    } else {
      std::string names;
      for (const auto& name : record.device_names) names += (names.empty() ? "" : ", ") + name;
      why += "plugin '" + record.name + "' has " + names + " only";
    }
  }
  if (!why.empty()) return "required device '" + wanted + "' is not available:" + why;
  std::string searched;
  for (const auto& [path, origin] : plugin_search_directories(options))
    searched += (searched.empty() ? "" : ", ") + path.string();
  if (searched.empty()) searched = "nowhere: no plugin path is set";
  return "required device '" + wanted + "' is not available; no plugin file " +
         (kind ? "that could provide a " + wanted + " device" : "libswitchyard-" + plugin_name + ".so") +
         " was found (searched " + searched + "): " +
         (wanted == "gpu" ? std::string("build the CUDA or ROCm plugin (each builds where its toolkit is installed)")
          : kind          ? "build or install a plugin that provides one"
                          : "build or install it") +
         " and put it in one of those directories, or name its file or directory with --plugin-path, the config's "
         "plugins.paths or SWITCHYARD_PLUGIN_PATH";
}

}  // namespace

Inventory load_plugins(const LoaderOptions& options) {
  Inventory inventory;
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

  // Every candidate file, in search order, once (the same file through two paths is harmless).
  std::vector<std::pair<fs::path, std::string>> candidates;
  std::set<std::string> seen_files;
  const auto add = [&](const fs::path& file, const std::string& origin) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(file, ec);
    if (ec) canonical = fs::absolute(file);
    if (seen_files.insert(canonical.string()).second) candidates.emplace_back(canonical, origin);
  };
  for (const auto& file : options.explicit_files) add(file, "explicit");
  for (const auto& [path, origin] : plugin_search_directories(options)) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      for (const auto& file : plugin_files_in(path)) add(file, origin);
    } else if (fs::exists(path, ec)) {
      add(path, origin);
    } else if (origin == "config") {
      spdlog::warn("plugin path {} from the config does not exist", path.string());
    }
  }

  // Verdicts from the children for files not yet open in this process (one already open has run its code here).
  // Files that passed before (the verdict cache) are not probed again.
  std::vector<std::optional<Verdict>> verdicts(candidates.size());
  if (isolation_wanted(options)) {
    auto passed = options.verdict_cache ? read_verdict_cache(*options.verdict_cache) : std::map<std::string, FileIdentity>{};
    std::vector<fs::path> to_probe;
    std::vector<size_t> indices;
    std::vector<std::optional<FileIdentity>> identities;
    for (size_t i = 0; i < candidates.size(); ++i) {
      const auto& file = candidates[i].first;
      if (already_open(file) || !not_a_library(file).empty()) continue;
      auto identity = identity_of(file);
      if (auto it = passed.find(file.string()); identity && it != passed.end() && it->second == *identity) continue;
      to_probe.push_back(file);
      indices.push_back(i);
      identities.push_back(identity);
    }
    const auto found = probe_in_children(to_probe, plugin_options, options.probe_timeout);
    bool learned = false;
    for (size_t k = 0; k < indices.size(); ++k) {
      verdicts[indices[k]] = found[k];
      // Remembered only when the file is still the one that was probed.
      if (found[k].passed && identities[k] && identity_of(to_probe[k]) == identities[k]) {
        passed[to_probe[k].string()] = *identities[k];
        learned = true;
      }
    }
    if (learned && options.verdict_cache) write_verdict_cache(*options.verdict_cache, passed);
  }

  for (size_t i = 0; i < candidates.size(); ++i) {
    PluginRecord record;
    record.file = candidates[i].first;
    record.origin = candidates[i].second;
    const auto skip = [&](std::string reason) {
      record.skip_reason = std::move(reason);
      spdlog::info("plugin {} skipped: {}", record.file.string(), record.skip_reason);
      inventory.records_.push_back(std::move(record));
    };
    if (verdicts[i] && !verdicts[i]->passed) {
      PluginRecord found = verdicts[i]->found;  // what the child saw, under this file's path and origin
      found.file = std::move(record.file);
      found.origin = std::move(record.origin);
      record = std::move(found);
      skip(verdicts[i]->skip_reason);
      continue;
    }
    const Probed probed = negotiate_and_probe(record.file, plugin_options, record);
    if (!probed.plugin) {
      skip(record.skip_reason);
      continue;
    }
    if (auto it = loaded_names.find(record.name); it != loaded_names.end()) {
      release_plugin(probed.plugin);
      skip("a plugin named '" + record.name + "' is already loaded from " + it->second.string() +
           "; this copy is ignored (the first one found in the search order wins)");
      continue;
    }

    auto holder = std::make_unique<Inventory::LoadedPlugin>();
    holder->plugin = probed.plugin;
    const std::string owner = plugin_label(record);
    const auto device_open = SY_VTABLE_SLOT(probed.plugin->vtable, device_open);
    std::vector<std::unique_ptr<Device>> devices;
    for (uint32_t index = 0; index < probed.device_count; ++index) {
      sy_device* raw_device = nullptr;
      try {
        if (sy_status* status = device_open(probed.plugin, index, &raw_device)) {
          spdlog::warn("{}: device {} could not be opened: {}", owner, index, describe_status_failure(status));
          continue;
        }
      } catch (...) {
        spdlog::warn("{}: device {} ignored: device_open threw an exception across the C ABI (a plugin bug)", owner,
                     index);
        continue;
      }
      if (!raw_device) continue;
      const bool single_cpu = record.name == "cpu" && probed.device_count == 1;
      std::string device_name = single_cpu ? std::string("cpu") : record.name + ":" + std::to_string(index);
      try {
        devices.push_back(std::make_unique<Device>(device_name, owner, raw_device, probed.plugin->abi_version));
        record.device_names.push_back(device_name);
      } catch (const Error& error) {
        spdlog::warn("{}: device {} ignored: {}", owner, index, error.what());
      }
    }
    record.loaded = true;
    loaded_names.emplace(record.name, record.file);
    inventory.loaded_.push_back(std::move(holder));
    for (auto& device : devices) inventory.devices_.push_back(std::move(device));
    spdlog::debug("plugin {} loaded from {} with {} device(s)", record.name, record.file.string(), probed.device_count);
    inventory.records_.push_back(std::move(record));
  }

  // A required device that did not show up is an error that tells "no plugin for it" from "its plugin loaded
  // but reports no device" (or was skipped), each with what to do.
  for (const auto& wanted : options.require) {
    const bool present = std::any_of(inventory.devices_.begin(), inventory.devices_.end(), [&](const auto& device) {
      const std::string& name = device->name();
      return name == wanted || name.substr(0, name.find(':')) == wanted || to_string(device->info().kind) == wanted;
    });
    if (!present) throw Error(ErrorCode::not_found, explain_missing_device(wanted, inventory.records_, options));
  }
  return inventory;
}

}  // namespace sy::plugin
