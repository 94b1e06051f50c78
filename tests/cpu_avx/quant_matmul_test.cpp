// Pins plugins/cpu_avx/quant_matmul.h: every native weight type (Q4_0, Q8_0, Q4_K, Q6_K, TQ2_0, TQ1_0, I2_S, F16) at every
// kernel set this CPU runs (scalar, avx2, avx512, avx512_vnni), matrix-vector and matrix-matrix (token counts
// around the kernels' tiles), against the scalar reference built from core/quant: dequantize the weight row, dot
// in double.
//
// Tolerances. The kernels quantize the activations (Q8_0 blocks of 32 for Q4_0/Q8_0, Q8_K blocks of 256 for the
// others), so each output is checked twice:
//  1. against the reference on the *quantized* activations (core/quant's quantizer, then its decoder):
//     |got - want| <= 1e-5 * S_q, S_q = sum_i |w_i * xq_i|. Integer products are exact, so only float rounding of
//     the per-block scales and sums remains; this check catches any wrong nibble, scale or bias.
//  2. against the reference on the float activations: |got - want| <= 1e-5 * S + sum_i |w_i| * step_i, S =
//     sum_i |w_i * x_i|, step_i = max |x| over i's activation block / 127, one quantization step of the activation
//     (rounding is at most half a step; the other half covers the fp16 rounding of the Q8_0 scale). F16 weights keep
//     float activations: step_i = 0.
// The ternary types (TQ1_0, TQ2_0, I2_S) do the reference's arithmetic: eight lanes per block, each the codes'
// products (codes = value + 1) minus a share of the activation sums that is not the same share, scaled in float and
// added. The offsets cancel only in the total, so float rounding of each lane adds up to 1e-6 * sum over blocks of
// d_w * sum_i |xq_i| (d_w = the block's largest |w|) to both bounds, which matters where S_q is tiny.
#include <doctest/doctest.h>

#include <oneapi/tbb/task_arena.h>

#include <switchyard/plugin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/gguf/tensor_type.h"
#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "core/quant/reencode.h"
#include "plugins/cpu_avx/cpu_features.h"
#include "plugins/cpu_avx/quant_matmul.h"
#include "tests/test_support.h"

