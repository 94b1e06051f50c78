// libFuzzer entry point for the GGUF reader and the model checks: any input either parses, with every tensor
// range inside the buffer and every string it holds printable safely (printable() leaves no control character, C1
// control or bidirectional override, and valid UTF-8), or is refused with a GgufError. Anything else (a crash, a
// sanitizer report, another exception, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/common/utf8.h"
#include "core/gguf/file.h"
#include "core/model/architecture.h"

namespace {

// What text output would print of `text` can neither drive a terminal nor forge a line.
void check_printable(std::string_view text) {
  const std::string shown = sy::printable(text);
  for (size_t i = 0; i < shown.size();) {
    const size_t n = sy::utf8_sequence_length(shown, i);
    if (n == 0) std::abort();
    const char32_t code = sy::utf8_code_point(shown, i, n);
    if (code < 0x20 || code == 0x7f || sy::is_terminal_control(code)) std::abort();
    i += n;
  }
}

void check_value(const sy::gguf::Value& value) {
  if (const auto* text = value.as_string()) check_printable(*text);
  if (const auto* array = value.as_array()) {
    for (const auto& text : array->strings) check_printable(text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto file = sy::gguf::File::parse(bytes, "fuzz.gguf");
    for (const auto& t : file.tensors()) {
      const auto view = file.tensor_data(t);
      if (view.data() < bytes.data() || view.data() + view.size() > bytes.data() + bytes.size()) std::abort();
    }
    for (const auto& kv : file.metadata()) {
      check_printable(kv.key);
      check_value(kv.value);
    }
    for (const auto& t : file.tensors()) check_printable(t.name);
    for (const auto& finding : sy::model::check_model(file)) check_printable(finding.message);
  } catch (const sy::gguf::GgufError&) {
  }
  return 0;
}
