// cuBLAS for the CUDA plugin's large matmuls (see blas_matmul.h). The GEMM runs in F32: any other weight type is
// first decoded to F32 in bounded chunks of rows by the plugin's own decode kernel (exactly, as core/quant decodes
// it). Converting the activations to 16 bits instead (for a half-precision GEMM on tensor cores) would round them
// by up to 2^-11 relative, above the conformance tolerance of 1e-4 x sum|w x| that the kernels and the reference
// agree on for float weights; TF32 is off for the same reason.
#include "plugins/cuda/blas_matmul.h"

#include <cublas_v2.h>

#include <algorithm>
#include <climits>

#include "plugins/cuda/weight_rows.h"

namespace sy::gpu {
namespace {

// Bytes of F32 weight rows decoded per GEMM: bounded so a 1 GiB weight does not need 2 GiB of scratch.
constexpr uint64_t kScratchBytes = 64ull << 20;

bool fits_int(int64_t value) { return value > 0 && value <= INT_MAX; }

std::string blas_error(const char* call, cublasStatus_t status) {
  return std::string(call) + " failed: " + cublasGetStatusString(status);
}

std::string cuda_error(const char* call, cudaError_t error) {
  return std::string(call) + " failed: " + cudaGetErrorString(error);
}

}  // namespace

BlasMatmul::~BlasMatmul() {
  if (handle_) cublasDestroy(handle_);
}

bool BlasMatmul::takes(const sy_op& op, int64_t min_tokens) {
  if (op.kind != SY_OP_MATMUL || min_tokens <= 0) return false;
  const auto& p = op.params.matmul;
  const uint32_t type = op.src[0].type;
  // cuBLAS takes int dimensions; the leading dimensions are n_in and n_out.
  return weight_row_bytes(type, p.n_in) > 0 && p.n_tokens >= min_tokens && fits_int(p.n_out) && fits_int(p.n_in) &&
         fits_int(p.n_tokens);
}

std::string BlasMatmul::run(const sy_op& op, const OpAddresses& addresses, gpuStream_t stream) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (!handle_) {
    if (const cublasStatus_t status = cublasCreate(&handle_); status != CUBLAS_STATUS_SUCCESS) {
      handle_ = nullptr;
      return blas_error("cublasCreate", status);
    }
    if (const cublasStatus_t status = cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH); status != CUBLAS_STATUS_SUCCESS)
      return blas_error("cublasSetMathMode", status);
  }
  if (const cublasStatus_t status = cublasSetStream(handle_, stream); status != CUBLAS_STATUS_SUCCESS)
    return blas_error("cublasSetStream", status);

  // Row-major dst[t][o] = sum_i W[o][i] x[t][i] is, in cuBLAS's column-major terms, D (n_out x n_tokens, ld n_out)
  // = W^T x with W stored as an n_in x n_out matrix (ld n_in) and x as n_in x n_tokens (ld n_in).
  const auto& p = op.params.matmul;
  const auto* x = static_cast<const float*>(addresses.src[1]);
  auto* dst = static_cast<float*>(addresses.dst);
  const float one = 1.0f, zero = 0.0f;
  const auto gemm = [&](const float* weight_rows, int64_t first_row, int64_t n_rows) {
    return cublasSgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n_rows), static_cast<int>(p.n_tokens),
                       static_cast<int>(p.n_in), &one, weight_rows, static_cast<int>(p.n_in), x,
                       static_cast<int>(p.n_in), &zero, dst + first_row, static_cast<int>(p.n_out));
  };
  if (op.src[0].type == SY_TYPE_F32) {
    const cublasStatus_t status = gemm(static_cast<const float*>(addresses.src[0]), 0, p.n_out);
    return status == CUBLAS_STATUS_SUCCESS ? std::string() : blas_error("cublasSgemm", status);
  }

  // Other types: decode chunks of rows into stream-ordered scratch, which is freed after the last GEMM that reads it.
  const uint64_t row_floats = static_cast<uint64_t>(p.n_in);
  const int64_t chunk_rows = std::clamp<int64_t>(static_cast<int64_t>(kScratchBytes / (row_floats * sizeof(float))), 1, p.n_out);
  void* scratch = nullptr;
  if (const cudaError_t error = cudaMallocAsync(&scratch, static_cast<size_t>(chunk_rows) * row_floats * sizeof(float), stream);
      error != cudaSuccess)
    return cuda_error("cudaMallocAsync of the F32 weight scratch", error);
  std::string failure;
  const uint64_t source_row_bytes = weight_row_bytes(op.src[0].type, p.n_in);
  for (int64_t first = 0; first < p.n_out && failure.empty(); first += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, p.n_out - first);
    const auto* source = static_cast<const uint8_t*>(addresses.src[0]) + static_cast<uint64_t>(first) * source_row_bytes;
    if (const cudaError_t error = launch_decode_rows(op.src[0].type, source, static_cast<float*>(scratch), rows, p.n_in, stream);
        error != cudaSuccess)
      failure = cuda_error("decoding weight rows for cuBLAS", error);
    else if (const cublasStatus_t status = gemm(static_cast<const float*>(scratch), first, rows); status != CUBLAS_STATUS_SUCCESS)
      failure = blas_error("cublasSgemm", status);
  }
  if (const cudaError_t error = cudaFreeAsync(scratch, stream); error != cudaSuccess && failure.empty())
    failure = cuda_error("cudaFreeAsync of the F32 weight scratch", error);
  return failure;
}

}  // namespace sy::gpu
