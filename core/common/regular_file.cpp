#include "core/common/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/common/error.h"
#include "core/common/format.h"

namespace sy {

std::string_view non_regular_kind(mode_t mode) {
  if (S_ISREG(mode)) return {};
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

namespace {

std::string refusal(const std::filesystem::path& path, mode_t mode) {
  return path.string() + ": is " + std::string(non_regular_kind(mode)) + ", not a regular file";
}

}  // namespace

int open_regular_file(const std::filesystem::path& path, std::string& error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    error = path.string() + ": cannot open: " + std::strerror(errno);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    error = refusal(path, st.st_mode);
    return -1;
  }
  // O_NONBLOCK: should the path have become a FIFO since the stat, the open returns at once instead of waiting for
  // a writer; the fstat below then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    error = path.string() + ": cannot open: " + std::strerror(errno);
    return -1;
  }
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = S_ISREG(st.st_mode) ? path.string() + ": cannot read its size: " + std::strerror(errno) : refusal(path, st.st_mode);
    ::close(fd);
    return -1;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

std::string read_regular_file(const std::filesystem::path& path, uint64_t max_bytes, std::string_view what) {
  std::string error;
  const int fd = open_regular_file(path, error);
  if (fd < 0) throw Error(ErrorCode::io, error + " (expected " + std::string(what) + ")");
  struct stat st {};
  ::fstat(fd, &st);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    throw Error(ErrorCode::invalid_argument,
                path.string() + ": " + std::string(what) + " is " + format_bytes(size) + " (" + std::to_string(size) +
                    " bytes), more than the " + format_bytes(max_bytes) + " allowed; is it the right file?");
  }
  std::string text;
  text.resize(size);
  size_t done = 0;
  // Reads at most what fstat said (plus nothing): a file that grows meanwhile cannot make us read without bound.
  while (done < size) {
    const ssize_t n = ::read(fd, text.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw Error(ErrorCode::io, path.string() + ": cannot read " + std::string(what) + ": " + why);
    }
    if (n == 0) break;  // shrank meanwhile: what is there is what we parse
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  ::close(fd);
  return text;
}

}  // namespace sy
