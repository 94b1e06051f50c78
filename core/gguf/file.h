// The GGUF reader. Opening a file maps it read-only, parses and checks the header, and reads no tensor data;
// tensors are zero-copy views into the mapping. Every accepted file is safe to read: all tensor ranges lie inside
// the mapping and every array matches its declared type and length. Untrusted input never crashes the reader.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/gguf/gguf_error.h"
#include "core/gguf/tensor_type.h"
#include "core/gguf/value.h"

namespace sy::gguf {

constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxAlignment = 1u << 20;
constexpr size_t kMaxTensorNameBytes = 63;  // the reference's GGML_MAX_NAME is 64 with the terminating NUL
constexpr uint32_t kMaxArrayDepth = 8;

struct TensorInfo {
  std::string name;
  TensorType type;
  uint32_t n_dims;                 // 1..4
  std::array<uint64_t, kMaxDims> ne;  // elements per dimension, ne[0] the row length; unused dimensions are 1
  uint64_t offset;                 // from the start of the data section
  uint64_t n_elements;
  uint64_t n_bytes;                // storage in the file (see tensor_storage_bytes)
  uint64_t info_offset;            // byte offset of this tensor's info record in the file, for messages
};

struct KeyValue {
  std::string key;
  Value value;
};

// What File::open does with the tensor-table and metadata problems it collects (misaligned or overlapping
// tensors, data past the end, bad known keys): throw them all (the default), or keep them in findings() so that a
// tool such as `switchyard inspect` can still show the header. Structural errors always throw.
enum class OnFindings { throw_them, keep };

class File {
 public:
  // Maps `path` and parses its header. Throws GgufError (a sy::Error with code invalid_file, or io for I/O).
  static File open(const std::filesystem::path& path, OnFindings on_findings = OnFindings::throw_them);
  // Parses a header held in memory; `bytes` is borrowed and must outlive the File. `name` is used in messages.
  static File parse(std::span<const std::byte> bytes, std::string name);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& name() const { return name_; }  // the path as given, for messages
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute offset of the data section
  uint64_t file_size() const { return bytes_.size(); }
  uint64_t header_bytes() const { return data_offset_; }

  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;  // nullptr when absent
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent

  // The tensor's bytes inside the mapping: no copy, no read until touched. Throws the kept findings instead when
  // the file was opened with OnFindings::keep and has any: its tensor table cannot be trusted.
  std::span<const std::byte> tensor_data(const TensorInfo& tensor) const;
  // Drops the whole pages of `range` (inside this file's mapping) from the process's resident set once their bytes
  // have been copied elsewhere: they stay in the page cache, and a later read maps them again. Advice only: a file
  // parsed from memory, or a kernel that declines, keeps them.
  void release(std::span<const std::byte> range) const;
  // Faults the pages of `range` (inside this file's mapping) in now, as reading it would, without reading it
  // (MADV_POPULATE_READ; one byte a page where the kernel lacks it). Nothing for a file parsed from memory.
  void populate(std::span<const std::byte> range) const;
  // The share of this mapping's resident bytes that the kernel maps with 2 MiB page-table entries (FilePmdMapped /
  // Rss of /proc/self/smaps): about 1 where the page cache holds the file in 2 MiB folios, 0 where in 4 KiB pages
  // (a file just written, or read in small pieces); -1 where unknown (parsed from memory, no smaps, nothing
  // resident).
  double huge_page_share() const;
  // With OnFindings::keep: the problems found, empty for a sound file.
  const std::vector<Finding>& findings() const { return findings_; }
  std::span<const std::byte> bytes() const { return bytes_; }

  // Convenience for well-known keys: the architecture ("llama"), and "<arch>.<suffix>" lookups.
  std::string architecture() const;
  const Value* find_arch(std::string_view suffix) const;

 private:
  File() = default;
  struct Mapping;
  std::unique_ptr<Mapping> mapping_;  // null when parsing borrowed memory
  std::span<const std::byte> bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::unordered_map<std::string, size_t> key_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
  bool keep_findings_ = false;
  std::vector<Finding> findings_;

  friend class Parser;
};

}  // namespace sy::gguf
