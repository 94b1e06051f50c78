#include "core/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

#include "core/common/error.h"

namespace sy {

void log_init(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  // from_str maps anything unknown to "off"; only accept "off" when it was asked for.
  if (parsed == spdlog::level::off && level != "off") {
    throw Error(ErrorCode::invalid_argument,
                "unknown log level '" + std::string(level) + "': use trace, debug, info, warn, error or off");
  }
  // NO_COLOR (no-color.org): present and not empty means no colour, terminal or not.
  const char* no_color = std::getenv("NO_COLOR");
  const auto colors = no_color && *no_color ? spdlog::color_mode::never : spdlog::color_mode::automatic;
  auto logger = spdlog::stderr_color_mt("switchyard", colors);
  logger->set_pattern("%^[%l]%$ %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace sy