namespace {

using sy::cpu::KernelSet;
using sy::gguf::TensorType;

constexpr TensorType kNativeTypes[] = {TensorType::Q4_0,  TensorType::Q8_0,  TensorType::Q4_K, TensorType::Q6_K,
                                       TensorType::TQ2_0, TensorType::TQ1_0, TensorType::I2_S, TensorType::F16};

// The activation format the kernels quantize x to for a weight type; F32 where x stays float.
TensorType activation_type(TensorType weight) {
  switch (weight) {
    case TensorType::Q4_0:
    case TensorType::Q8_0: return TensorType::Q8_0;
    case TensorType::F16: return TensorType::F32;
    default: return TensorType::Q8_K;
  }
}

struct Problem {
  int64_t n_out, n_in, n_tokens;
};

struct Data {
  std::vector<uint8_t> weight;      // n_out rows of the weight type
  std::vector<float> weight_f32;    // the same, decoded by core/quant
  std::vector<float> x;             // n_tokens rows of n_in
  std::vector<float> x_quantized;   // x through the activation quantizer and back (== x for F16)
};

// Q8_K rows of n rounded up to whole blocks with zeros, as the kernels pad I2_S rows that end in half a block.
void quantize_activation_row(TensorType activation, const float* x, float* decoded, int64_t n) {
  const int64_t block = activation == TensorType::Q8_K ? 256 : 32;
  const int64_t padded = (n + block - 1) / block * block;
  std::vector<float> row(static_cast<size_t>(padded), 0.0f), back(row.size());
  std::copy(x, x + n, row.begin());
  std::vector<uint8_t> blocks(*sy::gguf::row_storage_bytes(activation, static_cast<uint64_t>(padded)));
  if (activation == TensorType::Q8_0)  // activations round as the reference's x86 build does (quantize.h)
    sy::quant::quantize_row_q8_0_activations(row.data(), reinterpret_cast<sy::quant::BlockQ8_0*>(blocks.data()), padded);
  else
    sy::quant::quantize_row(activation, row.data(), blocks.data(), padded);
  sy::quant::dequantize_row(activation, blocks.data(), back.data(), padded);
  std::copy(back.begin(), back.begin() + n, decoded);
}

Data make_data(TensorType type, const Problem& p, std::mt19937_64& rng) {
  Data data;
  const uint64_t row_bytes = *sy::gguf::row_storage_bytes(type, static_cast<uint64_t>(p.n_in));
  data.weight.resize(row_bytes * static_cast<uint64_t>(p.n_out));
  data.weight_f32.resize(static_cast<size_t>(p.n_out * p.n_in));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(p.n_in));
  if (type == TensorType::I2_S) {
    // One tensor, rows then the scale tail; the quantizer keeps signs only, so the values are ternary already.
    const auto n = static_cast<uint64_t>(p.n_out * p.n_in);
    std::vector<float> ternary(n);
    for (auto& v : ternary) v = 0.37f * static_cast<float>(static_cast<int>(rng() % 3) - 1);
    data.weight.resize(*sy::gguf::tensor_storage_bytes(type, n));
    sy::quant::quantize_i2_s(ternary, std::as_writable_bytes(std::span(data.weight)));
    sy::quant::dequantize_range(type, std::as_bytes(std::span(data.weight)), n, 0, data.weight_f32);
  }
  for (int64_t o = 0; o < p.n_out && type != TensorType::I2_S; ++o) {
    for (auto& v : values) v = normal(rng);
    uint8_t* row = data.weight.data() + static_cast<uint64_t>(o) * row_bytes;
    if (type == TensorType::F16) {
      for (int64_t i = 0; i < p.n_in; ++i) {
        const uint16_t half = sy::quant::fp32_to_fp16(values[static_cast<size_t>(i)]);
        std::memcpy(row + 2 * i, &half, 2);
      }
    } else {
      sy::quant::quantize_row(type, values.data(), row, p.n_in);
    }
    sy::quant::dequantize_row(type, row, data.weight_f32.data() + o * p.n_in, p.n_in);
  }
  // Activations: mostly uniform, with an occasional outlier as real hidden states have, so that block scales vary.
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  data.x.resize(static_cast<size_t>(p.n_tokens * p.n_in));
  for (auto& v : data.x) v = uniform(rng) * (rng() % 17 == 0 ? 8.0f : 1.0f);
  data.x_quantized = data.x;
  const TensorType activation = activation_type(type);
  if (activation != TensorType::F32) {
    for (int64_t t = 0; t < p.n_tokens; ++t)
      quantize_activation_row(activation, data.x.data() + t * p.n_in, data.x_quantized.data() + t * p.n_in, p.n_in);
  }
  return data;
}

