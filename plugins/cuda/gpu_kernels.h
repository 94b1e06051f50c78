// The GPU plugins' kernels (gpu_kernels.cu): one launcher per op of the plugin ABI, on F32 activations with weights
// of every type in weight_rows.h and F32/F16 KV caches. Host code calls launch_op after the op passed check_op.
#pragma once

#include <switchyard/plugin.h>

#include "plugins/cuda/gpu_runtime.h"

namespace sy::gpu {

// The device address of each of an op's tensors (src[0..3], dst), already offset; nullptr where absent.
struct OpAddresses {
  const void* src[4];
  void* dst;
};

// Largest n_kv the attention kernel takes: its scores live in 48 KiB of shared memory. With per-step values the
// kernel sizes them for the whole cache, so kv_capacity must stay within it; get_info reports it as the device's
// max_attention_context, which the planner honours.
constexpr int64_t kMaxAttentionPositions = 12 * 1024;
// Tokens one matmul kernel block multiplies with the weight row it decoded (the grid's y covers the rest).
constexpr int64_t kMatmulTokensPerBlock = 8;
// The matmul grid's y dimension (at most 65535) counts token groups, which bounds the tokens of one MATMUL.
constexpr int64_t kMaxMatmulTokens = 65535 * kMatmulTokensPerBlock;

// Enqueues `op` on `stream`; returns the launch error (kernels report asynchronous faults at synchronize).
gpuError_t launch_op(const sy_op& op, const OpAddresses& addresses, gpuStream_t stream);

// Enqueues the decode of `n_rows` rows of `n_cols` elements of weight type `type` at `source` (rows back to back)
// into F32 at `destination`. For the cuBLAS path, which multiplies F32. Returns the launch error.
gpuError_t launch_decode_rows(uint32_t type, const void* source, float* destination, int64_t n_rows, int64_t n_cols,
                              gpuStream_t stream);

}  // namespace sy::gpu
