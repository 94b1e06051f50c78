// The read-bandwidth probe loads every byte it is given: read_once's result is the largest float of the buffer, at
// any alignment and vector width, wherever the largest one lies (a skipped stretch would miss it), the short tail
// excepted.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "core/common/memory_read.h"
#include "tests/test_support.h"

TEST_CASE("read_once: the largest float of the whole buffer but its last partial 256 bytes") {
  auto rng = sy::test::make_rng("memory_read read_once");
  constexpr uint64_t kFloats = 64 * 1024 + 37;
  std::vector<float> storage(kFloats + 16);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (int trial = 0; trial < 64; ++trial) {
    for (auto& v : storage) v = value(rng);
    const uint64_t offset = trial % 16;  // any alignment of the start
    float* data = storage.data() + offset;
    const uint64_t bytes = (kFloats - offset) * sizeof(float);
    const uint64_t read_floats = bytes / 256 * 256 / sizeof(float);
    // The first and the last float read, then anywhere.
    const uint64_t at = trial == 0   ? 0
                        : trial == 1 ? read_floats - 1
                                     : std::uniform_int_distribution<uint64_t>(0, read_floats - 1)(rng);
    data[at] = 2.0f + static_cast<float>(trial);
    if (read_floats < kFloats - offset) data[read_floats] = 1000.0f;  // in the skipped tail
    CAPTURE(trial);
    CAPTURE(at);
    for (const int bits : {512, 256, 128}) {  // every width this CPU has
      CAPTURE(bits);
      CHECK(sy::common::read_once(data, bytes, bits) == 2.0f + static_cast<float>(trial));
    }
  }
}

TEST_CASE("measure_read_bandwidth: a positive rate at one and at several threads") {
  CHECK(sy::common::measure_read_bandwidth(uint64_t{4} << 20, 1, 1) > 0);
  CHECK(sy::common::measure_read_bandwidth(uint64_t{4} << 20, 3, 1) > 0);
}

TEST_CASE("read_speed_against_own_memory: a ratio for readable pieces, -1 for nothing to read") {
  std::vector<std::byte> memory(size_t{6} << 20, std::byte{1});
  const std::span<const std::byte> all(memory);
  const std::vector<std::span<const std::byte>> pieces = {all.subspan(0, 1 << 20), all.subspan(size_t{3} << 20, 1 << 20),
                                                          all.subspan((size_t{5} << 20) + 3, 12345)};
  // The same kind of memory on both sides: the ratio is near 1, widely so on a shared machine.
  const double ratio = sy::common::read_speed_against_own_memory(pieces, 2);
  CHECK(ratio > 0.05);
  CHECK(ratio < 20);
  CHECK(sy::common::read_speed_against_own_memory({}) == -1);
  const std::vector<std::span<const std::byte>> tiny = {all.subspan(0, 100)};
  CHECK(sy::common::read_speed_against_own_memory(tiny) == -1);  // under one 256-byte step: nothing is read
}

