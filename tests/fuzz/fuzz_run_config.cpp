// libFuzzer entry point for the run configuration: any text either becomes a RunConfig (whose description
// --print-config prints) or is refused with a sy::Error naming the problem. Anything else (a crash, a stack
// overflow on deep nesting, a JSON-library exception, a hang on a pathological regex) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/config/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto config = sy::config::parse_run_config(text, "fuzz.json", {}, {});
    (void)sy::config::describe(config);
  } catch (const sy::Error&) {
  }
  return 0;
}
