// Switchyard's error type, shared by the core and the public embedding API (switchyard/switchyard.hpp): every
// failure is an exception of type sy::Error carrying one code from a small set, so that callers act on the code
// without parsing messages. At the C plugin boundary failures are statuses instead (switchyard/plugin.h).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace sy {

// What kind of failure, so that callers (and the CLI's exit codes) can act without parsing messages.
enum class ErrorCode {
  invalid_argument,  // the caller or the user asked for something impossible (bad flag, bad config value)
  not_found,         // a file, tensor, key, plugin or device that is not there
  io,                // the operating system refused a read, write, map or open
  invalid_file,      // a model file is malformed; GgufError carries the precise class
  unsupported,       // well-formed but not something this build can do
  out_of_memory,     // a device or the host could not provide memory
  plugin,            // a backend plugin failed or misbehaved
  cancelled,         // the caller asked to stop
  internal,          // a broken invariant inside Switchyard: a bug
};

inline std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::io: return "io";
    case ErrorCode::invalid_file: return "invalid_file";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::out_of_memory: return "out_of_memory";
    case ErrorCode::plugin: return "plugin";
    case ErrorCode::cancelled: return "cancelled";
    case ErrorCode::internal: return "internal";
  }
  return "unknown";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message) : std::runtime_error(std::move(message)), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace sy
