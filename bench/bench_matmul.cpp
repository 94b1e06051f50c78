// Prompt (matrix-matrix) throughput of the CPU plugin's native kernels (plugins/cpu_avx/quant_matmul.h): a batch
// of token rows against one weight, through sy::cpu::native_matmul exactly as the plugin runs it (activation
// quantization included), per type and kernel set, on one thread and on all. Prints the median time, GFLOP/s
// (2 * n_out * n_in * tokens per product) and the effective weight bandwidth (weight bytes / time: how fast one
// pass of the prompt consumes the weight). Compute-bound, unlike bench_matvec; never a test.
//   bench_matmul [--mib 32] [--tokens 64] [--runs 5] [--scalar]
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench/native_weight.h"
#include "core/gguf/tensor_type.h"
#include "plugins/cpu_avx/cpu_features.h"
#include "plugins/cpu_avx/quant_matmul.h"

namespace {

struct Options {
  uint64_t mib = 32;
  int64_t tokens = 64;
  int runs = 5;
  bool scalar = false;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mib" && i + 1 < argc) options.mib = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--tokens" && i + 1 < argc) options.tokens = std::max<int64_t>(1, std::atoll(argv[++i]));
    else if (arg == "--runs" && i + 1 < argc) options.runs = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--scalar") options.scalar = true;
    else {
      std::fprintf(stderr, "usage: bench_matmul [--mib 32] [--tokens 64] [--runs 5] [--scalar]\n");
      return 2;
    }
  }
  const auto features = sy::cpu::detect_cpu_features();
  tbb::task_arena one(1), all(tbb::task_arena::automatic);
  constexpr int64_t kInputs = 4096;
  std::printf("cpu: %s (%s); %d threads; weight %llu MiB, n_in %lld, %lld tokens, median of %d runs\n",
              features.brand.c_str(), sy::cpu::describe_features(features).c_str(), all.max_concurrency(),
              static_cast<unsigned long long>(options.mib), static_cast<long long>(kInputs),
              static_cast<long long>(options.tokens), options.runs);
  std::printf("\n%-6s %-12s %7s %10s %9s %12s\n", "type", "kernels", "threads", "median_ms", "GFLOP/s", "weight_GB/s");

  std::mt19937_64 rng(7);
  std::vector<float> x(static_cast<size_t>(kInputs * options.tokens));
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (auto& v : x) v = uniform(rng);
  for (const auto type : {sy::gguf::TensorType::Q4_0, sy::gguf::TensorType::Q8_0, sy::gguf::TensorType::Q4_K,
                          sy::gguf::TensorType::Q6_K, sy::gguf::TensorType::TQ2_0, sy::gguf::TensorType::TQ1_0,
                          sy::gguf::TensorType::I2_S, sy::gguf::TensorType::F16}) {
    int64_t n_out = 0;
    const auto weight = sy::bench::make_native_weight(type, kInputs, options.mib << 20, n_out, rng);
    std::vector<float> y(static_cast<size_t>(n_out * options.tokens));
    for (const auto set : sy::cpu::runnable_kernel_sets(features)) {
      if (set == sy::cpu::KernelSet::scalar && !options.scalar) continue;
      for (auto* arena : {&one, &all}) {
        const auto run = [&] {
          arena->execute([&] {
            sy::cpu::native_matmul(set, static_cast<uint32_t>(type), weight.data(), n_out, kInputs, x.data(),
                                   options.tokens, y.data());
          });
        };
        run();  // warm-up: first touch of the arena's threads and of the output
        const double seconds = sy::bench::median_seconds(options.runs, run);
        const double flops = 2.0 * static_cast<double>(n_out) * kInputs * static_cast<double>(options.tokens);
        std::printf("%-6s %-12s %7d %10.2f %9.1f %12.2f\n", std::string(sy::gguf::to_string(type)).c_str(),
                    sy::cpu::to_string(set), arena->max_concurrency(), seconds * 1e3, flops / seconds / 1e9,
                    static_cast<double>(weight.size()) / seconds / 1e9);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
