// The GPU plugins' kernels (gpu_kernels.cu): one launcher per op of the plugin ABI, on F32 activations with
// F32/F16/BF16 weights and F32/F16 KV caches. Host code calls launch_op after the op passed check_op.
#pragma once

#include <switchyard/plugin.h>

#include "plugins/cuda/gpu_runtime.h"

namespace sy::gpu {

// The device address of each of an op's tensors (src[0..3], dst), already offset; nullptr where absent.
struct OpAddresses {
  const void* src[4];
  void* dst;
};

// Largest n_kv the attention kernel takes: its scores live in 48 KiB of shared memory.
constexpr int64_t kMaxAttentionPositions = 12 * 1024;

// Enqueues `op` on `stream`; returns the launch error (kernels report asynchronous faults at synchronize).
gpuError_t launch_op(const sy_op& op, const OpAddresses& addresses, gpuStream_t stream);

}  // namespace sy::gpu
