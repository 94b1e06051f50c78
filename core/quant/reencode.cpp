#include "core/quant/reencode.h"

#include <cstring>
#include <string>

#include "core/common/error.h"
#include "core/quant/blocks.h"

namespace sy::quant {

std::optional<gguf::TensorType> reencoding_of(gguf::TensorType type) {
  if (type == gguf::TensorType::TQ1_0) return gguf::TensorType::TQ2_0;
  return std::nullopt;
}

namespace {

// Every byte's five trits (blocks.h, tq1_0_trit), looked up rather than recomputed: a re-encoding at load time
// then takes a few table reads per output byte.
struct TritTable {
  uint8_t trit[256][5];
  TritTable() {
    for (int p = 0; p < 256; ++p)
      for (int n = 0; n < 5; ++n) trit[p][n] = static_cast<uint8_t>(tq1_0_trit(static_cast<uint8_t>(p), n));
  }
};

// TQ1_0's element order (blocks.h, dequantize_chunk_tq1_0: element 32 n + m is trit n of qs[m], 160 + 16 n + m trit
// n of qs[32 + m], 240 + 4 n + j trit n of qh[j]) written in TQ2_0's (dequantize_chunk_tq2_0: element
// 128 h + 32 n + m is bit pair n of qs[32 h + m]).
void tq1_0_as_tq2_0(const TritTable& table, const BlockTQ1_0& in, BlockTQ2_0& out) {
  const auto& t = table.trit;
  for (int m = 0; m < 32; ++m) {  // elements 0..127: trits 0..3 of qs[0..31]
    const uint8_t* q = t[in.qs[m]];
    out.qs[m] = static_cast<uint8_t>(q[0] | q[1] << 2 | q[2] << 4 | q[3] << 6);
  }
  for (int m = 0; m < 16; ++m) {
    const uint8_t* q = t[in.qs[32 + m]];
    // Elements 128 + m (trit 4 of qs[m]), 160 + m, 192 + m and 224 + m (trits 0, 2 and 4 of qs[32 + m]).
    out.qs[32 + m] = static_cast<uint8_t>(t[in.qs[m]][4] | q[0] << 2 | q[2] << 4 | q[4] << 6);
    // Elements 144 + m (trit 4 of qs[16 + m]), 176 + m, 208 + m (trits 1 and 3 of qs[32 + m]) and 240 + m (trit
    // m / 4 of qh[m % 4]).
    out.qs[48 + m] =
        static_cast<uint8_t>(t[in.qs[16 + m]][4] | q[1] << 2 | q[3] << 4 | t[in.qh[m % 4]][m / 4] << 6);
  }
  out.d = in.d;
}

}  // namespace

void reencode_blocks(gguf::TensorType from, const void* src, uint64_t n_elements, void* dst) {
  if (from != gguf::TensorType::TQ1_0) {
    throw Error(ErrorCode::unsupported,
                "no lossless re-encoding of " + std::string(gguf::to_string(from)) + " (only TQ1_0, as TQ2_0)");
  }
  if (n_elements % kSuperBlockElements != 0) {
    throw Error(ErrorCode::invalid_argument, "re-encoding " + std::to_string(n_elements) +
                                                 " TQ1_0 elements: not a whole number of 256-element blocks");
  }
  const auto* in = static_cast<const std::byte*>(src);
  auto* out = static_cast<std::byte*>(dst);
  static const TritTable table;
  for (uint64_t b = 0; b < n_elements / kSuperBlockElements; ++b) {
    BlockTQ1_0 block;
    BlockTQ2_0 reencoded;
    std::memcpy(&block, in + b * sizeof block, sizeof block);
    tq1_0_as_tq2_0(table, block, reencoded);
    std::memcpy(out + b * sizeof reencoded, &reencoded, sizeof reencoded);
  }
}

}  // namespace sy::quant
