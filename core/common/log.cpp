#include "core/common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

#include "core/common/error.h"
#include "core/common/utf8.h"

namespace sy {
namespace {

// The %* flag: the message escaped for a terminal. Log lines quote plugins' own words and names from model files,
// which could hold escape sequences or forge log lines of their own: one log line stays one line.
class EscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
    const std::string text = escape_text(std::string_view(message.payload.data(), message.payload.size()),
                                         EscapeFor::terminal);
    out.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<EscapedMessage>(); }
};

}  // namespace

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
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<EscapedMessage>('*').set_pattern("%^[%l]%$ %*");
  logger->set_formatter(std::move(formatter));
  logger->set_level(parsed);
  spdlog::set_default_logger(logger);
}

}  // namespace sy
