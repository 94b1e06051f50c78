// Logging for the whole process: one spdlog logger writing to stderr, so stdout stays clean for command output.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace sy {

// Installs the stderr logger as spdlog's default, at `level` ("trace", "debug", "info", "warn", "error", "off").
// Throws sy::Error(invalid_argument) naming the allowed levels when `level` is none of them. Messages are coloured
// on a terminal unless NO_COLOR is set.
void log_init(std::string_view level);

}  // namespace sy
