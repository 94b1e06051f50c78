// Byte counts and counted nouns for people ("39.1 GiB", "1 tensor"), shared by the CLI's reports and the placement
// planner's reasons, so that every command prints them alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sy {

// `bytes` in the largest binary unit that keeps the value at or above 1, with `decimals` places ("512 B" exactly).
std::string format_bytes(uint64_t bytes, int decimals = 1);

// "1 tensor", "0 tensors", "5 compute units": `noun` with an "s" unless `count` is 1, or `plural` when given.
std::string count_of(uint64_t count, std::string_view noun, std::string_view plural = {});

}  // namespace sy
