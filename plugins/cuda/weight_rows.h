// How the GPU kernels (gpu_kernels.cu, compiled by nvcc for CUDA and hipcc for ROCm) read one row of a weight of
// each type they multiply. The block math is core/quant/blocks.h's, called as __host__ __device__; this header only
// says which decoder belongs to which GGUF type id and how the kernels split a row between threads. It is plain
// host+device C++ so that tests/kernels/gpu_weight_rows_test.cpp runs the very same code on the CPU.
#pragma once

#include <switchyard/plugin.h>

#include <cstddef>
#include <cstdint>

#include "core/gguf/tensor_type.h"
#include "core/kernels/half.h"
#include "core/quant/blocks.h"

namespace sy::gpu {

constexpr uint32_t type_id(gguf::TensorType type) { return static_cast<uint32_t>(type); }

// ---- Plain rows: one element is one "block" ----------------------------------------------------------------------

template <gguf::TensorType Type>
struct PlainRow {
  static constexpr uint32_t kType = type_id(Type);
  static constexpr int kBlockElements = 1;
  static constexpr int kBlockBytes = Type == gguf::TensorType::F32 ? 4 : 2;
  // What one thread decodes at a time: one element.
  static constexpr int kChunkElements = 1;
  // Where element i of a span sits in a kernel's shared tile; plain rows need no padding (see QuantizedRow).
  SY_HOST_DEVICE static int tile_index(int i) { return i; }
  SY_HOST_DEVICE static constexpr int tile_floats(int elements) { return elements; }

  // Writes element `block` of `row` (one block = one element) to out[0].
  SY_HOST_DEVICE static void decode_block(const void* row, int64_t block, float* out) {
    if constexpr (Type == gguf::TensorType::F32)
      *out = static_cast<const float*>(row)[block];
    else if constexpr (Type == gguf::TensorType::BF16)
      *out = kernels::bf16_to_fp32(static_cast<const uint16_t*>(row)[block]);
    else
      *out = kernels::fp16_to_fp32(static_cast<const uint16_t*>(row)[block]);
  }
  SY_HOST_DEVICE static void decode_chunk(const void* row, int64_t chunk, float* out) { decode_block(row, chunk, out); }

