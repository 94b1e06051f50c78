// The CPU plugin's op execution (see cpu_kernels.h): MATMUL of the native weight types goes to quant_matmul.cpp,
// other weight types are decoded row by row into scratch (dequantize_rows.h) for the float dot product; GET_ROWS,
// CONVERT, RMS norm and attention are threaded here, the remaining ops run the reference.
#include "plugins/cpu_avx/cpu_kernels.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/gguf/tensor_type.h"
#include "plugins/cpu_avx/attention_simd.h"
#include "plugins/cpu_avx/dequantize_rows.h"
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
  thread_local std::vector<kernels::TensorUse> uses;  // capacity kept: checking allocates nothing
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

DotF32 dot_f32_for(IsaLevel level) {
  switch (level) {
    case IsaLevel::avx512: return simd::dot_f32_avx512;
    case IsaLevel::avx2: return simd::dot_f32_avx2;
    default: return dot_f32_scalar;
  }
}

}  // namespace

void CpuKernels::decode_row(uint32_t type, const void* source, float* destination, int64_t n) const {
  dequantize_row(level_, static_cast<gguf::TensorType>(type), source, destination, n);
}

namespace {
// Elements one oneTBB task decodes at least: a few microseconds of work, well above the cost of a task.
constexpr int64_t kDecodeGrain = 16384;
}  // namespace

void CpuKernels::get_rows(const sy_op& op, const uint8_t* table, const int32_t* ids, float* dst) const {
  const auto& p = op.params.get_rows;
  const uint32_t type = op.src[0].type;
  const uint64_t table_row = kernels::row_bytes(type, p.n_cols, decoder_);
  // Every id is checked before the threads start, so that a bad one is reported as the reference reports it.
  for (int64_t i = 0; i < p.n_ids; ++i) {
    if (ids[i] < 0 || ids[i] >= p.n_table_rows)
      throw std::out_of_range("get_rows: id " + std::to_string(ids[i]) + " at index " + std::to_string(i) +
                              " is outside the table of " + std::to_string(p.n_table_rows) + " rows");
  }
  const int64_t rows_per_task = std::max<int64_t>(1, kDecodeGrain / p.n_cols);
  // A type whose scale sits in the tensor's tail (I2_S) is decoded by the core's scalar decoder: tables are
  // embeddings, which stay F16 or Q6_K in ternary models, so no SIMD decoder is worth having for it.
  const bool tail = kernels::tensor_tail_bytes(type, decoder_) != 0;
  arena_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.n_ids, rows_per_task), [&](const tbb::blocked_range<int64_t>& r) {
      for (int64_t i = r.begin(); i < r.end(); ++i) {
        if (tail)
          kernels::decode_tensor_row(type, table, ids[i], p.n_table_rows, p.n_cols, dst + i * p.n_cols, decoder_);
        else
          decode_row(type, table + static_cast<uint64_t>(ids[i]) * table_row, dst + i * p.n_cols, p.n_cols);
      }
    });
  });
}

void CpuKernels::convert(const sy_op& op, const uint8_t* source, uint8_t* dst) const {
  const auto& p = op.params.convert;
  const uint32_t from = op.src[0].type, to = op.dst.type;
  // Chunks of whole source blocks: an F32 destination is decoded into directly, the 16-bit ones through scratch and
  // the reference's rounding.
  const int64_t block = gguf::tensor_type_traits(static_cast<gguf::TensorType>(from)).block_size;
  const int64_t chunk = std::max<int64_t>(1, kDecodeGrain / block) * block;
  const int64_t chunks = (p.n + chunk - 1) / chunk;
  // A chunk of a type with a tail (I2_S) needs the whole tensor's tail, after all p.n elements.
  const uint8_t* tail = kernels::tensor_tail_bytes(from, decoder_) ? source + kernels::row_bytes(from, p.n, decoder_)
                                                                   : nullptr;
  const auto decode_chunk = [&](const uint8_t* from_bytes, float* values, int64_t count) {
    if (tail)
      decoder_.decode_row_with_tail(from, from_bytes, tail, values, count);
    else
      decode_row(from, from_bytes, values, count);
  };
  arena_->arena.execute([&] {
    tbb::parallel_for(int64_t{0}, chunks, [&](int64_t c) {
      const int64_t first = c * chunk, count = std::min(chunk, p.n - first);
      const uint8_t* from_bytes = source + kernels::row_bytes(from, first, decoder_);
      if (to == SY_TYPE_F32) {
        decode_chunk(from_bytes, reinterpret_cast<float*>(dst) + first, count);
        return;
      }
      std::vector<float> values(static_cast<size_t>(count));
      decode_chunk(from_bytes, values.data(), count);
      kernels::encode_row(to, values.data(), dst + kernels::row_bytes(to, first, decoder_), count);
    });
  });
}

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
      thread_local std::vector<float> decoded;  // rows of the other quantized types and BF16 are decoded first
      for (int64_t o = rows.begin(); o < rows.end(); ++o) {
        const uint8_t* row = weight + static_cast<uint64_t>(o) * row_bytes;
        const float* row_f32 = reinterpret_cast<const float*>(row);
        if (type != SY_TYPE_F32) {
          decoded.resize(static_cast<size_t>(p.n_in));
          decode_row(type, row, decoded.data(), p.n_in);
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
  // The scale is the reference's rounding at every ISA level (op_math.h says why); the row pass is what costs.
  arena_->arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, p.n_rows, 4), [&](const tbb::blocked_range<int64_t>& rows) {
      for (int64_t r = rows.begin(); r < rows.end(); ++r) {
        const float* xr = x + r * p.n_cols;
        float* out = dst + r * p.n_cols;
        const float scale = kernels::rms_norm_scale(xr, p.n_cols, p.eps);
        for (int64_t c = 0; c < p.n_cols; ++c) out[c] = xr[c] * scale * (weight ? weight[c] : 1.0f);
      }
    });
  });
}

