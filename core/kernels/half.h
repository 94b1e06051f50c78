// Scalar conversions between float and the 16-bit float types (IEEE half, bfloat16): the one definition used by
// the block decoders of core/quant, the reference kernels, the CPU plugin's scalar tails, the CUDA and HIP kernels
// (as __host__ __device__) and, installed with the SDK as <switchyard/reference/half.h>, by out-of-tree plugins.
// Self-contained on purpose (standard library only) so that it ships in the SDK unchanged.
//
// Every result is bit for bit what x86's F16C instructions give (vcvtph2ps / vcvtps2ph with rounding mode 0),
// NaNs included, so a SIMD path and its scalar tail never disagree; tests/kernels/half_test.cpp pins this against
// the hardware on all 65536 halves.
#pragma once

#include <cstdint>
#include <cstring>

// HIP's clang, unlike nvcc, does not always pre-include its runtime, which defines __host__ and the intrinsics below.
#if defined(__HIPCC__)
#include <hip/hip_runtime.h>
#endif

// Marks a function callable from host code and from CUDA/HIP device code; empty for a host-only compiler.
#ifndef SY_HOST_DEVICE
#if defined(__CUDACC__) || defined(__HIPCC__)
#define SY_HOST_DEVICE __host__ __device__
#else
#define SY_HOST_DEVICE
#endif
#endif

namespace sy::kernels {

// Bit casts. The device branch uses the compiler intrinsics: memcpy would work there too, but the intrinsics say
// plainly that no memory is involved.
SY_HOST_DEVICE inline uint32_t float_bits(float value) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
#endif
}

SY_HOST_DEVICE inline float float_from_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

// IEEE binary16 -> binary32 is exact for every number: subnormals are normalised. A NaN keeps its sign and payload
// (moved to the top of the float's mantissa) and comes out quiet, as F16C makes a signalling NaN quiet.
SY_HOST_DEVICE inline float fp16_to_fp32(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0x1f) {
    const uint32_t quiet = mantissa != 0 ? 0x400000u : 0u;  // infinity stays infinity
    return float_from_bits(sign | 0x7f800000u | quiet | (mantissa << 13));
  }
  if (exponent != 0) return float_from_bits(sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13));
  if (mantissa == 0) return float_from_bits(sign);
  // Subnormal half (mantissa * 2^-24): shift the leading one up to the implicit bit, lowering the exponent.
  uint32_t float_exponent = 127 - 15 + 1;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --float_exponent;
  }
  return float_from_bits(sign | (float_exponent << 23) | ((mantissa & 0x3ffu) << 13));
}

// binary32 -> binary16 rounding to nearest, ties to even; overflow goes to infinity, values below half the smallest
// subnormal to a signed zero. A NaN keeps its sign and the top ten bits of its payload and comes out quiet.
SY_HOST_DEVICE inline uint16_t fp32_to_fp16(float value) {
  const uint32_t bits = float_bits(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to infinity
  if (magnitude >= 0x38800000u) {                                               // >= 2^-14: a normal half
    // Adding 0xfff plus the lowest kept bit rounds the 13 dropped bits to nearest-even; a carry out of the
    // mantissa correctly bumps the exponent. Then rebias the exponent from 127 to 15.
    const uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((rounded - ((127u - 15u) << 23)) >> 13));
  }
  const uint32_t exponent = magnitude >> 23;
  if (exponent < 102) return sign;  // below 2^-25: rounds to zero
  // A subnormal half counts units of 2^-24: value * 2^24 = significand * 2^(exponent - 126), rounded to even.
  const uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exponent;  // 14..24
  uint32_t units = significand >> shift;
  const uint32_t remainder = significand & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  if (remainder > halfway || (remainder == halfway && (units & 1u))) ++units;  // may carry into the smallest normal
  return static_cast<uint16_t>(sign | units);
}

SY_HOST_DEVICE inline float bf16_to_fp32(uint16_t bf16) { return float_from_bits(static_cast<uint32_t>(bf16) << 16); }

// Round to nearest even; NaN forced quiet; subnormals kept (ggml's current rule, which no longer flushes them).
SY_HOST_DEVICE inline uint16_t fp32_to_bf16(float value) {
  const uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace sy::kernels
