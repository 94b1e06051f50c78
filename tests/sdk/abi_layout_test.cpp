// Pins the plugin ABI's layout rules (header first, destroy first in every vtable) at compile time, and the SDK's
// C++ helpers (statuses, guard, version negotiation) at run time.
#include <doctest/doctest.h>

#include <switchyard/plugin.h>
#include <switchyard/plugin_helpers.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>

// Every exchanged struct begins { uint32_t struct_size; uint32_t abi_version; }.
#define SY_ASSERT_HEADER(T)                                                         \
  static_assert(offsetof(T, struct_size) == 0, #T ": struct_size must come first"); \
  static_assert(offsetof(T, abi_version) == 4, #T ": abi_version must come second")
SY_ASSERT_HEADER(sy_status);
SY_ASSERT_HEADER(sy_host_services);
SY_ASSERT_HEADER(sy_option);
SY_ASSERT_HEADER(sy_probe_result);
SY_ASSERT_HEADER(sy_plugin_vtable);
SY_ASSERT_HEADER(sy_plugin);
SY_ASSERT_HEADER(sy_device_info);
SY_ASSERT_HEADER(sy_device_vtable);
SY_ASSERT_HEADER(sy_device);
SY_ASSERT_HEADER(sy_buffer_vtable);
SY_ASSERT_HEADER(sy_buffer);
SY_ASSERT_HEADER(sy_stream_vtable);
SY_ASSERT_HEADER(sy_stream);
SY_ASSERT_HEADER(sy_event_vtable);
SY_ASSERT_HEADER(sy_event);
SY_ASSERT_HEADER(sy_op);
SY_ASSERT_HEADER(sy_negotiation_request);

// destroy is the first slot of every vtable: the one call still allowed when the major version differs.
static_assert(offsetof(sy_plugin_vtable, destroy) == 8);
static_assert(offsetof(sy_device_vtable, destroy) == 8);
static_assert(offsetof(sy_buffer_vtable, destroy) == 8);
static_assert(offsetof(sy_stream_vtable, destroy) == 8);
static_assert(offsetof(sy_event_vtable, destroy) == 8);
// And every object finds its vtable at the same place.
static_assert(offsetof(sy_plugin, vtable) == 8 && offsetof(sy_device, vtable) == 8);
static_assert(offsetof(sy_buffer, vtable) == 8 && offsetof(sy_stream, vtable) == 8 && offsetof(sy_event, vtable) == 8);
// Minor versions only append: the 1.3 fields and slots come after everything 1.2 had, and flags took the place of
// the reserved field (zero from any older host).
static_assert(offsetof(sy_device_info, max_attention_context) > offsetof(sy_device_info, multipliable_types));
static_assert(offsetof(sy_device_vtable, event_create) > offsetof(sy_device_vtable, host_memory_free));
static_assert(offsetof(sy_op, flags) == 12 && sizeof(sy_step_values) == 16);
// Type masks cover GGUF ids 0..63.
static_assert(sizeof(sy_device_info::multipliable_types) == 8);

namespace {
sy_negotiation_request request_for(uint32_t min_version, uint32_t max_version) {
  auto request = sy::sdk::make_struct<sy_negotiation_request>();
  request.min_abi_version = min_version;
  request.max_abi_version = max_version;
  return request;
}
}  // namespace

TEST_CASE("make_status carries code and message and releases cleanly") {
  sy_status* status = sy::sdk::make_status(SY_STATUS_OUT_OF_MEMORY, "cuda:0 has 12 bytes left");
  REQUIRE(status != nullptr);
  CHECK(status->struct_size == sizeof(sy_status));
  CHECK(status->code == SY_STATUS_OUT_OF_MEMORY);
  CHECK(std::string(status->message) == "cuda:0 has 12 bytes left");
  status->release(status);
}

TEST_CASE("guard turns every exception into a status and success into NULL") {
  CHECK(sy::sdk::guard("call", [] {}) == nullptr);
  const auto code_and_message = [](sy_status* status) {
    REQUIRE(status != nullptr);
    std::string text = std::to_string(status->code) + " " + status->message;
    status->release(status);
    return text;
  };
  CHECK(code_and_message(sy::sdk::guard("call", [] { throw sy::sdk::StatusError(SY_STATUS_UNSUPPORTED, "no q3_K"); })) ==
        "3 no q3_K");
  CHECK(code_and_message(sy::sdk::guard("execute", [] { throw std::runtime_error("boom"); })) ==
        "7 execute: unexpected exception inside the plugin: boom");
  CHECK(code_and_message(sy::sdk::guard("call", [] { throw 42; })) ==
        "7 call: unexpected non-standard exception inside the plugin");
}

TEST_CASE("negotiate_version accepts the host's major and refuses others with both ranges") {
  auto same = request_for(SY_ABI_MAKE_VERSION(SY_ABI_VERSION_MAJOR, 0), SY_ABI_MAKE_VERSION(SY_ABI_VERSION_MAJOR, 7));
  CHECK(sy::sdk::negotiate_version(&same, "test") == SY_ABI_VERSION);
  auto newer = request_for(SY_ABI_MAKE_VERSION(SY_ABI_VERSION_MAJOR + 1, 0), SY_ABI_MAKE_VERSION(SY_ABI_VERSION_MAJOR + 1, 2));
  try {
    sy::sdk::negotiate_version(&newer, "test plugin");
    FAIL("a different major must be refused");
  } catch (const sy::sdk::StatusError& error) {
    CHECK(error.code() == SY_STATUS_ABI_MISMATCH);
    const std::string ours = "1." + std::to_string(SY_ABI_VERSION_MINOR);
    CHECK(std::string(error.what()).find("test plugin: built for plugin ABI " + ours + " but the host speaks 2.0 to 2.2") == 0);
  }
  CHECK_THROWS_AS(sy::sdk::negotiate_version(nullptr, "test"), sy::sdk::StatusError);
}

TEST_CASE("copy_text always terminates") {
  char small[4];
  sy::sdk::copy_text(small, "abcdef");
  CHECK(std::string(small) == "abc");
}
