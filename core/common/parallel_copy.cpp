#include "core/common/parallel_copy.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace sy::common {

void for_each_piece_parallel(size_t pieces, unsigned threads, const std::function<void(size_t)>& work) {
  const auto workers = static_cast<unsigned>(std::min<size_t>(threads, pieces));
  if (workers <= 1) {
    for (size_t k = 0; k < pieces; ++k) work(k);
    return;
  }
  std::atomic<size_t> next{0};
  const auto take = [&] {
    for (size_t k; (k = next.fetch_add(1)) < pieces;) work(k);
  };
  std::vector<std::thread> helpers;
  for (unsigned t = 1; t < workers; ++t) helpers.emplace_back(take);
  take();
  for (auto& helper : helpers) helper.join();
}

void copy_parallel(void* destination, const void* source, size_t bytes, unsigned threads, size_t piece) {
  piece = std::max<size_t>(piece, 1);
  const size_t pieces = (bytes + piece - 1) / piece;
  if (std::min<size_t>(threads, pieces) <= 1) {
    if (bytes > 0) std::memcpy(destination, source, bytes);
    return;
  }
  auto* to = static_cast<std::byte*>(destination);
  const auto* from = static_cast<const std::byte*>(source);
  for_each_piece_parallel(pieces, threads, [&](size_t k) {
    const size_t at = k * piece;
    std::memcpy(to + at, from + at, std::min(piece, bytes - at));
  });
}

}  // namespace sy::common
