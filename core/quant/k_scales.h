// The 6-bit scales and mins of Q4_K and Q5_K, unpacked: pure integer block math with no dependency at all, so that
// core/quant/blocks.h (and through it the scalar reference and the CUDA and HIP kernels) and the CPU plugin's ISA
// units (plugins/cpu_avx/simd_*.cpp, which may include nothing that carries other inline functions) share it.
//
// Internal linkage (static) on purpose: an inline function with external linkage compiled once with -mavx512f in
// an ISA unit and once without elsewhere is one symbol to the linker, which may keep the AVX-512 copy for the whole
// program and crash older CPUs. A static function is private to each translation unit and compiled with its flags.
#pragma once

#include <cstdint>

// Marks a function callable from host code and from CUDA/HIP device code (the same definition as core/kernels/half.h).
#ifndef SY_HOST_DEVICE
#if defined(__CUDACC__) || defined(__HIPCC__)
#define SY_HOST_DEVICE __host__ __device__
#else
#define SY_HOST_DEVICE
#endif
#endif

namespace sy::quant {

// Q4_K and Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes: sub-blocks 0..3 use the low six bits
// of bytes 0..3 (scales) and 4..7 (mins); sub-blocks 4..7 use the nibbles of bytes 8..11 plus the top two bits of
// bytes 0..7.
SY_HOST_DEVICE static inline void scale_min_k4(int sub_block, const uint8_t* packed, uint8_t* scale, uint8_t* min) {
  if (sub_block < 4) {
    *scale = packed[sub_block] & 63;
    *min = packed[sub_block + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[sub_block + 4] & 0xF) | ((packed[sub_block - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[sub_block + 4] >> 4) | ((packed[sub_block] >> 6) << 4));
  }
}

// Byte i of the 12 packed bytes' i-th little-endian 32-bit word, without memcpy (callable on devices too).
SY_HOST_DEVICE static inline uint32_t k4_word(const uint8_t* packed, int i) {
  return static_cast<uint32_t>(packed[4 * i]) | static_cast<uint32_t>(packed[4 * i + 1]) << 8 |
         static_cast<uint32_t>(packed[4 * i + 2]) << 16 | static_cast<uint32_t>(packed[4 * i + 3]) << 24;
}

// All eight scales and mins at once: byte j of *scales and of *mins is what scale_min_k4(j, ...) gives. The same
// bit layout worked four sub-blocks per 32-bit word, for the SIMD kernels, where eight scale_min_k4 calls cost
// dozens of scalar instructions per super-block (tests/quant/k_scales_test.cpp checks the two agree).
SY_HOST_DEVICE static inline void scales_mins_k4(const uint8_t* packed, uint64_t* scales, uint64_t* mins) {
  const uint32_t low_scales = k4_word(packed, 0), low_mins = k4_word(packed, 1), nibbles = k4_word(packed, 2);
  const uint32_t high_scales = (nibbles & 0x0F0F0F0Fu) | ((low_scales >> 6) & 0x03030303u) << 4;
  const uint32_t high_mins = (nibbles >> 4 & 0x0F0F0F0Fu) | ((low_mins >> 6) & 0x03030303u) << 4;
  *scales = (low_scales & 0x3F3F3F3Fu) | static_cast<uint64_t>(high_scales) << 32;
  *mins = (low_mins & 0x3F3F3F3Fu) | static_cast<uint64_t>(high_mins) << 32;
}

}  // namespace sy::quant