  // Sixteen bytes at once where a row's span is 16-byte aligned: 4 floats or 8 halves per lane and load (a warp
  // then reads 512 contiguous bytes per instruction, where element by element it read 64 or 128).
  static constexpr int kVectorElements = 16 / kBlockBytes;
  struct alignas(16) Vector {
    uint32_t words[4];
  };
  SY_HOST_DEVICE static void decode_vector(const Vector& vector, float* out) {
    for (int w = 0; w < 4; ++w) {
      if constexpr (Type == gguf::TensorType::F32) {
        out[w] = kernels::float_from_bits(vector.words[w]);
      } else {
        const auto low = static_cast<uint16_t>(vector.words[w] & 0xFFFFu);
        const auto high = static_cast<uint16_t>(vector.words[w] >> 16);
        if constexpr (Type == gguf::TensorType::BF16) {
          out[2 * w] = kernels::bf16_to_fp32(low);
          out[2 * w + 1] = kernels::bf16_to_fp32(high);
        } else {
          out[2 * w] = kernels::fp16_to_fp32(low);
          out[2 * w + 1] = kernels::fp16_to_fp32(high);
        }
      }
    }
  }
};

// ---- Quantized rows: the block decoders of core/quant --------------------------------------------------------------

// One overload per block layout, so that QuantizedRow<Block> finds its decoder by type (a function-pointer template
// argument would do the same, but whether it names the host or the device function is compiler lore).
#define SY_GPU_DECODER(Block, decode) \
  SY_HOST_DEVICE inline void decode_quant_block(const quant::Block* block, float* out) { quant::decode(block, out); }
SY_GPU_DECODER(BlockQ4_0, dequantize_block_q4_0)
SY_GPU_DECODER(BlockQ4_1, dequantize_block_q4_1)
SY_GPU_DECODER(BlockQ5_0, dequantize_block_q5_0)
SY_GPU_DECODER(BlockQ5_1, dequantize_block_q5_1)
SY_GPU_DECODER(BlockQ8_0, dequantize_block_q8_0)
SY_GPU_DECODER(BlockQ2_K, dequantize_block_q2_k)
SY_GPU_DECODER(BlockQ3_K, dequantize_block_q3_k)
SY_GPU_DECODER(BlockQ4_K, dequantize_block_q4_k)
SY_GPU_DECODER(BlockQ5_K, dequantize_block_q5_k)
SY_GPU_DECODER(BlockQ6_K, dequantize_block_q6_k)
SY_GPU_DECODER(BlockIQ4_NL, dequantize_block_iq4_nl)
SY_GPU_DECODER(BlockTQ1_0, dequantize_block_tq1_0)
SY_GPU_DECODER(BlockTQ2_0, dequantize_block_tq2_0)
#undef SY_GPU_DECODER

// The super-block types' 32-element chunks (core/quant/blocks.h), likewise found by block type.
#define SY_GPU_CHUNK_DECODER(Block, decode)                                                  \
  SY_HOST_DEVICE inline void decode_quant_chunk(const quant::Block* block, int chunk, float* out) { \
    quant::decode(block, chunk, out);                                                         \
  }
SY_GPU_CHUNK_DECODER(BlockQ2_K, dequantize_chunk_q2_k)
SY_GPU_CHUNK_DECODER(BlockQ3_K, dequantize_chunk_q3_k)
SY_GPU_CHUNK_DECODER(BlockQ4_K, dequantize_chunk_q4_k)
SY_GPU_CHUNK_DECODER(BlockQ5_K, dequantize_chunk_q5_k)
SY_GPU_CHUNK_DECODER(BlockQ6_K, dequantize_chunk_q6_k)
SY_GPU_CHUNK_DECODER(BlockTQ1_0, dequantize_chunk_tq1_0)
SY_GPU_CHUNK_DECODER(BlockTQ2_0, dequantize_chunk_tq2_0)
#undef SY_GPU_CHUNK_DECODER

template <gguf::TensorType Type, class Block, int BlockElements>
struct QuantizedRow {
  static constexpr uint32_t kType = type_id(Type);
  static constexpr int kBlockElements = BlockElements;
  static constexpr int kBlockBytes = static_cast<int>(sizeof(Block));
  // What one thread decodes at a time: 32 elements, a whole block of the 32-element types and a chunk of a
  // super-block (256 floats in one thread's registers would spill).
  static constexpr int kChunkElements = quant::kChunkElements;
  static constexpr int kChunksPerBlock = BlockElements / kChunkElements;
  // A thread decodes a chunk into consecutive floats of a shared tile. Placed back to back, the chunks of one warp
  // would start a multiple of 32 floats apart, all in the same memory bank, and every store would be a 32-way
  // conflict; one float of padding after each chunk (33 is 1 mod 32) spreads them out.
  SY_HOST_DEVICE static int tile_index(int i) { return i / kChunkElements * (kChunkElements + 1) + i % kChunkElements; }
  SY_HOST_DEVICE static constexpr int tile_floats(int elements) { return elements / kChunkElements * (kChunkElements + 1); }

