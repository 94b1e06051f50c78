#include "core/common/parallel_copy.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace sy::common {

void copy_parallel(void* destination, const void* source, size_t bytes, unsigned threads, size_t piece) {
  piece = std::max<size_t>(piece, 1);
  const size_t pieces = (bytes + piece - 1) / piece;
  const auto workers = static_cast<unsigned>(std::min<size_t>(threads, pieces));
  if (workers <= 1) {
    if (bytes > 0) std::memcpy(destination, source, bytes);
    return;
  }
  auto* to = static_cast<std::byte*>(destination);
  const auto* from = static_cast<const std::byte*>(source);
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t k; (k = next.fetch_add(1)) < pieces;) {
      const size_t at = k * piece;
      std::memcpy(to + at, from + at, std::min(piece, bytes - at));
    }
  };
  std::vector<std::thread> helpers;
  for (unsigned t = 1; t < workers; ++t) helpers.emplace_back(work);
  work();
  for (auto& helper : helpers) helper.join();
}

}  // namespace sy::common
