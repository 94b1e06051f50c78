#include "plugins/cpu_avx/cpu_features.h"

#include <cpu_features/cpuinfo_x86.h>

#include <stdexcept>

namespace sy::cpu {

// Google's cpu_features reads CPUID and clears what the OS does not save (XCR0): AVX, AVX-512 and AMX state.
CpuFeatures detect_cpu_features() {
  const cpu_features::X86Info info = cpu_features::GetX86Info();
  const cpu_features::X86Features& f = info.features;
  CpuFeatures features;
  features.avx2 = f.avx2;
  features.fma = f.fma3;
  features.f16c = f.f16c;
  features.avx512f = f.avx512f;
  features.avx512bw = f.avx512bw;
  features.avx512vl = f.avx512vl;
  features.avx512_vnni = f.avx512vnni;
  features.avx512_bf16 = f.avx512_bf16;
  features.amx_tile = f.amx_tile;
  features.amx_int8 = f.amx_int8;
  features.amx_bf16 = f.amx_bf16;
  // CPUID pads the brand string with spaces on either side.
  const std::string brand = info.brand_string;
  const auto first = brand.find_first_not_of(' ');
  const auto last = brand.find_last_not_of(' ');
  features.brand = first == std::string::npos ? std::string() : brand.substr(first, last - first + 1);
  return features;
}

const char* to_string(IsaLevel level) {
  switch (level) {
    case IsaLevel::scalar: return "scalar";
    case IsaLevel::avx2: return "avx2";
    case IsaLevel::avx512: return "avx512";
  }
  return "unknown";
}

IsaLevel best_isa_level(const CpuFeatures& f) {
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  if (avx2 && f.avx512f && f.avx512bw && f.avx512vl) return IsaLevel::avx512;
  if (avx2) return IsaLevel::avx2;
  return IsaLevel::scalar;
}

IsaLevel choose_isa_level(const CpuFeatures& features, const std::string& requested, std::string& note) {
  const IsaLevel best = best_isa_level(features);
  if (requested.empty()) return best;
  IsaLevel wanted;
  if (requested == "scalar") wanted = IsaLevel::scalar;
  else if (requested == "avx2") wanted = IsaLevel::avx2;
  else if (requested == "avx512") wanted = IsaLevel::avx512;
  else
    throw std::invalid_argument("unknown CPU ISA level '" + requested + "': use scalar, avx2 or avx512");
  if (wanted > best) {
    note = std::string("ISA level ") + to_string(wanted) + " was requested but this CPU supports at most " +
           to_string(best) + "; using " + to_string(best);
    return best;
  }
  return wanted;
}

std::string architecture_name(const CpuFeatures& features, IsaLevel level) {
  switch (level) {
    case IsaLevel::scalar: return "x86_64";
    case IsaLevel::avx2: return "avx2";
    case IsaLevel::avx512:
      if (features.avx512_bf16) return "avx512_bf16";
      if (features.avx512_vnni) return "avx512_vnni";
      return "avx512";
  }
  return "x86_64";
}

std::string describe_features(const CpuFeatures& f) {
  std::string text;
  const auto add = [&](bool present, const char* name) {
    if (!present) return;
    if (!text.empty()) text += ' ';
    text += name;
  };
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.f16c, "f16c");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vl, "avx512vl");
  add(f.avx512_vnni, "avx512_vnni");
  add(f.avx512_bf16, "avx512_bf16");
  add(f.amx_tile, "amx_tile");
  add(f.amx_int8, "amx_int8");
  add(f.amx_bf16, "amx_bf16");
  return text.empty() ? "no SIMD extensions beyond SSE2" : text;
}

}  // namespace sy::cpu
