// How much memory the CPU device has: the machine's (/proc/meminfo) capped by the cgroup limit the process runs
// under (cgroup v2 memory.max, or v1 memory.limit_in_bytes), because in a container that limit is what kills us.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace sy::cpu {

struct SystemMemory {
  uint64_t total_bytes = 0;      // MemTotal, or the cgroup limit when lower
  uint64_t available_bytes = 0;  // MemAvailable, or the cgroup's headroom (limit - usage) when lower
  std::string limited_by;        // "" or the cgroup file whose limit applies
};

// Reads <root>/proc/meminfo, <root>/proc/self/cgroup and <root>/sys/fs/cgroup/...; `root` is "/" except in tests.
SystemMemory read_system_memory(const std::filesystem::path& root = "/");

}  // namespace sy::cpu
