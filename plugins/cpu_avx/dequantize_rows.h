// Decoding weight rows into float32 at the CPU plugin's ISA level: the vectorised decoders of dequant_simd.h where a
// type has one, core/quant's scalar reference everywhere else, with the same bytes either way. The plugin's MATMUL
// of non-native weight types, GET_ROWS and CONVERT decode through here; the tests and bench_dequant call it directly.
#pragma once

#include <cstdint>

#include "core/gguf/tensor_type.h"
#include "plugins/cpu_avx/cpu_features.h"

namespace sy::cpu {

// The level whose code decodes `type` when the plugin runs at `level`: `level` itself where the type has a decoder
// there, else IsaLevel::scalar (core/quant's reference). F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q4_K, Q6_K
// and TQ2_0 have AVX2 and AVX-512 decoders; F32 is a copy, and Q2_K, Q3_K, Q5_K, Q8_1, Q8_K and TQ1_0 fall back to
// the scalar decoder at every level.
IsaLevel dequantize_level(IsaLevel level, gguf::TensorType type);

// Writes the `n` floats of the row at `src` (blocks of `type`) to `dst`, bit for bit what
// quant::dequantize_row(type, src, dst, n) writes. `level` must be one the CPU runs (best_isa_level or lower).
// Both pointers are borrowed for the call; neither needs any alignment. Throws what quant::dequantize_row throws
// for a type it does not decode row by row or an `n` that is not a whole number of blocks.
void dequantize_row(IsaLevel level, gguf::TensorType type, const void* src, float* dst, int64_t n);

}  // namespace sy::cpu
