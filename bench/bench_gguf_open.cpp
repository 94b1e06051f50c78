// Opening cost of a GGUF file: map + parse + check the header, median of repeated runs. It must not grow with the
// file's size, because opening reads no tensor data.
// Usage: bench_gguf_open MODEL.gguf [MODEL2.gguf ...] [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "core/gguf/file.h"

int main(int argc, char** argv) {
  int runs = 50;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (arg.starts_with("-")) {
      runs = 0;  // an option it does not know (--help too): the usage below
      break;
    } else {
      paths.push_back(arg);
    }
  }
  if (paths.empty() || runs <= 0) {
    std::fprintf(stderr, "usage: bench_gguf_open MODEL.gguf [MODEL2.gguf ...] [--runs N]\n");
    return 2;
  }
  std::printf("%-48s %14s %10s %9s %12s %12s\n", "file", "file bytes", "tensors", "kv", "median ms", "max ms");
  for (const auto& path : paths) try {
    std::vector<double> ms;
    size_t tensors = 0, kv = 0;
    uint64_t size = 0;
    for (int r = 0; r < runs; ++r) {
      const auto start = std::chrono::steady_clock::now();
      const auto file = sy::gguf::File::open(path);
      const auto stop = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
      tensors = file.tensors().size();
      kv = file.metadata().size();
      size = file.file_size();
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-48s %14llu %10zu %9zu %12.3f %12.3f\n", path.c_str(), static_cast<unsigned long long>(size),
                tensors, kv, ms[ms.size() / 2], ms.back());
  } catch (const std::exception& error) {  // a file that does not open: its reason, not an abort
    std::fprintf(stderr, "bench_gguf_open: %s\n", error.what());
    return 1;
  }
  return 0;
}
