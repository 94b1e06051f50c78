// The scalar reference of every op in the plugin ABI (sdk/include/switchyard/plugin.h): the definition the
// conformance suite checks each plugin against, the CPU plugin's scalar level, and the CPU fallback an out-of-tree
// plugin may use (the SDK installs this header). Plain loops, double accumulators: clarity over speed.
#pragma once

#include <switchyard/plugin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "half.h"
#include "op_math.h"

namespace sy::kernels {

// How the reference reads rows of a weight type beyond F32/F16/BF16: the core plugs in its quant library here,
// an out-of-tree plugin its own (or nothing, and then it claims no quantized type).
struct RowDecoder {
  // Bytes of one row of `n` elements of `type`; 0 when the type is unknown or n is not whole blocks.
  uint64_t (*row_bytes)(uint32_t type, int64_t n) = nullptr;
  // Writes `n` floats decoded from `source` (one row of `type`) to `destination`.
  void (*decode_row)(uint32_t type, const void* source, float* destination, int64_t n) = nullptr;
  // Type mask of the quantized types this decoder handles.
  uint64_t quantized_types = 0;
  // (optional; null: no type has a tail) Bytes that follow the rows of a whole tensor of `type` and belong to it:
  // 32 for I2_S, whose one scale sits there; 0 for types whose rows decode on their own. A weight operand of such
  // a type is the whole tensor, rows then tail (plugin.h, SY_OP_MATMUL).
  uint64_t (*tensor_tail_bytes)(uint32_t type) = nullptr;
  // (optional; required where tensor_tail_bytes is non-zero) As decode_row for a row of a type with a tail; `tail`
  // points at the tensor's tail. Both pointers are borrowed for the call.
  void (*decode_row_with_tail)(uint32_t type, const void* source, const void* tail, float* destination,
                               int64_t n) = nullptr;
};

inline bool is_plain_float_type(uint32_t type) {
  return type == SY_TYPE_F32 || type == SY_TYPE_F16 || type == SY_TYPE_BF16;
}

inline uint64_t plain_type_size(uint32_t type) {
  switch (type) {
    case SY_TYPE_F32: return 4;
    case SY_TYPE_F16: return 2;
    case SY_TYPE_BF16: return 2;
    case SY_TYPE_I32: return 4;
    default: return 0;
  }
}

// Bytes of a row of `n` elements; 0 when `type` is neither plain nor known to `decoder`.
inline uint64_t row_bytes(uint32_t type, int64_t n, const RowDecoder& decoder) {
  if (n < 0) return 0;
  if (const uint64_t size = plain_type_size(type)) return size * static_cast<uint64_t>(n);
  if (type < 64 && (decoder.quantized_types & SY_TYPE_BIT(type)) && decoder.row_bytes) return decoder.row_bytes(type, n);
  return 0;
}

// Bytes after a whole tensor's rows that belong to it (I2_S's scale tail); 0 for every other type.
inline uint64_t tensor_tail_bytes(uint32_t type, const RowDecoder& decoder) {
  if (type >= 64 || !(decoder.quantized_types & SY_TYPE_BIT(type)) || !decoder.tensor_tail_bytes) return 0;
  return decoder.tensor_tail_bytes(type);
}

// Bytes of a whole tensor of `n_rows` rows of `n` elements, tail included; 0 when row_bytes is.
inline uint64_t tensor_bytes(uint32_t type, int64_t n_rows, int64_t n, const RowDecoder& decoder) {
  const uint64_t row = row_bytes(type, n, decoder);
  return row ? row * static_cast<uint64_t>(n_rows) + tensor_tail_bytes(type, decoder) : 0;
}

// Types a weight (MATMUL, GET_ROWS, CONVERT source) may have with this decoder.
inline uint64_t weight_types(const RowDecoder& decoder) {
  return SY_TYPE_BIT(SY_TYPE_F32) | SY_TYPE_BIT(SY_TYPE_F16) | SY_TYPE_BIT(SY_TYPE_BF16) | decoder.quantized_types;
}

inline void decode_row(uint32_t type, const void* source, float* destination, int64_t n, const RowDecoder& decoder) {
  switch (type) {
    case SY_TYPE_F32: std::memcpy(destination, source, static_cast<size_t>(n) * sizeof(float)); return;
    case SY_TYPE_F16: {
      const auto* s = static_cast<const uint16_t*>(source);
      for (int64_t i = 0; i < n; ++i) destination[i] = fp16_to_fp32(s[i]);
      return;
    }
    case SY_TYPE_BF16: {
      const auto* s = static_cast<const uint16_t*>(source);
      for (int64_t i = 0; i < n; ++i) destination[i] = bf16_to_fp32(s[i]);
      return;
    }
    default: decoder.decode_row(type, source, destination, n);
  }
}

// Row `row` of a whole tensor of `n_rows` rows of `n` elements at `tensor`: decode_row, with the tensor's tail
// where its type has one.
inline void decode_tensor_row(uint32_t type, const void* tensor, int64_t row, int64_t n_rows, int64_t n,
                              float* destination, const RowDecoder& decoder) {
  const uint64_t bytes = row_bytes(type, n, decoder);
  const auto* base = static_cast<const uint8_t*>(tensor);
  const uint8_t* source = base + static_cast<uint64_t>(row) * bytes;
  if (tensor_tail_bytes(type, decoder))
    decoder.decode_row_with_tail(type, source, base + static_cast<uint64_t>(n_rows) * bytes, destination, n);
  else
    decode_row(type, source, destination, n, decoder);
}

inline void encode_row(uint32_t type, const float* source, void* destination, int64_t n) {
  switch (type) {
    case SY_TYPE_F32: std::memcpy(destination, source, static_cast<size_t>(n) * sizeof(float)); return;
    case SY_TYPE_F16: {
      auto* d = static_cast<uint16_t*>(destination);
      for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(source[i]);
      return;
    }
    case SY_TYPE_BF16: {
      auto* d = static_cast<uint16_t*>(destination);
      for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_bf16(source[i]);
      return;
    }
    default: throw std::invalid_argument("cannot encode into type id " + std::to_string(type));
  }
}

inline const char* op_kind_name(uint32_t kind) {
  switch (kind) {
    case SY_OP_GET_ROWS: return "get_rows";
    case SY_OP_MATMUL: return "matmul";
    case SY_OP_RMS_NORM: return "rms_norm";
    case SY_OP_MUL: return "mul";
    case SY_OP_ADD: return "add";
    case SY_OP_ROPE: return "rope";
    case SY_OP_ATTENTION: return "attention";
    case SY_OP_SWIGLU: return "swiglu";
    case SY_OP_KV_WRITE: return "kv_write";
    case SY_OP_CONVERT: return "convert";
    case SY_OP_ROPE_NEOX: return "rope_neox";
    case SY_OP_SQUARED_RELU_GLU: return "squared_relu_glu";
    default: return "unknown";
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Validation: what every implementation must refuse before touching memory.
// ----------------------------------------------------------------------------------------------------------------

// One tensor an op reads or writes: its reference and how many bytes of it the op touches.
struct TensorUse {
  const sy_tensor_ref* ref;
  uint64_t bytes;
  const char* role;
  bool optional;  // a NULL buffer means "absent" (RMS_NORM's weight)
};

// Lists the tensors of `op` with their byte extents. Returns an empty message when the op is well-formed for the
// types and shapes it names (buffers are not looked at), else one sentence saying what is wrong.
inline std::string describe_op_tensors(const sy_op& op, const RowDecoder& decoder, std::vector<TensorUse>& uses) {
  uses.clear();
  const auto f32 = [](int64_t n) { return static_cast<uint64_t>(n) * 4; };
  const auto positive = [](std::initializer_list<int64_t> values) {
    return std::all_of(values.begin(), values.end(), [](int64_t v) { return v > 0; });
  };
  const auto expect_type = [&](const sy_tensor_ref& ref, uint32_t type, const char* role) -> std::string {
    if (ref.type == type) return {};
    return std::string(op_kind_name(op.kind)) + ": " + role + " has type id " + std::to_string(ref.type) +
           ", expected " + std::to_string(type);
  };
  const auto kv_type_ok = [](uint32_t type) { return type == SY_TYPE_F32 || type == SY_TYPE_F16; };
  std::string error;
  const bool step_values = (op.flags & SY_OP_FLAG_STEP_VALUES) != 0;
  const bool rope_scaling = (op.flags & SY_OP_FLAG_ROPE_SCALING) != 0;
  if (op.flags & ~(SY_OP_FLAG_STEP_VALUES | SY_OP_FLAG_ROPE_SCALING))
    return std::string(op_kind_name(op.kind)) + ": unknown flags 0x" + std::to_string(op.flags);
  if (rope_scaling && op.kind != SY_OP_ROPE && op.kind != SY_OP_ROPE_NEOX)
    return std::string(op_kind_name(op.kind)) + ": SY_OP_FLAG_ROPE_SCALING applies to rope and rope_neox only";
  if (step_values) {
    if (op.kind != SY_OP_KV_WRITE && op.kind != SY_OP_ATTENTION)
      return std::string(op_kind_name(op.kind)) + ": SY_OP_FLAG_STEP_VALUES applies to kv_write and attention only";
    if (!(error = expect_type(op.src[3], SY_TYPE_I64, "step values")).empty()) return error;
  }
  switch (op.kind) {
    case SY_OP_GET_ROWS: {
      const auto& p = op.params.get_rows;
      if (!positive({p.n_table_rows, p.n_cols, p.n_ids})) return "get_rows: sizes must be positive";
      const uint64_t table_row = row_bytes(op.src[0].type, p.n_cols, decoder);
      if (!table_row || !(weight_types(decoder) & SY_TYPE_BIT(op.src[0].type & 63)) || op.src[0].type >= 64)
        return "get_rows: table type id " + std::to_string(op.src[0].type) + " is not supported with n_cols " +
               std::to_string(p.n_cols);
      if (!(error = expect_type(op.src[1], SY_TYPE_I32, "ids")).empty()) return error;
      if (!(error = expect_type(op.dst, SY_TYPE_F32, "dst")).empty()) return error;
      uses = {{&op.src[0], tensor_bytes(op.src[0].type, p.n_table_rows, p.n_cols, decoder), "table", false},
              {&op.src[1], static_cast<uint64_t>(p.n_ids) * 4, "ids", false},
              {&op.dst, f32(p.n_ids * p.n_cols), "dst", false}};
      return {};
    }
    case SY_OP_MATMUL: {
      const auto& p = op.params.matmul;
      if (!positive({p.n_out, p.n_in, p.n_tokens})) return "matmul: sizes must be positive";
      const uint64_t weight_row = row_bytes(op.src[0].type, p.n_in, decoder);
      if (!weight_row || op.src[0].type >= 64 || !(weight_types(decoder) & SY_TYPE_BIT(op.src[0].type)))
        return "matmul: weight type id " + std::to_string(op.src[0].type) + " is not supported with n_in " +
               std::to_string(p.n_in);
      if (!(error = expect_type(op.src[1], SY_TYPE_F32, "x")).empty()) return error;
      if (!(error = expect_type(op.dst, SY_TYPE_F32, "dst")).empty()) return error;
      uses = {{&op.src[0], tensor_bytes(op.src[0].type, p.n_out, p.n_in, decoder), "weight", false},
              {&op.src[1], f32(p.n_tokens * p.n_in), "x", false},
              {&op.dst, f32(p.n_tokens * p.n_out), "dst", false}};
      return {};
    }
    case SY_OP_RMS_NORM: {
      const auto& p = op.params.rms_norm;
      if (!positive({p.n_rows, p.n_cols})) return "rms_norm: sizes must be positive";
      if (!(p.eps >= 0.0f)) return "rms_norm: eps must be >= 0";
      for (const auto* ref : {&op.src[0], &op.src[1], &op.dst})
        if (!(error = expect_type(*ref, SY_TYPE_F32, "tensor")).empty()) return error;
      uses = {{&op.src[0], f32(p.n_rows * p.n_cols), "x", false},
              {&op.src[1], f32(p.n_cols), "weight", true},
              {&op.dst, f32(p.n_rows * p.n_cols), "dst", false}};
      return {};
    }
    case SY_OP_MUL:
    case SY_OP_ADD: {
      const auto& p = op.params.binary;
      if (!positive({p.n_rows, p.n_cols, p.b_rows})) return std::string(op_kind_name(op.kind)) + ": sizes must be positive";
      if (p.n_rows % p.b_rows != 0)
        return std::string(op_kind_name(op.kind)) + ": n_rows " + std::to_string(p.n_rows) +
               " is not a multiple of b_rows " + std::to_string(p.b_rows);
      for (const auto* ref : {&op.src[0], &op.src[1], &op.dst})
        if (!(error = expect_type(*ref, SY_TYPE_F32, "tensor")).empty()) return error;
      uses = {{&op.src[0], f32(p.n_rows * p.n_cols), "a", false},
              {&op.src[1], f32(p.b_rows * p.n_cols), "b", false},
              {&op.dst, f32(p.n_rows * p.n_cols), "dst", false}};
      return {};
    }
    case SY_OP_ROPE:
    case SY_OP_ROPE_NEOX: {
      const auto& p = op.params.rope;
      if (!positive({p.n_tokens, p.n_heads, p.head_dim, p.n_rot})) return "rope: sizes must be positive";
      if (p.n_rot > p.head_dim || p.n_rot % 2 != 0) return "rope: n_rot must be even and <= head_dim";
      if (!(p.freq_base > 0.0f) || !std::isfinite(p.freq_base)) return "rope: freq_base must be finite and > 0";
      if (!(p.freq_scale > 0.0f) || !std::isfinite(p.freq_scale)) return "rope: freq_scale must be finite and > 0";
      if (rope_scaling) {
        if (p.n_ctx_orig <= 0) return "rope: n_ctx_orig must be positive";
        for (const float v : {p.ext_factor, p.attn_factor, p.beta_fast, p.beta_slow})
          if (!std::isfinite(v)) return "rope: ext_factor, attn_factor, beta_fast and beta_slow must be finite";
        if (!(p.beta_fast > 0.0f) || !(p.beta_slow > 0.0f)) return "rope: beta_fast and beta_slow must be > 0";
        if (op.src[2].buffer && !(error = expect_type(op.src[2], SY_TYPE_F32, "freq factors")).empty()) return error;
      }
      if (!(error = expect_type(op.src[0], SY_TYPE_F32, "x")).empty()) return error;
      if (!(error = expect_type(op.src[1], SY_TYPE_I32, "positions")).empty()) return error;
      if (!(error = expect_type(op.dst, SY_TYPE_F32, "dst")).empty()) return error;
      const int64_t n = p.n_tokens * p.n_heads * p.head_dim;
      uses = {{&op.src[0], f32(n), "x", false},
              {&op.src[1], static_cast<uint64_t>(p.n_tokens) * 4, "positions", false},
              {&op.dst, f32(n), "dst", false}};
      if (rope_scaling) uses.push_back({&op.src[2], f32(p.n_rot / 2), "freq factors", true});
      return {};
    }
    case SY_OP_ATTENTION: {
      const auto& p = op.params.attention;
      if (!positive({p.n_tokens, p.n_heads, p.n_kv_heads, p.head_dim, p.n_kv, p.kv_capacity}))
        return "attention: sizes must be positive";
      if (p.n_heads % p.n_kv_heads != 0) return "attention: n_heads must be a multiple of n_kv_heads";
      if (!step_values && (p.n_tokens > p.n_kv || p.n_kv > p.kv_capacity))
        return "attention: need n_tokens <= n_kv <= kv_capacity";
      if (p.n_tokens > p.kv_capacity) return "attention: need n_tokens <= kv_capacity";
      if (!(error = expect_type(op.src[0], SY_TYPE_F32, "q")).empty()) return error;
      if (!kv_type_ok(op.src[1].type) || !kv_type_ok(op.src[2].type)) return "attention: KV cache must be F32 or F16";
      if (!(error = expect_type(op.dst, SY_TYPE_F32, "dst")).empty()) return error;
      const int64_t q_n = p.n_tokens * p.n_heads * p.head_dim;
      const int64_t cache_n = p.kv_capacity * p.n_kv_heads * p.head_dim;
      uses = {{&op.src[0], f32(q_n), "q", false},
              {&op.src[1], row_bytes(op.src[1].type, cache_n, decoder), "k_cache", false},
              {&op.src[2], row_bytes(op.src[2].type, cache_n, decoder), "v_cache", false},
              {&op.dst, f32(q_n), "dst", false}};
      if (step_values) uses.push_back({&op.src[3], sizeof(sy_step_values), "step values", false});
      return {};
    }
    case SY_OP_SWIGLU:
    case SY_OP_SQUARED_RELU_GLU: {
      const auto& p = op.params.swiglu;
      if (!positive({p.n_rows, p.n_cols})) return std::string(op_kind_name(op.kind)) + ": sizes must be positive";
      for (const auto* ref : {&op.src[0], &op.src[1], &op.dst})
        if (!(error = expect_type(*ref, SY_TYPE_F32, "tensor")).empty()) return error;
      const int64_t n = p.n_rows * p.n_cols;
      uses = {{&op.src[0], f32(n), "gate", false}, {&op.src[1], f32(n), "up", false}, {&op.dst, f32(n), "dst", false}};
      return {};
    }
    case SY_OP_KV_WRITE: {
      const auto& p = op.params.kv_write;
      if (!positive({p.n_tokens, p.row_size, p.kv_capacity}) || (!step_values && p.first_position < 0))
        return "kv_write: sizes must be positive and first_position >= 0";
      if ((step_values ? 0 : p.first_position) + p.n_tokens > p.kv_capacity)
        return "kv_write: first_position + n_tokens exceeds kv_capacity " + std::to_string(p.kv_capacity);
      if (!(error = expect_type(op.src[0], SY_TYPE_F32, "x")).empty()) return error;
      if (!kv_type_ok(op.dst.type)) return "kv_write: cache must be F32 or F16";
      uses = {{&op.src[0], f32(p.n_tokens * p.row_size), "x", false},
              {&op.dst, row_bytes(op.dst.type, p.kv_capacity * p.row_size, decoder), "cache", false}};
      if (step_values) uses.push_back({&op.src[3], sizeof(sy_step_values), "step values", false});
      return {};
    }
    case SY_OP_CONVERT: {
      const auto& p = op.params.convert;
      if (!positive({p.n})) return "convert: n must be positive";
      const uint64_t source_bytes = row_bytes(op.src[0].type, p.n, decoder);
      if (!source_bytes || op.src[0].type == SY_TYPE_I32)
        return "convert: source type id " + std::to_string(op.src[0].type) + " is not supported with n " +
               std::to_string(p.n);
      if (!is_plain_float_type(op.dst.type)) return "convert: destination must be F32, F16 or BF16";
      uses = {{&op.src[0], tensor_bytes(op.src[0].type, 1, p.n, decoder), "source", false},
              {&op.dst, row_bytes(op.dst.type, p.n, decoder), "dst", false}};
      return {};
    }
    default: return "unknown op kind " + std::to_string(op.kind);
  }
}

// Full check of an op about to run: shapes and types, then every named buffer holds the bytes the op touches.
inline std::string check_op(const sy_op& op, const RowDecoder& decoder) {
  thread_local std::vector<TensorUse> uses;  // its capacity is kept: checking an op allocates nothing
  if (std::string error = describe_op_tensors(op, decoder, uses); !error.empty()) return error;
  for (const auto& use : uses) {
    if (!use.ref->buffer) {
      if (use.optional) continue;
      return std::string(op_kind_name(op.kind)) + ": " + use.role + " has no buffer";
    }
    if (use.ref->offset > use.ref->buffer->size || use.bytes > use.ref->buffer->size - use.ref->offset)
      return std::string(op_kind_name(op.kind)) + ": " + use.role + " needs " + std::to_string(use.bytes) +
             " bytes at offset " + std::to_string(use.ref->offset) + " but its buffer holds " +
             std::to_string(use.ref->buffer->size);
  }
  return {};
}

// ----------------------------------------------------------------------------------------------------------------
// The ops. `Address` maps a sy_tensor_ref to a host pointer (the caller knows where its buffers live).
// Each op assumes check_op passed.
// ----------------------------------------------------------------------------------------------------------------

inline void reference_get_rows(const sy_op& op, const void* table, const int32_t* ids, float* dst,
                               const RowDecoder& decoder) {
  const auto& p = op.params.get_rows;
  for (int64_t i = 0; i < p.n_ids; ++i) {
    const int64_t row = ids[i];
    if (row < 0 || row >= p.n_table_rows)
      throw std::out_of_range("get_rows: id " + std::to_string(row) + " at index " + std::to_string(i) +
                              " is outside the table of " + std::to_string(p.n_table_rows) + " rows");
    decode_tensor_row(op.src[0].type, table, row, p.n_table_rows, p.n_cols, dst + i * p.n_cols, decoder);
  }
}

inline void reference_matmul(const sy_op& op, const void* weight, const float* x, float* dst, const RowDecoder& decoder) {
  const auto& p = op.params.matmul;
  std::vector<float> row(static_cast<size_t>(p.n_in));
  for (int64_t o = 0; o < p.n_out; ++o) {
    decode_tensor_row(op.src[0].type, weight, o, p.n_out, p.n_in, row.data(), decoder);
    for (int64_t t = 0; t < p.n_tokens; ++t) {
      double sum = 0;
      const float* xt = x + t * p.n_in;
      for (int64_t i = 0; i < p.n_in; ++i) sum += static_cast<double>(row[static_cast<size_t>(i)]) * xt[i];
      dst[t * p.n_out + o] = static_cast<float>(sum);
    }
  }
}

inline void reference_rms_norm(const sy_op& op, const float* x, const float* weight, float* dst) {
  const auto& p = op.params.rms_norm;
  for (int64_t r = 0; r < p.n_rows; ++r) {
    const float* xr = x + r * p.n_cols;
    const float scale = rms_norm_scale(xr, p.n_cols, p.eps);
    float* out = dst + r * p.n_cols;
    for (int64_t c = 0; c < p.n_cols; ++c) out[c] = xr[c] * scale * (weight ? weight[c] : 1.0f);
  }
}

inline void reference_binary(const sy_op& op, const float* a, const float* b, float* dst) {
  const auto& p = op.params.binary;
  const bool multiply = op.kind == SY_OP_MUL;
  for (int64_t r = 0; r < p.n_rows; ++r) {
    const float* ar = a + r * p.n_cols;
    const float* br = b + (r % p.b_rows) * p.n_cols;
    float* out = dst + r * p.n_cols;
    for (int64_t c = 0; c < p.n_cols; ++c) out[c] = multiply ? ar[c] * br[c] : ar[c] + br[c];
  }
}

// The scaling a rope op asks for (SY_OP_FLAG_ROPE_SCALING), or its plain form (freq_scale only) without the flag.
// `freq_factors` is the op's src[2] as a host pointer, nullptr for none.
inline RopeScaling rope_scaling_of(const sy_op& op, const float* freq_factors) {
  const auto& p = op.params.rope;
  if (!(op.flags & SY_OP_FLAG_ROPE_SCALING)) {
    RopeScaling plain;
    plain.freq_scale = p.freq_scale;
    return plain;
  }
  return rope_scaling_of(p.n_rot, p.freq_base, p.freq_scale, p.n_ctx_orig, p.ext_factor, p.attn_factor, p.beta_fast,
                         p.beta_slow, freq_factors);
}

inline void reference_rope(const sy_op& op, const float* x, const int32_t* positions, const float* freq_factors,
                           float* dst) {
  const auto& p = op.params.rope;
  const bool neox = op.kind == SY_OP_ROPE_NEOX;
  const bool scaled = (op.flags & SY_OP_FLAG_ROPE_SCALING) != 0;
  const RopeScaling scaling = rope_scaling_of(op, freq_factors);
  thread_local std::vector<float> cos_theta, sin_theta;  // reused: a rope allocates nothing once they are wide enough
  cos_theta.resize(static_cast<size_t>(p.n_rot / 2));
  sin_theta.resize(cos_theta.size());
  for (int64_t t = 0; t < p.n_tokens; ++t) {
    if (scaled) rope_scaled_cos_sin_all(positions[t], p.freq_base, p.n_rot, scaling, cos_theta.data(), sin_theta.data());
    else rope_cos_sin_all(positions[t], p.freq_base, p.freq_scale, p.n_rot, cos_theta.data(), sin_theta.data());
    for (int64_t h = 0; h < p.n_heads; ++h) {
      const float* in = x + (t * p.n_heads + h) * p.head_dim;
      float* out = dst + (t * p.n_heads + h) * p.head_dim;
      for (int64_t d = p.n_rot; d < p.head_dim; ++d) out[d] = in[d];
      for (int64_t k = 0; k < p.n_rot / 2; ++k) {
        int64_t first = 0, second = 0;
        rope_pair(neox, k, p.n_rot, first, second);
        const float x0 = in[first], x1 = in[second], c = cos_theta[static_cast<size_t>(k)], s = sin_theta[static_cast<size_t>(k)];
        rope_rotate(x0, x1, c, s, out[first], out[second]);
      }
    }
  }
}

// `batch`: whether these queries are part of a batch of several (the reference sums V differently for one query
// alone, op_math.h); a caller that splits a batch into single queries passes the batch's answer.
inline void reference_attention(const sy_op& op, const float* q, const void* k_cache, const void* v_cache, float* dst,
                                const RowDecoder& decoder, bool batch) {
  const auto& p = op.params.attention;
  const int64_t group = p.n_heads / p.n_kv_heads;
  // Per thread and reused: attention allocates nothing once they have grown to the longest context seen.
  thread_local std::vector<float> key, value;
  thread_local std::vector<double> scores, accumulator;
  thread_local std::vector<float> weights;
  key.resize(static_cast<size_t>(p.head_dim));
  value.resize(static_cast<size_t>(p.head_dim));
  if (scores.size() < static_cast<size_t>(p.kv_capacity)) scores.resize(static_cast<size_t>(p.kv_capacity));
  if (weights.size() < static_cast<size_t>(p.kv_capacity)) weights.resize(static_cast<size_t>(p.kv_capacity));
  accumulator.resize(static_cast<size_t>(p.head_dim));
  const uint64_t kv_row = row_bytes(op.src[1].type, p.head_dim, decoder);
  const uint64_t v_row = row_bytes(op.src[2].type, p.head_dim, decoder);
  if (op.src[1].type == SY_TYPE_F32 && op.src[2].type == SY_TYPE_F32) {
    // Float caches: the reference's own order and precision (op_math.h), so that the output rounds to 8 bits as
    // its does where a quantized matmul follows.
    const auto* keys = static_cast<const float*>(k_cache);
    const auto* values = static_cast<const float*>(v_cache);
    for (int64_t t = 0; t < p.n_tokens; ++t) {
      const int64_t last = p.n_kv - p.n_tokens + t;
      for (int64_t h = 0; h < p.n_heads; ++h) {
        const int64_t kv_head = h / group;
        const auto key_row = [&](int64_t j) { return keys + (j * p.n_kv_heads + kv_head) * p.head_dim; };
        const auto value_row = [&](int64_t j) { return values + (j * p.n_kv_heads + kv_head) * p.head_dim; };
        attention_row_reference(q + (t * p.n_heads + h) * p.head_dim, p.head_dim, last + 1, p.scale, batch, key_row,
                                value_row, weights.data(), dst + (t * p.n_heads + h) * p.head_dim);
      }
    }
    return;
  }
  for (int64_t t = 0; t < p.n_tokens; ++t) {
    const int64_t last = p.n_kv - p.n_tokens + t;  // causal: this token's own position
    for (int64_t h = 0; h < p.n_heads; ++h) {
      const int64_t kv_head = h / group;
      const float* qh = q + (t * p.n_heads + h) * p.head_dim;
      double max_score = -INFINITY;
      for (int64_t j = 0; j <= last; ++j) {
        decode_row(op.src[1].type,
                   static_cast<const uint8_t*>(k_cache) + static_cast<uint64_t>(j * p.n_kv_heads + kv_head) * kv_row,
                   key.data(), p.head_dim, decoder);
        double dot = 0;
        for (int64_t d = 0; d < p.head_dim; ++d) dot += static_cast<double>(qh[d]) * key[static_cast<size_t>(d)];
        scores[static_cast<size_t>(j)] = dot * p.scale;
        max_score = std::max(max_score, scores[static_cast<size_t>(j)]);
      }
      double total = 0;
      std::fill(accumulator.begin(), accumulator.end(), 0.0);
      for (int64_t j = 0; j <= last; ++j) {
        const double weight = std::exp(scores[static_cast<size_t>(j)] - max_score);
        total += weight;
        decode_row(op.src[2].type,
                   static_cast<const uint8_t*>(v_cache) + static_cast<uint64_t>(j * p.n_kv_heads + kv_head) * v_row,
                   value.data(), p.head_dim, decoder);
        for (int64_t d = 0; d < p.head_dim; ++d) accumulator[static_cast<size_t>(d)] += weight * value[static_cast<size_t>(d)];
      }
      float* out = dst + (t * p.n_heads + h) * p.head_dim;
      for (int64_t d = 0; d < p.head_dim; ++d) out[d] = static_cast<float>(accumulator[static_cast<size_t>(d)] / total);
    }
  }
}

inline void reference_swiglu(const sy_op& op, const float* gate, const float* up, float* dst) {
  const auto& p = op.params.swiglu;
  const int64_t n = p.n_rows * p.n_cols;
  const bool squared_relu = op.kind == SY_OP_SQUARED_RELU_GLU;
  for (int64_t i = 0; i < n; ++i)
    dst[i] = squared_relu ? squared_relu_glu_value(gate[i], up[i]) : swiglu_value(gate[i], up[i]);
}

inline void reference_kv_write(const sy_op& op, const float* x, void* cache, const RowDecoder& decoder) {
  const auto& p = op.params.kv_write;
  const uint64_t cache_row = row_bytes(op.dst.type, p.row_size, decoder);
  for (int64_t t = 0; t < p.n_tokens; ++t)
    encode_row(op.dst.type, x + t * p.row_size,
               static_cast<uint8_t*>(cache) + static_cast<uint64_t>(p.first_position + t) * cache_row, p.row_size);
}

inline void reference_convert(const sy_op& op, const void* source, void* dst, const RowDecoder& decoder) {
  const auto& p = op.params.convert;
  std::vector<float> values(static_cast<size_t>(p.n));
  decode_tensor_row(op.src[0].type, source, 0, 1, p.n, values.data(), decoder);  // the source is one whole tensor
  encode_row(op.dst.type, values.data(), dst, p.n);
}

// An op with SY_OP_FLAG_STEP_VALUES made into the same op without it: the block's value written into its params.
// Returns an empty message, or why the values break the op's rules (then `op` is unchanged); an op without the
// flag is left as it is. For plugins that read the block on the host (it must be host memory at `values`).
inline std::string apply_step_values(sy_op& op, const sy_step_values& values) {
  if (!(op.flags & SY_OP_FLAG_STEP_VALUES)) return {};
  if (op.kind == SY_OP_KV_WRITE) {
    const auto& p = op.params.kv_write;
    if (values.first_position < 0 || values.first_position > p.kv_capacity - p.n_tokens)
      return "kv_write: step value first_position " + std::to_string(values.first_position) + " with " +
             std::to_string(p.n_tokens) + " tokens does not fit kv_capacity " + std::to_string(p.kv_capacity);
    op.params.kv_write.first_position = values.first_position;
  } else {
    const auto& p = op.params.attention;
    if (values.n_kv < p.n_tokens || values.n_kv > p.kv_capacity)
      return "attention: step value n_kv " + std::to_string(values.n_kv) + " is outside n_tokens " +
             std::to_string(p.n_tokens) + " .. kv_capacity " + std::to_string(p.kv_capacity);
    op.params.attention.n_kv = values.n_kv;
  }
  op.flags &= ~SY_OP_FLAG_STEP_VALUES;
  op.src[3] = sy_tensor_ref{};
  return {};
}

// Runs one op (already validated with check_op) on host memory. `address(ref)` returns the host pointer of a
// tensor reference, or nullptr for an absent optional tensor.
template <class Address>
void reference_execute(const sy_op& given, Address&& address, const RowDecoder& decoder) {
  sy_op op = given;
  if (op.flags & SY_OP_FLAG_STEP_VALUES) {
    sy_step_values values;
    std::memcpy(&values, address(op.src[3]), sizeof values);
    if (std::string error = apply_step_values(op, values); !error.empty()) throw std::out_of_range(error);
  }
  const auto in = [&](int i) { return static_cast<const void*>(address(op.src[i])); };
  const auto in_f32 = [&](int i) { return static_cast<const float*>(address(op.src[i])); };
  const auto in_i32 = [&](int i) { return static_cast<const int32_t*>(address(op.src[i])); };
  void* out = address(op.dst);
  auto* out_f32 = static_cast<float*>(out);
  switch (op.kind) {
    case SY_OP_GET_ROWS: reference_get_rows(op, in(0), in_i32(1), out_f32, decoder); return;
    case SY_OP_MATMUL: reference_matmul(op, in(0), in_f32(1), out_f32, decoder); return;
    case SY_OP_RMS_NORM: reference_rms_norm(op, in_f32(0), in_f32(1), out_f32); return;
    case SY_OP_MUL:
    case SY_OP_ADD: reference_binary(op, in_f32(0), in_f32(1), out_f32); return;
    case SY_OP_ROPE:
    case SY_OP_ROPE_NEOX:
      reference_rope(op, in_f32(0), in_i32(1), op.flags & SY_OP_FLAG_ROPE_SCALING ? in_f32(2) : nullptr, out_f32);
      return;
    case SY_OP_ATTENTION:
      reference_attention(op, in_f32(0), in(1), in(2), out_f32, decoder, op.params.attention.n_tokens > 1);
      return;
    case SY_OP_SWIGLU:
    case SY_OP_SQUARED_RELU_GLU: reference_swiglu(op, in_f32(0), in_f32(1), out_f32); return;
    case SY_OP_KV_WRITE: reference_kv_write(op, in_f32(0), out, decoder); return;
    case SY_OP_CONVERT: reference_convert(op, in(0), out, decoder); return;
    default: throw std::invalid_argument(std::string("unknown op kind ") + std::to_string(op.kind));
  }
}

}  // namespace sy::kernels
