// The CPU plugin's vectorised decoders of weight rows into float32, one translation unit per ISA level
// (dequant_avx2.cpp, dequant_avx512.cpp, each compiled with its own -m flags and -ffp-contract=off). Only the
// dispatcher (dequantize_rows.cpp) calls them, and only at a level the CPU was checked for.
// The ISA units follow simd_kernels.h's rule: they include nothing but <immintrin.h>, <cstdint>, this header and
// headers whose functions have internal linkage (dequant_blocks.h, the decoders written once over the vector width;
// simd_bytes.h; core/quant/k_scales.h), so that no inline function of a shared header gets an AVX-512 copy the
// linker might keep for the whole plugin. The block layouts reach them as the offsets below, which
// dequantize_rows.cpp static_asserts against core/quant/blocks.h, the one definition.
//
// Every decoder writes exactly the bytes core/quant's scalar decoder (blocks.h) writes, NaN payloads included: the
// same multiplies and adds in the same order, each rounded (no fused multiply-add), with fp16 scales converted by
// F16C, which core/kernels/half.h matches bit for bit. One case has no single answer: Q4_1/Q5_1's q * d + m when
// both terms are NaN, where IEEE 754 leaves the payload open and the reference's compiled paths differ; the result is
// a NaN carrying one of the two payloads (tests/cpu_avx/dequantize_rows_test.cpp).
#pragma once

#include <cstdint>

namespace sy::cpu::dequant_simd {

// Byte offsets of the fields the decoders read (GGUF layouts). Scales are fp16 at offset 0 unless an offset is given.
constexpr int kQ4_0Bytes = 18, kQ4_0Quants = 2;                                   // d, 16 bytes of nibbles
constexpr int kQ4_1Bytes = 20, kQ4_1Min = 2, kQ4_1Quants = 4;                     // d, m, 16 bytes of nibbles
constexpr int kQ5_0Bytes = 22, kQ5_0High = 2, kQ5_0Quants = 6;                    // d, 32 fifth bits, nibbles
constexpr int kQ5_1Bytes = 24, kQ5_1Min = 2, kQ5_1High = 4, kQ5_1Quants = 8;      // d, m, 32 fifth bits, nibbles
constexpr int kQ8_0Bytes = 34, kQ8_0Quants = 2;                                   // d, 32 int8
constexpr int kQ4_KBytes = 144, kQ4_KDmin = 2, kQ4_KScales = 4, kQ4_KQuants = 16;  // d, dmin, 12 scale bytes
constexpr int kQ6_KBytes = 210, kQ6_KHigh = 128, kQ6_KScales = 192, kQ6_KD = 208;  // low nibbles at 0
constexpr int kTQ2_0Bytes = 66, kTQ2_0D = 64;                                      // 2-bit codes at 0
constexpr int kIQ4_NLBytes = 18, kIQ4_NLQuants = 2;                                // d, 16 bytes of indices

// Writes the `n` floats of `src` (a row of `type` blocks, n a whole number of blocks) to `dst`. Both pointers are
// borrowed for the call and need no alignment; the row must not overlap `dst`.
using Decode = void (*)(const uint8_t* src, float* dst, int64_t n);

// F16 and BF16 take any n (their blocks are one element).
void f16_avx2(const uint8_t* src, float* dst, int64_t n);
void bf16_avx2(const uint8_t* src, float* dst, int64_t n);
void q4_0_avx2(const uint8_t* src, float* dst, int64_t n);
void q4_1_avx2(const uint8_t* src, float* dst, int64_t n);
void q5_0_avx2(const uint8_t* src, float* dst, int64_t n);
void q5_1_avx2(const uint8_t* src, float* dst, int64_t n);
void q8_0_avx2(const uint8_t* src, float* dst, int64_t n);
void q4_k_avx2(const uint8_t* src, float* dst, int64_t n);
void q6_k_avx2(const uint8_t* src, float* dst, int64_t n);
void tq2_0_avx2(const uint8_t* src, float* dst, int64_t n);
void iq4_nl_avx2(const uint8_t* src, float* dst, int64_t n);

void f16_avx512(const uint8_t* src, float* dst, int64_t n);
void bf16_avx512(const uint8_t* src, float* dst, int64_t n);
void q4_0_avx512(const uint8_t* src, float* dst, int64_t n);
void q4_1_avx512(const uint8_t* src, float* dst, int64_t n);
void q5_0_avx512(const uint8_t* src, float* dst, int64_t n);
void q5_1_avx512(const uint8_t* src, float* dst, int64_t n);
void q8_0_avx512(const uint8_t* src, float* dst, int64_t n);
void q4_k_avx512(const uint8_t* src, float* dst, int64_t n);
void q6_k_avx512(const uint8_t* src, float* dst, int64_t n);
void tq2_0_avx512(const uint8_t* src, float* dst, int64_t n);
void iq4_nl_avx512(const uint8_t* src, float* dst, int64_t n);

}  // namespace sy::cpu::dequant_simd
