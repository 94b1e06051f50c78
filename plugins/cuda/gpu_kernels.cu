// Kernels of the CUDA and ROCm plugins, written once (see gpu_runtime.h), matching the reference
// (core/kernels/reference_ops.h) within the conformance tolerances: weights are decoded by the block and chunk
// functions of core/quant/blocks.h (through weight_rows.h), so the host tests of those functions cover this math.
// Decode (one-token) matmuls run a warp-per-row kernel near the memory bandwidth; on CUDA, prompt matmuls of every
// weight type go to cuBLAS (blas_matmul.cpp). Still to come: flash attention, fusion of the op sequences
// `execute` receives, and quantized activations (dp4a) for the matrix-vector kernel.
#include "plugins/cuda/gpu_kernels.h"

#include <cstdint>

#include "core/kernels/op_math.h"
#include "plugins/cuda/weight_rows.h"

namespace sy::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kMatmulThreads = 128;
// Elements of a weight row decoded into shared memory at a time: 16 KiB (plus padding), a multiple of every
// block size, small enough for several kernel blocks per multiprocessor.
constexpr int kMatmulTileElements = 4096;
// The matrix-vector kernel: 8 warps of 32 (4 of 64 on AMD's wave64 GPUs) per kernel block, and activation tiles of
// 8192 floats (33 KiB staged with padding; a multiple of every block size).
constexpr int kMatvecThreads = 256;
constexpr int kMatvecTileElements = 8192;
// Kernel blocks of one launch; more rows than 8 x this are taken in turn by the same warps.
constexpr int64_t kMatvecMaxBlocks = 8192;

// The KV cache's element types (F32, F16); both decoded by the shared conversions of core/kernels/half.h.
__device__ float load_as_float(const void* base, uint32_t type, int64_t index) {
  if (type == SY_TYPE_F16) return kernels::fp16_to_fp32(static_cast<const uint16_t*>(base)[index]);
  return static_cast<const float*>(base)[index];
}

__device__ void store_from_float(void* base, uint32_t type, int64_t index, float value) {
  switch (type) {
    case SY_TYPE_F16: static_cast<uint16_t*>(base)[index] = kernels::fp32_to_fp16(value); break;
    case SY_TYPE_BF16: static_cast<uint16_t*>(base)[index] = kernels::fp32_to_bf16(value); break;
    default: static_cast<float*>(base)[index] = value;
  }
}

// Sum over the block; every thread gets the result. `scratch` holds one float per warp.
__device__ float block_sum(float value, float* scratch) {
  for (int offset = warpSize / 2; offset > 0; offset /= 2) value += SY_SHUFFLE_DOWN(value, offset);
  const int lane = threadIdx.x % warpSize, warp = threadIdx.x / warpSize;
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  const int warps = (blockDim.x + warpSize - 1) / warpSize;
  float total = 0;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  __syncthreads();
  return total;
}

__device__ float block_max(float value, float* scratch) {
  for (int offset = warpSize / 2; offset > 0; offset /= 2)
    value = fmaxf(value, SY_SHUFFLE_DOWN(value, offset));
  const int lane = threadIdx.x % warpSize, warp = threadIdx.x / warpSize;
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  const int warps = (blockDim.x + warpSize - 1) / warpSize;
  float result = -INFINITY;
  for (int w = 0; w < warps; ++w) result = fmaxf(result, scratch[w]);
  __syncthreads();
  return result;
}

// ---- Kernels -----------------------------------------------------------------------------------------------------

