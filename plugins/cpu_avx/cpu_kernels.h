// The CPU plugin's op execution: the reference kernels (core/kernels) for the math, with the hot loops (matmul,
// RMS norm, row decoding) replaced by the chosen ISA level's SIMD code and spread over oneTBB threads. Native weight
// types (quant_matmul.h) multiply against activations quantized on the fly; the others decode rows into scratch
// through dequantize_rows.h, as GET_ROWS and CONVERT do.
#pragma once

#include <switchyard/plugin.h>

#include <memory>
#include <string>

#include "core/kernels/reference_ops.h"
#include "plugins/cpu_avx/cpu_features.h"
#include "plugins/cpu_avx/quant_matmul.h"

namespace sy::cpu {

class CpuKernels {
 public:
  // `threads` <= 0 means every core oneTBB sees. `decoder` says which quantized types the device takes and decodes
  // them for the reference ops; MATMUL, GET_ROWS and CONVERT decode through dequantize_rows.h, which writes
  // core/quant's bytes, so it must be quant::row_decoder() or decode as it does.
  CpuKernels(IsaLevel level, int threads, const kernels::RowDecoder& decoder);
  ~CpuKernels();

  IsaLevel level() const { return level_; }
  KernelSet kernel_set() const { return kernel_set_; }
  int threads() const;
  uint64_t weight_types() const { return kernels::weight_types(decoder_); }
  const kernels::RowDecoder& decoder() const { return decoder_; }

  // Empty when `op` is well-formed for this device; else one sentence why not (buffers are not looked at).
  std::string check_shapes(const sy_op& op) const;

  // Runs one op whose tensors live in host memory (each sy_buffer's impl is a CpuBufferView, see plugin.cpp);
  // check_op must have passed.
  void run(const sy_op& op) const;

 private:
  void decode_row(uint32_t type, const void* source, float* destination, int64_t n) const;
  void get_rows(const sy_op& op, const uint8_t* table, const int32_t* ids, float* dst) const;
  void convert(const sy_op& op, const uint8_t* source, uint8_t* dst) const;
  void matmul(const sy_op& op, const uint8_t* weight, const float* x, float* dst) const;
  void rms_norm(const sy_op& op, const float* x, const float* weight, float* dst) const;
  void attention(const sy_op& op, const float* q, const void* k, const void* v, float* dst) const;

  IsaLevel level_;
  KernelSet kernel_set_;  // level_ refined by VNNI and AMX for the native products
  kernels::RowDecoder decoder_;
  struct Arena;
  std::unique_ptr<Arena> arena_;
};

// The host bytes of a tensor in a CPU plugin buffer (the plugin's buffers all start with this view).
struct CpuBufferView {
  uint8_t* data;
};
inline void* tensor_address(const sy_tensor_ref& ref) {
  if (!ref.buffer) return nullptr;
  return static_cast<CpuBufferView*>(ref.buffer->impl)->data + ref.offset;
}

}  // namespace sy::cpu
