// Connects the reference kernels (reference_ops.h) to the core's quant library, so the reference, the conformance
// suite and the CPU plugin decode every quantized weight type with the one bit-exact decoder in core/quant.
#pragma once

#include "core/kernels/reference_ops.h"

namespace sy::kernels {

// A RowDecoder for every quantized type core/quant decodes: row by row, and I2_S's rows with the scale in the
// tensor's tail (RowDecoder::decode_row_with_tail).
const RowDecoder& core_row_decoder();

}  // namespace sy::kernels
