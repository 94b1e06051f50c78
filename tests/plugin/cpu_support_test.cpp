// Pins the CPU plugin's machine-facing pieces without loading it: the ISA level choice and memory limits read from
// /proc and the cgroup files (laid out in a scratch directory standing in for "/").
#include <doctest/doctest.h>

#include <fstream>

#include "plugins/cpu_avx/cpu_features.h"
#include "plugins/cpu_avx/system_memory.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;

namespace {
void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}
}  // namespace

TEST_CASE("ISA level: best available, forced lower, capped when too high, unknown names refused") {
  sy::cpu::CpuFeatures avx2_only;
  avx2_only.avx2 = avx2_only.fma = avx2_only.f16c = true;
  std::string note;
  CHECK(sy::cpu::choose_isa_level(avx2_only, "", note) == sy::cpu::IsaLevel::avx2);
  CHECK(sy::cpu::choose_isa_level(avx2_only, "scalar", note) == sy::cpu::IsaLevel::scalar);
  CHECK(note.empty());
  CHECK(sy::cpu::choose_isa_level(avx2_only, "avx512", note) == sy::cpu::IsaLevel::avx2);
  CHECK(note.find("supports at most avx2") != std::string::npos);
  CHECK_THROWS_AS(sy::cpu::choose_isa_level(avx2_only, "avx3", note), std::invalid_argument);

  sy::cpu::CpuFeatures no_f16c = avx2_only;
  no_f16c.f16c = false;  // the F16 kernels need it, so no AVX2 level without it
  CHECK(sy::cpu::best_isa_level(no_f16c) == sy::cpu::IsaLevel::scalar);

  sy::cpu::CpuFeatures avx512 = avx2_only;
  avx512.avx512f = avx512.avx512bw = avx512.avx512vl = avx512.avx512_vnni = true;
  CHECK(sy::cpu::best_isa_level(avx512) == sy::cpu::IsaLevel::avx512);
  CHECK(sy::cpu::architecture_name(avx512, sy::cpu::IsaLevel::avx512) == "avx512_vnni");
  CHECK(sy::cpu::architecture_name(avx512, sy::cpu::IsaLevel::scalar) == "x86_64");
}

TEST_CASE("memory: /proc/meminfo alone, then capped by the tightest cgroup v2 memory.max") {
  sy::test::ScratchDir root;
  write_file(root / "proc/meminfo", "MemTotal:       16000000 kB\nMemFree:  1000 kB\nMemAvailable:   8000000 kB\n");
  auto memory = sy::cpu::read_system_memory(root.path());
  CHECK(memory.total_bytes == 16000000ull * 1024);
  CHECK(memory.available_bytes == 8000000ull * 1024);
  CHECK(memory.limited_by.empty());

  write_file(root / "proc/self/cgroup", "0::/jobs/job7\n");
  write_file(root / "sys/fs/cgroup/jobs/memory.max", "4294967296\n");
  write_file(root / "sys/fs/cgroup/jobs/memory.current", "1073741824\n");
  write_file(root / "sys/fs/cgroup/jobs/job7/memory.max", "max\n");
  memory = sy::cpu::read_system_memory(root.path());
  CHECK(memory.total_bytes == 4294967296ull);
  CHECK(memory.available_bytes == 4294967296ull - 1073741824ull);
  CHECK(memory.limited_by.ends_with("jobs/memory.max"));
}

TEST_CASE("memory: the cgroup v1 limit applies; an unlimited v1 value does not") {
  sy::test::ScratchDir root;
  write_file(root / "proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 900 kB\n");
  write_file(root / "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  CHECK(sy::cpu::read_system_memory(root.path()).total_bytes == 1000 * 1024);
  write_file(root / "sys/fs/cgroup/memory/memory.limit_in_bytes", "512000\n");
  write_file(root / "sys/fs/cgroup/memory/memory.usage_in_bytes", "500000\n");
  const auto memory = sy::cpu::read_system_memory(root.path());
  CHECK(memory.total_bytes == 512000);
  CHECK(memory.available_bytes == 12000);
}