// Runs one problem on one kernel set in an arena of `threads` and checks every output (see the file comment).
void check(KernelSet set, TensorType type, const Problem& p, int threads, std::mt19937_64& rng) {
  CAPTURE(std::string(sy::cpu::to_string(set)));
  CAPTURE(std::string(sy::gguf::to_string(type)));
  CAPTURE(p.n_out);
  CAPTURE(p.n_in);
  CAPTURE(p.n_tokens);
  CAPTURE(threads);
  const Data data = make_data(type, p, rng);
  // NaN poison: an output the kernel forgets to write fails every comparison below.
  std::vector<float> dst(static_cast<size_t>(p.n_tokens * p.n_out), std::numeric_limits<float>::quiet_NaN());
  tbb::task_arena arena(threads);
  arena.execute([&] {
    sy::cpu::native_matmul(set, static_cast<uint32_t>(type), data.weight.data(), p.n_out, p.n_in, data.x.data(),
                           p.n_tokens, dst.data());
  });
  const int64_t activation_block = activation_type(type) == TensorType::Q8_0 ? 32 : 256;
  const bool quantized_activations = activation_type(type) != TensorType::F32;
  int failures = 0;
  for (int64_t t = 0; t < p.n_tokens && failures < 3; ++t) {
    const float* x = data.x.data() + t * p.n_in;
    const float* xq = data.x_quantized.data() + t * p.n_in;
    for (int64_t o = 0; o < p.n_out && failures < 3; ++o) {
      const float* w = data.weight_f32.data() + o * p.n_in;
      double want = 0, want_q = 0, scale = 0, scale_q = 0, step_bound = 0, lane_bound = 0;
      for (int64_t b = 0; b < p.n_in; b += activation_block) {
        const int64_t end = std::min(p.n_in, b + activation_block);
        double amax = 0, wmax = 0, xq_sum = 0;
        for (int64_t i = b; i < end; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
        for (int64_t i = b; i < end; ++i) wmax = std::max(wmax, std::fabs(static_cast<double>(w[i])));
        for (int64_t i = b; i < end; ++i) xq_sum += std::fabs(static_cast<double>(xq[i]));
        if (type == TensorType::TQ1_0 || type == TensorType::TQ2_0 || type == TensorType::I2_S)
          lane_bound += 1e-6 * wmax * xq_sum;
        for (int64_t i = b; i < end; ++i) {
          want += static_cast<double>(w[i]) * x[i];
          want_q += static_cast<double>(w[i]) * xq[i];
          scale += std::fabs(static_cast<double>(w[i]) * x[i]);
          scale_q += std::fabs(static_cast<double>(w[i]) * xq[i]);
          if (quantized_activations) step_bound += std::fabs(static_cast<double>(w[i])) * amax / 127.0;
        }
      }
      const double got = dst[static_cast<size_t>(t * p.n_out + o)];
      const bool near_quantized = std::fabs(got - want_q) <= 1e-5 * scale_q + lane_bound + 1e-6;
      const bool near_float = std::fabs(got - want) <= 1e-5 * scale + step_bound + lane_bound + 1e-6;
      if (!near_quantized || !near_float) {
        ++failures;
        CAPTURE(t);
        CAPTURE(o);
        CAPTURE(got);
        CAPTURE(want_q);
        CAPTURE(want);
        CAPTURE(scale_q);
        CHECK(near_quantized);
        CHECK(near_float);
      }
    }
  }
  CHECK(failures == 0);
}

}  // namespace

TEST_CASE("native matmul: every type at every kernel set matches the core/quant reference") {
  auto rng = sy::test::make_rng("cpu_avx native matmul");
  const auto sets = sy::cpu::runnable_kernel_sets(sy::cpu::detect_cpu_features());
  REQUIRE(!sets.empty());
  for (const KernelSet set : sets) {
    for (const TensorType type : kNativeTypes) {
      const auto& traits = sy::gguf::tensor_type_traits(type);
      // The smallest row the type allows (one block; 32 for F16, whose block is 1), an odd number of blocks, and for
      // F16 a length no vector width divides. The SIMD Q4_0
      // kernel takes blocks in groups of eight and pads a shorter tail: also 8 blocks (one whole group), 14 (a group
      // and a 6-block tail) and 15 (a group and the longest tail, 7 blocks).
      const int64_t block = traits.block_size == 1 ? 32 : traits.block_size;
      std::vector<int64_t> lengths = {block, 3 * block};
      if (block == 32) lengths = {block, 3 * block, 8 * block, 14 * block, 15 * block};
      // The ternary kernels sum 16 Q8_K blocks per call: also a row of 17 blocks and a half (I2_S) or 17 (TQ1_0).
      if (type == TensorType::I2_S || type == TensorType::TQ1_0) lengths.push_back(17 * 256 + (block == 128 ? 128 : 0));
      if (type == TensorType::F16) lengths.push_back(67);
      for (const int64_t n_in : lengths) {
        // Odd row counts, none divisible by the 3 threads or by a tile's rows. Token counts around the kernels' tile
        // of four tokens: 1 (matrix-vector), fewer than a tile, one tile, a tile and a rest, two tiles and a rest.
        for (const int64_t tokens : {1, 2, 3, 4, 5, 7, 9}) check(set, type, Problem{13, n_in, tokens}, 3, rng);
        for (const Problem& p : {Problem{7, n_in, 1}, Problem{131, n_in, 1}, Problem{1, n_in, 9}, Problem{67, n_in, 9}})
          check(set, type, p, 3, rng);
      }
    }
  }
}

