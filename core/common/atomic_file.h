// Output files that appear whole or not at all, and never overwrite what they should not. Every command that
// writes a file writes it through AtomicOutputFile: a unique temporary beside the target (created exclusively,
// never an existing file), fsync'ed, renamed over the target, the directory fsync'ed; an existing target keeps its
// mode; a symbolic link, device, FIFO or directory at the target is refused, not replaced; SIGINT and SIGTERM
// remove the temporary (core/common/signal_safety.h). Two writers of one target each end with their own complete
// file in place or an error.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>

namespace sy {

class AtomicOutputFile {
 public:
  // Checks `target` and creates the temporary. Throws sy::Error(io) naming the target when it cannot be replaced
  // (what it is and what to do) or the temporary cannot be created.
  explicit AtomicOutputFile(std::filesystem::path target);
  // Without commit(), removes the temporary: a failed or abandoned write leaves nothing behind.
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  // Appends `n` bytes. Throws sy::Error(io) naming the target on failure.
  void write(const void* data, size_t n);
  // Makes the file durable and puts it in place. Throws sy::Error(io) naming the target on failure, and when
  // another writer replaced the target in the meantime.
  void commit();

  const std::filesystem::path& target() const { return target_; }

 private:
  void flush();
  std::filesystem::path target_;
  std::string temporary_;
  int fd_ = -1;
  int signal_slot_ = -1;
  mode_t mode_ = 0;
  std::string buffer_;  // writes are gathered into 1 MiB pieces
  bool committed_ = false;
};

}  // namespace sy
