#include "plugins/cpu_avx/cpu_features.h"

#include <cpuid.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace sy::cpu {

namespace {

uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  // xgetbv is valid only when CPUID says OSXSAVE; the caller checks that first.
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

bool bit(uint32_t value, int index) { return (value >> index) & 1u; }

}  // namespace

CpuFeatures detect_cpu_features() {
  CpuFeatures features;
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return features;
  const uint32_t max_leaf = eax;

  __get_cpuid(1, &eax, &ebx, &ecx, &edx);
  const bool osxsave = bit(ecx, 27);
  const bool fma = bit(ecx, 12), f16c = bit(ecx, 29), avx = bit(ecx, 28);
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;            // SSE and AVX state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;          // plus opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;    // XTILECFG and XTILEDATA

  if (max_leaf >= 7) {
    __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx);
    features.avx2 = avx && os_ymm && bit(ebx, 5);
    features.fma = fma && os_ymm;
    features.f16c = f16c && os_ymm;
    features.avx512f = os_zmm && bit(ebx, 16);
    features.avx512bw = os_zmm && bit(ebx, 30);
    features.avx512vl = os_zmm && bit(ebx, 31);
    features.avx512_vnni = os_zmm && bit(ecx, 11);
    features.amx_bf16 = os_amx && bit(edx, 22);
    features.amx_tile = os_amx && bit(edx, 24);
    features.amx_int8 = os_amx && bit(edx, 25);
    __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx);
    features.avx512_bf16 = os_zmm && bit(eax, 5);
  }

  uint32_t max_extended = __get_cpuid_max(0x80000000u, nullptr);
  if (max_extended >= 0x80000004u) {
    char brand[49] = {};
    for (uint32_t leaf = 0; leaf < 3; ++leaf) {
      __get_cpuid(0x80000002u + leaf, &eax, &ebx, &ecx, &edx);
      std::memcpy(brand + leaf * 16 + 0, &eax, 4);
      std::memcpy(brand + leaf * 16 + 4, &ebx, 4);
      std::memcpy(brand + leaf * 16 + 8, &ecx, 4);
      std::memcpy(brand + leaf * 16 + 12, &edx, 4);
    }
    features.brand = brand;
    // CPUID pads the brand string with spaces on either side.
    const auto first = features.brand.find_first_not_of(' ');
    const auto last = features.brand.find_last_not_of(' ');
    features.brand = first == std::string::npos ? std::string() : features.brand.substr(first, last - first + 1);
  }
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
