// The model file as `load` opens it: memory-mapped (the default, zero copy), read into memory instead
// (--no-mmap, as llama.cpp's: for file systems where mapping is slow or unavailable), and with --mlock its pages
// locked in RAM so that the kernel cannot evict the weights under memory pressure.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/gguf/file.h"

namespace sy::cli {

// Frees --no-mmap's copy: anonymous, page-aligned memory (as aligned as a mapping, for the kernels that adopt it).
struct UnmapAnonymous {
  size_t length = 0;
  void operator()(std::byte* address) const;
};

class ModelFile {
 public:
  // Throws sy::Error(io) naming the file when it cannot be read or locked (with what to change for --mlock).
  static ModelFile open(const std::string& path, bool no_mmap, bool mlock);

  const gguf::File& file() const { return file_; }
  // "mmap", "read" (--no-mmap), with "+mlock" when locked: how the weights reached memory, for the report.
  const std::string& access() const { return access_; }

 private:
  using Contents = std::unique_ptr<std::byte, UnmapAnonymous>;

  ModelFile(Contents contents, gguf::File file, std::string access)
      : contents_(std::move(contents)), file_(std::move(file)), access_(std::move(access)) {}

  Contents contents_;  // --no-mmap: the bytes file_ borrows (declared first: freed last)
  gguf::File file_;
  std::string access_;
};

}  // namespace sy::cli
