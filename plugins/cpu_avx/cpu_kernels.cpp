// The CPU plugin's op execution (see cpu_kernels.h): MATMUL of the native weight types goes to quant_matmul.cpp,
// other weight types are decoded row by row into scratch for the float dot product; RMS norm and attention are
// threaded here, the remaining ops run the reference.
#include "plugins/cpu_avx/cpu_kernels.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <cmath>
#include <vector>

#include "plugins/cpu_avx/quant_matmul.h"
#include "plugins/cpu_avx/simd_kernels.h"

namespace sy::cpu {

struct CpuKernels::Arena {
  tbb::task_arena arena;
  explicit Arena(int threads) : arena(threads > 0 ? threads : tbb::task_arena::automatic) {}
};

CpuKernels::CpuKernels(IsaLevel level, int threads, const kernels::RowDecoder& decoder)
    : level_(level),
      kernel_set_(kernel_set_for(level, detect_cpu_features())),
      decoder_(decoder),
      arena_(std::make_unique<Arena>(threads)) {}

CpuKernels::~CpuKernels() = default;

int CpuKernels::threads() const { return arena_->arena.max_concurrency(); }

std::string CpuKernels::check_shapes(const sy_op& op) const {
  std::vector<kernels::TensorUse> uses;
  return kernels::describe_op_tensors(op, decoder_, uses);
}

namespace {

using DotF32 = float (*)(const float*, const float*, int64_t);

// The scalar level accumulates in double like the reference, so it is the reference's math on this path.
float dot_f32_scalar(const float* a, const float* b, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

float sum_squares_scalar(const float* x, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return static_cast<float>(sum);
}

DotF32 dot_f32_for(IsaLevel level) {
  switch (level) {
    case IsaLevel::avx512: return simd::dot_f32_avx512;
    case IsaLevel::avx2: return simd::dot_f32_avx2;
    default: return dot_f32_scalar;
  }
}

}  // namespace

void CpuKernels::matmul(const sy_op& op, const uint8_t* weight, const float* x, float* dst) const {
  const auto& p = op.params.matmul;
  const uint32_t type = op.src[0].type;
  if (type < 64 && (native_matmul_types() & SY_TYPE_BIT(type))) {
    arena_->arena.execute([&] { native_matmul(kernel_set_, type, weight, p.n_out, p.n_in, x, p.n_tokens, dst); });
    return;
  }
  const uint64_t row_bytes = kernels::row_bytes(type, p.n_in, decoder_);
  const DotF32 dot_f32 = dot_f32_for(level_);
  // Chunks of output rows: each weight row is read once and reused for every token while it is in cache.
  arena_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.n_out, 16), [&](const tbb::blocked_range<int64_t>& rows) {
      std::vector<float> decoded;  // rows of the other quantized types and BF16 are decoded to float first
      for (int64_t o = rows.begin(); o < rows.end(); ++o) {
        const uint8_t* row = weight + static_cast<uint64_t>(o) * row_bytes;
        const float* row_f32 = reinterpret_cast<const float*>(row);
        if (type != SY_TYPE_F32) {
          decoded.resize(static_cast<size_t>(p.n_in));
          kernels::decode_row(type, row, decoded.data(), p.n_in, decoder_);
          row_f32 = decoded.data();
        }
        for (int64_t t = 0; t < p.n_tokens; ++t) {
          const float* xt = x + t * p.n_in;
          dst[t * p.n_out + o] = dot_f32(row_f32, xt, p.n_in);
        }
      }
    });
  });
}

void CpuKernels::rms_norm(const sy_op& op, const float* x, const float* weight, float* dst) const {
  const auto& p = op.params.rms_norm;
  const auto sum_squares = level_ == IsaLevel::avx512 ? simd::sum_squares_avx512
                           : level_ == IsaLevel::avx2 ? simd::sum_squares_avx2
                                                      : sum_squares_scalar;
  arena_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.n_rows, 4), [&](const tbb::blocked_range<int64_t>& rows) {
      for (int64_t r = rows.begin(); r < rows.end(); ++r) {
        const float* xr = x + r * p.n_cols;
        float* out = dst + r * p.n_cols;
        const float scale = 1.0f / std::sqrt(sum_squares(xr, p.n_cols) / static_cast<float>(p.n_cols) + p.eps);
        for (int64_t c = 0; c < p.n_cols; ++c) out[c] = xr[c] * scale * (weight ? weight[c] : 1.0f);
      }
    });
  });
}

void CpuKernels::attention(const sy_op& op, const float* q, const void* k, const void* v, float* dst) const {
  const auto& p = op.params.attention;
  const int64_t token_stride = p.n_heads * p.head_dim;
  // One token per task: the reference on a one-token slice (its own causal window) is exactly that token's row.
  arena_->arena.execute([&] {
    tbb::parallel_for(int64_t{0}, p.n_tokens, [&](int64_t t) {
      sy_op slice = op;
      slice.params.attention.n_tokens = 1;
      slice.params.attention.n_kv = p.n_kv - p.n_tokens + t + 1;
      kernels::reference_attention(slice, q + t * token_stride, k, v, dst + t * token_stride, decoder_);
    });
  });
}

void CpuKernels::run(const sy_op& op) const {
  switch (op.kind) {
    case SY_OP_MATMUL:
      matmul(op, static_cast<const uint8_t*>(tensor_address(op.src[0])),
             static_cast<const float*>(tensor_address(op.src[1])), static_cast<float*>(tensor_address(op.dst)));
      return;
    case SY_OP_RMS_NORM:
      rms_norm(op, static_cast<const float*>(tensor_address(op.src[0])),
               static_cast<const float*>(tensor_address(op.src[1])), static_cast<float*>(tensor_address(op.dst)));
      return;
    case SY_OP_ATTENTION:
      attention(op, static_cast<const float*>(tensor_address(op.src[0])), tensor_address(op.src[1]),
                tensor_address(op.src[2]), static_cast<float*>(tensor_address(op.dst)));
      return;
    default:
      // The remaining ops are memory-bound and small next to matmul: the reference is fast enough for now.
      kernels::reference_execute(op, tensor_address, decoder_);
  }
}

}  // namespace sy::cpu
