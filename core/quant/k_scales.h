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

}  // namespace sy::quant
