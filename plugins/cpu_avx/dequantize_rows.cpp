// Dispatch of row decoding (dequantize_rows.h): one table of the vectorised decoders per type and level, the layout
// offsets dequant_simd.h hands to the ISA units checked against core/quant/blocks.h, and core/quant's reference for
// the scalar level and every type without a decoder. Compiled without -m flags: it runs on every x86-64.
#include "plugins/cpu_avx/dequantize_rows.h"

#include <cstddef>

#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"
#include "plugins/cpu_avx/dequant_simd.h"

namespace sy::cpu {

namespace dequant_simd {

// The offsets dequant_simd.h hands to the ISA units are the GGUF layouts of core/quant/blocks.h.
static_assert(sizeof(quant::BlockQ4_0) == kQ4_0Bytes && offsetof(quant::BlockQ4_0, qs) == kQ4_0Quants);
static_assert(sizeof(quant::BlockQ4_1) == kQ4_1Bytes && offsetof(quant::BlockQ4_1, m) == kQ4_1Min &&
              offsetof(quant::BlockQ4_1, qs) == kQ4_1Quants);
static_assert(sizeof(quant::BlockQ5_0) == kQ5_0Bytes && offsetof(quant::BlockQ5_0, qh) == kQ5_0High &&
              offsetof(quant::BlockQ5_0, qs) == kQ5_0Quants);
static_assert(sizeof(quant::BlockQ5_1) == kQ5_1Bytes && offsetof(quant::BlockQ5_1, m) == kQ5_1Min &&
              offsetof(quant::BlockQ5_1, qh) == kQ5_1High && offsetof(quant::BlockQ5_1, qs) == kQ5_1Quants);
static_assert(sizeof(quant::BlockQ8_0) == kQ8_0Bytes && offsetof(quant::BlockQ8_0, qs) == kQ8_0Quants);
static_assert(sizeof(quant::BlockQ4_K) == kQ4_KBytes && offsetof(quant::BlockQ4_K, dmin) == kQ4_KDmin &&
              offsetof(quant::BlockQ4_K, scales) == kQ4_KScales && offsetof(quant::BlockQ4_K, qs) == kQ4_KQuants);
static_assert(sizeof(quant::BlockQ6_K) == kQ6_KBytes && offsetof(quant::BlockQ6_K, qh) == kQ6_KHigh &&
              offsetof(quant::BlockQ6_K, scales) == kQ6_KScales && offsetof(quant::BlockQ6_K, d) == kQ6_KD);
static_assert(sizeof(quant::BlockTQ2_0) == kTQ2_0Bytes && offsetof(quant::BlockTQ2_0, d) == kTQ2_0D);
static_assert(sizeof(quant::BlockIQ4_NL) == kIQ4_NLBytes && offsetof(quant::BlockIQ4_NL, qs) == kIQ4_NLQuants);

}  // namespace dequant_simd

namespace {

using gguf::TensorType;

struct SimdDecoder {
  TensorType type;
  dequant_simd::Decode avx2;
  dequant_simd::Decode avx512;
};

// Types not listed decode with core/quant at every level (see dequantize_rows.h for the list).
constexpr SimdDecoder kSimdDecoders[] = {
    {TensorType::F16, dequant_simd::f16_avx2, dequant_simd::f16_avx512},
    {TensorType::BF16, dequant_simd::bf16_avx2, dequant_simd::bf16_avx512},
    {TensorType::Q4_0, dequant_simd::q4_0_avx2, dequant_simd::q4_0_avx512},
    {TensorType::Q4_1, dequant_simd::q4_1_avx2, dequant_simd::q4_1_avx512},
    {TensorType::Q5_0, dequant_simd::q5_0_avx2, dequant_simd::q5_0_avx512},
    {TensorType::Q5_1, dequant_simd::q5_1_avx2, dequant_simd::q5_1_avx512},
    {TensorType::Q8_0, dequant_simd::q8_0_avx2, dequant_simd::q8_0_avx512},
    {TensorType::IQ4_NL, dequant_simd::iq4_nl_avx2, dequant_simd::iq4_nl_avx512},
    {TensorType::Q4_K, dequant_simd::q4_k_avx2, dequant_simd::q4_k_avx512},
    {TensorType::Q6_K, dequant_simd::q6_k_avx2, dequant_simd::q6_k_avx512},
    {TensorType::TQ2_0, dequant_simd::tq2_0_avx2, dequant_simd::tq2_0_avx512},
};

dequant_simd::Decode simd_decoder(IsaLevel level, TensorType type) {
  if (level == IsaLevel::scalar) return nullptr;
  for (const SimdDecoder& decoder : kSimdDecoders)
    if (decoder.type == type) return level == IsaLevel::avx512 ? decoder.avx512 : decoder.avx2;
  return nullptr;
}

}  // namespace

IsaLevel dequantize_level(IsaLevel level, TensorType type) {
  return simd_decoder(level, type) ? level : IsaLevel::scalar;
}

void dequantize_row(IsaLevel level, TensorType type, const void* src, float* dst, int64_t n) {
  const dequant_simd::Decode decode = simd_decoder(level, type);
  const auto block_size = static_cast<int64_t>(gguf::tensor_type_traits(type).block_size);
  if (!decode || n < 0 || n % block_size != 0) {
    quant::dequantize_row(type, src, dst, n);  // the reference, which also reports a bad `n`
    return;
  }
  decode(static_cast<const uint8_t*>(src), dst, n);
}

}  // namespace sy::cpu