TEST_CASE("native matmul: one thread and many give the same numbers") {
  auto rng = sy::test::make_rng("cpu_avx native matmul threads");
  const auto sets = sy::cpu::runnable_kernel_sets(sy::cpu::detect_cpu_features());
  // 301 rows split into chunks whose sizes depend on the thread count, so rows and tokens fall into tiles of
  // different shapes (and into matrix-vector calls for the last token) from one run to the other.
  const Problem p{301, 512, 7};
  for (const KernelSet set : sets) {
    for (const TensorType type : {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::TQ1_0,
                                  TensorType::I2_S}) {
      CAPTURE(std::string(sy::cpu::to_string(set)));
      CAPTURE(std::string(sy::gguf::to_string(type)));
      const Data data = make_data(type, p, rng);
      std::vector<float> one(static_cast<size_t>(p.n_out * p.n_tokens)), many(one.size());
      for (const auto& run : {std::pair{1, &one}, std::pair{5, &many}}) {
        std::vector<float>* out = run.second;
        tbb::task_arena arena(run.first);
        arena.execute([&] {
          sy::cpu::native_matmul(set, static_cast<uint32_t>(type), data.weight.data(), p.n_out, p.n_in,
                                 data.x.data(), p.n_tokens, out->data());
        });
      }
      // Each output's arithmetic is fixed whatever thread and tile compute it: bit-identical.
      CHECK(one == many);
    }
  }
}

