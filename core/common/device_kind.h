// The kinds of device the core tells apart and their one spelling in text ("cpu", "gpu", "accelerator"). The
// inventory (core/plugin) maps the ABI's sy_device_kind to it once, at the boundary; the planner, the reports,
// `devices` and --require-device all use this spelling.
#pragma once

#include <string_view>

namespace sy {

enum class DeviceKind { cpu, gpu, accelerator };

inline std::string_view to_string(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::cpu: return "cpu";
    case DeviceKind::gpu: return "gpu";
    case DeviceKind::accelerator: return "accelerator";
  }
  return "accelerator";
}

// True when `text` spells a kind (as --require-device gpu does) rather than a plugin or a device.
inline bool is_device_kind_name(std::string_view text) {
  return text == to_string(DeviceKind::cpu) || text == to_string(DeviceKind::gpu) ||
         text == to_string(DeviceKind::accelerator);
}

}  // namespace sy
