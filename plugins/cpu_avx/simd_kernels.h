// The CPU plugin's vectorised inner loops, one translation unit per ISA level (simd_avx2.cpp, simd_avx512.cpp,
// each compiled with its own -m flags). Only cpu_kernels.cpp calls them, and only after the CPU was checked.
// The ISA units include nothing but <immintrin.h> and <cstdint>: an inline function from a shared header compiled
// there with -mavx512f could be picked by the linker for the whole plugin and crash older CPUs.
#pragma once

#include <cstdint>

namespace sy::cpu::simd {

// sum_i a[i] * b[i]
float dot_f32_avx2(const float* a, const float* b, int64_t n);
float dot_f32_avx512(const float* a, const float* b, int64_t n);

// sum_i half_to_float(w[i]) * x[i]; w holds IEEE half bits.
float dot_f16_avx2(const uint16_t* w, const float* x, int64_t n);
float dot_f16_avx512(const uint16_t* w, const float* x, int64_t n);

// sum_i x[i]^2
float sum_squares_avx2(const float* x, int64_t n);
float sum_squares_avx512(const float* x, int64_t n);

}  // namespace sy::cpu::simd
