#include "core/kernels/quant_decoder.h"

#include "core/gguf/tensor_type.h"
#include "core/quant/dequantize.h"

namespace sy::kernels {

namespace {

uint64_t core_row_bytes(uint32_t type, int64_t n) {
  if (!gguf::tensor_type_traits(type) || n < 0) return 0;
  return gguf::row_storage_bytes(static_cast<gguf::TensorType>(type), static_cast<uint64_t>(n)).value_or(0);
}

void core_decode_row(uint32_t type, const void* source, float* destination, int64_t n) {
  quant::dequantize_row(static_cast<gguf::TensorType>(type), source, destination, n);
}

RowDecoder make_core_row_decoder() {
  RowDecoder decoder;
  decoder.row_bytes = core_row_bytes;
  decoder.decode_row = core_decode_row;
  for (uint32_t id = 0; id < 64; ++id) {
    const auto traits = gguf::tensor_type_traits(id);
    if (traits && traits->quantized && quant::can_dequantize_row(traits->type)) decoder.quantized_types |= SY_TYPE_BIT(id);
  }
  return decoder;
}

}  // namespace

const RowDecoder& core_row_decoder() {
  static const RowDecoder decoder = make_core_row_decoder();
  return decoder;
}

}  // namespace sy::kernels
