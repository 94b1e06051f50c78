// Pins core/plugin's discovery: each deliberately broken plugin (broken_plugin.cpp) is skipped with the right reason
// while good plugins still load; search order, deduplication, `require` and status-to-error mapping.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "core/common/error.h"
#include "core/plugin/discovery.h"
#include "core/plugin/status.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using sy::plugin::LoaderOptions;
using sy::plugin::PluginRecord;

namespace {

LoaderOptions isolated_options() {
  LoaderOptions options;
  options.use_environment = options.use_install_dir = options.use_build_tree = false;
  options.verdict_cache = std::nullopt;  // every test probes afresh
  return options;
}

const PluginRecord& record_for(const sy::plugin::Inventory& inventory, const std::string& file_name) {
  for (const auto& record : inventory.plugins())
    if (record.file.filename() == file_name) return record;
  FAIL("no record for " << file_name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("every broken plugin is skipped with a precise reason, and the good one still loads") {
  sy::test::ScratchDir scratch;
  // Not a shared library at all, with a plugin's name.
  std::ofstream(scratch / "libswitchyard-garbage.so") << "this is not an ELF file";

  auto options = isolated_options();
  options.config_paths = {SWITCHYARD_BROKEN_PLUGIN_DIR, scratch.path(), SWITCHYARD_CPU_PLUGIN};
  const auto inventory = sy::plugin::load_plugins(options);

  const auto reason = [&](const std::string& file) {
    const auto& record = record_for(inventory, file);
    CHECK_FALSE(record.loaded);
    return record.skip_reason;
  };
  CHECK(reason("libswitchyard-broken-wrong-abi.so").find("ABI mismatch: the plugin speaks ABI 99.3") != std::string::npos);
  CHECK(reason("libswitchyard-broken-missing-symbol.so").find("does not export sy_plugin_negotiate") != std::string::npos);
  CHECK(reason("libswitchyard-broken-failing-negotiation.so") ==
        "negotiation failed: frobnicator runtime version 3 is required, found 2");
  CHECK(reason("libswitchyard-broken-probe-zero.so") ==
        "probe score 0 (cannot run on this machine): no frobnicator hardware found (driver error 38: ENOSYS)");
  CHECK(reason("libswitchyard-broken-throws.so") ==
        "probe failed: probe: unexpected exception inside the plugin: frobnicator table is corrupt");
  CHECK(reason("libswitchyard-garbage.so") ==
        "is not a shared library (it has no ELF header); a plugin is a libswitchyard-NAME.so built against the "
        "Switchyard SDK: remove this file from the plugin path");

  const auto& cpu = record_for(inventory, "libswitchyard-cpu.so");
  CHECK(cpu.loaded);
  CHECK(cpu.name == "cpu");
  CHECK(cpu.probe_score > 0);
  REQUIRE(inventory.devices().size() == 1);
  CHECK(inventory.devices()[0]->name() == "cpu");
  CHECK(inventory.find_device("cpu") != nullptr);
  CHECK(inventory.find_device("cuda:0") == nullptr);
}

TEST_CASE("the same file found twice loads once; a second plugin of the same name is skipped") {
  sy::test::ScratchDir scratch;
  fs::copy_file(SWITCHYARD_CPU_PLUGIN, scratch / "libswitchyard-cpu.so");
  auto options = isolated_options();
  options.explicit_files = {SWITCHYARD_CPU_PLUGIN};
  options.config_paths = {fs::path(SWITCHYARD_CPU_PLUGIN).parent_path(), SWITCHYARD_CPU_PLUGIN, scratch.path()};
  const auto inventory = sy::plugin::load_plugins(options);
  int records_of_original = 0;
  for (const auto& record : inventory.plugins())
    if (record.file == fs::weakly_canonical(SWITCHYARD_CPU_PLUGIN)) ++records_of_original;
  CHECK(records_of_original == 1);
  const auto& copy = record_for(inventory, "libswitchyard-cpu.so");  // the first record is the original
  CHECK(copy.loaded);
  bool copy_skipped = false;
  for (const auto& record : inventory.plugins())
    if (record.file.parent_path() == fs::weakly_canonical(scratch.path()))
      copy_skipped = !record.loaded && record.skip_reason.find("a plugin named 'cpu' is already loaded") == 0;
  CHECK(copy_skipped);
  CHECK(inventory.devices().size() == 1);
}

TEST_CASE("SWITCHYARD_PLUGIN_PATH is searched, colon separated, empty parts ignored") {
  const std::string value = std::string("::") + SWITCHYARD_BROKEN_PLUGIN_DIR + ":/nonexistent/dir";
  ::setenv("SWITCHYARD_PLUGIN_PATH", value.c_str(), 1);
  auto options = isolated_options();
  options.use_environment = true;
  const auto directories = sy::plugin::plugin_search_directories(options);
  const auto inventory = sy::plugin::load_plugins(options);
  ::unsetenv("SWITCHYARD_PLUGIN_PATH");
  REQUIRE(directories.size() == 2);
  CHECK(directories[0].second == "SWITCHYARD_PLUGIN_PATH");
  CHECK(inventory.plugins().size() == 6);
  for (const auto& record : inventory.plugins()) CHECK(record.origin == "SWITCHYARD_PLUGIN_PATH");
}

// An installed switchyard used to search the tree it was built in as well as its own prefix.
TEST_CASE("a program searches its own plugin directory: the build tree's in bin/, its prefix's anywhere else") {
  LoaderOptions options;
  options.use_environment = false;
  const auto directories = sy::plugin::plugin_search_directories(options);
  REQUIRE(directories.size() == 1);  // this test runs from the build tree's bin/
  CHECK(directories[0].second == "build tree");
  CHECK(directories[0].first == fs::path(SWITCHYARD_CPU_PLUGIN).parent_path());

  const auto installed = sy::plugin::program_plugin_directory("/opt/switchyard/bin/switchyard", options);
  REQUIRE(installed.has_value());
  CHECK(installed->second == "install");
  CHECK(installed->first == "/opt/switchyard/lib/switchyard/plugins");
  const auto built = sy::plugin::program_plugin_directory(fs::path(SWITCHYARD_BUILD_BIN_DIR) / "switchyard", options);
  REQUIRE(built.has_value());
  CHECK(built->second == "build tree");
  options.use_build_tree = false;
  CHECK_FALSE(sy::plugin::program_plugin_directory(fs::path(SWITCHYARD_BUILD_BIN_DIR) / "switchyard", options));
  CHECK(sy::plugin::program_plugin_directory("/opt/switchyard/bin/switchyard", options).has_value());
}

// What the error says, so that a test can check it.
std::string missing_device_error(LoaderOptions options, const std::string& wanted) {
  options.require = {wanted};
  try {
    (void)sy::plugin::load_plugins(options);
  } catch (const sy::Error& error) {
    CHECK(error.code() == sy::ErrorCode::not_found);
    return error.what();
  }
  FAIL("require " << wanted << " should have thrown");
  return {};
}

// "No plugin for it" and "its plugin loaded but reports no device" need different fixes: each says which it is
// (a kind used to get "no plugin file was found" however many plugins had loaded with no device).
TEST_CASE("a required device that is missing: no plugin for it, or a plugin that loaded without devices") {
  auto options = isolated_options();
  options.config_paths = {SWITCHYARD_BROKEN_PLUGIN_DIR, SWITCHYARD_CPU_PLUGIN};
  options.require = {"cpu"};
  CHECK_NOTHROW(sy::plugin::load_plugins(options));

  const std::string gpu = missing_device_error(options, "gpu");
  CHECK(gpu.find("required device 'gpu' is not available:\n") == 0);
  CHECK(gpu.find("libswitchyard-broken-no-devices.so: plugin 'nodevice' loaded but reports no device (no frobnicator "
                 "attached): check that the device and its driver work") != std::string::npos);
  CHECK(gpu.find("libswitchyard-broken-probe-zero.so: not loaded: probe score 0") != std::string::npos);
  CHECK(gpu.find("libswitchyard-cpu.so") == std::string::npos);  // its device is there, of another kind

  const std::string by_name = missing_device_error(options, "nodevice");
  CHECK(by_name.find("plugin 'nodevice' loaded but reports no device") != std::string::npos);
  CHECK(by_name.find("probe-zero") == std::string::npos);
  CHECK(missing_device_error(options, "broken").find("not loaded: probe score 0") != std::string::npos);
  CHECK(missing_device_error(options, "cpu:1").find("libswitchyard-cpu.so: plugin 'cpu' has cpu only") !=
        std::string::npos);

  const std::string none = missing_device_error(options, "cuda");
  CHECK(none.find("required device 'cuda' is not available; no plugin file libswitchyard-cuda.so was found "
                  "(searched ") == 0);
  CHECK(none.find(SWITCHYARD_BROKEN_PLUGIN_DIR) != std::string::npos);
  CHECK(none.find("--plugin-path") != std::string::npos);
  options.config_paths = {SWITCHYARD_CPU_PLUGIN};
  CHECK(missing_device_error(options, "gpu").find("no plugin file that could provide a gpu device was found") !=
        std::string::npos);
}

// The reason quotes the name as it is: output escapes it (tests/tools/escaped_output.cmake), once.
TEST_CASE("a plugin whose name could forge output or split device names is refused") {
  auto options = isolated_options();
  options.explicit_files = {fs::path(SWITCHYARD_HOSTILE_PLUGIN_DIR) / "libswitchyard-hostile-name.so"};
  const auto inventory = sy::plugin::load_plugins(options);
  REQUIRE(inventory.plugins().size() == 1);
  CHECK_FALSE(inventory.plugins()[0].loaded);
  CHECK(inventory.plugins()[0].skip_reason ==
        "its name 'evil\x1b[31m\n  loaded   cpu' cannot name devices: a plugin name is ASCII letters, digits, '_' "
        "and '-' only; rename it in the plugin's source and rebuild it");
}

TEST_CASE("plugin statuses become sy::Error with the core's codes, and are released") {
  CHECK(sy::plugin::error_code_of(SY_STATUS_OUT_OF_MEMORY) == sy::ErrorCode::out_of_memory);
  CHECK(sy::plugin::error_code_of(SY_STATUS_UNSUPPORTED) == sy::ErrorCode::unsupported);
  CHECK(sy::plugin::error_code_of(SY_STATUS_INVALID_ARGUMENT) == sy::ErrorCode::invalid_argument);
  CHECK(sy::plugin::error_code_of(SY_STATUS_NOT_FOUND) == sy::ErrorCode::not_found);
  CHECK(sy::plugin::error_code_of(SY_STATUS_DEVICE_ERROR) == sy::ErrorCode::plugin);
  CHECK(sy::plugin::error_code_of(SY_STATUS_INTERNAL) == sy::ErrorCode::plugin);
  CHECK_NOTHROW(sy::plugin::throw_if_failed(nullptr, "x", "call"));
}

TEST_CASE("CPU device through the core: round trip, out-of-memory error, forced ISA option") {
  ::unsetenv("SWITCHYARD_CPU_ISA");
  auto options = isolated_options();
  options.explicit_files = {SWITCHYARD_CPU_PLUGIN};
  options.plugin_options = {{"isa", "scalar"}, {"threads", "1"}};
  const auto inventory = sy::plugin::load_plugins(options);
  REQUIRE(inventory.devices().size() == 1);
  const auto& cpu = *inventory.devices()[0];
  CHECK(cpu.info().arch == "x86_64");
  CHECK(cpu.info().compute_units == 1);
  CHECK(cpu.info().kind == sy::DeviceKind::cpu);
  CHECK(cpu.free_memory() > 0);
  CHECK(cpu.free_memory() <= cpu.info().total_memory);

  auto buffer = cpu.allocate(16);
  const char text[16] = "fifteen chars..";
  buffer.upload(0, text, 16);
  char back[16] = {};
  buffer.download(0, back, 16);
  CHECK(std::string(back) == text);
  CHECK(buffer.map() != nullptr);
  try {
    (void)cpu.allocate(cpu.info().total_memory + 1);
    FAIL("allocation past capacity should fail");
  } catch (const sy::Error& error) {
    CHECK(error.code() == sy::ErrorCode::out_of_memory);
    CHECK(std::string(error.what()).find("cpu plugin (") == 0);
  }
  char host[64] = {};
  auto adopted = cpu.adopt_host(host, sizeof host);
  REQUIRE(adopted.has_value());
  CHECK(adopted->map() == static_cast<void*>(host));
  // A buffer of a huge page or more comes from the kernel 2 MiB-aligned (plugin.cpp, common::map_huge_aligned): every byte of it,
  // up to a size that is no whole number of pages, holds what was uploaded, and it is given back on destruction.
  const uint64_t large_size = (uint64_t{5} << 20) + 12345;
  {
    auto large = cpu.allocate(large_size);
    CHECK(reinterpret_cast<uintptr_t>(large.map()) % (uint64_t{2} << 20) == 0);
    std::vector<unsigned char> pattern(large_size), read(large_size, 0xA5);
    for (uint64_t i = 0; i < large_size; ++i) pattern[i] = static_cast<unsigned char>(i * 131 + 7);
    large.upload(0, pattern.data(), large_size);
    large.download(0, read.data(), large_size);
    CHECK(read == pattern);
  }
}

TEST_CASE("an unknown ISA name is a negotiation error that says what to use") {
  auto options = isolated_options();
  options.explicit_files = {SWITCHYARD_CPU_PLUGIN};
  options.plugin_options = {{"isa", "sse9"}};
  const auto inventory = sy::plugin::load_plugins(options);
  REQUIRE(inventory.plugins().size() == 1);
  CHECK(inventory.plugins()[0].skip_reason.find("unknown CPU ISA level 'sse9': use scalar, avx2 or avx512") !=
        std::string::npos);
}

// A FIFO would block dlopen's read forever (and /etc/passwd used to get a stray parenthesis, a wrong errno and
// advice about CUDA libraries): each is refused before it is opened as a library, with what it really is.
TEST_CASE("a FIFO, a directory or a text file given as a plugin is skipped, saying what it is") {
  sy::test::ScratchDir scratch;
  REQUIRE(mkfifo((scratch / "libswitchyard-fifo.so").c_str(), 0600) == 0);
  fs::create_directory(scratch / "libswitchyard-dir.so");
  auto options = isolated_options();
  options.config_paths = {scratch.path()};
  options.explicit_files = {"/etc/passwd"};
  const auto inventory = sy::plugin::load_plugins(options);
  CHECK(record_for(inventory, "libswitchyard-fifo.so").skip_reason.find("is a FIFO (named pipe), not a regular file") == 0);
  CHECK(record_for(inventory, "libswitchyard-dir.so").skip_reason.find("is a directory, not a regular file") == 0);
  CHECK(record_for(inventory, "passwd").skip_reason.find("is not a shared library (it has no ELF header)") == 0);
}

TEST_CASE("dlopen's own reason is quoted whole, without the errno Boost appends") {
  // An ELF header, then nothing: dlopen refuses it with its own sentence.
  sy::test::ScratchDir scratch;
  std::ofstream(scratch / "libswitchyard-short.so", std::ios::binary) << "\x7f" "ELF" "\x02\x01\x01";
  auto options = isolated_options();
  options.explicit_files = {scratch / "libswitchyard-short.so"};
  const auto inventory = sy::plugin::load_plugins(options);
  const std::string reason = record_for(inventory, "libswitchyard-short.so").skip_reason;
  CAPTURE(reason);
  CHECK(reason.find("cannot be loaded: " + (scratch / "libswitchyard-short.so").string() + ": ") == 0);
  CHECK(reason.find("):") == std::string::npos);
  CHECK(reason.find("CUDA") == std::string::npos);
  CHECK(reason.find("rebuild the plugin") != std::string::npos);
}

// The hostile suite: plugins whose constructors crash, abort, exit or block, that throw an int across the ABI or
// report absurd counts and sizes. Probed in child processes, each is skipped with a sentence saying what happened
// while the host goes on and the good plugin loads. Before, the first one took the test process down.
TEST_CASE("hostile plugins are probed in child processes and skipped with what happened; the host survives") {
  auto options = isolated_options();
  options.config_paths = {SWITCHYARD_HOSTILE_PLUGIN_DIR, SWITCHYARD_CPU_PLUGIN};
  options.probe_timeout = std::chrono::milliseconds(3000);
  const auto start = std::chrono::steady_clock::now();
  const auto inventory = sy::plugin::load_plugins(options);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const auto reason = [&](const std::string& file) {
    const auto& record = record_for(inventory, file);
    CHECK_FALSE(record.loaded);
    return record.skip_reason;
  };
  CHECK(reason("libswitchyard-hostile-constructor-crashes.so").find("crashed with signal 11") == 0);
  CHECK(reason("libswitchyard-hostile-constructor-aborts.so").find("crashed with signal 6") == 0);
  CHECK(reason("libswitchyard-hostile-constructor-exits.so").find("exited with code 0 while being loaded") == 0);
  CHECK(reason("libswitchyard-hostile-constructor-blocks.so").find("did not finish loading and probing within 3.0 s") == 0);
  CHECK(reason("libswitchyard-hostile-throws-int.so").find("threw an exception of unknown type") != std::string::npos);
  CHECK(reason("libswitchyard-hostile-absurd-device-count.so") ==
        "device_count reported 4294967295 devices, more than the 256 any machine has; the plugin is broken");
  CHECK(reason("libswitchyard-hostile-garbage-struct-size.so").find("claiming 4294967280 bytes") != std::string::npos);
  CHECK(record_for(inventory, "libswitchyard-hostile-throws-int.so").name == "broken");  // what the child saw
  CHECK(record_for(inventory, "libswitchyard-cpu.so").loaded);
  REQUIRE(inventory.devices().size() == 1);
  // All children run at once: the blocking one costs the timeout once, not once per plugin.
  CHECK(elapsed < std::chrono::seconds(10));
}

// Without isolation the host's own guards still hold for what does not kill a process: every exception type
// at the ABI boundary, and bounds on counts and sizes.
TEST_CASE("in-process, an int thrown across the ABI and absurd counts are caught and refused") {
  auto options = isolated_options();
  options.isolate = false;
  options.explicit_files = {fs::path(SWITCHYARD_HOSTILE_PLUGIN_DIR) / "libswitchyard-hostile-throws-int.so",
                            fs::path(SWITCHYARD_HOSTILE_PLUGIN_DIR) / "libswitchyard-hostile-absurd-device-count.so",
                            fs::path(SWITCHYARD_HOSTILE_PLUGIN_DIR) / "libswitchyard-hostile-garbage-struct-size.so"};
  const auto inventory = sy::plugin::load_plugins(options);
  CHECK(record_for(inventory, "libswitchyard-hostile-throws-int.so").skip_reason ==
        "a call into the plugin threw an exception of unknown type (not a std::exception) across the ABI; exceptions "
        "must not cross the C ABI");
  CHECK(record_for(inventory, "libswitchyard-hostile-absurd-device-count.so").skip_reason.find("4294967295 devices") !=
        std::string::npos);
  CHECK(record_for(inventory, "libswitchyard-hostile-garbage-struct-size.so").skip_reason.find("it is garbage") !=
        std::string::npos);
}

// Whether `file` is mapped into this process (a library dlopen'ed here appears in /proc/self/maps).
bool mapped_here(const fs::path& file) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(file.string()) != std::string::npos) return true;
  }
  return false;
}

