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

TEST_CASE("escape_text: invalid bytes always; for a terminal also controls, bidi overrides and backslashes") {
  using sy::EscapeFor;
  CHECK(sy::escape_text("blk.0\x1b[2J", EscapeFor::json) == "blk.0\x1b[2J");
  CHECK(sy::printable("blk.0\x1b[2J") == "blk.0\\x1b[2J");
  CHECK(sy::printable("caf\xc3\xa9 \xff") == "caf\xc3\xa9 \\xff");
  CHECK(sy::printable("tab\there\x7f") == "tab\\there\\x7f");
  // A newline or carriage return would let a name forge a line of output of its own.
  CHECK(sy::printable("name\nerror: forged\r") == "name\\nerror: forged\\r");
  CHECK(sy::escape_text("one\ntwo\x1b", EscapeFor::terminal_lines) == "one\n  two\\x1b");
  // C1 CSI (U+009B), a right-to-left override, a line separator: valid UTF-8 that still drives a terminal.
  CHECK(sy::printable("a\xc2\x9b" "2Jb") == "a\\u{9b}2Jb");
  CHECK(sy::printable("x\xe2\x80\xaetxt.exe") == "x\\u{202e}txt.exe");
  CHECK(sy::printable("\xe2\x80\xa8") == "\\u{2028}");
  CHECK(sy::printable("C:\\dir") == "C:\\\\dir");  // so that an escape printed reads back as one
  const std::string printable_utf8 = "\xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x98\x80 \xc3\xa9";
  CHECK(sy::printable(printable_utf8) == printable_utf8);
  CHECK(sy::is_valid_utf8("caf\xc3\xa9"));
  CHECK_FALSE(sy::is_valid_utf8("\xed\xa0\x80"));  // a surrogate
}
