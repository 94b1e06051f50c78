// copy_parallel: every byte arrives, at any size, piece size and thread count, and nothing past the end is written;
// for_each_piece_parallel, which it runs on: every piece once.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <vector>

#include "core/common/parallel_copy.h"
#include "tests/test_support.h"

TEST_CASE("copy_parallel copies every byte and nothing past them, whatever the pieces and threads") {
  auto rng = sy::test::make_rng("copy_parallel");
  std::uniform_int_distribution<int> byte(0, 255);
  for (const size_t bytes : {size_t{0}, size_t{1}, size_t{4095}, size_t{65536}, size_t{100003}}) {
    std::vector<uint8_t> source(bytes);
    for (auto& b : source) b = static_cast<uint8_t>(byte(rng));
    for (const size_t piece : {size_t{1} << 12, size_t{7777}, size_t{1} << 23})
      for (const unsigned threads : {0u, 1u, 2u, 3u, 8u}) {
        std::vector<uint8_t> destination(bytes + 64, 0xA5);  // poisoned, with a guard band past the end
        sy::common::copy_parallel(destination.data(), source.data(), bytes, threads, piece);
        INFO("bytes " << bytes << ", piece " << piece << ", threads " << threads);
        CHECK(std::equal(source.begin(), source.end(), destination.begin()));
        CHECK(std::all_of(destination.begin() + static_cast<std::ptrdiff_t>(bytes), destination.end(),
                          [](uint8_t b) { return b == 0xA5; }));
      }
  }
}

TEST_CASE("for_each_piece_parallel runs every piece exactly once, whatever the thread count") {
  for (const size_t pieces : {size_t{0}, size_t{1}, size_t{5}, size_t{1000}})
    for (const unsigned threads : {0u, 1u, 2u, 3u, 16u}) {
      std::vector<std::atomic<int>> runs(pieces);
      sy::common::for_each_piece_parallel(pieces, threads, [&](size_t k) { runs[k].fetch_add(1); });
      INFO("pieces " << pieces << ", threads " << threads);
      CHECK(std::all_of(runs.begin(), runs.end(), [](const std::atomic<int>& n) { return n.load() == 1; }));
    }
}
