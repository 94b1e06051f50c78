// Deliberately broken plugins, one per way a plugin can be wrong; BROKEN_KIND (set by tests/plugin/CMakeLists.txt)
// picks which. discovery_test.cpp asserts discovery skips each with the right one-sentence reason and goes on.
#include <switchyard/plugin.h>
#include <switchyard/plugin_helpers.hpp>

#include <stdexcept>

#define KIND_WRONG_ABI 1
#define KIND_MISSING_SYMBOL 2
#define KIND_FAILING_NEGOTIATION 3
#define KIND_PROBE_ZERO 4
#define KIND_THROWS 5
// Hostile: what isolation (probing in a child process) and the host's bounds must survive.
#define KIND_CONSTRUCTOR_CRASHES 6
#define KIND_CONSTRUCTOR_ABORTS 7
#define KIND_CONSTRUCTOR_EXITS 8
#define KIND_CONSTRUCTOR_BLOCKS 9
#define KIND_THROWS_INT 10
#define KIND_ABSURD_DEVICE_COUNT 11
#define KIND_GARBAGE_STRUCT_SIZE 12
// Text meant to fool a terminal: escape sequences, newlines that forge output lines, bytes that are not UTF-8.
#define KIND_HOSTILE_NAME 13  // in the name, which must be refused: it becomes the devices' names
#define KIND_HOSTILE_TEXT 14  // in the version, vendor, probe reason and a status message, which are printed
// Loads, then reports no device: what a GPU plugin does on a machine without the GPU or its driver.
#define KIND_NO_DEVICES 15

#if BROKEN_KIND >= KIND_CONSTRUCTOR_CRASHES && BROKEN_KIND <= KIND_CONSTRUCTOR_BLOCKS
#include <unistd.h>

#include <csignal>
#include <cstdlib>

// Runs as soon as the library is opened, before the host can call anything.
__attribute__((constructor)) static void hostile_constructor() {
#if BROKEN_KIND == KIND_CONSTRUCTOR_CRASHES
  std::raise(SIGSEGV);
#elif BROKEN_KIND == KIND_CONSTRUCTOR_ABORTS
  std::abort();
#elif BROKEN_KIND == KIND_CONSTRUCTOR_EXITS
  std::exit(0);  // used to make `load --verify` exit 0 with no output at all
#else
  for (;;) ::pause();
#endif
}
#endif

namespace {

sy_status* probe(sy_plugin*, sy_probe_result* out) {
#if BROKEN_KIND == KIND_PROBE_ZERO
  out->score = 0;
  sy::sdk::copy_text(out->reason, "no frobnicator hardware found (driver error 38: ENOSYS)");
  return nullptr;
#elif BROKEN_KIND == KIND_THROWS
  (void)out;
  // A plugin bug inside a call: the SDK's guard must turn it into a status instead of letting it unwind into the host.
  return sy::sdk::guard("probe", [] { throw std::runtime_error("frobnicator table is corrupt"); });
#elif BROKEN_KIND == KIND_THROWS_INT
  (void)out;
  throw 42;  // no guard: an int crosses the C ABI (it used to terminate the host)
#elif BROKEN_KIND == KIND_HOSTILE_TEXT
  out->score = 1;
  sy::sdk::copy_text(out->reason, "ready\x1b[2J\x1b[H\nerror: forged line \xff\xfe \xe2\x80\xae");
  return nullptr;
#elif BROKEN_KIND == KIND_NO_DEVICES
  out->score = 1;
  sy::sdk::copy_text(out->reason, "no frobnicator attached");
  return nullptr;
#else
  out->score = 1;
  return nullptr;
#endif
}

sy_status* device_count(sy_plugin*, uint32_t* out_count) {
#if BROKEN_KIND == KIND_ABSURD_DEVICE_COUNT
  *out_count = 0xFFFFFFFFu;  // used to make the host open devices (and warn) four billion times
  return nullptr;
#endif
#if BROKEN_KIND == KIND_HOSTILE_TEXT
  *out_count = 1;  // whose opening fails with a hostile message, which the host logs
  return nullptr;
#endif
  *out_count = 0;
  return nullptr;
}

sy_status* device_open(sy_plugin*, uint32_t, sy_device**) {
#if BROKEN_KIND == KIND_HOSTILE_TEXT
  return sy::sdk::make_status(SY_STATUS_NOT_FOUND, "gone\x1b]0;owned\x07\n[error] forged log line");
#else
  return sy::sdk::make_status(SY_STATUS_NOT_FOUND, "broken plugin has no devices");
#endif
}

void destroy(sy_plugin* plugin) { delete plugin; }

// Unused in the missing-symbol variant, which exports no negotiation function at all.
#if BROKEN_KIND == KIND_GARBAGE_STRUCT_SIZE
constexpr uint32_t kVtableSize = 0xFFFFFFF0u;  // believing it would make the host read slots far past the table
#else
constexpr uint32_t kVtableSize = sizeof(sy_plugin_vtable);
#endif
[[maybe_unused]] const sy_plugin_vtable kVtable = {
    .struct_size = kVtableSize,
    .abi_version = SY_ABI_VERSION,
    .destroy = destroy,
    .probe = probe,
    .device_count = device_count,
    .device_open = device_open,
};

}  // namespace

#if BROKEN_KIND == KIND_MISSING_SYMBOL
// Exports a differently named function, as a plugin built against a draft of the ABI might.
extern "C" SY_PLUGIN_EXPORT int sy_plugin_negotiate_v0(void) { return 0; }
#else
extern "C" SY_PLUGIN_EXPORT sy_status* sy_plugin_negotiate(const sy_negotiation_request* request, sy_plugin** out) {
#if BROKEN_KIND == KIND_FAILING_NEGOTIATION
  (void)request;
  (void)out;
  return sy::sdk::make_status(SY_STATUS_DEVICE_ERROR, "frobnicator runtime version 3 is required, found 2");
#else
  (void)request;
  auto* plugin = new sy_plugin(sy::sdk::make_struct<sy_plugin>());
  plugin->vtable = &kVtable;
#if BROKEN_KIND == KIND_HOSTILE_NAME
  plugin->name = "evil\x1b[31m\n  loaded   cpu";
#elif BROKEN_KIND == KIND_NO_DEVICES
  plugin->name = "nodevice";
#else
  plugin->name = "broken";
#endif
#if BROKEN_KIND == KIND_HOSTILE_TEXT
  plugin->version = "1\x1b[8m";
  plugin->vendor = "tests\r\n  loaded   cpu 1 (forged)";
#else
  plugin->version = "0";
  plugin->vendor = "tests";
#endif
#if BROKEN_KIND == KIND_WRONG_ABI
  plugin->abi_version = SY_ABI_MAKE_VERSION(SY_ABI_VERSION_MAJOR + 98, 3);  // ignores the host's range
#endif
  *out = plugin;
  return nullptr;
#endif
}
#endif
