// libFuzzer entry point for the GGUF reader and the model checks: any input either parses, with every tensor
// range inside the buffer, or is refused with a GgufError. Anything else (a crash, a sanitizer report, another
// exception, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/gguf/file.h"
#include "core/model/architecture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto file = sy::gguf::File::parse(bytes, "fuzz.gguf");
    for (const auto& t : file.tensors()) {
      const auto view = file.tensor_data(t);
      if (view.data() < bytes.data() || view.data() + view.size() > bytes.data() + bytes.size()) std::abort();
    }
    (void)sy::model::check_model(file);
  } catch (const sy::gguf::GgufError&) {
  }
  return 0;
}
