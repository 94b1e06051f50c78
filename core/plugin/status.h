// The one place where plugin statuses (sy_status*, see <switchyard/plugin.h>) become the core's sy::Error.
// Every call the core makes into a plugin goes through throw_if_failed, so statuses are always released.
#pragma once

#include <switchyard/plugin.h>

#include <cstddef>
#include <string>
#include <type_traits>

#include "core/common/error.h"

namespace sy::plugin {

// The core's code for a plugin status code: invalid_argument, not_found, unsupported and out_of_memory keep their
// meaning; everything else (ABI mismatch, device error, internal) is ErrorCode::plugin.
ErrorCode error_code_of(int32_t status_code);

// Takes ownership of `status` (NULL = ok): releases it and, when it is a failure, throws sy::Error whose message
// reads "<who>: <call> failed: <plugin's message>", e.g. "cuda plugin (libswitchyard-cuda.so): buffer_allocate
// failed: out of memory".
void throw_if_failed(sy_status* status, const std::string& who, const char* call);

// Takes ownership of `status`, releases it and returns its message (empty when NULL), for callers that record
// a failure instead of throwing.
std::string take_status_message(sy_status* status, int32_t* code = nullptr);

// A vtable slot, or nullptr when the plugin's vtable is too old (its struct_size) to contain it.
#define SY_VTABLE_SLOT(vtable, slot)                                                                 \
  (((vtable) != nullptr &&                                                                           \
    (vtable)->struct_size >= offsetof(std::remove_pointer_t<decltype(vtable)>, slot) + sizeof((vtable)->slot)) \
       ? (vtable)->slot                                                                              \
       : nullptr)

}  // namespace sy::plugin
