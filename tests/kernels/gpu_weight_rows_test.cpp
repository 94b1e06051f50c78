// The GPU kernels' weight math on the CPU: plugins/cuda/weight_rows.h is plain host+device C++, so the very
// functions the CUDA and HIP matmul kernel runs per thread (decode_span, span_partial_dot) run here once per
// emulated thread, against the scalar reference (core/quant's row decoder and reference_matmul). What cannot be
// checked here is only the kernels' launch geometry and barriers, which the conformance suite covers on a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "core/gguf/tensor_type.h"
#include "core/quant/row_decoder.h"
#include "core/kernels/reference_ops.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "plugins/cuda/weight_rows.h"

namespace {

using sy::gguf::TensorType;

// A row of `n` random weights in `type`: quantized by core/quant where it can, else random blocks that decode to
// finite values.
std::vector<uint8_t> random_row(uint32_t type, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = normal(rng);
  std::vector<uint8_t> bytes(sy::gpu::weight_row_bytes(type, n));
  const auto gguf_type = static_cast<TensorType>(type);
  if (type == SY_TYPE_F32 || type == SY_TYPE_F16 || type == SY_TYPE_BF16) {
    sy::kernels::encode_row(type, values.data(), bytes.data(), n);
  } else if (sy::quant::can_quantize(gguf_type)) {
    sy::quant::quantize_row(gguf_type, values.data(), bytes.data(), n);
  } else {
    // Types without a reference quantizer: random bytes, block by block, redrawn until the block decodes to small
    // finite values (a random fp16 scale can be NaN or huge).
    const auto traits = sy::gguf::tensor_type_traits(gguf_type);
    std::vector<float> decoded(traits.block_size);
    for (size_t offset = 0; offset < bytes.size(); offset += traits.bytes_per_block) {
      for (bool finite = false; !finite;) {
        for (size_t i = 0; i < traits.bytes_per_block; ++i) bytes[offset + i] = static_cast<uint8_t>(rng());
        sy::quant::dequantize_row(gguf_type, bytes.data() + offset, decoded.data(), traits.block_size);
        finite = std::all_of(decoded.begin(), decoded.end(), [](float v) { return std::fabs(v) < 1e4f; });
      }
    }
  }
  return bytes;
}

// Every type id the GPU plugins read, from their own dispatch.
std::vector<uint32_t> gpu_weight_types() {
  std::vector<uint32_t> types;
  for (uint32_t type = 0; type < 64; ++type)
    if (sy::gpu::visit_weight_row(type, [](auto) {})) types.push_back(type);
  return types;
}

// The matmul kernel's per-thread work for one output row and one token, with `lanes` threads and tiles of
// `tile_elements`, then the kernel's final sum of the lanes' partial sums.
template <class Row>
float emulate_matmul_row(const uint8_t* row, const float* x, int64_t n_in, int lanes, int tile_elements) {
  std::vector<float> tile(static_cast<size_t>(Row::tile_floats(tile_elements)), NAN);
  std::vector<float> partial(static_cast<size_t>(lanes), 0.0f);
  for (int64_t start = 0; start < n_in; start += tile_elements) {
    const int count = static_cast<int>(std::min<int64_t>(tile_elements, n_in - start));
    for (int lane = 0; lane < lanes; ++lane) sy::gpu::decode_span<Row>(row, start, count, tile.data(), lane, lanes);
    for (int lane = 0; lane < lanes; ++lane)
      partial[static_cast<size_t>(lane)] += sy::gpu::span_partial_dot<Row>(tile.data(), x + start, count, lane, lanes);
  }
  float total = 0;
  for (float p : partial) total += p;
  return total;
}

// The matrix-vector kernel's work for one output row: the token staged tile by tile at staged_index (the padding
// slots poisoned), each of `lanes` lanes' lane_dot, then the warp's sum of the lanes.
template <class Row>
float emulate_matvec_row(const uint8_t* row, const float* x, int64_t n_in, int lanes, int tile_elements) {
  std::vector<float> staged(static_cast<size_t>(sy::gpu::staged_floats(tile_elements)), NAN);
  float total = 0;
  std::vector<float> partial(static_cast<size_t>(lanes), 0.0f);
  for (int64_t start = 0; start < n_in; start += tile_elements) {
    const int count = static_cast<int>(std::min<int64_t>(tile_elements, n_in - start));
    std::fill(staged.begin(), staged.end(), NAN);
    for (int i = 0; i < count; ++i) staged[static_cast<size_t>(sy::gpu::staged_index(i))] = x[start + i];
    for (int lane = 0; lane < lanes; ++lane)
      partial[static_cast<size_t>(lane)] += sy::gpu::lane_dot<Row>(row, start, count, staged.data(), lane, lanes);
  }
  for (float p : partial) total += p;
  return total;
}

}  // namespace

