// Lossless re-encodings: the same weights in another GGUF type's blocks, value for value, for a device that
// multiplies that type faster (sy_device_info.reencoded_types, ABI 1.5). The planner asks reencoding_of which type
// a re-encoded tensor takes, the loader writes it with reencode_blocks. This release knows one pair: TQ1_0 as
// TQ2_0, whose 2-bit codes a kernel reads with a shift and a mask where TQ1_0's base-3 bytes need five
// multiply-and-compare steps (bench/README.md, "Fifth round").
#pragma once

#include <cstdint>
#include <optional>

#include "core/gguf/tensor_type.h"

namespace sy::quant {

// The type `type` is re-encoded into, or nullopt when it has none.
std::optional<gguf::TensorType> reencoding_of(gguf::TensorType type);

// Writes `n_elements` (a whole number of blocks) of `from` at `src` as reencoding_of(from) at `dst`: every element
// keeps its code and its block's scale, so both decode to the same floats bit for bit. Both pointers are borrowed,
// any alignment; dst holds tensor_storage_bytes(reencoding_of(from), n_elements). Throws sy::Error(unsupported)
// when `from` has no re-encoding, invalid_argument when n_elements is not a whole number of blocks.
void reencode_blocks(gguf::TensorType from, const void* src, uint64_t n_elements, void* dst);

}  // namespace sy::quant