// Decodes rows of a weight into `dst` (F32, F16 or BF16), one thread per chunk of the weight type (an element of
// a plain type, 32 elements of a quantized one): GET_ROWS (`ids` picks the source rows; an id outside the table
// yields a NaN row rather than a wild read), CONVERT and KV_WRITE (one row, `ids` NULL) and the cuBLAS path's F32
// copy of a weight.
template <class Row>
__global__ void decode_rows_kernel(const uint8_t* source, uint64_t source_row_bytes, const int32_t* ids,
                                   int64_t n_source_rows, void* dst, uint32_t dst_type, int64_t n_rows, int64_t n_cols) {
  constexpr int kChunk = Row::kChunkElements;
  const int64_t chunks_per_row = n_cols / kChunk;
  const int64_t n = n_rows * chunks_per_row;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / chunks_per_row, chunk = i % chunks_per_row;
    const int64_t source_row = ids ? ids[r] : r;
    const int64_t first = r * n_cols + chunk * kChunk;
    float values[kChunk];
    if (source_row < 0 || source_row >= n_source_rows) {
      for (int j = 0; j < kChunk; ++j) values[j] = NAN;
    } else if (dst_type == SY_TYPE_F32) {
      Row::decode_chunk(source + source_row * source_row_bytes, chunk, static_cast<float*>(dst) + first);
      continue;
    } else {
      Row::decode_chunk(source + source_row * source_row_bytes, chunk, values);
    }
    for (int j = 0; j < kChunk; ++j) store_from_float(dst, dst_type, first + j, values[j]);
  }
}

// Matrix-vector (one token): each warp computes one output row at a time (lane_dot in weight_rows.h, then a warp
// sum), the kernel block's warps taking rows first_row.. in turn. The token is staged in shared memory once per
// kernel block when it fits a tile (every row then reads it from there), tile by tile per row group otherwise.
// Reading each weight byte once with every lane busy is what lets decode run near the memory bandwidth; the
// per-row kernel below (a kernel block per row, a shared-memory tile and two barriers per tile) could not.
template <class Row>
__global__ void matvec_kernel(const uint8_t* weight, uint64_t row_bytes, const float* x, float* dst, int64_t n_out,
                              int64_t n_in) {
  __shared__ float staged[staged_floats(kMatvecTileElements)];
  const int lane = threadIdx.x % warpSize, warp = threadIdx.x / warpSize;
  const int warps = blockDim.x / warpSize;
  const bool one_tile = n_in <= kMatvecTileElements;
  const auto stage = [&](int64_t start, int count) {
    for (int i = threadIdx.x; i < count; i += blockDim.x) staged[staged_index(i)] = x[start + i];
  };
  if (one_tile) {
    stage(0, static_cast<int>(n_in));
    __syncthreads();
  }
  // The row-group loop runs the same number of times in every thread of the kernel block: the barriers inside
  // are reached by all.
  for (int64_t first_row = static_cast<int64_t>(blockIdx.x) * warps; first_row < n_out;
       first_row += static_cast<int64_t>(gridDim.x) * warps) {
    const int64_t o = first_row + warp;
    float sum = 0;
    for (int64_t start = 0; start < n_in; start += kMatvecTileElements) {
      const int count = static_cast<int>(n_in - start < kMatvecTileElements ? n_in - start : kMatvecTileElements);
      if (!one_tile) {
        __syncthreads();  // every warp is done with the previous tile
        stage(start, count);
        __syncthreads();
      }
      if (o < n_out) sum += lane_dot<Row>(weight + o * row_bytes, start, count, staged, lane, warpSize);
    }
    for (int offset = warpSize / 2; offset > 0; offset /= 2) sum += SY_SHUFFLE_DOWN(sum, offset);
    if (lane == 0 && o < n_out) dst[o] = sum;
  }
}

// Two or more tokens: one kernel block per (output row, group of up to kMatmulTokensPerBlock tokens). The block decodes the weight row
// tile by tile into shared memory (decode_span: each thread whole blocks of the type), then every thread adds its
// strided share of each token's dot product (span_partial_dot); a block reduction per token ends it. Decoding once
// per token group is what makes this the prompt (many tokens) kernel as well as the decode (one token) one.
template <class Row>
__global__ void matmul_kernel(const uint8_t* weight, uint64_t row_bytes, const float* x, float* dst, int64_t n_out,
                              int64_t n_in, int64_t n_tokens) {
  __shared__ float tile[Row::tile_floats(kMatmulTileElements)];
  __shared__ float scratch[32];
  const int64_t o = blockIdx.x;
  const int64_t first_token = blockIdx.y * kMatmulTokensPerBlock;
  const int64_t remaining = n_tokens - first_token;
  const int tokens = static_cast<int>(remaining < kMatmulTokensPerBlock ? remaining : kMatmulTokensPerBlock);
  const uint8_t* row = weight + o * row_bytes;
  float sums[kMatmulTokensPerBlock] = {};
  for (int64_t start = 0; start < n_in; start += kMatmulTileElements) {
    const int64_t left = n_in - start;
    const int count = static_cast<int>(left < kMatmulTileElements ? left : kMatmulTileElements);
    decode_span<Row>(row, start, count, tile, threadIdx.x, blockDim.x);
    __syncthreads();
#pragma unroll
    for (int t = 0; t < kMatmulTokensPerBlock; ++t)
      if (t < tokens) sums[t] += span_partial_dot<Row>(tile, x + (first_token + t) * n_in + start, count, threadIdx.x, blockDim.x);
    __syncthreads();  // the next tile overwrites what slower threads may still read
  }
  // Unrolled, both token loops index sums[] with constants, which keeps it in registers.
#pragma unroll
  for (int t = 0; t < kMatmulTokensPerBlock; ++t) {
    if (t < tokens) {  // the same for the whole kernel block, so every thread reaches each block_sum's barriers
      const float total = block_sum(sums[t], scratch);
      if (threadIdx.x == 0) dst[(first_token + t) * n_out + o] = total;
    }
  }
}

