// Dispatch of the native weight types' products (quant_matmul.h): the scalar level written with core/quant's block
// decoders, the layout offsets the SIMD units use checked against core/quant/blocks.h, activation quantization and
// the oneTBB split over output rows. Compiled without -m flags: it runs on every x86-64.
#include "plugins/cpu_avx/quant_matmul.h"

#include <switchyard/plugin.h>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/gguf/tensor_type.h"
#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"
#include "core/quant/integer_dot.h"
#include "core/quant/quantize.h"
#include "plugins/cpu_avx/simd_kernels.h"

namespace sy::cpu {

namespace simd {

// The offsets simd_kernels.h hands to the ISA units are the GGUF layouts of core/quant/blocks.h.
static_assert(sizeof(quant::BlockQ4_0) == kQ4_0Bytes && offsetof(quant::BlockQ4_0, qs) == kQ4_0Quants);
static_assert(sizeof(quant::BlockQ8_0) == kQ8_0Bytes && offsetof(quant::BlockQ8_0, qs) == kQ8_0Quants);
static_assert(sizeof(quant::BlockQ4_K) == kQ4_KBytes && offsetof(quant::BlockQ4_K, dmin) == kQ4_KDmin &&
              offsetof(quant::BlockQ4_K, scales) == kQ4_KScales && offsetof(quant::BlockQ4_K, qs) == kQ4_KQuants);
static_assert(sizeof(quant::BlockQ6_K) == kQ6_KBytes && offsetof(quant::BlockQ6_K, qh) == kQ6_KHigh &&
              offsetof(quant::BlockQ6_K, scales) == kQ6_KScales && offsetof(quant::BlockQ6_K, d) == kQ6_KD);
static_assert(sizeof(quant::BlockQ8_K) == kQ8_KBytes && offsetof(quant::BlockQ8_K, qs) == kQ8_KQuants &&
              offsetof(quant::BlockQ8_K, bsums) == kQ8_KSums);
static_assert(sizeof(quant::BlockTQ2_0) == kTQ2_0Bytes && offsetof(quant::BlockTQ2_0, d) == kTQ2_0D);
static_assert(sizeof(quant::BlockTQ1_0) == kTQ1_0Bytes && offsetof(quant::BlockTQ1_0, qh) == kTQ1_0High &&
              offsetof(quant::BlockTQ1_0, d) == kTQ1_0D);
static_assert(kI2SBytes * 4 == quant::kI2SBlockElements);

}  // namespace simd

namespace {

using gguf::TensorType;

// ---- Scalar level: core/quant/integer_dot.h, the reference's arithmetic that every level reproduces --------------

template <class WeightBlock, class ActivationBlock, float (*row_dot)(const WeightBlock*, const ActivationBlock*, int64_t),
          int kElements>
float dot_scalar(const void* w_row, const void* a_row, int64_t n) {
  return row_dot(static_cast<const WeightBlock*>(w_row), static_cast<const ActivationBlock*>(a_row), n / kElements);
}

constexpr int kQK = quant::kBlockElements, kQKK = quant::kSuperBlockElements;
constexpr simd::QuantDot dot_q4_0_scalar = dot_scalar<quant::BlockQ4_0, quant::BlockQ8_0, quant::row_dot_q4_0_q8_0, kQK>;
constexpr simd::QuantDot dot_q8_0_scalar = dot_scalar<quant::BlockQ8_0, quant::BlockQ8_0, quant::row_dot_q8_0_q8_0, kQK>;
constexpr simd::QuantDot dot_q4_k_scalar = dot_scalar<quant::BlockQ4_K, quant::BlockQ8_K, quant::row_dot_q4_k_q8_k, kQKK>;
constexpr simd::QuantDot dot_q6_k_scalar = dot_scalar<quant::BlockQ6_K, quant::BlockQ8_K, quant::row_dot_q6_k_q8_k, kQKK>;

constexpr simd::QuantDot dot_tq2_0_scalar =
    dot_scalar<quant::BlockTQ2_0, quant::BlockQ8_K, quant::row_dot_tq2_0_q8_k, kQKK>;

// F16 weights keep float activations: converting x to fp16 would only lose precision, and F16C is as fast.
float dot_f16_scalar(const void* w_row, const void* x_row, int64_t n) {
  const auto* w = static_cast<const uint16_t*>(w_row);
  const auto* x = static_cast<const float*>(x_row);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(quant::fp16_to_fp32(w[i])) * x[i];
  return static_cast<float>(sum);
}
float dot_f16_avx2(const void* w, const void* x, int64_t n) {
  return simd::dot_f16_avx2(static_cast<const uint16_t*>(w), static_cast<const float*>(x), n);
}
float dot_f16_avx512(const void* w, const void* x, int64_t n) {
  return simd::dot_f16_avx512(static_cast<const uint16_t*>(w), static_cast<const float*>(x), n);
}

// ---- Ternary types (I2_S, TQ1_0): the scalar level of simd_kernels.h's "Ternary tiles" -----------------------

void decode_i2_s_unit(const uint8_t* w, int64_t elements, float* values) {
  quant::dequantize_i2_s(w, 1.0f, values, elements);
}
void decode_tq1_0_unit(const uint8_t* w, int64_t, float* values) {
  quant::BlockTQ1_0 block;
  std::memcpy(&block, w, sizeof block);
  block.d = quant::fp32_to_fp16(1.0f);
  quant::dequantize_block_tq1_0(&block, values);
}

// The reference's arithmetic as simd_kernels.h spells it, the weights decoded by core/quant at unit scale (which
// gives the values -1, 0 and +1 exactly): eight integer lanes per block, one std::fma per lane, the reference's
// horizontal order. This unit is compiled without -mfma, so nothing else here is contracted.
template <void (*decode)(const uint8_t* w, int64_t elements, float* values), TensorType kType>
void ternary_tile_scalar(const simd::QuantTileArgs& args, int rows, int tokens) {
  constexpr int64_t kBlockBytes = kType == TensorType::I2_S ? 2 * simd::kI2SBytes : simd::kTQ1_0Bytes;
  constexpr int kLanes = 8;
  const int64_t blocks = (args.n + kQKK - 1) / kQKK;
  float values[kQKK];
  for (int r = 0; r < rows; ++r) {
    float acc[simd::kTileTokens][kLanes] = {};
    for (int64_t b = 0; b < blocks; ++b) {
      const uint8_t* w = args.w + r * args.w_stride + b * kBlockBytes;
      const int64_t elements = std::min<int64_t>(kQKK, args.n - kQKK * b);
      decode(w, elements, values);
      float weight_scale = args.w_scale;
      if constexpr (kType == TensorType::TQ1_0) {
        uint16_t d;
        std::memcpy(&d, w + simd::kTQ1_0D, sizeof d);
        weight_scale = quant::fp16_to_fp32(d);
      }
      for (int t = 0; t < tokens; ++t) {
        const auto* a = reinterpret_cast<const quant::BlockQ8_K*>(args.a + t * args.a_stride) + b;
        int32_t lanes[kLanes] = {};
        for (int64_t e = 0; e < elements; ++e) {
          lanes[(e % 32) / 4] += (static_cast<int32_t>(values[e]) + 1) * a->qs[e];
          lanes[e / 32] -= a->qs[e];
        }
        const float d = a->d * weight_scale;
        for (int lane = 0; lane < kLanes; ++lane)
          acc[t][lane] = std::fma(static_cast<float>(lanes[lane]), d, acc[t][lane]);
      }
    }
    for (int t = 0; t < tokens; ++t) {
      const float* l = acc[t];
      args.out[t * args.out_stride + r] = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
    }
  }
}

// A tile (simd_kernels.h) of one dot product per output, for the kernels without tiles of their own.
template <simd::QuantDot dot>
void tile_of_dots(const simd::QuantTileArgs& args, int rows, int tokens) {
  for (int t = 0; t < tokens; ++t)
    for (int r = 0; r < rows; ++r)
      args.out[t * args.out_stride + r] = dot(args.w + r * args.w_stride, args.a + t * args.a_stride, args.n);
}

enum class Activation { f32, q8_0, q8_k };

constexpr int kSets = 4;

struct NativeType {
  TensorType type;
  Activation activation;
  simd::QuantTile tile[kSets];  // indexed by KernelSet
  // Weight rows per tile, per set: for one token (decode_rows) and for several (matmul_rows); at most
  // simd::kRowTileRows for the row tiles (simd::kWideRowTileRows for the wide ones), simd::kTileRows for the others.
  // Where an output's fused multiply-adds form one chain per row, a token's product is bound by the FMA latency at one
  // row per tile; several rows give independent chains (bench/README.md, "Bit-exact kernels").
  int decode_rows[kSets];
  int matmul_rows[kSets];
};

// The AVX2 row tiles: Q4_K's and Q6_K's at every SIMD level, Q4_0's and Q8_0's at AVX2 (Q8_0's at AVX-512 without
// VNNI too) and for the wide tiles' last rows (their sums are exact integers, so the level's instructions do not
// matter).
constexpr simd::QuantTile kQ4_0Rows = simd::tile_q4_0_q8_0_rows_avx2, kQ8_0Rows = simd::tile_q8_0_q8_0_rows_avx2,
                          kQ4_KRows = simd::tile_q4_k_q8_k_rows_avx2, kQ6_KRows = simd::tile_q6_k_q8_k_rows_avx2;
constexpr int kR = simd::kRowTileRows, kW = simd::kWideRowTileRows;

const NativeType kNativeTypes[] = {
    // Q4_0, Q8_0, Q4_K, Q6_K and TQ2_0 round as the reference does (core/quant/integer_dot.h): every level computes the
    // same exact integer sums and fuses them in the same order, so the levels give the same bits. TQ2_0's lanes are
    // the reference's (in the ternary tiles); the others' row tiles hold eight rows' block sums per vector (AVX2 at
    // every SIMD level; Q4_0 and Q8_0 have sixteen-row ones at the AVX-512 levels; amx adds tiles for their
    // prompts).
    {TensorType::Q4_0, Activation::q8_0,
     {tile_of_dots<dot_q4_0_scalar>, kQ4_0Rows, simd::tile_q4_0_q8_0_rows_avx512, simd::tile_q4_0_q8_0_rows_avx512_vnni},
     {1, kR, kW, kW},
     {1, kR, kW, kW}},
    {TensorType::Q8_0, Activation::q8_0,
     {tile_of_dots<dot_q8_0_scalar>, kQ8_0Rows, kQ8_0Rows, simd::tile_q8_0_q8_0_rows_avx512_vnni},
     {1, kR, kR, kW},
     {1, kR, kR, kW}},
    {TensorType::Q4_K, Activation::q8_k,
     {tile_of_dots<dot_q4_k_scalar>, kQ4_KRows, kQ4_KRows, kQ4_KRows},
     {1, kR, kR, kR},
     {1, kR, kR, kR}},
    {TensorType::Q6_K, Activation::q8_k,
     {tile_of_dots<dot_q6_k_scalar>, kQ6_KRows, kQ6_KRows, kQ6_KRows},
     {1, kR, kR, kR},
     {1, kR, kR, kR}},
    {TensorType::TQ2_0, Activation::q8_k,
     {tile_of_dots<dot_tq2_0_scalar>, simd::tile_tq2_0_q8_k_avx2, simd::tile_tq2_0_q8_k_avx512,
      simd::tile_tq2_0_q8_k_avx512_vnni},
     {1, 1, 1, 1},
     {1, 1, 1, 1}},
    // Ternary types: tiles that do the reference's arithmetic at every level (simd_kernels.h, "Ternary tiles"), so
    // every level gives the same bits. I2_S rows may end in half a Q8_K block: its activations are padded
    // (quantize_activations).
    {TensorType::I2_S, Activation::q8_k,
     {ternary_tile_scalar<decode_i2_s_unit, TensorType::I2_S>, simd::tile_i2_s_q8_k_avx2, simd::tile_i2_s_q8_k_avx512,
      simd::tile_i2_s_q8_k_avx512_vnni},
     {1, 1, 1, 1},
     {1, 1, 1, 1}},
    {TensorType::TQ1_0, Activation::q8_k,
     {ternary_tile_scalar<decode_tq1_0_unit, TensorType::TQ1_0>, simd::tile_tq1_0_q8_k_avx2,
      simd::tile_tq1_0_q8_k_avx512, simd::tile_tq1_0_q8_k_avx512_vnni},
     {1, 1, 1, 1},
     {1, 1, 1, 1}},
    {TensorType::F16, Activation::f32,
     {tile_of_dots<dot_f16_scalar>, tile_of_dots<dot_f16_avx2>, tile_of_dots<dot_f16_avx512>,
      tile_of_dots<dot_f16_avx512>},
     {1, 1, 1, 1},
     {1, 1, 1, 1}},
};

const NativeType& native_type(uint32_t type) {
  for (const auto& native : kNativeTypes)
    if (static_cast<uint32_t>(native.type) == type) return native;
  throw std::invalid_argument("native_matmul: type id " + std::to_string(type) + " has no native CPU product");
}

// Activations in their quantized format: one row of blocks per token.
struct QuantizedActivations {
  std::vector<quant::BlockQ8_0> q8_0;
  std::vector<quant::BlockQ8_K> q8_k;
  std::vector<int32_t> q8_0_sums;  // per Q8_0 block, the sum of its quants (QuantTileArgs::a_sums; Q4_0's tiles)
  const uint8_t* data = nullptr;
  int64_t row_bytes = 0;
};

// Q8_K rows of n rounded up to whole blocks: an I2_S row may end in half a block, whose other half quantizes zeros.
void quantize_row_q8_k_padded(const float* x, quant::BlockQ8_K* y, int64_t n) {
  const int64_t whole = n / kQKK * kQKK;
  if (whole > 0) quant::quantize_row_q8_k(x, y, whole);
  if (whole == n) return;
  float rest[kQKK] = {};
  std::copy(x + whole, x + n, rest);
  quant::quantize_row_q8_k(rest, y + whole / kQKK, kQKK);
}

// The sum of each Q8_0 block's quants, which Q4_0's row tiles subtract 8 times (simd_kernels.h, QuantTileArgs).
void sum_q8_0_blocks(QuantizedActivations& activations) {
  activations.q8_0_sums.resize(activations.q8_0.size());
  for (size_t i = 0; i < activations.q8_0.size(); ++i) {
    int32_t sum = 0;
    for (const int8_t q : activations.q8_0[i].qs) sum += q;
    activations.q8_0_sums[i] = sum;
  }
}

void quantize_activations(Activation format, const float* x, int64_t n_in, int64_t n_tokens,
                          QuantizedActivations& out) {
  const auto per_token = [&](auto& blocks, int64_t block_elements, auto quantize_row) {
    const int64_t row_blocks = (n_in + block_elements - 1) / block_elements;
    blocks.resize(static_cast<size_t>(row_blocks * n_tokens));
    auto* first = blocks.data();
    tbb::parallel_for(int64_t{0}, n_tokens, [&](int64_t t) { quantize_row(x + t * n_in, first + t * row_blocks, n_in); });
    out.data = reinterpret_cast<const uint8_t*>(first);
    out.row_bytes = row_blocks * static_cast<int64_t>(sizeof(blocks[0]));
  };
  switch (format) {
    case Activation::q8_0: per_token(out.q8_0, quant::kBlockElements, quant::quantize_row_q8_0_activations); return;
    case Activation::q8_k: per_token(out.q8_k, quant::kSuperBlockElements, quantize_row_q8_k_padded); return;
    case Activation::f32:
      out.data = reinterpret_cast<const uint8_t*>(x);
      out.row_bytes = n_in * static_cast<int64_t>(sizeof(float));
      return;
  }
}

// Q4_0, Q8_0, Q4_K and Q6_K against a batch with AMX tiles (simd_kernels.h, "AMX"): the activations packed once, sixteen
// tokens a task (with Q8_K activations also the quant sums the type needs: Q4_K's per sub-block for its mins, Q6_K's
// per 16-element group for its bias of 32), then tiles of sixteen rows spread over the threads, each meeting every
// token tile.
void amx_matmul(TensorType type, const uint8_t* weight, int64_t row_bytes, int64_t n_out, int64_t n_in,
                const QuantizedActivations& activations, int64_t n_tokens, float* dst) {
  const bool q8_0_activations = type == TensorType::Q4_0 || type == TensorType::Q8_0;
  const int64_t blocks = n_in / (q8_0_activations ? kQK : kQKK);
  const int64_t token_tiles = (n_tokens + simd::kAmxTokens - 1) / simd::kAmxTokens;
  const int last_tokens = static_cast<int>(n_tokens - (token_tiles - 1) * simd::kAmxTokens);
  // Per token tile: packed quants (Q8_K: a tile per 32-element sub-block), scales and sums.
  const int64_t packed_per_tile = blocks * (q8_0_activations ? 1 : 8) * simd::kAmxPackedBytes;
  const int64_t scales_per_tile = blocks * simd::kAmxTokens;
  const int64_t sums_per_tile = q8_0_activations ? 0 : blocks * (type == TensorType::Q4_K ? 8 : 16) * simd::kAmxTokens;
  thread_local std::vector<uint8_t> packed;  // reused: see native_matmul
  thread_local std::vector<float> scales;
  thread_local std::vector<int32_t> sums;
  packed.resize(static_cast<size_t>(token_tiles * packed_per_tile));
  scales.resize(static_cast<size_t>(token_tiles * scales_per_tile));
  sums.resize(static_cast<size_t>(token_tiles * sums_per_tile));
  uint8_t* packed_data = packed.data();
  float* scale_data = scales.data();
  int32_t* sums_data = sums.data();
  tbb::parallel_for(int64_t{0}, token_tiles, [&](int64_t tile) {
    const int64_t t0 = tile * simd::kAmxTokens;
    const uint8_t* a = activations.data + t0 * activations.row_bytes;
    const int tokens = static_cast<int>(std::min<int64_t>(simd::kAmxTokens, n_tokens - t0));
    uint8_t* tile_packed = packed_data + tile * packed_per_tile;
    float* tile_scales = scale_data + tile * scales_per_tile;
    int32_t* tile_sums = sums_data + tile * sums_per_tile;
    if (q8_0_activations)
      simd::pack_q8_0_tokens_amx(a, activations.row_bytes, blocks, tokens, tile_packed, tile_scales);
    else
      simd::pack_q8_k_tokens_amx(a, activations.row_bytes, blocks, tokens, tile_packed, tile_scales,
                                 type == TensorType::Q4_K ? tile_sums : nullptr,
                                 type == TensorType::Q6_K ? tile_sums : nullptr);
  });
  const int64_t row_tiles = (n_out + simd::kAmxRows - 1) / simd::kAmxRows;
  tbb::parallel_for(int64_t{0}, row_tiles, [&](int64_t row_tile) {
    const int64_t o = row_tile * simd::kAmxRows;
    const int rows = static_cast<int>(std::min<int64_t>(simd::kAmxRows, n_out - o));
    const uint8_t* w = weight + o * row_bytes;
    const int tiles = static_cast<int>(token_tiles);
    if (type == TensorType::Q4_0)
      simd::tile_q4_0_amx(w, row_bytes, rows, blocks, packed_data, scale_data, tiles, last_tokens, dst + o, n_out);
    else if (type == TensorType::Q8_0)
      simd::tile_q8_0_amx(w, row_bytes, rows, blocks, packed_data, scale_data, tiles, last_tokens, dst + o, n_out);
    else if (type == TensorType::Q4_K)
      simd::tile_q4_k_amx(w, row_bytes, rows, blocks, packed_data, scale_data, sums_data, tiles, last_tokens, dst + o,
                          n_out);
    else
      simd::tile_q6_k_amx(w, row_bytes, rows, blocks, packed_data, scale_data, sums_data, tiles, last_tokens, dst + o,
                          n_out);
  });
}

}  // namespace

bool amx_usable(const CpuFeatures& features) {
  return features.amx_tile && features.amx_int8 && simd::amx_permitted();
}

const char* to_string(KernelSet set) {
  switch (set) {
    case KernelSet::scalar: return "scalar";
    case KernelSet::avx2: return "avx2";
    case KernelSet::avx512: return "avx512";
    case KernelSet::avx512_vnni: return "avx512_vnni";
    case KernelSet::amx: return "amx";
  }
  return "unknown";
}

KernelSet kernel_set_for(IsaLevel level, const CpuFeatures& features) {
  switch (level) {
    case IsaLevel::scalar: return KernelSet::scalar;
    case IsaLevel::avx2: return KernelSet::avx2;
    case IsaLevel::avx512:
      if (!features.avx512_vnni) return KernelSet::avx512;
      return amx_usable(features) ? KernelSet::amx : KernelSet::avx512_vnni;
  }
  return KernelSet::scalar;
}

std::vector<KernelSet> runnable_kernel_sets(const CpuFeatures& features) {
  std::vector<KernelSet> sets = {KernelSet::scalar};
  const IsaLevel best = best_isa_level(features);
  if (best >= IsaLevel::avx2) sets.push_back(KernelSet::avx2);
  if (best >= IsaLevel::avx512) sets.push_back(KernelSet::avx512);
  if (best >= IsaLevel::avx512 && features.avx512_vnni) sets.push_back(KernelSet::avx512_vnni);
  if (best >= IsaLevel::avx512 && features.avx512_vnni && amx_usable(features)) sets.push_back(KernelSet::amx);
  return sets;
}

uint64_t native_matmul_types() {
  uint64_t mask = 0;
  for (const auto& native : kNativeTypes) mask |= SY_TYPE_BIT(static_cast<uint32_t>(native.type));
  return mask;
}

void native_matmul(KernelSet set, uint32_t type, const uint8_t* weight, int64_t n_out, int64_t n_in, const float* x,
                   int64_t n_tokens, float* dst) {
  const NativeType& native = native_type(type);
  static_assert(static_cast<int>(KernelSet::avx512_vnni) == kSets - 1);
  // amx runs avx512_vnni's tiles, except for the products it has tiles of its own for (below).
  const int set_index = std::min(static_cast<int>(set), kSets - 1);
  const simd::QuantTile tile = native.tile[set_index];
  const auto weight_row_bytes =
      static_cast<int64_t>(*gguf::row_storage_bytes(native.type, static_cast<uint64_t>(n_in)));
  // I2_S's one scale follows the tensor's rows (plugin.h, SY_OP_MATMUL).
  const float weight_scale =
      native.type == TensorType::I2_S ? quant::i2_s_scale(weight + n_out * weight_row_bytes) : 1.0f;
  // Reused from call to call (per calling thread), so that decoding a token allocates nothing once the widest
  // product of the largest batch has run. The workers below must read the caller's copy: they get it through this
  // reference (a lambda naming a thread_local directly would see its own thread's, empty one).
  thread_local QuantizedActivations reused;
  QuantizedActivations& activations = reused;
  quantize_activations(native.activation, x, n_in, n_tokens, activations);

  if (set == KernelSet::amx && n_tokens > 1 &&
      (native.type == TensorType::Q4_0 || native.type == TensorType::Q8_0 || native.type == TensorType::Q4_K ||
       native.type == TensorType::Q6_K)) {
    amx_matmul(native.type, weight, weight_row_bytes, n_out, n_in, activations, n_tokens, dst);
    return;
  }

  const bool with_sums = native.type == TensorType::Q4_0 || native.type == TensorType::Q8_0;
  if (with_sums) sum_q8_0_blocks(activations);

  // Chunks of output rows, several per thread so that uneven chunks balance, split at whole tiles; every row of a
  // chunk meets every token while the chunk is in L2, a tile of tokens at a time, whose activation rows stay in
  // L1/L2 too.
  const int tile_rows = n_tokens == 1 ? native.decode_rows[set_index] : native.matmul_rows[set_index];
  const int64_t row_tiles = (n_out + tile_rows - 1) / tile_rows;
  const int64_t threads = std::max(1, tbb::this_task_arena::max_concurrency());
  const int64_t grain = std::clamp<int64_t>(row_tiles / (8 * threads), 1, std::max(1, 64 / tile_rows));
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, row_tiles, grain), [&](const tbb::blocked_range<int64_t>& tiles) {
    const int64_t first = tiles.begin() * tile_rows, last = std::min(n_out, tiles.end() * tile_rows);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += simd::kTileTokens) {
      const int tokens = static_cast<int>(std::min<int64_t>(simd::kTileTokens, n_tokens - t0));
      for (int64_t o = first; o < last; o += tile_rows) {
        const simd::QuantTileArgs args{weight + o * weight_row_bytes,
                                       weight_row_bytes,
                                       activations.data + t0 * activations.row_bytes,
                                       activations.row_bytes,
                                       n_in,
                                       dst + t0 * n_out + o,
                                       n_out,
                                       weight_scale,
                                       with_sums ? activations.q8_0_sums.data() + t0 * (n_in / kQK) : nullptr,
                                       n_in / kQK};
        tile(args, static_cast<int>(std::min<int64_t>(tile_rows, last - o)), tokens);
      }
    }
  });
}

}  // namespace sy::cpu