TEST_CASE("the GPU plugins read exactly the types core/quant decodes row by row, with the GGUF row sizes") {
  const auto types = gpu_weight_types();
  // The types issue 4 requires on every backend, at least.
  for (const TensorType required : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0,
                                    TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K, TensorType::TQ2_0})
    CHECK(std::find(types.begin(), types.end(), static_cast<uint32_t>(required)) != types.end());
  const uint64_t core_quantized = sy::quant::row_decoder().quantized_types;
  for (const uint32_t type : types) {
    CAPTURE(type);
    const auto traits = sy::gguf::tensor_type_traits(type);
    REQUIRE(traits.has_value());
    const uint64_t block = traits->block_size;
    for (const uint64_t n : {block, block * 3, block * 17}) {
      CHECK(sy::gpu::weight_row_bytes(type, static_cast<int64_t>(n)) ==
            sy::gguf::row_storage_bytes(traits->type, n).value());
    }
    if (block > 1) {
      CHECK(sy::gpu::weight_row_bytes(type, static_cast<int64_t>(block) + 1) == 0);  // not whole blocks
      CHECK((core_quantized & SY_TYPE_BIT(type)) != 0);
      CHECK((sy::gpu::quantized_weight_types() & SY_TYPE_BIT(type)) != 0);
    }
  }
  CHECK(sy::gpu::weight_row_bytes(static_cast<uint32_t>(TensorType::I2_S), 256) == 0);  // per-tensor scale
  CHECK((sy::gpu::quantized_weight_types() & SY_TYPE_BIT(SY_TYPE_F16)) == 0);            // plain, not quantized
}

TEST_CASE("decoding a row through the kernels' tiles gives core/quant's floats bit for bit") {
  std::mt19937 rng(4);
  for (const uint32_t type : gpu_weight_types()) {
    CAPTURE(type);
    sy::gpu::visit_weight_row(type, [&](auto row_type) {
      using Row = decltype(row_type);
      const int64_t n = Row::kBlockElements == 1 ? 67 : Row::kBlockElements * 5;
      const auto bytes = random_row(type, n, rng);
      std::vector<float> expected(static_cast<size_t>(n));
      sy::kernels::decode_row(type, bytes.data(), expected.data(), n, sy::quant::row_decoder());
      // Tiles smaller than the row, lanes fewer than the blocks of a tile: the kernel's loops all take turns.
      const int tile_elements = Row::kBlockElements * 2;
      std::vector<float> tile(static_cast<size_t>(Row::tile_floats(tile_elements)));
      for (int64_t start = 0; start < n; start += tile_elements) {
        const int count = static_cast<int>(std::min<int64_t>(tile_elements, n - start));
        for (int lane = 0; lane < 3; ++lane) sy::gpu::decode_span<Row>(bytes.data(), start, count, tile.data(), lane, 3);
        for (int i = 0; i < count; ++i)
          REQUIRE(sy::kernels::float_bits(tile[static_cast<size_t>(Row::tile_index(i))]) ==
                  sy::kernels::float_bits(expected[static_cast<size_t>(start + i)]));
      }
    });
  }
}