__global__ void rms_norm_kernel(const float* x, const float* weight, float* dst, int64_t n_cols, float eps) {
  __shared__ float scratch[32];
  const float* row = x + blockIdx.x * n_cols;
  float sum = 0;
  for (int64_t c = threadIdx.x; c < n_cols; c += blockDim.x) sum += row[c] * row[c];
  const float scale = rsqrtf(block_sum(sum, scratch) / static_cast<float>(n_cols) + eps);
  for (int64_t c = threadIdx.x; c < n_cols; c += blockDim.x)
    dst[blockIdx.x * n_cols + c] = row[c] * scale * (weight ? weight[c] : 1.0f);
}

__global__ void binary_kernel(const float* a, const float* b, float* dst, int64_t n_rows, int64_t n_cols,
                              int64_t b_rows, bool multiply) {
  const int64_t n = n_rows * n_cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / n_cols, c = i % n_cols;
    const float bv = b[(r % b_rows) * n_cols + c];
    dst[i] = multiply ? a[i] * bv : a[i] + bv;
  }
}

// One thread per pair; theta in double, as positions in the thousands lose a float's precision.
// One thread per pair slot of a head: the first n_rot/2 slots rotate the pair op_math.h names for the mode, the
// rest copy two of the dimensions past n_rot.
// With `scaled` (SY_OP_FLAG_ROPE_SCALING) the angle is op_math.h's scaled one; `scaling.freq_factors` is then a
// device pointer or null.
__global__ void rope_kernel(const float* x, const int32_t* positions, float* dst, int64_t n_tokens, int64_t n_heads,
                            int64_t head_dim, int64_t n_rot, float freq_base, float freq_scale, bool neox, bool scaled,
                            sy::kernels::RopeScaling scaling) {
  const int64_t pairs = head_dim / 2, n = n_tokens * n_heads * pairs;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = i % pairs, head = i / pairs, t = head / n_heads;
    const float* in = x + head * head_dim;
    float* out = dst + head * head_dim;
    if (k < n_rot / 2) {
      int64_t first = 0, second = 0;
      sy::kernels::rope_pair(neox, k, n_rot, first, second);
      float c = 0, s = 0;
      if (scaled) sy::kernels::rope_scaled_cos_sin_at(positions[t], freq_base, n_rot, k, scaling, c, s);
      else sy::kernels::rope_cos_sin(positions[t], freq_base, freq_scale, n_rot, k, c, s);
      const float x0 = in[first], x1 = in[second];
      sy::kernels::rope_rotate(x0, x1, c, s, out[first], out[second]);  // the host's roundings (op_math.h)
    } else {
      const int64_t d = n_rot + 2 * (k - n_rot / 2);
      out[d] = in[d];
      out[d + 1] = in[d + 1];
    }
  }
}

