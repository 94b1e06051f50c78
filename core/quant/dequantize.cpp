// The scalar reference decoder: dispatches a tensor type to its per-block decode in blocks.h. Deliberately plain
// loops: this is the yardstick backends are compared with, so clarity beats speed (bench/bench_dequant measures it).
#include "core/quant/dequantize.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "core/common/error.h"
#include "core/quant/blocks.h"

namespace sy::quant {
namespace {

using gguf::TensorType;

std::string describe(TensorType type, std::string_view tensor_name) {
  std::string text = "type " + std::string(gguf::to_string(type));
  if (!tensor_name.empty()) text = "tensor '" + std::string(tensor_name) + "' of " + text;
  return text;
}

[[noreturn]] void throw_unsupported(TensorType type, std::string_view tensor_name) {
  throw Error(ErrorCode::unsupported,
              "cannot dequantize " + describe(type, tensor_name) +
                  ": the reference decoder handles f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_K, q3_K, "
                  "q4_K, q5_K, q6_K, q8_K, iq4_nl, tq1_0, tq2_0 and i2_s; requantize the model to one of these");
}

// Decodes whole blocks. Tensor data in a GGUF file is aligned to general.alignment, but that may legally be 1 and
// callers may hand us any pointer, so a misaligned source is copied block by block into an aligned local first
// rather than read through a misaligned struct pointer (undefined behaviour, and a fault on some targets).
template <class Block, void (*decode)(const Block*, float*)>
void decode_blocks(const std::byte* src, float* dst, int64_t n_blocks, int block_elements) {
  if (reinterpret_cast<uintptr_t>(src) % alignof(Block) == 0) {
    const auto* blocks = reinterpret_cast<const Block*>(src);
    for (int64_t i = 0; i < n_blocks; ++i) decode(blocks + i, dst + i * block_elements);
    return;
  }
  Block aligned;
  for (int64_t i = 0; i < n_blocks; ++i) {
    std::memcpy(&aligned, src + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
    decode(&aligned, dst + i * block_elements);
  }
}

void decode_f32(const std::byte* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

template <float (*convert)(uint16_t)>
void decode_16_bit(const std::byte* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t bits;
    std::memcpy(&bits, src + 2 * i, sizeof bits);
    dst[i] = convert(bits);
  }
}

// Returns false for a type this file does not decode row by row.
bool decode_row(TensorType type, const std::byte* src, float* dst, int64_t n) {
  constexpr int k32 = kBlockElements;
  constexpr int k256 = kSuperBlockElements;
  switch (type) {
    case TensorType::F32: decode_f32(src, dst, n); return true;
    case TensorType::F16: decode_16_bit<fp16_to_fp32>(src, dst, n); return true;
    case TensorType::BF16: decode_16_bit<bf16_to_fp32>(src, dst, n); return true;
    case TensorType::Q4_0: decode_blocks<BlockQ4_0, dequantize_block_q4_0>(src, dst, n / k32, k32); return true;
    case TensorType::Q4_1: decode_blocks<BlockQ4_1, dequantize_block_q4_1>(src, dst, n / k32, k32); return true;
    case TensorType::Q5_0: decode_blocks<BlockQ5_0, dequantize_block_q5_0>(src, dst, n / k32, k32); return true;
    case TensorType::Q5_1: decode_blocks<BlockQ5_1, dequantize_block_q5_1>(src, dst, n / k32, k32); return true;
    case TensorType::Q8_0: decode_blocks<BlockQ8_0, dequantize_block_q8_0>(src, dst, n / k32, k32); return true;
    case TensorType::Q8_1: decode_blocks<BlockQ8_1, dequantize_block_q8_1>(src, dst, n / k32, k32); return true;
    case TensorType::Q2_K: decode_blocks<BlockQ2_K, dequantize_block_q2_k>(src, dst, n / k256, k256); return true;
    case TensorType::Q3_K: decode_blocks<BlockQ3_K, dequantize_block_q3_k>(src, dst, n / k256, k256); return true;
    case TensorType::Q4_K: decode_blocks<BlockQ4_K, dequantize_block_q4_k>(src, dst, n / k256, k256); return true;
    case TensorType::Q5_K: decode_blocks<BlockQ5_K, dequantize_block_q5_k>(src, dst, n / k256, k256); return true;
    case TensorType::Q6_K: decode_blocks<BlockQ6_K, dequantize_block_q6_k>(src, dst, n / k256, k256); return true;
    case TensorType::Q8_K: decode_blocks<BlockQ8_K, dequantize_block_q8_k>(src, dst, n / k256, k256); return true;
    case TensorType::IQ4_NL:
      decode_blocks<BlockIQ4_NL, dequantize_block_iq4_nl>(src, dst, n / k32, k32);
      return true;
    case TensorType::TQ1_0:
      decode_blocks<BlockTQ1_0, dequantize_block_tq1_0>(src, dst, n / k256, k256);
      return true;
    case TensorType::TQ2_0:
      decode_blocks<BlockTQ2_0, dequantize_block_tq2_0>(src, dst, n / k256, k256);
      return true;
    default: return false;
  }
}

}  // namespace

bool can_dequantize_row(TensorType type) {
  switch (type) {
    case TensorType::F32: case TensorType::F16: case TensorType::BF16:
    case TensorType::Q4_0: case TensorType::Q4_1: case TensorType::Q5_0: case TensorType::Q5_1:
    case TensorType::Q8_0: case TensorType::Q8_1:
    case TensorType::Q2_K: case TensorType::Q3_K: case TensorType::Q4_K: case TensorType::Q5_K:
    case TensorType::Q6_K: case TensorType::Q8_K:
    case TensorType::IQ4_NL: case TensorType::TQ1_0: case TensorType::TQ2_0:
      return true;
    default:
      return false;
  }
}

bool can_dequantize(TensorType type) { return type == TensorType::I2_S || can_dequantize_row(type); }

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
  if (!can_dequantize_row(type)) {
    if (type == TensorType::I2_S) {
      throw Error(ErrorCode::unsupported,
                  "i2_s has one scale per tensor, not per row: dequantize it with dequantize_range on the whole "
                  "tensor's storage");
    }
    throw_unsupported(type, {});
  }
  const auto block_size = static_cast<int64_t>(gguf::tensor_type_traits(type).block_size);
  if (n < 0 || n % block_size != 0) {
    throw Error(ErrorCode::invalid_argument, "cannot dequantize " + std::to_string(n) + " elements of type " +
                                                 std::string(gguf::to_string(type)) + ": rows hold whole blocks of " +
                                                 std::to_string(block_size) + " elements");
  }
  decode_row(type, static_cast<const std::byte*>(src), dst, n);
}

void dequantize_i2_s(const void* packed, float scale, float* dst, int64_t n) {
  if (n < 0 || n % kI2SBlockElements != 0) {
    throw Error(ErrorCode::invalid_argument, "cannot dequantize " + std::to_string(n) +
                                                 " elements of type i2_s: rows hold whole blocks of 128 elements");
  }
  for (int64_t block = 0; block < n / kI2SBlockElements; ++block) {
    dequantize_block_i2_s(static_cast<const uint8_t*>(packed) + block * (kI2SBlockElements / 4), scale,
                          dst + block * kI2SBlockElements);
  }
}

float i2_s_scale(const void* tail) {
  float scale;
  std::memcpy(&scale, tail, sizeof scale);
  return scale;
}

void dequantize_range(TensorType type, std::span<const std::byte> data, uint64_t n_elements, uint64_t first,
                      std::span<float> out, std::string_view tensor_name) {
  if (!can_dequantize(type)) throw_unsupported(type, tensor_name);
  const auto& traits = gguf::tensor_type_traits(type);
  const auto storage = gguf::tensor_storage_bytes(type, n_elements);
  if (!storage || *storage != data.size()) {
    throw Error(ErrorCode::invalid_argument,
                "cannot dequantize " + describe(type, tensor_name) + ": " + std::to_string(n_elements) +
                    " elements need " + (storage ? std::to_string(*storage) + " bytes" : "whole blocks") + " but " +
                    std::to_string(data.size()) + " bytes were given; pass the tensor's complete storage");
  }
  const uint64_t count = out.size();
  if (first > n_elements || count > n_elements - first || first % traits.block_size != 0 ||
      count % traits.block_size != 0) {
    throw Error(ErrorCode::invalid_argument,
                "cannot dequantize elements [" + std::to_string(first) + ", " + std::to_string(first + count) +
                    ") of " + describe(type, tensor_name) + " with " + std::to_string(n_elements) +
                    " elements: the range must lie inside the tensor and start and end on a block boundary (" +
                    std::to_string(traits.block_size) + " elements)");
  }
  const uint64_t first_block = first / traits.block_size;
  const std::byte* src = data.data() + first_block * traits.bytes_per_block;

  if (type == TensorType::I2_S) {
    dequantize_i2_s(src, i2_s_scale(data.data() + n_elements / 4), out.data(), static_cast<int64_t>(count));
    return;
  }
  decode_row(type, src, out.data(), static_cast<int64_t>(count));
}

}  // namespace sy::quant
