#include <doctest/doctest.h>

#include <string_view>

#include "core/common/sha256.h"

TEST_CASE("sha256 matches the published test vectors") {
  auto digest = [](std::string_view text) {
    return sy::sha256_hex({reinterpret_cast<const std::byte*>(text.data()), text.size()});
  };
  CHECK(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256 is the same fed in pieces") {
  sy::Sha256 h;
  std::string_view a = "ab", b = "c";
  h.update({reinterpret_cast<const std::byte*>(a.data()), a.size()});
  h.update({reinterpret_cast<const std::byte*>(b.data()), b.size()});
  CHECK(h.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
