#include "tools/switchyard/model_file.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/common/error.h"
#include "core/common/format.h"

namespace sy::cli {

void UnmapAnonymous::operator()(std::byte* address) const { ::munmap(address, length); }

namespace {

// The whole file, read with read(2) into anonymous memory.
std::pair<std::byte*, size_t> read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::io, path + ": cannot open: " + std::strerror(errno));
  const off_t end = ::lseek(fd, 0, SEEK_END);
  const size_t size = end > 0 ? static_cast<size_t>(end) : 0;
  void* memory = size ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : nullptr;
  if (memory == MAP_FAILED) {
    const int error = errno;
    ::close(fd);
    throw Error(ErrorCode::out_of_memory,
                fmt::format("{}: --no-mmap cannot allocate {}: {}", path, format_bytes(size), std::strerror(error)));
  }
  auto* bytes = static_cast<std::byte*>(memory);
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::pread(fd, bytes + done, size - done, static_cast<off_t>(done));
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "the file shrank";
      ::close(fd);
      ::munmap(memory, size);
      throw Error(ErrorCode::io, fmt::format("{}: read failed after {} of {} bytes: {}", path, done, size, why));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return {bytes, size};
}

}  // namespace

ModelFile ModelFile::open(const std::string& path, bool no_mmap, bool mlock) {
  Contents contents;
  std::string access = "mmap";
  auto file = [&] {
    if (!no_mmap) return gguf::File::open(path);
    const auto [bytes, size] = read_whole_file(path);
    contents = Contents(bytes, UnmapAnonymous{size});
    access = "read";
    return gguf::File::parse({bytes, size}, path);
  }();
  if (mlock) {
    const auto bytes = file.bytes();
    if (!bytes.empty() && ::mlock(bytes.data(), bytes.size()) != 0) {
      const int error = errno;
      throw Error(ErrorCode::io, fmt::format("{}: --mlock cannot lock its {} in memory: {}{}", path,
                                             format_bytes(bytes.size()), std::strerror(error),
                                             error == ENOMEM || error == EPERM
                                                 ? " (raise the locked-memory limit, ulimit -l, or drop --mlock)"
                                                 : ""));
    }
    access += "+mlock";  // locked until the mapping is unmapped or the process exits
  }
  return ModelFile(std::move(contents), std::move(file), std::move(access));
}

}  // namespace sy::cli