TEST_CASE("the matmul kernel's per-thread sums match reference_matmul within the conformance tolerance") {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const uint32_t type : gpu_weight_types()) {
    CAPTURE(type);
    sy::gpu::visit_weight_row(type, [&](auto row_type) {
      using Row = decltype(row_type);
      // More than one 4096-element tile for the small blocks, and a partial last tile.
      const int64_t n_in = Row::kBlockElements == 1 ? 4099 : Row::kBlockElements * (Row::kBlockElements == 32 ? 131 : 17);
      const int64_t n_out = 3;
      std::vector<uint8_t> weight;
      for (int64_t o = 0; o < n_out; ++o) {
        const auto row = random_row(type, n_in, rng);
        weight.insert(weight.end(), row.begin(), row.end());
      }
      std::vector<float> x(static_cast<size_t>(n_in));
      for (float& v : x) v = normal(rng);
      sy_op op{};
      op.kind = SY_OP_MATMUL;
      op.src[0].type = type;
      op.params.matmul = {n_out, n_in, 1};
      std::vector<float> expected(static_cast<size_t>(n_out));
      sy::kernels::reference_matmul(op, weight.data(), x.data(), expected.data(), sy::quant::row_decoder());
      const uint64_t row_bytes = sy::gpu::weight_row_bytes(type, n_in);
      std::vector<float> decoded(static_cast<size_t>(n_in));
      for (int64_t o = 0; o < n_out; ++o) {
        const uint8_t* row = weight.data() + static_cast<uint64_t>(o) * row_bytes;
        sy::kernels::decode_row(type, row, decoded.data(), n_in, sy::quant::row_decoder());
        double scale = 0;  // the conformance suite's: sum |w x|
        for (int64_t i = 0; i < n_in; ++i) scale += std::fabs(static_cast<double>(decoded[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)]);
        const float got = emulate_matmul_row<Row>(row, x.data(), n_in, 128, 4096);
        CHECK(std::fabs(got - expected[static_cast<size_t>(o)]) <= 1e-6 + 1e-4 * scale);
      }
    });
  }
}

TEST_CASE("the matrix-vector kernel's lane sums match reference_matmul within the conformance tolerance") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const uint32_t type : gpu_weight_types()) {
    CAPTURE(type);
    sy::gpu::visit_weight_row(type, [&](auto row_type) {
      using Row = decltype(row_type);
      constexpr int kTile = 8192;  // gpu_kernels.cu's kMatvecTileElements
      // One row within a tile, and one longer than a tile with a partial last tile (whole blocks, as tiles are).
      for (const int64_t n_in : {Row::kBlockElements == 1 ? int64_t{67} : int64_t{Row::kBlockElements} * 3,
                                 Row::kBlockElements == 1 ? int64_t{kTile + 3} : int64_t{kTile} + Row::kBlockElements * 5}) {
        CAPTURE(n_in);
        const auto row = random_row(type, n_in, rng);
        std::vector<float> x(static_cast<size_t>(n_in));
        for (float& v : x) v = normal(rng);
        sy_op op{};
        op.kind = SY_OP_MATMUL;
        op.src[0].type = type;
        op.params.matmul = {1, n_in, 1};
        float expected = 0;
        sy::kernels::reference_matmul(op, row.data(), x.data(), &expected, sy::quant::row_decoder());
        std::vector<float> decoded(static_cast<size_t>(n_in));
        sy::kernels::decode_row(type, row.data(), decoded.data(), n_in, sy::quant::row_decoder());
        double scale = 0;
        for (int64_t i = 0; i < n_in; ++i) scale += std::fabs(static_cast<double>(decoded[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)]);
        // The row 16-byte aligned (plain rows take 16-byte loads) and one element off (element by element; a
        // device buffer keeps at least an element's alignment, and a quantized block's is 2).
        std::vector<uint8_t> shifted(row.size() + 32);
        const size_t offset = Row::kChunkElements == 1 ? static_cast<size_t>(Row::kBlockBytes) : 2;
        const size_t misalign = (16 - reinterpret_cast<uintptr_t>(shifted.data()) % 16) % 16 + offset;
        std::copy(row.begin(), row.end(), shifted.begin() + static_cast<std::ptrdiff_t>(misalign));
        for (const uint8_t* bytes : {row.data(), static_cast<const uint8_t*>(shifted.data() + misalign)}) {
          for (const int lanes : {32, 64}) {  // NVIDIA warps, AMD wave64
            const float got = emulate_matvec_row<Row>(bytes, x.data(), n_in, lanes, kTile);
            CHECK(std::fabs(got - expected) <= 1e-6 + 1e-4 * scale);
          }
        }
      }
    });
  }
}
