// Run-time detection of the x86 instruction sets the CPU plugin's kernels can use, and the choice of kernel level
// (scalar, avx2, avx512) with the SWITCHYARD_CPU_ISA override that lets one machine test every lower path.
#pragma once

#include <string>

namespace sy::cpu {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512_vnni = false, avx512_bf16 = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
  std::string brand;  // e.g. "Intel(R) Xeon(R) ..."; empty when CPUID does not say
};

// Reads CPUID and, for AVX/AVX-512/AMX, whether the OS saves those registers (XCR0): a CPU feature the kernel
// does not enable is reported absent.
CpuFeatures detect_cpu_features();

// Kernel levels, ordered: a level implies all lower ones.
enum class IsaLevel { scalar = 0, avx2 = 1, avx512 = 2 };

const char* to_string(IsaLevel level);
IsaLevel best_isa_level(const CpuFeatures& features);  // avx2 needs AVX2+FMA+F16C; avx512 needs F+BW+VL too

// The level to run at: `requested` ("scalar", "avx2", "avx512" or empty for best) capped at what the CPU has.
// A request above the CPU's best is capped, and `note` says so; an unknown name throws std::invalid_argument.
IsaLevel choose_isa_level(const CpuFeatures& features, const std::string& requested, std::string& note);

// The architecture string the device reports, naming the most specific feature of the chosen level that the
// kernels can benefit from: "x86_64", "avx2", "avx512", "avx512_vnni", "avx512_bf16".
std::string architecture_name(const CpuFeatures& features, IsaLevel level);

// Space-separated list of detected features, for the probe reason and `switchyard devices`.
std::string describe_features(const CpuFeatures& features);

}  // namespace sy::cpu
