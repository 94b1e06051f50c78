#include "core/quant/row_decoder.h"

#include "core/gguf/tensor_type.h"
#include "core/quant/dequantize.h"

namespace sy::quant {

namespace {

uint64_t core_row_bytes(uint32_t type, int64_t n) {
  if (!gguf::tensor_type_traits(type) || n < 0) return 0;
  return gguf::row_storage_bytes(static_cast<gguf::TensorType>(type), static_cast<uint64_t>(n)).value_or(0);
}

void core_decode_row(uint32_t type, const void* source, float* destination, int64_t n) {
  dequantize_row(static_cast<gguf::TensorType>(type), source, destination, n);
}

// I2_S's one scale sits in a 32-byte tail after the tensor's codes (shared/formats/I2_S.md).
uint64_t core_tensor_tail_bytes(uint32_t type) {
  if (type != static_cast<uint32_t>(gguf::TensorType::I2_S)) return 0;
  return *gguf::tensor_storage_bytes(gguf::TensorType::I2_S, 0);
}

void core_decode_row_with_tail(uint32_t type, const void* source, const void* tail, float* destination, int64_t n) {
  if (type != static_cast<uint32_t>(gguf::TensorType::I2_S)) return core_decode_row(type, source, destination, n);
  dequantize_i2_s(source, i2_s_scale(tail), destination, n);
}

kernels::RowDecoder make_row_decoder() {
  kernels::RowDecoder decoder;
  decoder.row_bytes = core_row_bytes;
  decoder.decode_row = core_decode_row;
  decoder.tensor_tail_bytes = core_tensor_tail_bytes;
  decoder.decode_row_with_tail = core_decode_row_with_tail;
  for (uint32_t id = 0; id < 64; ++id) {
    const auto traits = gguf::tensor_type_traits(id);
    if (traits && traits->quantized && can_dequantize(traits->type)) decoder.quantized_types |= SY_TYPE_BIT(id);
  }
  return decoder;
}

}  // namespace

const kernels::RowDecoder& row_decoder() {
  static const kernels::RowDecoder decoder = make_row_decoder();
  return decoder;
}

}  // namespace sy::quant
