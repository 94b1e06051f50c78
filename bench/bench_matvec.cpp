// Matrix-vector effective bandwidth of the CPU plugin's native kernels (plugins/cpu_avx/quant_matmul.h): weight
// bytes read per second for one token against a weight larger than the last-level cache, per type and kernel set,
// on one thread and on all, next to this machine's read bandwidth measured in the same run. Decode is bound by
// that bandwidth, so the ratio is the figure of merit: `paired` is the median over runs of (time to read the
// weight's own bytes) / (time of the kernel), both timed back to back in each run so that both see the same
// neighbours on a shared machine. Prints medians; never a test.
//   bench_matvec [--mib 256] [--runs 7] [--n-in 4096] [--scalar] [--membw PATH-to-compiled-membw]
// --n-in sets the rows' length (a multiple of 256): the 1.1B model's are mostly 2048, its ffn_down's 5632.
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/native_weight.h"
#include "core/common/memory_read.h"
#include "core/gguf/tensor_type.h"
#include "plugins/cpu_avx/cpu_features.h"
#include "plugins/cpu_avx/quant_matmul.h"

namespace {

using sy::gguf::TensorType;
using Clock = std::chrono::steady_clock;
using sy::bench::median_seconds;

struct Options {
  uint64_t mib = 256;
  int runs = 7;
  int64_t n_in = 4096;
  bool scalar = false;
  std::string membw;
};

// Every byte of [data, data + bytes) read once by the arena's threads, 8 MiB a task (core/common/memory_read.h).
void read_chunks(tbb::task_arena& arena, const uint8_t* data, uint64_t bytes, std::atomic<float>& sink) {
  constexpr uint64_t kChunk = uint64_t{8} << 20;  // per task
  arena.execute([&] {
    tbb::parallel_for(uint64_t{0}, (bytes + kChunk - 1) / kChunk, [&](uint64_t c) {
      const float max = sy::common::read_once(data + c * kChunk, std::min(kChunk, bytes - c * kChunk));
      if (max > sink.load()) sink = max;
    });
  });
}

double read_bandwidth(tbb::task_arena& arena, const std::vector<uint64_t>& buffer, int runs) {
  std::atomic<float> sink{0};
  const auto* data = reinterpret_cast<const uint8_t*>(buffer.data());
  const double seconds = median_seconds(runs, [&] { read_chunks(arena, data, buffer.size() * 8, sink); });
  if (sink.load() == 42) std::puts("");  // keeps the loads alive
  return static_cast<double>(buffer.size() * 8) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mib" && i + 1 < argc) options.mib = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--runs" && i + 1 < argc) options.runs = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--n-in" && i + 1 < argc) options.n_in = std::strtoll(argv[++i], nullptr, 10);
    else if (arg == "--scalar") options.scalar = true;
    else if (arg == "--membw" && i + 1 < argc) options.membw = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_matvec [--mib 256] [--runs 7] [--n-in 4096] [--scalar] [--membw PATH]\n");
      return 2;
    }
  }
  if (options.n_in <= 0 || options.n_in % 256 != 0) {
    std::fprintf(stderr, "bench_matvec: --n-in must be a positive multiple of 256 (every type's block), not %lld\n",
                 static_cast<long long>(options.n_in));
    return 2;
  }
  const uint64_t bytes = options.mib << 20;
  const auto features = sy::cpu::detect_cpu_features();
  tbb::task_arena one(1), all(tbb::task_arena::automatic);
  std::printf("cpu: %s (%s); %d threads; weight %llu MiB, n_in %lld, median of %d runs\n", features.brand.c_str(),
              sy::cpu::describe_features(features).c_str(), all.max_concurrency(),
              static_cast<unsigned long long>(options.mib), static_cast<long long>(options.n_in), options.runs);

  std::vector<uint64_t> buffer(bytes / 8);
  for (uint64_t i = 0; i < buffer.size(); ++i) buffer[i] = i * 0x9E3779B97F4A7C15ull;  // touch every page
  const double read_one = read_bandwidth(one, buffer, options.runs);
  const double read_all = read_bandwidth(all, buffer, options.runs);
  buffer = {};
  std::printf("read bandwidth (in-process loop): 1 thread %.2f GB/s, %d threads %.2f GB/s\n", read_one / 1e9,
              all.max_concurrency(), read_all / 1e9);
  if (!options.membw.empty()) {
    for (const int threads : {1, all.max_concurrency()}) {
      const std::string command = options.membw + " " + std::to_string(threads) + " " + std::to_string(options.mib);
      std::printf("%s: ", command.c_str());
      std::fflush(stdout);
      if (std::system(command.c_str()) != 0) std::printf("(failed)\n");
    }
  }

  std::printf("\n%-6s %-12s %7s %10s %9s %8s %8s\n", "type", "kernels", "threads", "median_ms", "GB/s", "of_read",
              "paired");
  std::mt19937_64 rng(7);
  const int64_t n_in = options.n_in;
  std::vector<float> x(static_cast<size_t>(n_in));
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (auto& v : x) v = uniform(rng);
  for (const TensorType type :
       {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K, TensorType::TQ2_0, TensorType::TQ1_0,
        TensorType::I2_S, TensorType::F16}) {
    int64_t n_out = 0;
    const auto weight = sy::bench::make_native_weight(type, n_in, bytes, n_out, rng);
    std::vector<float> y(static_cast<size_t>(n_out));
    for (const auto set : sy::cpu::runnable_kernel_sets(features)) {
      if (set == sy::cpu::KernelSet::scalar && !options.scalar) continue;
      for (auto* arena : {&one, &all}) {
        const auto run = [&] {
          arena->execute([&] {
            sy::cpu::native_matmul(set, static_cast<uint32_t>(type), weight.data(), n_out, n_in, x.data(), 1,
                                   y.data());
          });
        };
        run();  // warm-up: first touch of the arena's threads
        const double seconds = median_seconds(options.runs, run);
        const double rate = static_cast<double>(weight.size()) / seconds;
        const double read = arena == &one ? read_one : read_all;
        std::vector<double> ratios;
        std::atomic<float> sink{0};
        for (int r = 0; r < options.runs; ++r) {
          const auto start = Clock::now();
          read_chunks(*arena, weight.data(), weight.size(), sink);
          const auto middle = Clock::now();
          run();
          const auto end = Clock::now();
          ratios.push_back(std::chrono::duration<double>(middle - start).count() /
                           std::chrono::duration<double>(end - middle).count());
        }
        if (sink.load() == 42) std::puts("");
        std::sort(ratios.begin(), ratios.end());
        std::printf("%-6s %-12s %7d %10.2f %9.2f %7.0f%% %7.0f%%\n", std::string(sy::gguf::to_string(type)).c_str(),
                    sy::cpu::to_string(set), arena->max_concurrency(), seconds * 1e3, rate / 1e9, 100 * rate / read,
                    100 * ratios[ratios.size() / 2]);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
