#include "core/common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/common/error.h"
#include "core/common/regular_file.h"
#include "core/common/signal_safety.h"

namespace sy {
namespace {

constexpr size_t kBufferBytes = 1u << 20;

std::string errno_text() { return std::strerror(errno); }

// The mode a new file gets: 0666 less the umask (which can only be read by setting it).
mode_t default_mode() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return 0666 & ~mask;
}

}  // namespace

AtomicOutputFile::AtomicOutputFile(std::filesystem::path target) : target_(std::move(target)) {
  const std::string name = target_.string();
  struct stat st {};
  if (::lstat(target_.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      throw Error(ErrorCode::io, name + ": is a symbolic link; it is not replaced: write to the file it points to, "
                                        "or remove the link first");
    }
    if (!S_ISREG(st.st_mode)) {
      throw Error(ErrorCode::io, name + ": is " + std::string(non_regular_kind(st.st_mode)) +
                                     ", not a regular file; it is not replaced: give the path of a file");
    }
    mode_ = st.st_mode & 07777;  // an existing output keeps its mode
  } else if (errno != ENOENT) {
    throw Error(ErrorCode::io, name + ": cannot be written: " + errno_text());
  } else {
    mode_ = default_mode();
  }
  const std::filesystem::path directory = target_.has_parent_path() ? target_.parent_path() : ".";
  // Hidden, unique, created exclusively (mkstemp: O_CREAT | O_EXCL, mode 0600): never an existing user file.
  temporary_ = (directory / ("." + target_.filename().string() + ".XXXXXX")).string();
  fd_ = ::mkostemp(temporary_.data(), O_CLOEXEC);
  if (fd_ < 0) {
    throw Error(ErrorCode::io, name + ": cannot create a temporary file in " + directory.string() + ": " + errno_text());
  }
  signal_slot_ = register_temporary(temporary_.c_str());
  buffer_.reserve(kBufferBytes);
}

AtomicOutputFile::~AtomicOutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
  unregister_temporary(signal_slot_);
}

void AtomicOutputFile::write(const void* data, size_t n) {
  const auto* bytes = static_cast<const char*>(data);
  while (n > 0) {
    const size_t take = std::min(n, kBufferBytes - buffer_.size());
    buffer_.append(bytes, take);
    bytes += take;
    n -= take;
    if (buffer_.size() == kBufferBytes) flush();
  }
}

void AtomicOutputFile::flush() {
  for (size_t done = 0; done < buffer_.size();) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::io, target_.string() + ": write failed: " + errno_text());
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

void AtomicOutputFile::commit() {
  const std::string name = target_.string();
  flush();
  if (::fchmod(fd_, mode_) != 0) throw Error(ErrorCode::io, name + ": cannot set its mode: " + errno_text());
  if (::fsync(fd_) != 0) throw Error(ErrorCode::io, name + ": cannot be written to disk (fsync): " + errno_text());
  struct stat ours {};
  ::fstat(fd_, &ours);
  // The target may have become something we refuse since the constructor looked.
  struct stat st {};
  if (::lstat(target_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::io, name + ": became " +
                                   std::string(S_ISLNK(st.st_mode) ? "a symbolic link" : non_regular_kind(st.st_mode)) +
                                   " while being written; it is not replaced");
  }
  if (::rename(temporary_.c_str(), target_.c_str()) != 0) {
    throw Error(ErrorCode::io, name + ": cannot be put in place (rename from " + temporary_ + "): " + errno_text());
  }
  committed_ = true;
  const std::filesystem::path directory = target_.has_parent_path() ? target_.parent_path() : ".";
  const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // the rename itself is durable only once the directory is
    ::close(dir);
  }
  // Another writer's rename can land between ours and now; then our file is gone and saying "done" would be a lie.
  if (::stat(target_.c_str(), &st) != 0 || st.st_ino != ours.st_ino || st.st_dev != ours.st_dev) {
    throw Error(ErrorCode::io, name + ": was replaced by another writer just after this one finished; run again "
                                      "with one writer per output");
  }
  ::close(fd_);
  fd_ = -1;
}

}  // namespace sy
