// The portable scalar reference for turning stored weights into float32: what every backend's dequantization and
// dot product is checked against. Bit-exact with ggml's reference decoders (reference/dequant.jsonl pins it).
// One row or range at a time; the per-block math lives in core/quant/blocks.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/gguf/tensor_type.h"

namespace sy::quant {

// True for the types dequantize_range handles (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q6_K,
// Q8_K, IQ4_NL, TQ1_0, TQ2_0 and I2_S).
bool can_dequantize(gguf::TensorType type);

// True for the types dequantize_row handles: those above except I2_S, whose one scale belongs to the whole tensor.
bool can_dequantize_row(gguf::TensorType type);

// Decodes `n` elements starting at `src` (blocks of `type`, any alignment) into `dst`. `n` must be a multiple of
// the type's block size. Both pointers are borrowed for the call. Throws sy::Error(unsupported) naming the type
// when it is not handled, sy::Error(invalid_argument) when `n` is not a whole number of blocks.
void dequantize_row(gguf::TensorType type, const void* src, float* dst, int64_t n);

// I2_S's row decode: `n` elements (a multiple of 128, starting on a block boundary of the flattened tensor) from
// `packed`, times the tensor's one `scale` (read from its tail with i2_s_scale). Both pointers are borrowed.
void dequantize_i2_s(const void* packed, float scale, float* dst, int64_t n);

// The scale an I2_S tensor keeps in the first four bytes of its 32-byte tail (`tail` is borrowed).
float i2_s_scale(const void* tail);

// Decodes elements [first, first + out.size()) of a whole tensor of `n_elements` stored in `data` (its complete
// storage, tensor_storage_bytes long: for I2_S the 32-byte tail with the scale included). `first` and the count
// must be multiples of the block size (128 for I2_S, whose blocks run over the flattened tensor). `tensor_name`
// only makes messages precise.
// Throws sy::Error: unsupported for an unhandled type, invalid_argument for a bad range or a storage size that
// does not match the element count.
void dequantize_range(gguf::TensorType type, std::span<const std::byte> data, uint64_t n_elements, uint64_t first,
                      std::span<float> out, std::string_view tensor_name = {});

}  // namespace sy::quant
