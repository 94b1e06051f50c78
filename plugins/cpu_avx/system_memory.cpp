#include "plugins/cpu_avx/system_memory.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

namespace sy::cpu {

namespace fs = std::filesystem;

namespace {

std::optional<uint64_t> meminfo_kib(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    uint64_t kib = 0;
    if (fields >> kib) return kib;
  }
  return std::nullopt;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A cgroup limit file holds a byte count or "max" (no limit); absurdly large v1 values also mean no limit.
std::optional<uint64_t> read_limit(const fs::path& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return std::nullopt;
  try {
    const uint64_t value = std::stoull(word);
    if (value >= (uint64_t{1} << 60)) return std::nullopt;
    return value;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

SystemMemory read_system_memory(const fs::path& root) {
  SystemMemory memory;
  const std::string meminfo = read_text(root / "proc/meminfo");
  memory.total_bytes = meminfo_kib(meminfo, "MemTotal").value_or(0) * 1024;
  memory.available_bytes = meminfo_kib(meminfo, "MemAvailable").value_or(meminfo_kib(meminfo, "MemFree").value_or(0)) * 1024;

  const auto apply_limit = [&](const fs::path& limit_file, const fs::path& usage_file) {
    const auto limit = read_limit(limit_file);
    if (!limit || *limit >= memory.total_bytes) return;
    memory.total_bytes = *limit;
    const uint64_t usage = read_limit(usage_file).value_or(0);
    memory.available_bytes = std::min(memory.available_bytes, *limit > usage ? *limit - usage : 0);
    memory.limited_by = limit_file.string();
  };

  // cgroup v2: "0::/some/path" in /proc/self/cgroup; the tightest memory.max on the way up to the root applies.
  std::istringstream cgroups(read_text(root / "proc/self/cgroup"));
  for (std::string line; std::getline(cgroups, line);) {
    if (line.rfind("0::", 0) != 0) continue;
    fs::path group = fs::path(line.substr(3)).relative_path();
    while (true) {
      const fs::path directory = root / "sys/fs/cgroup" / group;
      apply_limit(directory / "memory.max", directory / "memory.current");
      if (group.empty()) break;
      group = group.parent_path();
    }
  }
  // cgroup v1, as mounted by most container runtimes.
  const fs::path v1 = root / "sys/fs/cgroup/memory";
  apply_limit(v1 / "memory.limit_in_bytes", v1 / "memory.usage_in_bytes");
  return memory;
}

}  // namespace sy::cpu