TEST_CASE("only plugins that passed in the child are opened in the host; SWITCHYARD_PLUGIN_ISOLATION=off opens all") {
  sy::test::ScratchDir scratch;
  const fs::path hostile = fs::path(SWITCHYARD_HOSTILE_PLUGIN_DIR) / "libswitchyard-hostile-absurd-device-count.so";
  fs::copy_file(hostile, scratch / "libswitchyard-isolated.so");
  fs::copy_file(hostile, scratch / "libswitchyard-in-process.so");
  auto options = isolated_options();
  options.explicit_files = {scratch / "libswitchyard-isolated.so"};
  const auto isolated = sy::plugin::load_plugins(options);
  CHECK(record_for(isolated, "libswitchyard-isolated.so").skip_reason.find("4294967295 devices") != std::string::npos);
  CHECK_FALSE(mapped_here(scratch / "libswitchyard-isolated.so"));

  setenv("SWITCHYARD_PLUGIN_ISOLATION", "off", 1);
  options.explicit_files = {scratch / "libswitchyard-in-process.so"};
  const auto in_process = sy::plugin::load_plugins(options);
  unsetenv("SWITCHYARD_PLUGIN_ISOLATION");
  CHECK(record_for(in_process, "libswitchyard-in-process.so").skip_reason.find("4294967295 devices") != std::string::npos);
  CHECK(mapped_here(scratch / "libswitchyard-in-process.so"));
}

