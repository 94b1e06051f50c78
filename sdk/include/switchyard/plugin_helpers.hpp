// C++ conveniences for writing a plugin against switchyard/plugin.h: building statuses, keeping exceptions on the
// plugin's side of the boundary, logging through the host, and negotiating a version. Header-only and optional;
// nothing here crosses the ABI (the ABI stays the C header).
#pragma once

#include <switchyard/plugin.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>

namespace sy::sdk {

// A zero-initialised ABI struct with its header filled for this SDK's version.
template <class T>
T make_struct() {
  T value{};
  value.struct_size = static_cast<uint32_t>(sizeof(T));
  value.abi_version = SY_ABI_VERSION;
  return value;
}

// A zeroed op of `kind` (a sy_op_kind; uint32_t like sy_op::kind, so that tests can build an unknown one).
inline sy_op make_op(uint32_t kind) {
  auto op = make_struct<sy_op>();
  op.kind = kind;
  return op;
}

namespace detail {
struct OwnedStatus {
  sy_status status;
  std::string message;
};
inline void release_status(sy_status* status) { delete reinterpret_cast<OwnedStatus*>(status); }
}  // namespace detail

// A new status the host will release. Returns a static "out of memory" status if even that allocation fails.
inline sy_status* make_status(sy_status_code code, std::string message) noexcept {
  static_assert(offsetof(detail::OwnedStatus, status) == 0, "the status must be the first member");
  try {
    auto* owned = new detail::OwnedStatus{make_struct<sy_status>(), std::move(message)};
    owned->status.code = code;
    owned->status.message = owned->message.c_str();
    owned->status.release = detail::release_status;
    return &owned->status;
  } catch (...) {
    static sy_status out_of_memory = {sizeof(sy_status), SY_ABI_VERSION, SY_STATUS_OUT_OF_MEMORY,
                                      "the plugin ran out of host memory while reporting an error",
                                      [](sy_status*) {}};
    return &out_of_memory;
  }
}

// Thrown inside plugin code to leave an entry point with a specific status; `guard` converts it.
class StatusError : public std::exception {
 public:
  StatusError(sy_status_code code, std::string message) : code_(code), message_(std::move(message)) {}
  sy_status_code code() const noexcept { return code_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  sy_status_code code_;
  std::string message_;
};

// Runs `body` (returning void) and turns whatever it throws into a status, so that no exception crosses the C
// boundary. `entry_point` names the call in the message ("buffer_allocate") so the host's log says where it was.
template <class Body>
sy_status* guard(const char* entry_point, Body&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const StatusError& error) {
    return make_status(error.code(), error.what());
  } catch (const std::bad_alloc&) {
    return make_status(SY_STATUS_OUT_OF_MEMORY, std::string(entry_point) + ": the plugin ran out of host memory");
  } catch (const std::exception& error) {
    return make_status(SY_STATUS_INTERNAL,
                       std::string(entry_point) + ": unexpected exception inside the plugin: " + error.what());
  } catch (...) {
    return make_status(SY_STATUS_INTERNAL, std::string(entry_point) + ": unexpected non-standard exception inside the plugin");
  }
}

// Logging through the host's sink; silently dropped before negotiation has handed the services over.
class HostLog {
 public:
  void attach(const sy_host_services* host) { host_ = host; }
  void write(sy_log_level level, const std::string& message) const {
    if (host_ && host_->log) host_->log(host_->context, level, message.c_str());
  }
  void debug(const std::string& message) const { write(SY_LOG_DEBUG, message); }
  void info(const std::string& message) const { write(SY_LOG_INFO, message); }
  void warn(const std::string& message) const { write(SY_LOG_WARN, message); }

 private:
  const sy_host_services* host_ = nullptr;
};

// Picks the version this plugin speaks for `request`: SY_ABI_VERSION when the host's range contains its major.
// Throws StatusError(SY_STATUS_ABI_MISMATCH) with both ranges spelled out otherwise.
inline uint32_t negotiate_version(const sy_negotiation_request* request, const char* plugin_name) {
  if (!request || request->struct_size < offsetof(sy_negotiation_request, host) + sizeof(void*))
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string(plugin_name) + ": malformed negotiation request");
  const uint32_t ours = SY_ABI_VERSION;
  const auto major = [](uint32_t v) { return SY_ABI_VERSION_MAJOR_OF(v); };
  if (major(request->min_abi_version) <= major(ours) && major(ours) <= major(request->max_abi_version)) {
    // A differing minor needs nothing here: each side reads only the fields the other's struct_size covers.
    return ours;
  }
  char text[256];
  std::snprintf(text, sizeof text,
                "%s: built for plugin ABI %u.%u but the host speaks %u.%u to %u.%u; rebuild the plugin against the "
                "SDK of this Switchyard",
                plugin_name, major(ours), SY_ABI_VERSION_MINOR_OF(ours), major(request->min_abi_version),
                SY_ABI_VERSION_MINOR_OF(request->min_abi_version), major(request->max_abi_version),
                SY_ABI_VERSION_MINOR_OF(request->max_abi_version));
  throw StatusError(SY_STATUS_ABI_MISMATCH, text);
}

// Copies `text` into a fixed char array of an ABI struct, always NUL-terminated.
template <size_t N>
void copy_text(char (&destination)[N], const std::string& text) {
  const size_t n = text.size() < N - 1 ? text.size() : N - 1;
  std::memcpy(destination, text.data(), n);
  destination[n] = '\0';
}

}  // namespace sy::sdk