// One block per (token, head): scores in shared memory, softmax, then the weighted sum of V. Float caches take
// op_math.h's attention_row_reference arithmetic step by step (the host's bits): scores and exponentials one key per
// thread, the exponentials' sum by one thread in its fixed order, each output element by one thread. Other cache types: float throughout.
__global__ void attention_kernel(const float* q, const void* k_cache, uint32_t k_type, const void* v_cache,
                                 uint32_t v_type, float* dst, int64_t n_tokens, int64_t n_heads, int64_t n_kv_heads,
                                 int64_t head_dim, int64_t n_kv, int64_t kv_capacity, const sy_step_values* step,
                                 float scale) {
  extern __shared__ float scores[];
  __shared__ float scratch[32];
  __shared__ float inverse;
  // Per-step values: the cache length of this step, read when the kernel runs (shared memory covers kv_capacity).
  if (step) n_kv = sy::kernels::clamp_step_n_kv(step->n_kv, n_tokens, kv_capacity);
  const int64_t t = blockIdx.x, h = blockIdx.y;
  const int64_t kv_head = h / (n_heads / n_kv_heads);
  const int64_t last = n_kv - n_tokens + t;
  const float* qh = q + (t * n_heads + h) * head_dim;
  float* out = dst + (t * n_heads + h) * head_dim;
  if (k_type == SY_TYPE_F32 && v_type == SY_TYPE_F32) {
    const auto* keys = static_cast<const float*>(k_cache);
    const auto* values = static_cast<const float*>(v_cache);
    float local_max = -INFINITY;
    for (int64_t j = threadIdx.x; j <= last; j += blockDim.x) {
      scores[j] = __fmul_rn(sy::kernels::dot_f32_reference(keys + (j * n_kv_heads + kv_head) * head_dim, qh, head_dim),
                            scale);
      local_max = fmaxf(local_max, scores[j]);
    }
    const float max_score = block_max(local_max, scratch);
    for (int64_t j = threadIdx.x; j <= last; j += blockDim.x) scores[j] = sy::kernels::exp_reference(scores[j] - max_score);
    __syncthreads();
    if (threadIdx.x == 0) {
      double sum = 0;
      for (int64_t first = 0; first <= last; first += 16) {
        float lanes[16] = {};
        for (int l = 0; l < 16 && first + l <= last; ++l) lanes[l] = scores[first + l];
        sum += static_cast<double>(sy::kernels::add_16_lanes(lanes));
      }
      inverse = static_cast<float>(1.0 / sum);
    }
    __syncthreads();
    for (int64_t j = threadIdx.x; j <= last; j += blockDim.x) scores[j] = __fmul_rn(scores[j], inverse);
    __syncthreads();
    const int64_t n_keys = last + 1;
    const int64_t padded = (n_keys + sy::kernels::kReferenceKvPadding - 1) / sy::kernels::kReferenceKvPadding *
                           sy::kernels::kReferenceKvPadding;
    for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
      const auto value = [&](int64_t j) { return j < n_keys ? values[(j * n_kv_heads + kv_head) * head_dim + d] : 0.0f; };
      if (n_tokens > 1) {
        float lanes[16] = {};
        for (int64_t j = 0; j < n_keys; ++j) lanes[j % 16] = fmaf(value(j), scores[j], lanes[j % 16]);
        out[d] = sy::kernels::add_16_lanes(lanes);
      } else {
        out[d] = sy::kernels::dot_f32_reference_of(value, [&](int64_t j) { return j < n_keys ? scores[j] : 0.0f; },
                                                   padded);
      }
    }
    return;
  }
  float local_max = -INFINITY;
  for (int64_t j = threadIdx.x; j <= last; j += blockDim.x) {
    const int64_t row = (j * n_kv_heads + kv_head) * head_dim;
    float dot = 0;
    for (int64_t d = 0; d < head_dim; ++d) dot += qh[d] * load_as_float(k_cache, k_type, row + d);
    scores[j] = dot * scale;
    local_max = fmaxf(local_max, scores[j]);
  }
  const float max_score = block_max(local_max, scratch);
  float local_sum = 0;
  for (int64_t j = threadIdx.x; j <= last; j += blockDim.x) {
    scores[j] = expf(scores[j] - max_score);
    local_sum += scores[j];
  }
  const float total = block_sum(local_sum, scratch);  // also orders the score writes before the reads below
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0;
    for (int64_t j = 0; j <= last; ++j) acc += scores[j] * load_as_float(v_cache, v_type, (j * n_kv_heads + kv_head) * head_dim + d);
    out[d] = acc / total;
  }
}