TEST_CASE("native matmul: the integer weight types give the same bits at every kernel set") {
  auto rng = sy::test::make_rng("cpu_avx native matmul ternary levels");
  const auto sets = sy::cpu::runnable_kernel_sets(sy::cpu::detect_cpu_features());
  // Rows of 17.5 Q8_K blocks (I2_S) and 17 (the others): a chunk of 16 blocks and a rest; 1 token (generation)
  // and 6 (a prompt: a tile of four tokens and one of two), 20 (the amx set's token tiles: one of sixteen and one of
  // four). 37 rows: four full row tiles of Q4_0, Q8_0, Q4_K and Q6_K (eight rows each, simd_kernels.h) and one of
  // five, amx's two of sixteen and one of five, and the wide tiles (Q4_0 at the AVX-512 levels, Q8_0 with VNNI) two
  // of sixteen, then five rows through the eight-row tile. Q8_0's weights include -128, which its quantizer never
  // writes but a file may hold: its magnitude and its offset by 128 are at the edges of the byte products.
  for (const TensorType type : {TensorType::I2_S, TensorType::TQ1_0, TensorType::Q4_0, TensorType::Q8_0,
                                TensorType::Q4_K, TensorType::Q6_K, TensorType::TQ2_0}) {
    for (const int64_t tokens : {1, 6, 20}) {
      const Problem p{37, type == TensorType::I2_S ? 17 * 256 + 128 : 17 * 256, tokens};
      CAPTURE(std::string(sy::gguf::to_string(type)));
      CAPTURE(tokens);
      Data data = make_data(type, p, rng);
      if (type == TensorType::Q8_0)
        for (size_t at = sizeof(uint16_t); at < data.weight.size(); at += 7)
          if (at % sizeof(sy::quant::BlockQ8_0) >= sizeof(uint16_t)) data.weight[at] = 0x80;
      std::vector<std::vector<float>> outputs;
      for (const KernelSet set : sets) {
        std::vector<float> out(static_cast<size_t>(p.n_out * p.n_tokens), std::numeric_limits<float>::quiet_NaN());
        tbb::task_arena arena(2);
        arena.execute([&] {
          sy::cpu::native_matmul(set, static_cast<uint32_t>(type), data.weight.data(), p.n_out, p.n_in,
                                 data.x.data(), p.n_tokens, out.data());
        });
        outputs.push_back(std::move(out));
      }
      for (size_t i = 1; i < outputs.size(); ++i) {
        CAPTURE(std::string(sy::cpu::to_string(sets[i])));
        CHECK(std::memcmp(outputs[i].data(), outputs[0].data(), outputs[0].size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("native matmul: TQ1_0 re-encoded as TQ2_0 gives the same bits at every kernel set") {
  // The plugin asks the host to store TQ1_0 as TQ2_0 (sy_device_info.reencoded_types), which the ABI allows only
  // where the results stay the same bits.
  auto rng = sy::test::make_rng("cpu_avx native matmul tq1_0 as tq2_0");
  for (const int64_t tokens : {1, 6, 20}) {
    const Problem p{37, 17 * 256, tokens};
    CAPTURE(tokens);
    const Data data = make_data(TensorType::TQ1_0, p, rng);
    std::vector<uint8_t> reencoded(*sy::gguf::tensor_storage_bytes(TensorType::TQ2_0, p.n_out * p.n_in));
    sy::quant::reencode_blocks(TensorType::TQ1_0, data.weight.data(), p.n_out * p.n_in, reencoded.data());
    for (const KernelSet set : sy::cpu::runnable_kernel_sets(sy::cpu::detect_cpu_features())) {
      CAPTURE(std::string(sy::cpu::to_string(set)));
      std::vector<float> file(static_cast<size_t>(p.n_out * p.n_tokens), std::numeric_limits<float>::quiet_NaN());
      std::vector<float> stored(file.size(), std::numeric_limits<float>::quiet_NaN());
      tbb::task_arena arena(2);
      arena.execute([&] {
        sy::cpu::native_matmul(set, static_cast<uint32_t>(TensorType::TQ1_0), data.weight.data(), p.n_out, p.n_in,
                               data.x.data(), p.n_tokens, file.data());
        sy::cpu::native_matmul(set, static_cast<uint32_t>(TensorType::TQ2_0), reencoded.data(), p.n_out, p.n_in,
                               data.x.data(), p.n_tokens, stored.data());
      });
      CHECK(std::memcmp(file.data(), stored.data(), file.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("native matmul: the type mask lists exactly the native types") {
  uint64_t expected = 0;
  for (const TensorType type : kNativeTypes) expected |= SY_TYPE_BIT(static_cast<uint32_t>(type));
  CHECK(sy::cpu::native_matmul_types() == expected);
}

TEST_CASE("native matmul: the plugin's level maps to the VNNI set only where the CPU has VNNI") {
  sy::cpu::CpuFeatures features;
  CHECK(sy::cpu::kernel_set_for(sy::cpu::IsaLevel::avx512, features) == KernelSet::avx512);
  features.avx512_vnni = true;
  CHECK(sy::cpu::kernel_set_for(sy::cpu::IsaLevel::avx512, features) == KernelSet::avx512_vnni);
  CHECK(sy::cpu::kernel_set_for(sy::cpu::IsaLevel::avx2, features) == KernelSet::avx2);
  CHECK(sy::cpu::kernel_set_for(sy::cpu::IsaLevel::scalar, features) == KernelSet::scalar);
}
