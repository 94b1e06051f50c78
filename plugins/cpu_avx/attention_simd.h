// One query's attention over float K and V rows with vector instructions (attention_avx2.cpp): the arithmetic of
// core/kernels/op_math.h's attention_row_reference, which the scalar level runs, to the bit.
#pragma once

#include <cstdint>

namespace sy::cpu::simd {

// keys and values: row j of the head at keys + j * row_stride (head_dim floats, a multiple of 8); weights: scratch
// of n_keys floats; scratch: 512 floats aligned to 32 bytes; out: head_dim floats. `batch` as for
// attention_row_reference. Needs AVX2 and FMA.
void attention_row_avx2(const float* q, int64_t head_dim, int64_t n_keys, float scale, bool batch, const float* keys,
                        const float* values, int64_t row_stride, float* weights, float* scratch, float* out);

}  // namespace sy::cpu::simd