// KV_WRITE: x [n_tokens, row_size] F32 into the cache rows from the step's first position, read on the device.
__global__ void kv_write_kernel(const float* x, void* cache, uint32_t cache_type, const sy_step_values* step,
                                int64_t n_tokens, int64_t row_size, int64_t kv_capacity) {
  const int64_t first = sy::kernels::clamp_step_first_position(step->first_position, n_tokens, kv_capacity);
  const int64_t n = n_tokens * row_size;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    store_from_float(cache, cache_type, first * row_size + i, x[i]);
  }
}

__global__ void glu_kernel(const float* gate, const float* up, float* dst, int64_t n, bool squared_relu) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[i] = squared_relu ? sy::kernels::squared_relu_glu_value(gate[i], up[i]) : sy::kernels::swiglu_value(gate[i], up[i]);
  }
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

// Enqueues decode_rows_kernel for a weight of run-time type `type` (check_op has accepted the type).
void enqueue_decode_rows(uint32_t type, const void* source, const int32_t* ids, int64_t n_source_rows, void* dst,
                         uint32_t dst_type, int64_t n_rows, int64_t n_cols, gpuStream_t stream) {
  visit_weight_row(type, [&](auto row) {
    using Row = decltype(row);
    const int64_t chunks = n_rows * (n_cols / Row::kChunkElements);
    decode_rows_kernel<Row><<<grid_for(chunks), kThreads, 0, stream>>>(
        static_cast<const uint8_t*>(source), weight_row_bytes(type, n_cols), ids, n_source_rows, dst, dst_type, n_rows,
        n_cols);
  });
}

}  // namespace

