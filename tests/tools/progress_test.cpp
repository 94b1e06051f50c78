// The CLI's progress line: bytes adopted zero-copy count as done but stay out of the rate and the time left, and
// the line never exceeds the width it is given.
#include <doctest/doctest.h>

#include "tools/switchyard/progress.h"

using sy::cli::ProgressBar;

namespace {
constexpr uint64_t kMiB = uint64_t{1} << 20;
}

TEST_CASE("rate and ETA count transferred bytes only") {
  const ProgressBar bar("load", 100 * kMiB);
  // 50 MiB done in 1 s, 40 of them adopted in place: 10 MiB/s transferred, 50 MiB left at that rate.
  const std::string line = bar.render(50 * kMiB, 40 * kMiB, "blk.3.ffn_up.weight", 1.0, 200);
  CHECK(line.find("50.0 MiB / 100.0 MiB") != std::string::npos);
  CHECK(line.find("10.0 MiB/s") != std::string::npos);
  CHECK(line.find("ETA 5s") != std::string::npos);
  CHECK(line.find("(40.0 MiB zero-copy)") != std::string::npos);
  CHECK(line.find("blk.3.ffn_up.weight") != std::string::npos);
}

TEST_CASE("all zero-copy: no rate, no estimate") {
  const ProgressBar bar("load", 8 * kMiB);
  const std::string line = bar.render(4 * kMiB, 4 * kMiB, "", 0.5, 200);
  CHECK(line.find("/s") == std::string::npos);
  CHECK(line.find("ETA") == std::string::npos);
}

TEST_CASE("the line fits the width, whatever the item's length") {
  const ProgressBar bar("quantize", 1000 * kMiB);
  for (size_t width : {20, 40, 79, 120}) {
    CAPTURE(width);
    const std::string line = bar.render(10 * kMiB, 0, std::string(300, 'x'), 2.0, width);
    CHECK(line.size() <= width);
    CHECK(line.rfind("quantize [", 0) == 0);
  }
  CHECK(bar.render(1000 * kMiB, 0, "", 3.0, 200).find("[" + std::string(40, '=') + "]") != std::string::npos);
}
