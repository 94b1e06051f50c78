// The formatters every command prints with: bytes in one style, counted nouns in the singular for one.
#include <doctest/doctest.h>

#include "core/common/format.h"

TEST_CASE("format_bytes: one binary unit, one decimal by default") {
  CHECK(sy::format_bytes(512) == "512 B");
  CHECK(sy::format_bytes(256ull << 20) == "256.0 MiB");
  CHECK(sy::format_bytes(3ull << 29) == "1.5 GiB");
}

TEST_CASE("count_of: singular for one, plural otherwise") {
  CHECK(sy::count_of(1, "tensor") == "1 tensor");
  CHECK(sy::count_of(0, "tensor") == "0 tensors");
  CHECK(sy::count_of(132, "compute unit") == "132 compute units");
  CHECK(sy::count_of(2, "entry", "entries") == "2 entries");
}