gpuError_t launch_op(const sy_op& op, const OpAddresses& a, gpuStream_t stream) {
  const auto f32 = [](const void* p) { return static_cast<const float*>(p); };
  switch (op.kind) {
    case SY_OP_GET_ROWS: {
      const auto& p = op.params.get_rows;
      enqueue_decode_rows(op.src[0].type, a.src[0], static_cast<const int32_t*>(a.src[1]), p.n_table_rows, a.dst,
                          SY_TYPE_F32, p.n_ids, p.n_cols, stream);
      break;
    }
    case SY_OP_MATMUL: {
      const auto& p = op.params.matmul;
      if (p.n_tokens == 1) {
        const int64_t warps = kMatvecThreads / 32;
        const int64_t blocks = (p.n_out + warps - 1) / warps;
        visit_weight_row(op.src[0].type, [&](auto row) {
          using Row = decltype(row);
          matvec_kernel<Row><<<static_cast<unsigned>(blocks < kMatvecMaxBlocks ? blocks : kMatvecMaxBlocks),
                               kMatvecThreads, 0, stream>>>(static_cast<const uint8_t*>(a.src[0]),
                                                            weight_row_bytes(op.src[0].type, p.n_in), f32(a.src[1]),
                                                            static_cast<float*>(a.dst), p.n_out, p.n_in);
        });
        break;
      }
      const dim3 grid(static_cast<unsigned>(p.n_out),
                      static_cast<unsigned>((p.n_tokens + kMatmulTokensPerBlock - 1) / kMatmulTokensPerBlock));
      visit_weight_row(op.src[0].type, [&](auto row) {
        using Row = decltype(row);
        matmul_kernel<Row><<<grid, kMatmulThreads, 0, stream>>>(static_cast<const uint8_t*>(a.src[0]),
                                                                 weight_row_bytes(op.src[0].type, p.n_in), f32(a.src[1]),
                                                                 static_cast<float*>(a.dst), p.n_out, p.n_in, p.n_tokens);
      });
      break;
    }
    case SY_OP_RMS_NORM: {
      const auto& p = op.params.rms_norm;
      rms_norm_kernel<<<static_cast<unsigned>(p.n_rows), kThreads, 0, stream>>>(f32(a.src[0]), f32(a.src[1]),
                                                                                 static_cast<float*>(a.dst), p.n_cols, p.eps);
      break;
    }
    case SY_OP_MUL:
    case SY_OP_ADD: {
      const auto& p = op.params.binary;
      binary_kernel<<<grid_for(p.n_rows * p.n_cols), kThreads, 0, stream>>>(
          f32(a.src[0]), f32(a.src[1]), static_cast<float*>(a.dst), p.n_rows, p.n_cols, p.b_rows, op.kind == SY_OP_MUL);
      break;
    }
    case SY_OP_ROPE:
    case SY_OP_ROPE_NEOX: {
      const auto& p = op.params.rope;
      const bool scaled = (op.flags & SY_OP_FLAG_ROPE_SCALING) != 0;
      const sy::kernels::RopeScaling scaling =
          scaled ? sy::kernels::rope_scaling_of(p.n_rot, p.freq_base, p.freq_scale, p.n_ctx_orig, p.ext_factor,
                                                p.attn_factor, p.beta_fast, p.beta_slow, f32(a.src[2]))
                 : sy::kernels::RopeScaling{};
      rope_kernel<<<grid_for(p.n_tokens * p.n_heads * (p.head_dim / 2)), kThreads, 0, stream>>>(
          f32(a.src[0]), static_cast<const int32_t*>(a.src[1]), static_cast<float*>(a.dst), p.n_tokens, p.n_heads,
          p.head_dim, p.n_rot, p.freq_base, p.freq_scale, op.kind == SY_OP_ROPE_NEOX, scaled, scaling);
      break;
    }
    case SY_OP_ATTENTION: {
      const auto& p = op.params.attention;
      const bool step_values = (op.flags & SY_OP_FLAG_STEP_VALUES) != 0;
      const size_t shared = static_cast<size_t>(step_values ? p.kv_capacity : p.n_kv) * sizeof(float);
      attention_kernel<<<dim3(static_cast<unsigned>(p.n_tokens), static_cast<unsigned>(p.n_heads)), 128, shared,
                         stream>>>(f32(a.src[0]), a.src[1], op.src[1].type, a.src[2], op.src[2].type,
                                   static_cast<float*>(a.dst), p.n_tokens, p.n_heads, p.n_kv_heads, p.head_dim, p.n_kv,
                                   p.kv_capacity,
                                   step_values ? static_cast<const sy_step_values*>(a.src[3]) : nullptr, p.scale);
      break;
    }
    case SY_OP_SWIGLU:
    case SY_OP_SQUARED_RELU_GLU: {
      const auto& p = op.params.swiglu;
      glu_kernel<<<grid_for(p.n_rows * p.n_cols), kThreads, 0, stream>>>(f32(a.src[0]), f32(a.src[1]),
                                                                         static_cast<float*>(a.dst), p.n_rows * p.n_cols,
                                                                         op.kind == SY_OP_SQUARED_RELU_GLU);
      break;
    }
    case SY_OP_KV_WRITE: {
      const auto& p = op.params.kv_write;
      if (op.flags & SY_OP_FLAG_STEP_VALUES) {
        kv_write_kernel<<<grid_for(p.n_tokens * p.row_size), kThreads, 0, stream>>>(
            f32(a.src[0]), a.dst, op.dst.type, static_cast<const sy_step_values*>(a.src[3]), p.n_tokens, p.row_size,
            p.kv_capacity);
        break;
      }
      const int64_t element = op.dst.type == SY_TYPE_F16 ? 2 : 4;
      void* first_row = static_cast<uint8_t*>(a.dst) + p.first_position * p.row_size * element;
      enqueue_decode_rows(SY_TYPE_F32, a.src[0], nullptr, 1, first_row, op.dst.type, 1, p.n_tokens * p.row_size, stream);
      break;
    }
    case SY_OP_CONVERT: {
      const auto& p = op.params.convert;
      enqueue_decode_rows(op.src[0].type, a.src[0], nullptr, 1, a.dst, op.dst.type, 1, p.n, stream);
      break;
    }
    default: return gpuSuccess;  // unreachable: check_op refused it
  }
  return gpuGetLastError();
}

gpuError_t launch_decode_rows(uint32_t type, const void* source, float* destination, int64_t n_rows, int64_t n_cols,
                              gpuStream_t stream) {
  enqueue_decode_rows(type, source, nullptr, n_rows, destination, SY_TYPE_F32, n_rows, n_cols, stream);
  return gpuGetLastError();
}

}  // namespace sy::gpu
