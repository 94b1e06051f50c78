// Shared by bench_matvec, bench_matmul and bench_ops: a synthetic weight (for the CPU plugin's native products
// of plugins/cpu_avx/quant_matmul.h, and for any plugin through the ABI), and the median of repeated timings.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/gguf/tensor_type.h"
#include "core/quant/blocks.h"
#include "core/quant/quantize.h"

namespace sy::bench {

// Median wall time of `runs` calls of body(), in seconds.
template <class Body>
double median_seconds(int runs, Body&& body) {
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    body();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// A weight of about `bytes` of `type` with rows of n_in: 64 distinct quantized rows, repeated (quantizing 256 MiB
// with the reference quantizers would take longer than the benchmark; the kernels do not care). Sets n_out. An I2_S
// weight is a whole tensor: its rows, then the 32-byte tail with the scale (sdk/include/switchyard/plugin.h).
inline std::vector<uint8_t> make_native_weight(gguf::TensorType type, int64_t n_in, uint64_t bytes, int64_t& n_out,
                                               std::mt19937_64& rng) {
  const uint64_t row_bytes = *gguf::row_storage_bytes(type, static_cast<uint64_t>(n_in));
  n_out = static_cast<int64_t>(bytes / row_bytes);
  std::vector<uint8_t> weight(row_bytes * static_cast<uint64_t>(n_out));
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> values(static_cast<size_t>(n_in));
  constexpr int64_t kDistinct = 64;
  if (type == gguf::TensorType::I2_S) {
    // Ternary values (the I2_S quantizer keeps signs only) for the distinct rows, quantized as one tensor.
    const int64_t distinct = std::min(kDistinct, n_out);
    std::vector<float> ternary(static_cast<size_t>(distinct * n_in));
    for (auto& v : ternary) v = 0.02f * static_cast<float>(static_cast<int>(rng() % 3) - 1);
    std::vector<std::byte> packed(*gguf::tensor_storage_bytes(type, ternary.size()));
    quant::quantize_i2_s(ternary, packed);
    weight.resize(weight.size() + (packed.size() - row_bytes * static_cast<uint64_t>(distinct)));
    std::memcpy(weight.data(), packed.data(), row_bytes * static_cast<uint64_t>(distinct));
    std::memcpy(weight.data() + row_bytes * static_cast<uint64_t>(n_out),
                packed.data() + row_bytes * static_cast<uint64_t>(distinct), packed.size() - row_bytes * distinct);
  }
  for (int64_t r = 0; r < std::min(kDistinct, n_out) && type != gguf::TensorType::I2_S; ++r) {
    for (auto& v : values) v = normal(rng);
    uint8_t* row = weight.data() + static_cast<uint64_t>(r) * row_bytes;
    if (type == gguf::TensorType::F16) {
      for (int64_t i = 0; i < n_in; ++i) {
        const uint16_t half = quant::fp32_to_fp16(values[static_cast<size_t>(i)]);
        std::memcpy(row + 2 * i, &half, 2);
      }
    } else {
      quant::quantize_row(type, values.data(), row, n_in);
    }
  }
  for (int64_t r = kDistinct; r < n_out; ++r)
    std::memcpy(weight.data() + static_cast<uint64_t>(r) * row_bytes,
                weight.data() + static_cast<uint64_t>(r % kDistinct) * row_bytes, row_bytes);
  return weight;
}

}  // namespace sy::bench
