// What the runtime tests share: engines on the CPU plugin or on simdev's simulated GPUs, by placement.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/runtime/engine.h"

namespace sy::test {

enum class Placement {
  cpu,         // everything on the CPU plugin
  simulated,   // every layer on two simulated GPUs (simdev), the embedding on the CPU
  mixed,       // layers split across a simulated GPU and the CPU, feed-forward weights overridden to the CPU
  lazy,        // every layer on a simulated GPU in lazy mode with a cache smaller than the model
};
const char* to_string(Placement placement);

// The run configuration of `placement` (context 256 tokens, batch `batch`).
config::RunConfig placement_config(Placement placement, uint64_t batch = 512);
// An engine for the shared model `name` in `placement`; `threads` 0 = the CPU plugin's default.
// `simdev_options` are extra simdev negotiation options (e.g. {"simdev.abi", "1.2"}).
std::unique_ptr<runtime::Engine> open_engine(const std::string& name, Placement placement, uint64_t batch = 512,
                                             int threads = 0,
                                             const std::vector<std::pair<std::string, std::string>>& simdev_options = {});

}  // namespace sy::test