  // Writes the BlockElements floats of block `block` of `row` to out.
  SY_HOST_DEVICE static void decode_block(const void* row, int64_t block, float* out) {
    decode_quant_block(static_cast<const Block*>(row) + block, out);
  }
  // Writes elements 32 chunk .. 32 chunk + 31 of `row` to out.
  SY_HOST_DEVICE static void decode_chunk(const void* row, int64_t chunk, float* out) {
    if constexpr (kChunksPerBlock == 1) {
      decode_block(row, chunk, out);
    } else {
      decode_quant_chunk(static_cast<const Block*>(row) + chunk / kChunksPerBlock,
                         static_cast<int>(chunk % kChunksPerBlock), out);
    }
  }
};

// The types the GPU plugins store and multiply. I2_S is absent: its one scale sits after the whole tensor, so a row
// cannot be decoded alone.
using RowF32 = PlainRow<gguf::TensorType::F32>;
using RowF16 = PlainRow<gguf::TensorType::F16>;
using RowBF16 = PlainRow<gguf::TensorType::BF16>;
using RowQ4_0 = QuantizedRow<gguf::TensorType::Q4_0, quant::BlockQ4_0, quant::kBlockElements>;
using RowQ4_1 = QuantizedRow<gguf::TensorType::Q4_1, quant::BlockQ4_1, quant::kBlockElements>;
using RowQ5_0 = QuantizedRow<gguf::TensorType::Q5_0, quant::BlockQ5_0, quant::kBlockElements>;
using RowQ5_1 = QuantizedRow<gguf::TensorType::Q5_1, quant::BlockQ5_1, quant::kBlockElements>;
using RowQ8_0 = QuantizedRow<gguf::TensorType::Q8_0, quant::BlockQ8_0, quant::kBlockElements>;
using RowQ2_K = QuantizedRow<gguf::TensorType::Q2_K, quant::BlockQ2_K, quant::kSuperBlockElements>;
using RowQ3_K = QuantizedRow<gguf::TensorType::Q3_K, quant::BlockQ3_K, quant::kSuperBlockElements>;
using RowQ4_K = QuantizedRow<gguf::TensorType::Q4_K, quant::BlockQ4_K, quant::kSuperBlockElements>;
using RowQ5_K = QuantizedRow<gguf::TensorType::Q5_K, quant::BlockQ5_K, quant::kSuperBlockElements>;
using RowQ6_K = QuantizedRow<gguf::TensorType::Q6_K, quant::BlockQ6_K, quant::kSuperBlockElements>;
using RowIQ4_NL = QuantizedRow<gguf::TensorType::IQ4_NL, quant::BlockIQ4_NL, quant::kBlockElements>;
using RowTQ1_0 = QuantizedRow<gguf::TensorType::TQ1_0, quant::BlockTQ1_0, quant::kSuperBlockElements>;
using RowTQ2_0 = QuantizedRow<gguf::TensorType::TQ2_0, quant::BlockTQ2_0, quant::kSuperBlockElements>;

// Calls visitor(Row{}) with the row type of `type`; false (and no call) for a type the GPU plugins do not read.
// Host code only: it is how a launcher picks the kernel instantiation for a run-time type id.
template <class Visitor>
bool visit_weight_row(uint32_t type, Visitor&& visitor) {
  switch (static_cast<gguf::TensorType>(type)) {
    case gguf::TensorType::F32: visitor(RowF32{}); return true;
    case gguf::TensorType::F16: visitor(RowF16{}); return true;
    case gguf::TensorType::BF16: visitor(RowBF16{}); return true;
    case gguf::TensorType::Q4_0: visitor(RowQ4_0{}); return true;
    case gguf::TensorType::Q4_1: visitor(RowQ4_1{}); return true;
    case gguf::TensorType::Q5_0: visitor(RowQ5_0{}); return true;
    case gguf::TensorType::Q5_1: visitor(RowQ5_1{}); return true;
    case gguf::TensorType::Q8_0: visitor(RowQ8_0{}); return true;
    case gguf::TensorType::Q2_K: visitor(RowQ2_K{}); return true;
    case gguf::TensorType::Q3_K: visitor(RowQ3_K{}); return true;
    case gguf::TensorType::Q4_K: visitor(RowQ4_K{}); return true;
    case gguf::TensorType::Q5_K: visitor(RowQ5_K{}); return true;
    case gguf::TensorType::Q6_K: visitor(RowQ6_K{}); return true;
    case gguf::TensorType::IQ4_NL: visitor(RowIQ4_NL{}); return true;
    case gguf::TensorType::TQ1_0: visitor(RowTQ1_0{}); return true;
    case gguf::TensorType::TQ2_0: visitor(RowTQ2_0{}); return true;
    default: return false;
  }
}

// Type mask (SY_TYPE_BIT) of the quantized types visit_weight_row knows: what the device reports as multipliable
// beyond F32/F16/BF16.
inline uint64_t quantized_weight_types() {
  uint64_t mask = 0;
  for (uint32_t type = 0; type < 64; ++type)
    visit_weight_row(type, [&](auto row) {
      if (decltype(row)::kBlockElements > 1) mask |= SY_TYPE_BIT(type);
    });
  return mask;
}

// Bytes of a row of `n` elements of `type`; 0 when the GPU plugins do not read the type or n is not whole blocks.
inline uint64_t weight_row_bytes(uint32_t type, int64_t n) {
  uint64_t bytes = 0;
  visit_weight_row(type, [&](auto row) {
    using Row = decltype(row);
    if (n >= 0 && n % Row::kBlockElements == 0)
      bytes = static_cast<uint64_t>(n / Row::kBlockElements) * static_cast<uint64_t>(Row::kBlockBytes);
  });
  return bytes;
}

// ---- The split of one row between the threads of a kernel block --------------------------------------------------

// Decodes elements [first, first + count) of `row` into `tile` (at Row::tile_index), `first` and `count` whole
// blocks: thread `lane` of `lanes` decodes chunks lane, lane + lanes, ... of the span. The matmul kernel calls this
// with (threadIdx.x, blockDim.x); the host test calls it once per emulated thread.
template <class Row>
SY_HOST_DEVICE void decode_span(const void* row, int64_t first, int count, float* tile, int lane, int lanes) {
  const int64_t first_chunk = first / Row::kChunkElements;
  const int chunks = count / Row::kChunkElements;
  for (int c = lane; c < chunks; c += lanes)
    Row::decode_chunk(row, first_chunk + c, tile + Row::tile_index(c * Row::kChunkElements));
}

// Thread `lane`'s partial dot product of a decoded span with x[0..count): elements lane, lane + lanes, ...
// (consecutive threads read consecutive x, which coalesces). The kernel adds the partial sums of all lanes.
template <class Row>
SY_HOST_DEVICE float span_partial_dot(const float* tile, const float* x, int count, int lane, int lanes) {
  float sum = 0;
  for (int i = lane; i < count; i += lanes) sum += tile[Row::tile_index(i)] * x[i];
  return sum;
}

// ---- The matrix-vector kernel: one warp per output row, the activations staged in shared memory -----------------

// Where element i of the staged activations sits: one float of padding after every 32, so that lanes reading
// elements 32 apart (one chunk each) hit different memory banks.
SY_HOST_DEVICE inline int staged_index(int i) { return i + i / 32; }
SY_HOST_DEVICE constexpr int staged_floats(int elements) { return elements + elements / 32; }

// Lane `lane` of `lanes`' share of sum_i row[first + i] * x[i], i < count, with x staged at staged_index: plain
// rows element by element (consecutive lanes read consecutive weights, which coalesces), quantized rows chunk by
// chunk (a lane decodes 32 elements into registers; `first` and `count` are whole blocks). The warp adds the
// lanes' shares.
template <class Row>
SY_HOST_DEVICE float lane_dot(const void* row, int64_t first, int count, const float* staged, int lane, int lanes) {
  float sum = 0;
  if constexpr (Row::kChunkElements == 1) {
    constexpr int kVector = Row::kVectorElements;
    const auto* bytes = static_cast<const uint8_t*>(row) + first * Row::kBlockBytes;
    int scalar_from = 0;  // elements before this went through 16-byte loads
    if (reinterpret_cast<uintptr_t>(bytes) % 16 == 0) {
      const int vectors = count / kVector;
      const auto* vector_row = reinterpret_cast<const typename Row::Vector*>(bytes);
      for (int v = lane; v < vectors; v += lanes) {
        float weights[kVector];
        Row::decode_vector(vector_row[v], weights);
        for (int j = 0; j < kVector; ++j) sum += weights[j] * staged[staged_index(v * kVector + j)];
      }
      scalar_from = vectors * kVector;
    }
    for (int i = scalar_from + lane; i < count; i += lanes) {
      float weight;
      Row::decode_chunk(row, first + i, &weight);
      sum += weight * staged[staged_index(i)];
    }
  } else {
    constexpr int kChunk = Row::kChunkElements;
    float values[kChunk];
    for (int c = lane; c < count / kChunk; c += lanes) {
      Row::decode_chunk(row, first / kChunk + c, values);
      const float* x = staged + staged_index(c * kChunk);  // a chunk's 32 elements are contiguous when staged
      for (int j = 0; j < kChunk; ++j) sum += values[j] * x[j];
    }
  }
  return sum;
}

}  // namespace sy::gpu
