// Byte counts for people ("39.1 GiB"), shared by the CLI's reports and the placement planner's reasons.
#pragma once

#include <cstdint>
#include <string>

namespace sy {

// `bytes` in the largest binary unit that keeps the value at or above 1, with `decimals` places ("512 B" exactly).
std::string format_bytes(uint64_t bytes, int decimals = 1);

}  // namespace sy
