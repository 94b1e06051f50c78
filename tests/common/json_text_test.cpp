// Text from model files reaches output escaped: bytes that are not UTF-8 as \xNN (JSON used to throw "invalid
// UTF-8 byte at index 3", naming neither file nor key), and control characters before a terminal sees them.
#include <doctest/doctest.h>

#include "core/common/json_text.h"
#include "core/common/utf8.h"

TEST_CASE("json_text escapes invalid UTF-8 in values and keys instead of throwing") {
  nlohmann::ordered_json j;
  j["name"] = std::string("bad\xff\x1b[31mname");
  j["list"] = {std::string("ok"), std::string("\xc0\xaf")};
  j[std::string("key\xfe")] = 1;
  CHECK_THROWS(j.dump());  // what every command used to do
  CHECK(sy::json_text(j) == R"({"name":"bad\\xff\u001b[31mname","list":["ok","\\xc0\\xaf"],"key\\xfe":1})");
  const nlohmann::ordered_json valid = {{"a", "é"}};
  CHECK(sy::json_text(valid, 2) == valid.dump(2));
}

TEST_CASE("escape_text: invalid bytes always, control characters on request; valid UTF-8 untouched") {
  CHECK(sy::escape_text("blk.0\x1b[2J", true) == "blk.0\\x1b[2J");
  CHECK(sy::escape_text("blk.0\x1b[2J", false) == "blk.0\x1b[2J");
  CHECK(sy::escape_text("caf\xc3\xa9 \xff", true) == "caf\xc3\xa9 \\xff");
  CHECK(sy::escape_text("tab\there\x7f", true) == "tab\\x09here\\x7f");
  CHECK(sy::is_valid_utf8("caf\xc3\xa9"));
  CHECK_FALSE(sy::is_valid_utf8("\xed\xa0\x80"));  // a surrogate
}
