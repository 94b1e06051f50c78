// The reference quantizers: float32 rows to GGUF weight blocks, byte for byte what ggml's reference quantizers
// (quantize_row_*_ref, no importance matrix) write, so `switchyard quantize` reproduces llama-quantize's files and
// tests can compare bytes. Also the activation formats backends quantize inputs to (Q8_0, Q8_1, Q8_K).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/gguf/tensor_type.h"
#include "core/quant/blocks.h"

namespace sy::quant {

// Each function quantizes `n` floats (a multiple of the block size: 32, or 256 for the _k and tq types) from `x`
// into n / block_size blocks at `y`. Both pointers are borrowed; `y` must be aligned for its block type.
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n);
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n);
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);  // weights (llama-quantize's Q8_0)
// Activations for Q4_0/Q5_0/Q8_0 weights, as the reference's x86 build rounds them: the multiplier is 127 / max|x|
// (not 1 / (max|x| / 127)) and ties go to even. One ulp of multiplier or one tie changes a code, and one changed
// code moves a small model's logits by 1e-2 (integer_dot.h); the weight quantizer above keeps the reference's
// portable formula, which llama-quantize writes.
void quantize_row_q8_0_activations(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);  // activations for Q4_1/Q5_1
void quantize_row_q4_k(const float* x, BlockQ4_K* y, int64_t n);
void quantize_row_q5_k(const float* x, BlockQ5_K* y, int64_t n);
void quantize_row_q6_k(const float* x, BlockQ6_K* y, int64_t n);
void quantize_row_q8_k(const float* x, BlockQ8_K* y, int64_t n);  // activations for the k-quants
void quantize_row_tq1_0(const float* x, BlockTQ1_0* y, int64_t n);
void quantize_row_tq2_0(const float* x, BlockTQ2_0* y, int64_t n);

// True for the types quantize_row writes: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q5_K, Q6_K,
// Q8_K, TQ1_0, TQ2_0. (I2_S is per tensor: see quantize_i2_s.)
bool can_quantize(gguf::TensorType type);

// Quantizes `n` floats into row_storage_bytes(type, n) bytes at `dst` (any alignment). Throws
// sy::Error(unsupported) naming the type when can_quantize is false, invalid_argument when `n` is not a whole
// number of blocks.
void quantize_row(gguf::TensorType type, const float* src, void* dst, int64_t n);

// I2_S for a whole tensor flattened in row-major order: `dst` must be tensor_storage_bytes(I2_S, src.size()) long
// (n/4 + 32). The input must already be ternary up to one scale (BitNet's absmean rule does that): only each
// element's sign is kept, |x| < 1e-6 counting as zero, and the scale is max |x|. The 28 padding bytes are zeroed.
// Throws sy::Error(invalid_argument) when src.size() is not a multiple of 128 or dst has the wrong size.
void quantize_i2_s(std::span<const float> src, std::span<std::byte> dst);

}  // namespace sy::quant
