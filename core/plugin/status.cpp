#include "core/plugin/status.h"

namespace sy::plugin {

ErrorCode error_code_of(int32_t status_code) {
  switch (status_code) {
    case SY_STATUS_INVALID_ARGUMENT: return ErrorCode::invalid_argument;
    case SY_STATUS_NOT_FOUND: return ErrorCode::not_found;
    case SY_STATUS_UNSUPPORTED: return ErrorCode::unsupported;
    case SY_STATUS_OUT_OF_MEMORY: return ErrorCode::out_of_memory;
    default: return ErrorCode::plugin;
  }
}

std::string take_status_message(sy_status* status, int32_t* code) {
  if (!status) return {};
  std::string message = status->message ? status->message : "(the plugin gave no message)";
  if (code) *code = status->code;
  if (status->release) status->release(status);
  return message;
}

void throw_if_failed(sy_status* status, const std::string& who, const char* call) {
  if (!status) return;
  int32_t code = SY_STATUS_INTERNAL;
  std::string message = take_status_message(status, &code);
  throw Error(error_code_of(code), who + ": " + call + " failed: " + message);
}

}  // namespace sy::plugin
