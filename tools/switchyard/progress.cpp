#include "tools/switchyard/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/common/format.h"

namespace sy::cli {
namespace {

bool g_progress_allowed = true;

// The terminal's width in columns: the tty's, else $COLUMNS, else 80.
size_t terminal_width() {
  winsize size{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    if (const long n = std::strtol(columns, nullptr, 10); n > 0) return static_cast<size_t>(n);
  }
  return 80;
}

std::string format_seconds(double seconds) {
  if (seconds < 60) return fmt::format("{:.0f}s", seconds);
  const auto total = static_cast<uint64_t>(seconds);
  return total < 3600 ? fmt::format("{}m{:02}s", total / 60, total % 60)
                      : fmt::format("{}h{:02}m", total / 3600, total % 3600 / 60);
}

}  // namespace

void set_progress_allowed(bool allowed) { g_progress_allowed = allowed; }

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes)
    : label_(std::move(label)), total_(total_bytes), enabled_(g_progress_allowed && isatty(STDERR_FILENO) != 0) {}

void ProgressBar::finish() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

std::string ProgressBar::render(uint64_t done, uint64_t free_bytes, std::string_view item, double elapsed_seconds,
                                size_t width) const {
  const uint64_t transferred = done - std::min(done, free_bytes);
  const double rate = elapsed_seconds > 0 ? static_cast<double>(transferred) / elapsed_seconds : 0;
  const auto amount = [&](uint64_t n) { return unit_.empty() ? format_bytes(n) : fmt::format("{} {}", n, unit_); };
  std::string numbers = unit_.empty() ? fmt::format(" {} / {}", amount(done), amount(total_))
                                      : fmt::format(" {} / {}", done, amount(total_));
  if (transferred > 0 && rate > 0) {
    numbers += unit_.empty() ? fmt::format("  {}/s", amount(static_cast<uint64_t>(rate)))
                             : fmt::format("  {:.1f} {}/s", rate, unit_);
    if (done < total_) numbers += "  ETA " + format_seconds(static_cast<double>(total_ - done) / rate);
  }
  if (free_bytes > 0) numbers += fmt::format("  ({} zero-copy)", format_bytes(std::min(done, free_bytes)));
  // The bar takes what is left of a third of the line, at least 10 columns; then the item, cut to fit.
  const size_t bar = std::clamp<size_t>(width / 3, 10, 40);
  const double fraction = total_ ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total_)) : 1.0;
  const auto filled = static_cast<size_t>(fraction * static_cast<double>(bar));
  std::string line = fmt::format("{} [{}{}]{}", label_, std::string(filled, '='), std::string(bar - filled, ' '),
                                 numbers);
  if (!item.empty()) line += fmt::format("  {}", item);
  if (line.size() > width) line.resize(width);
  return line;
}

void ProgressBar::update(uint64_t done, uint64_t free_bytes, std::string_view item) {
  if (!enabled_) return;
  const auto now = Clock::now();
  if (done < total_ && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  // One column short of the width: a line that fills the last column makes some terminals wrap.
  const std::string line = render(done, free_bytes, item, elapsed, terminal_width() - 1);
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace sy::cli
