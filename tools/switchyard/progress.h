// The one progress line of the CLI's long commands (load, load --verify, quantize): bytes done of the total, the
// transfer rate and the time left, on stderr, redrawn in place. Bytes that cost nothing (weights adopted zero-copy
// from the mapping) count towards done but not towards the rate or the estimate, which they would make meaningless.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sy::cli {

// Whether progress lines may be drawn at all: main turns them off with `--log-level off`. Even when allowed, a
// line is drawn only when stderr is a terminal.
void set_progress_allowed(bool allowed);

class ProgressBar {
 public:
  // `label` opens the line ("load", "verify", "quantize"); `total_bytes` is what done counts towards.
  ProgressBar(std::string label, uint64_t total_bytes);
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // The total may change as work is re-planned (a device refusing an allocation).
  void set_total(uint64_t total_bytes) { total_ = total_bytes; }
  // Counts `unit` ("runs") instead of bytes: done and total then print as plain numbers.
  void set_unit(std::string unit) { unit_ = std::move(unit); }
  // Ends the line if anything was drawn, so that what follows starts on its own line.
  void finish();

  // `done` bytes so far, `free_bytes` of them without a transfer; `item` names what was just done. Redraws at most
  // ten times a second, and always when done reaches the total.
  void update(uint64_t done, uint64_t free_bytes = 0, std::string_view item = {});

  // The line as update() would draw it, `width` columns at most (tests use it; no terminal needed).
  std::string render(uint64_t done, uint64_t free_bytes, std::string_view item, double elapsed_seconds,
                     size_t width) const;

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  uint64_t total_;
  std::string unit_;  // empty: bytes
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
};

}  // namespace sy::cli
