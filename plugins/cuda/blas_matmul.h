// The CUDA plugin's cuBLAS path for prompt processing: MATMUL of a weight of any type by many tokens, where
// cuBLAS's tuned GEMM beats our kernels (gpu_kernels.cu) even after decoding a quantized weight to F32. CUDA only: Debian's ROCm has no BLAS, so the ROCm build
// of plugin.cpp never includes this. Used by plugin.cpp; the kernels still take every op this path declines.
#pragma once

#include <switchyard/plugin.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "plugins/cuda/gpu_kernels.h"

struct cublasContext;  // cublas_v2.h's handle type, kept out of this header

namespace sy::gpu {

// One per device, created on first use with that device current (a cuBLAS handle belongs to one device).
class BlasMatmul {
 public:
  // Tokens from which a MATMUL goes to cuBLAS; SWITCHYARD_CUDA_BLAS_MIN_TOKENS overrides it (0 = never), which is
  // how scripts/gpu-check.sh runs the conformance suite through this path with its 1- and 3-token cases.
  static constexpr int64_t kDefaultMinTokens = 32;

  BlasMatmul() = default;
  BlasMatmul(const BlasMatmul&) = delete;
  BlasMatmul& operator=(const BlasMatmul&) = delete;
  ~BlasMatmul();

  // Whether this path takes `op` (a MATMUL that passed check_op) when matmuls of `min_tokens` or more tokens go here.
  static bool takes(const sy_op& op, int64_t min_tokens);

  // Enqueues `op` on `stream` with the device already current. Returns an empty string on success, else one
  // sentence naming the failed call and cuBLAS's or CUDA's error text.
  std::string run(const sy_op& op, const OpAddresses& addresses, gpuStream_t stream);

 private:
  std::mutex mutex_;                 // a handle is not safe to use from two threads at once (setStream + gemm)
  cublasContext* handle_ = nullptr;  // created on the first run, on the device current then
};

}  // namespace sy::gpu
