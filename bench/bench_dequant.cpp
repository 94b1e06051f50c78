// Throughput of the scalar reference decoder (core/quant/dequantize.h) per weight type: elements per second and
// GB/s of float32 written, once with source and output inside L2 (about 256 KiB together) and once streaming
// 512 MiB of output through DRAM. Prints the median of several runs. The baseline SIMD and GPU paths must beat.
//   bench_dequant [--quick]     --quick: 64 MiB instead of 512 MiB for the DRAM case, three runs instead of seven
#include <algorithm>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/gguf/tensor_type.h"
#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"

namespace {

using sy::gguf::TensorType;
using Clock = std::chrono::steady_clock;

// Source bytes for `n` elements of `type`: real quantizer output where core/quant has a quantizer, otherwise
// random blocks whose fp16 scales are overwritten with 1.0 so that no NaN or subnormal skews the timing.
std::vector<std::byte> make_source(TensorType type, uint64_t n, std::mt19937_64& rng) {
  const auto& traits = sy::gguf::tensor_type_traits(type);
  std::vector<std::byte> bytes(*sy::gguf::tensor_storage_bytes(type, n));
  if (sy::quant::can_quantize(type)) {
    std::vector<float> x(std::min<uint64_t>(n, 1u << 20));
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (auto& v : x) v = normal(rng);
    const uint64_t row_bytes = *sy::gguf::row_storage_bytes(type, x.size());
    for (uint64_t first = 0; first < n; first += x.size()) {
      const uint64_t count = std::min<uint64_t>(x.size(), n - first);
      sy::quant::quantize_row(type, x.data(), bytes.data() + first / x.size() * row_bytes,
                              static_cast<int64_t>(count));
    }
    return bytes;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : bytes) b = static_cast<std::byte>(byte(rng));
  std::vector<size_t> half_offsets;  // the fp16 scale fields of each block
  switch (type) {
    case TensorType::Q2_K:
      half_offsets = {offsetof(sy::quant::BlockQ2_K, d), offsetof(sy::quant::BlockQ2_K, dmin)};
      break;
    case TensorType::Q3_K: half_offsets = {offsetof(sy::quant::BlockQ3_K, d)}; break;
    case TensorType::IQ4_NL: half_offsets = {offsetof(sy::quant::BlockIQ4_NL, d)}; break;
    default: break;
  }
  const uint16_t one = sy::quant::fp32_to_fp16(1.0f);
  for (uint64_t block = 0; block < n / traits.block_size; ++block) {
    for (size_t offset : half_offsets) std::memcpy(bytes.data() + block * traits.bytes_per_block + offset, &one, 2);
  }
  if (type == TensorType::I2_S) {
    const float scale = 1.0f;
    std::memcpy(bytes.data() + n / 4, &scale, sizeof scale);
  }
  return bytes;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Seconds for one pass over the whole tensor, median of `runs` (after one warm-up pass).
double time_decode(TensorType type, const std::vector<std::byte>& source, uint64_t n, std::vector<float>& out,
                   int runs) {
  std::vector<double> seconds;
  for (int run = -1; run < runs; ++run) {
    const auto start = Clock::now();
    sy::quant::dequantize_range(type, source, n, 0, out);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (run >= 0) seconds.push_back(elapsed);
  }
  return median(seconds);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const int runs = quick ? 3 : 7;
  const uint64_t dram_output_bytes = quick ? (64ull << 20) : (512ull << 20);
  const TensorType types[] = {TensorType::F16,  TensorType::BF16, TensorType::Q4_0,  TensorType::Q4_1,
                              TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,  TensorType::Q2_K,
                              TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,  TensorType::Q6_K,
                              TensorType::IQ4_NL, TensorType::TQ1_0, TensorType::TQ2_0, TensorType::I2_S};
  std::mt19937_64 rng(42);
  std::printf("scalar reference dequantization, median of %d runs, one thread\n", runs);
  std::printf("%-8s %14s %12s   %14s %12s\n", "type", "L2 Melem/s", "L2 GB/s", "DRAM Melem/s", "DRAM GB/s");
  for (TensorType type : types) {
    const auto& traits = sy::gguf::tensor_type_traits(type);
    // L2: source plus output about 256 KiB; the same buffers decoded over and over, ~64 passes per timing.
    const double bytes_per_element = 4.0 + static_cast<double>(traits.bytes_per_block) / traits.block_size;
    const uint64_t l2_n = static_cast<uint64_t>(256.0 * 1024 / bytes_per_element) / 256 * 256;
    const auto l2_source = make_source(type, l2_n, rng);
    std::vector<float> l2_out(l2_n);
    constexpr int kL2Passes = 64;
    std::vector<double> l2_seconds;
    for (int run = -1; run < runs; ++run) {
      const auto start = Clock::now();
      for (int pass = 0; pass < kL2Passes; ++pass) sy::quant::dequantize_range(type, l2_source, l2_n, 0, l2_out);
      if (run >= 0) l2_seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count() / kL2Passes);
    }
    const double l2 = median(l2_seconds);

    const uint64_t dram_n = dram_output_bytes / 4;
    const auto dram_source = make_source(type, dram_n, rng);
    std::vector<float> dram_out(dram_n);
    const double dram = time_decode(type, dram_source, dram_n, dram_out, runs);

    std::printf("%-8s %14.1f %12.2f   %14.1f %12.2f\n", std::string(sy::gguf::to_string(type)).c_str(),
                l2_n / l2 / 1e6, l2_n * 4.0 / l2 / 1e9, dram_n / dram / 1e6, dram_n * 4.0 / dram / 1e9);
    std::fflush(stdout);
  }
  return 0;
}
