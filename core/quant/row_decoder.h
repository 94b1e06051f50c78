// core/quant's decoder in the form the reference kernels take (kernels::RowDecoder, core/kernels/reference_ops.h),
// so that the reference, the conformance suite and the CPU plugin decode every quantized weight type with the one
// bit-exact decoder here. core/quant sits above core/kernels: it uses the kernels' headers, never the reverse.
#pragma once

#include "core/kernels/reference_ops.h"

namespace sy::quant {

// A RowDecoder for every quantized type core/quant decodes: row by row, and I2_S's rows with the scale in the
// tensor's tail (RowDecoder::decode_row_with_tail).
const kernels::RowDecoder& row_decoder();

}  // namespace sy::quant