TEST_CASE("the verdict cache: a file that passed is not probed again until its size, time or inode changes") {
  sy::test::ScratchDir scratch;
  const fs::path cache = scratch / "cache" / "plugin-verdicts";
  fs::copy_file(SWITCHYARD_CPU_PLUGIN, scratch / "libswitchyard-cpu.so");
  auto options = isolated_options();
  options.verdict_cache = cache;
  options.explicit_files = {scratch / "libswitchyard-cpu.so"};
  CHECK(sy::plugin::load_plugins(options).plugins().at(0).loaded);
  std::ifstream written(cache);
  std::string line;
  REQUIRE(std::getline(written, line));
  CHECK(line.ends_with(" " + (scratch / "libswitchyard-cpu.so").string()));

  // A cache entry is trusted only for the very file it describes: observable with a plugin the child would refuse
  // (safely: it fails the same way in the host), which a trusted entry sends straight to the host.
  const fs::path hostile = fs::path(SWITCHYARD_HOSTILE_PLUGIN_DIR) / "libswitchyard-hostile-absurd-device-count.so";
  fs::copy_file(hostile, scratch / "libswitchyard-trusted.so");
  fs::copy_file(hostile, scratch / "libswitchyard-stale.so");
  const auto entry = [&](const fs::path& file, int64_t mtime_shift) {
    struct stat st {};
    REQUIRE(stat(file.c_str(), &st) == 0);
    const int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec + mtime_shift;
    return std::to_string(st.st_size) + " " + std::to_string(mtime_ns) + " " + std::to_string(st.st_ino) + " " +
           file.string() + "\n";
  };
  std::ofstream(cache) << entry(scratch / "libswitchyard-trusted.so", 0) << entry(scratch / "libswitchyard-stale.so", 1);
  options.explicit_files = {scratch / "libswitchyard-trusted.so", scratch / "libswitchyard-stale.so"};
  const auto inventory = sy::plugin::load_plugins(options);
  CHECK(mapped_here(scratch / "libswitchyard-trusted.so"));    // the cache said it passed: no child
  CHECK_FALSE(mapped_here(scratch / "libswitchyard-stale.so"));  // modified since: probed in a child, refused there
  CHECK(record_for(inventory, "libswitchyard-stale.so").skip_reason.find("4294967295 devices") != std::string::npos);
}
