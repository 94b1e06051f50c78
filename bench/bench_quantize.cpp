// Throughput of core/quant's quantizers for the ternary types on one thread (issue 11 asks I2_S for more than
// 66 M elements/s per thread): I2_S through quantize_i2_s on a whole tensor, TQ1_0 and TQ2_0 through quantize_row,
// all on the same ternary input (what BitNet converters produce). Medians of several runs; never a test.
//   bench_quantize [--mib 64] [--runs 7]   (--mib: float32 input size)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "bench/native_weight.h"
#include "core/gguf/tensor_type.h"
#include "core/quant/quantize.h"

int main(int argc, char** argv) {
  uint64_t mib = 64;
  int runs = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mib" && i + 1 < argc) mib = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_quantize [--mib 64] [--runs 7]\n");
      return 2;
    }
  }
  using sy::gguf::TensorType;
  const uint64_t n = (mib << 20) / sizeof(float) / 256 * 256;
  std::vector<float> ternary(n);
  std::mt19937_64 rng(11);
  for (auto& v : ternary) v = 0.02f * static_cast<float>(static_cast<int>(rng() % 3) - 1);
  std::printf("quantizing %llu ternary float32 elements (%llu MiB) on one thread, median of %d runs\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(mib), runs);
  std::printf("%-8s %12s %10s\n", "type", "median_ms", "Melem/s");
  for (const TensorType type : {TensorType::I2_S, TensorType::TQ1_0, TensorType::TQ2_0}) {
    std::vector<std::byte> out(*sy::gguf::tensor_storage_bytes(type, n));
    const double seconds = sy::bench::median_seconds(runs, [&] {
      if (type == TensorType::I2_S)
        sy::quant::quantize_i2_s(ternary, out);
      else
        sy::quant::quantize_row(type, ternary.data(), out.data(), static_cast<int64_t>(n));
    });
    std::printf("%-8s %12.2f %10.1f\n", std::string(sy::gguf::to_string(type)).c_str(), seconds * 1e3,
                n / seconds / 1e6);
  }
  return 0;
}
