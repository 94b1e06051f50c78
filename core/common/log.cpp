#include "core/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "core/common/error.h"

namespace sy {

void log_init(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  // from_str maps anything unknown to "off"; only accept "off" when it was asked for.
  if (parsed == spdlog::level::off && level != "off") {
    throw Error(ErrorCode::invalid_argument,
                "unknown log level '" + std::string(level) + "': use trace, debug, info, warn, error or off");
  }
  auto logger = spdlog::stderr_color_mt("switchyard");
  logger->set_pattern("%^[%l]%$ %v");
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace sy
