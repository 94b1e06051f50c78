// Throughput of decoding weights into float32, per weight type and CPU ISA level: core/quant's scalar reference
// (the `scalar` level) and the CPU plugin's AVX2 and AVX-512 decoders (plugins/cpu_avx/dequantize_rows.h, called as
// the plugin calls them), on one thread. Elements per second and GB/s of float32 written, once with source and output
// inside L2 (about 256 KiB together) and once streaming 512 MiB of output through DRAM; medians of several runs.
// A type without a decoder at a SIMD level prints "scalar fallback" there: the same code as its scalar row, not
// timed twice. Levels above what this CPU runs are skipped. The first line is the DRAM case's ceiling: its output
// written by std::fill, with nothing to read or decode.
//   bench_dequant [--quick] [--types q4_0,q4_K,...]
//     --quick: 64 MiB instead of 512 MiB for the DRAM case, three runs instead of seven
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/gguf/tensor_type.h"
#include "core/quant/blocks.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "plugins/cpu_avx/cpu_features.h"
#include "plugins/cpu_avx/dequantize_rows.h"

namespace {

using sy::cpu::IsaLevel;
using sy::gguf::TensorType;
using Clock = std::chrono::steady_clock;

// Source bytes for `n` elements of `type`: real quantizer output where core/quant has a quantizer (one chunk
// quantized, then repeated: the decoders' speed does not depend on which blocks repeat), otherwise random blocks whose
// fp16 scales are overwritten with 1.0 so that no NaN or subnormal skews the timing.
std::vector<std::byte> make_source(TensorType type, uint64_t n, std::mt19937_64& rng) {
  const auto& traits = sy::gguf::tensor_type_traits(type);
  std::vector<std::byte> bytes(*sy::gguf::tensor_storage_bytes(type, n));
  if (sy::quant::can_quantize(type)) {
    std::vector<float> x(std::min<uint64_t>(n, 1u << 20));
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (auto& v : x) v = normal(rng);
    const uint64_t chunk_bytes = *sy::gguf::row_storage_bytes(type, x.size());
    sy::quant::quantize_row(type, x.data(), bytes.data(), static_cast<int64_t>(x.size()));
    for (uint64_t offset = chunk_bytes; offset < bytes.size(); offset += chunk_bytes)
      std::memcpy(bytes.data() + offset, bytes.data(), std::min<uint64_t>(chunk_bytes, bytes.size() - offset));
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

// What a decoder can approach in DRAM: the same output written with nothing to decode (std::fill), seconds per pass.
// (In L2 this baseline build's 16-byte stores are slower than the decoders' own, so it is no ceiling there.)
double seconds_per_fill(std::vector<float>& out, int runs) {
  std::vector<double> seconds;
  for (int run = -1; run < runs; ++run) {
    const auto start = Clock::now();
    std::fill(out.begin(), out.end(), static_cast<float>(run));
    if (run >= 0) seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return median(seconds);
}

// One pass over the whole source. I2_S has no row decoder (its scale is per tensor): the reference's range decoder.
void decode(IsaLevel level, TensorType type, const std::vector<std::byte>& source, std::vector<float>& out) {
  if (type == TensorType::I2_S) {
    sy::quant::dequantize_range(type, source, out.size(), 0, out);
    return;
  }
  sy::cpu::dequantize_row(level, type, source.data(), out.data(), static_cast<int64_t>(out.size()));
}

// Seconds per pass, median of `runs` timings after a warm-up. A timing repeats the pass enough times to last
// about 20 ms, so that short L2 passes are not lost in the clock's granularity and the scheduler's noise.
double seconds_per_pass(IsaLevel level, TensorType type, const std::vector<std::byte>& source, std::vector<float>& out,
                        int runs) {
  auto start = Clock::now();
  decode(level, type, source, out);
  const double once = std::chrono::duration<double>(Clock::now() - start).count();
  const int passes = static_cast<int>(std::clamp(0.02 / std::max(once, 1e-9), 1.0, 100000.0));
  std::vector<double> seconds;
  for (int run = 0; run < runs; ++run) {
    start = Clock::now();
    for (int pass = 0; pass < passes; ++pass) decode(level, type, source, out);
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count() / passes);
  }
  return median(seconds);
}

std::vector<TensorType> parse_types(std::string_view list) {
  std::vector<TensorType> types;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    if (const auto type = sy::gguf::tensor_type_from_name(name)) {
      types.push_back(*type);
    } else {
      std::fprintf(stderr, "bench_dequant: unknown type '%.*s'\n", static_cast<int>(name.size()), name.data());
      std::exit(2);
    }
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return types;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::vector<TensorType> types = {TensorType::F16,  TensorType::BF16,   TensorType::Q4_0,  TensorType::Q4_1,
                                   TensorType::Q5_0, TensorType::Q5_1,   TensorType::Q8_0,  TensorType::Q2_K,
                                   TensorType::Q3_K, TensorType::Q4_K,   TensorType::Q5_K,  TensorType::Q6_K,
                                   TensorType::IQ4_NL, TensorType::TQ1_0, TensorType::TQ2_0, TensorType::I2_S};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--types" && i + 1 < argc) {
      types = parse_types(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_dequant [--quick] [--types q4_0,q4_K,...]\n");
      return 2;
    }
  }
  const int runs = quick ? 3 : 7;
  const uint64_t dram_output_bytes = quick ? (64ull << 20) : (512ull << 20);
  const sy::cpu::CpuFeatures features = sy::cpu::detect_cpu_features();
  std::vector<IsaLevel> levels;
  for (const IsaLevel level : {IsaLevel::scalar, IsaLevel::avx2, IsaLevel::avx512})
    if (level <= sy::cpu::best_isa_level(features)) levels.push_back(level);

  std::mt19937_64 rng(42);
  std::printf("dequantization to float32 on %s, one thread, median of %d runs; L2: ~256 KiB in+out, DRAM: %llu MiB out\n",
              features.brand.empty() ? "an x86-64 CPU" : features.brand.c_str(), runs,
              static_cast<unsigned long long>(dram_output_bytes >> 20));
  {
    std::vector<float> out(dram_output_bytes / sizeof(float));
    std::printf("DRAM store bandwidth, writing the same output with nothing to decode (std::fill): %.2f GB/s\n",
                out.size() * 4.0 / seconds_per_fill(out, runs) / 1e9);
  }
  std::printf("%-8s %-8s %-16s %12s %9s %7s   %12s %9s\n", "type", "level", "decoder", "L2 Melem/s", "L2 GB/s",
              "vs ref", "DRAM Melem/s", "DRAM GB/s");
  for (const TensorType type : types) {
    const auto& traits = sy::gguf::tensor_type_traits(type);
    const std::string name(sy::gguf::to_string(type));
    // L2: source plus output about 256 KiB, decoded over and over.
    const double bytes_per_element = 4.0 + static_cast<double>(traits.bytes_per_block) / traits.block_size;
    const uint64_t l2_n = static_cast<uint64_t>(256.0 * 1024 / bytes_per_element) / 256 * 256;
    const auto l2_source = make_source(type, l2_n, rng);
    std::vector<float> l2_out(l2_n);
    const uint64_t dram_n = dram_output_bytes / 4;
    const auto dram_source = make_source(type, dram_n, rng);
    std::vector<float> dram_out(dram_n);

    double reference_l2 = 0;
    for (const IsaLevel level : levels) {
      const bool fallback = level != IsaLevel::scalar &&
                            (type == TensorType::I2_S || sy::cpu::dequantize_level(level, type) == IsaLevel::scalar);
      if (fallback) {
        std::printf("%-8s %-8s %s\n", name.c_str(), sy::cpu::to_string(level), "scalar fallback");
        continue;
      }
      const double l2 = seconds_per_pass(level, type, l2_source, l2_out, runs);
      const double dram = seconds_per_pass(level, type, dram_source, dram_out, runs);
      if (level == IsaLevel::scalar) reference_l2 = l2;
      std::printf("%-8s %-8s %-16s %12.1f %9.2f %6.1fx   %12.1f %9.2f\n", name.c_str(), sy::cpu::to_string(level),
                  level == IsaLevel::scalar ? "reference" : sy::cpu::to_string(level), l2_n / l2 / 1e6,
                  l2_n * 4.0 / l2 / 1e9, reference_l2 / l2, dram_n / dram / 1e6, dram_n * 4.0 / dram / 1e9);
      std::fflush(stdout);
    }
  }
  return 0;
}
