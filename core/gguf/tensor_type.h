// The type-traits table of every GGUF tensor type id: name, block size and bytes per block, including types that
// are not computed yet, so that sizes, offsets and overlap checks are right for every file we are handed.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sy::gguf {

// Tensor type ids as stored in GGUF files (ggml's `enum ggml_type`). Gaps are ids upstream has retired.
// Id 36 is I2_S, the BitNet b1.58 type of bitnet.cpp's files (upstream retired 36, so there is no clash).
enum class TensorType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, I2_S = 36, MXFP4 = 39,
};

struct TensorTypeTraits {
  TensorType type;
  std::string_view name;      // as llama.cpp prints it, e.g. "q4_K"
  uint32_t block_size;        // elements per block; a row's length must be a multiple of it
  uint32_t bytes_per_block;   // storage of one block
  bool quantized;
};

// nullopt for an id this table does not know (the reader refuses such a tensor).
std::optional<TensorTypeTraits> tensor_type_traits(uint32_t type_id);
const TensorTypeTraits& tensor_type_traits(TensorType type);

// Case-insensitive lookup by name ("Q4_K", "q4_k", "f16"); nullopt when unknown.
std::optional<TensorType> tensor_type_from_name(std::string_view name);
std::string_view to_string(TensorType type);

// Bytes a tensor of `n_elements` of `type` occupies, or nullopt when that overflows 64 bits or n_elements is not
// a multiple of the block size. I2_S is special: n/4 bytes of 2-bit codes plus a 32-byte tail holding one float
// scale and 28 bytes of padding.
std::optional<uint64_t> tensor_storage_bytes(TensorType type, uint64_t n_elements);

// Bytes of one row of `row_length` elements (I2_S has no per-row size: its scale is per tensor).
std::optional<uint64_t> row_storage_bytes(TensorType type, uint64_t row_length);

}  // namespace sy::gguf