void CpuKernels::attention(const sy_op& op, const float* q, const void* k, const void* v, float* dst) const {
  const auto& p = op.params.attention;
  const int64_t token_stride = p.n_heads * p.head_dim;
  if (level_ >= IsaLevel::avx2 && op.src[1].type == SY_TYPE_F32 && op.src[2].type == SY_TYPE_F32 &&
      p.head_dim % 8 == 0) {
    // Float caches: the reference function's arithmetic with vector instructions (attention_simd.h), one (token,
    // head) pair per task for a batch. One token's heads run in the calling thread, whose buffers earlier steps have
    // grown already: a worker meeting attention for the first time would allocate in the middle of a decode step.
    const auto* keys = static_cast<const float*>(k);
    const auto* values = static_cast<const float*>(v);
    const int64_t group = p.n_heads / p.n_kv_heads, row_stride = p.n_kv_heads * p.head_dim;
    const auto pair = [&](int64_t index) {
      const int64_t t = index / p.n_heads, h = index % p.n_heads, kv_head = h / group;
      thread_local std::vector<float> weights;  // reused: grows to the longest context, then allocates nothing
      alignas(32) thread_local float scratch[512];
      if (weights.size() < static_cast<size_t>(p.kv_capacity)) weights.resize(static_cast<size_t>(p.kv_capacity));
      simd::attention_row_avx2(q + t * token_stride + h * p.head_dim, p.head_dim, p.n_kv - p.n_tokens + t + 1, p.scale,
                               p.n_tokens > 1, keys + kv_head * p.head_dim, values + kv_head * p.head_dim, row_stride,
                               weights.data(), scratch, dst + t * token_stride + h * p.head_dim);
    };
    if (p.n_tokens == 1) {
      for (int64_t h = 0; h < p.n_heads; ++h) pair(h);
      return;
    }
    arena_->arena.execute([&] { tbb::parallel_for(int64_t{0}, p.n_tokens * p.n_heads, pair); });
    return;
  }
  // One token per task: the reference on a one-token slice (its own causal window) is exactly that token's row.
  arena_->arena.execute([&] {
    tbb::parallel_for(int64_t{0}, p.n_tokens, [&](int64_t t) {
      sy_op slice = op;
      slice.params.attention.n_tokens = 1;
      slice.params.attention.n_kv = p.n_kv - p.n_tokens + t + 1;
      kernels::reference_attention(slice, q + t * token_stride, k, v, dst + t * token_stride, decoder_, p.n_tokens > 1);
    });
  });
}

void CpuKernels::run(const sy_op& op) const {
  switch (op.kind) {
    case SY_OP_MATMUL:
      matmul(op, static_cast<const uint8_t*>(tensor_address(op.src[0])),
             static_cast<const float*>(tensor_address(op.src[1])), static_cast<float*>(tensor_address(op.dst)));
      return;
    case SY_OP_GET_ROWS:
      get_rows(op, static_cast<const uint8_t*>(tensor_address(op.src[0])),
               static_cast<const int32_t*>(tensor_address(op.src[1])), static_cast<float*>(tensor_address(op.dst)));
      return;
    case SY_OP_CONVERT:
      convert(op, static_cast<const uint8_t*>(tensor_address(op.src[0])), static_cast<uint8_t*>(tensor_address(op.dst)));
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
