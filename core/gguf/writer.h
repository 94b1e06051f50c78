// The GGUF writer: tests, the quantizer and benchmark models build files with it. It writes version 3,
// little-endian, through AtomicOutputFile (a unique temporary beside the target, fsync, rename), so a failed or
// interrupted write never leaves a half-written model behind and two writers never mix their bytes. Files it
// writes read back identically with File::open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/gguf/file.h"

namespace sy::gguf {

class Writer {
 public:
  // Produces a tensor's bytes in pieces: called with an output span of the requested length, fills it.
  // Lets the quantizer stream large tensors without holding the whole model in memory.
  using Producer = std::function<void(uint64_t offset, std::span<std::byte> out)>;

  explicit Writer(uint64_t alignment = kDefaultAlignment);

  // Metadata in insertion order; a repeated key throws sy::Error(invalid_argument).
  void add(std::string key, Value value);
  // `data` is borrowed until write() returns; its size must equal the tensor's storage size.
  void add_tensor(std::string name, TensorType type, std::span<const uint64_t> ne, std::span<const std::byte> data);
  void add_tensor(std::string name, TensorType type, std::span<const uint64_t> ne, Producer producer);

  // Writes everything to `path` (through a unique temporary and a rename). Throws sy::Error on failure, and
  // refuses to replace a symbolic link, device, FIFO or directory at `path`.
  void write(const std::filesystem::path& path) const;

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<uint64_t> ne;
    uint64_t n_bytes;
    Producer producer;
  };
  uint64_t alignment_;
  std::vector<KeyValue> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace sy::gguf
