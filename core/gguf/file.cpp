// The GGUF reader: maps a file, walks its header with a bounds-checked cursor, then checks the tensor table and
// the well-known metadata keys. Structural errors stop parsing at once (nothing after them can be trusted);
// table and metadata problems are collected so that `switchyard validate` lists all of them.
#include "core/gguf/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include "core/common/huge_pages.h"
#include "core/common/regular_file.h"
#include "core/common/signal_safety.h"
#include "core/gguf/metadata_checks.h"
#include "core/common/utf8.h"

namespace sy::gguf {

// ---------------------------------------------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------------------------------------------

struct File::Mapping {
  void* address = nullptr;
  size_t length = 0;
  int signal_slot = -1;  // registered with the SIGBUS handler: a file truncated under us is reported, not a crash
  ~Mapping() {
    unregister_mapping(signal_slot);
    if (address) munmap(address, length);
  }
};

namespace {

[[noreturn]] void fail(GgufErrorCode code, std::string message) {
  throw GgufError({Finding{code, std::move(message)}});
}

std::string errno_text() { return std::strerror(errno); }

// Maps the file read-only; a file of a huge page or more at a 2 MiB boundary with huge-page advice
// (common::map_huge_aligned), so that the address and the file offset agree modulo 2 MiB. Where the page cache holds
// the file in 2 MiB folios (the kernel reads it so for a mapping with that advice, on file systems with large
// folios), the kernel then maps each with one page-table entry: a decode streams every weight once per token, and a
// TLB miss every 4 KiB cost it some 15% (bench/README.md, "Third round"). Where that fails, an ordinary mapping.
// Returns MAP_FAILED as mmap does.
void* map_file(int fd, size_t length) {
  if (length >= common::kHugePageBytes)
    if (void* address = common::map_huge_aligned(length, PROT_READ, MAP_SHARED, fd); address != MAP_FAILED)
      return address;
  return mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Parser: a cursor over the header. Every read checks the bytes that remain first, and every count is compared
// with what the remaining bytes could hold before anything is allocated for it, so memory and time stay bounded
// by the header's real size whatever it declares.
// ---------------------------------------------------------------------------------------------------------------

class Parser {
 public:
  Parser(File& file) : file_(file), bytes_(file.bytes_) {}

  void run() {
    read_preamble();
    read_metadata();
    read_tensor_infos();
    locate_data_section();
    std::vector<Finding> findings = check_tensor_table();
    append_metadata_findings(file_, findings);
    if (findings.empty()) return;
    if (!file_.keep_findings_) throw GgufError(std::move(findings));
    file_.findings_ = std::move(findings);
  }

 private:
  // Smallest encodings, used to bound declared counts by the bytes left in the file.
  static constexpr uint64_t kMinKeyValueBytes = 8 + 1 + 4 + 1;        // key length, 1-byte key, type, 1-byte value
  static constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, 1 dim, type, offset
  static constexpr uint64_t kMinArrayBytes = 4 + 8;                   // element type and count of a nested array
  static constexpr uint64_t kMinStringBytes = 8;                      // length of an empty string
  static constexpr uint64_t kNoIndex = UINT64_MAX;

  uint64_t remaining() const { return bytes_.size() - pos_; }

  std::string where(uint64_t offset) const {
    return file_.name_ + ": at byte " + std::to_string(offset) + ": ";
  }

  void need(uint64_t n, std::string_view field) {
    if (remaining() < n) {
      fail(GgufErrorCode::truncated, where(pos_) + "the file ends while reading " + std::string(field) +
                                         ": expected " + std::to_string(n) + " more bytes, found " +
                                         std::to_string(remaining()) +
                                         "; the file is truncated (re-download or re-convert it)");
    }
  }

  template <class T>
  T read_scalar(std::string_view field) {
    need(sizeof(T), field);
    T out;
    std::memcpy(&out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return out;
  }

  // `index` names the element when the string is one of an array's (the label is built only on failure, since
  // vocabularies hold hundreds of thousands of strings).
  std::string read_string(std::string_view field, uint64_t index = kNoIndex) {
    const uint64_t at = pos_;
    const auto label = [&] {
      return index == kNoIndex ? std::string(field) : std::string(field) + "[" + std::to_string(index) + "]";
    };
    if (remaining() < sizeof(uint64_t)) need(sizeof(uint64_t), label());
    const auto length = read_scalar<uint64_t>(field);
    if (length > remaining()) {
      fail(GgufErrorCode::string_past_end,
           where(at) + label() + " declares a string of " + std::to_string(length) +
               " bytes but only " + std::to_string(remaining()) + " bytes remain in the file");
    }
    std::string out(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return out;
  }

  ValueType read_value_type(std::string_view field) {
    const uint64_t at = pos_;
    const auto raw = read_scalar<uint32_t>(field);
    if (raw >= kValueTypeCount) {
      fail(GgufErrorCode::unknown_value_type, where(at) + std::string(field) + " has value type " +
                                                  std::to_string(raw) + ", expected 0..12 (UINT8..FLOAT64)");
    }
    return static_cast<ValueType>(raw);
  }

  Value read_value(ValueType type, const std::string& field) {
    switch (type) {
      case ValueType::UINT8: return Value::make_uint(type, read_scalar<uint8_t>(field));
      case ValueType::INT8: return Value::make_int(type, read_scalar<int8_t>(field));
      case ValueType::UINT16: return Value::make_uint(type, read_scalar<uint16_t>(field));
      case ValueType::INT16: return Value::make_int(type, read_scalar<int16_t>(field));
      case ValueType::UINT32: return Value::make_uint(type, read_scalar<uint32_t>(field));
      case ValueType::INT32: return Value::make_int(type, read_scalar<int32_t>(field));
      case ValueType::FLOAT32: return Value::make_float(type, read_scalar<float>(field));
      case ValueType::BOOL: return Value::make_uint(type, read_scalar<uint8_t>(field) != 0);
      case ValueType::STRING: return Value::make_string(read_string(field));
      case ValueType::ARRAY: return Value::make_array(read_array(field, 1));
      case ValueType::UINT64: return Value::make_uint(type, read_scalar<uint64_t>(field));
      case ValueType::INT64: return Value::make_int(type, read_scalar<int64_t>(field));
      case ValueType::FLOAT64: return Value::make_float(type, read_scalar<double>(field));
    }
    fail(GgufErrorCode::unknown_value_type, where(pos_) + field + ": unknown value type");
  }

  Array read_array(const std::string& field, uint32_t depth) {
    const uint64_t at = pos_;
    if (depth > kMaxArrayDepth) {
      fail(GgufErrorCode::nesting_too_deep, where(at) + field + ": arrays nested " + std::to_string(depth) +
                                                " deep; at most " + std::to_string(kMaxArrayDepth) +
                                                " levels are accepted");
    }
    Array array;
    array.element_type = read_value_type(field + " (array element type)");
    const uint64_t count = read_scalar<uint64_t>(field + " (array length)");
    const uint64_t width = scalar_size(array.element_type);
    const uint64_t min_element = array.element_type == ValueType::STRING  ? kMinStringBytes
                                 : array.element_type == ValueType::ARRAY ? kMinArrayBytes
                                                                          : width;
    if (count > remaining() / min_element) {
      fail(GgufErrorCode::array_past_end,
           where(at) + field + " declares an array of " + std::to_string(count) + " " +
               std::string(to_string(array.element_type)) + " elements (at least " +
               std::to_string(min_element) + " bytes each) but only " + std::to_string(remaining()) +
               " bytes remain in the file");
    }
    if (array.element_type == ValueType::ARRAY) {
      // An empty nested array is 12 bytes in the file but an Array in memory: bound what all nested arrays take
      // by the file's own size (plus 64 KiB, for tiny files), or 240 MB of them would take 1.8 GB.
      const uint64_t budget = bytes_.size() + (uint64_t{1} << 16);
      if (count > (budget - std::min(budget, nested_array_bytes_)) / sizeof(Array)) {
        fail(GgufErrorCode::array_past_end,
             where(at) + field + " declares " + std::to_string(count) + " nested arrays, which with the " +
                 std::to_string(nested_array_bytes_ / sizeof(Array)) + " before them would take more memory (" +
                 std::to_string(sizeof(Array)) + " bytes each) than the file's " + std::to_string(bytes_.size()) +
                 " bytes; no model nests that many arrays");
      }
      nested_array_bytes_ += count * sizeof(Array);
    }
    if (array.element_type == ValueType::STRING) {
      array.strings.reserve(count);
      for (uint64_t i = 0; i < count; ++i) array.strings.push_back(read_string(field, i));
    } else if (array.element_type == ValueType::ARRAY) {
      array.arrays.reserve(count);
      for (uint64_t i = 0; i < count; ++i) {
        const std::string element = field + "[" + std::to_string(i) + "]";
        array.arrays.push_back(read_array(element, depth + 1));
      }
    } else {
      const uint64_t n = count * width;  // cannot overflow: count <= remaining / width
      array.raw.resize(n);
      if (n) std::memcpy(array.raw.data(), bytes_.data() + pos_, n);  // an empty vector's data() may be null
      pos_ += n;
    }
    return array;
  }

  void read_preamble() {
    need(4, "the magic number");
    if (std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
      std::string found;
      for (int i = 0; i < 4; ++i) {
        const auto c = static_cast<unsigned char>(bytes_[i]);
        found += (c >= 32 && c < 127) ? std::string(1, static_cast<char>(c)) : "\\x" + std::to_string(c);
      }
      fail(GgufErrorCode::bad_magic, where(0) + "expected the magic \"GGUF\", found \"" + found +
                                         "\"; this is not a GGUF model file");
    }
    pos_ = 4;
    const uint64_t version_at = pos_;
    const auto version = read_scalar<uint32_t>("the version");
    const uint32_t swapped = __builtin_bswap32(version);
    if ((version & 0xffffu) == 0 && swapped >= 1 && swapped <= 3) {
      fail(GgufErrorCode::big_endian, where(version_at) + "this GGUF file was written big-endian (version " +
                                          std::to_string(swapped) +
                                          " byte-swapped); Switchyard reads little-endian GGUF only: "
                                          "convert the model on a little-endian machine");
    }
    if (version == 1) {
      fail(GgufErrorCode::unsupported_version,
           where(version_at) + "GGUF version 1 is not supported (it predates 64-bit counts); expected version 2 "
                               "or 3: re-convert the model with a current converter");
    }
    if (version != 2 && version != 3) {
      fail(GgufErrorCode::unsupported_version, where(version_at) + "unsupported GGUF version " +
                                                   std::to_string(version) + "; expected 2 or 3");
    }
    file_.version_ = version;
    const uint64_t counts_at = pos_;
    n_tensors_ = read_scalar<uint64_t>("the tensor count");
    n_kv_ = read_scalar<uint64_t>("the key-value count");
    // Each entry occupies at least a fixed number of bytes, so a count the file cannot hold is refused now,
    // before any allocation sized by it.
    const uint64_t left = remaining();
    if (n_kv_ > left / kMinKeyValueBytes || n_tensors_ > left / kMinTensorInfoBytes ||
        n_kv_ * kMinKeyValueBytes > left - n_tensors_ * kMinTensorInfoBytes) {
      fail(GgufErrorCode::count_too_large,
           where(counts_at) + "the header declares " + std::to_string(n_tensors_) + " tensors and " +
               std::to_string(n_kv_) + " key-value pairs, which need at least " +
               (n_tensors_ > left / kMinTensorInfoBytes || n_kv_ > left / kMinKeyValueBytes
                    ? std::string("more than ") + std::to_string(left)
                    : std::to_string(n_kv_ * kMinKeyValueBytes + n_tensors_ * kMinTensorInfoBytes)) +
               " bytes, but only " + std::to_string(left) + " bytes follow; the file is corrupt");
    }
  }

  void read_metadata() {
    file_.metadata_.reserve(n_kv_);
    for (uint64_t i = 0; i < n_kv_; ++i) {
      const uint64_t at = pos_;
      std::string key = read_string("the key of key-value pair " + std::to_string(i));
      if (key.empty()) {
        fail(GgufErrorCode::empty_key, where(at) + "key-value pair " + std::to_string(i) +
                                           " has an empty key; every key needs a name");
      }
      if (!is_valid_utf8(key)) {
        fail(GgufErrorCode::key_not_utf8,
             where(at) + "key of key-value pair " + std::to_string(i) + " is not valid UTF-8");
      }
      if (file_.key_index_.count(key)) {
        fail(GgufErrorCode::duplicate_key, where(at) + "key '" + key + "' appears twice; keys must be unique");
      }
      const uint64_t type_at = pos_;
      const ValueType type = read_value_type("the value type of '" + key + "'");
      Value value = read_value(type, "'" + key + "'");
      if (key == "general.alignment") check_alignment(value, type_at);
      file_.key_index_.emplace(key, file_.metadata_.size());
      file_.metadata_.push_back(KeyValue{std::move(key), std::move(value)});
    }
  }

  void check_alignment(const Value& value, uint64_t at) {
    if (value.type() != ValueType::UINT32) {
      fail(GgufErrorCode::bad_alignment, where(at) + "'general.alignment' is stored as " +
                                             std::string(to_string(value.type())) + ", expected UINT32");
    }
    const uint64_t alignment = *value.as_uint();
    if (alignment == 0 || !std::has_single_bit(alignment) || alignment > kMaxAlignment) {
      fail(GgufErrorCode::bad_alignment, where(at) + "'general.alignment' is " + std::to_string(alignment) +
                                             ", expected a power of two between 1 and " +
                                             std::to_string(kMaxAlignment));
    }
    file_.alignment_ = alignment;
  }

  void read_tensor_infos() {
    file_.tensors_.reserve(n_tensors_);
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      TensorInfo t{};
      t.info_offset = pos_;
      t.name = read_string("the name of tensor " + std::to_string(i));
      const std::string label = "tensor '" + t.name + "'";
      if (t.name.empty()) {
        fail(GgufErrorCode::empty_key, where(t.info_offset) + "tensor " + std::to_string(i) + " has an empty name");
      }
      if (t.name.size() > kMaxTensorNameBytes) {
        fail(GgufErrorCode::tensor_name_too_long,
             where(t.info_offset) + label + " has a name of " + std::to_string(t.name.size()) +
                 " bytes; at most " + std::to_string(kMaxTensorNameBytes) + " are accepted");
      }
      if (!is_valid_utf8(t.name)) {
        fail(GgufErrorCode::key_not_utf8, where(t.info_offset) + "the name of tensor " + std::to_string(i) +
                                              " is not valid UTF-8");
      }
      if (file_.tensor_index_.count(t.name)) {
        fail(GgufErrorCode::duplicate_tensor,
             where(t.info_offset) + label + " appears twice; tensor names must be unique");
      }
      const uint64_t dims_at = pos_;
      t.n_dims = read_scalar<uint32_t>("the dimension count of " + label);
      if (t.n_dims == 0 || t.n_dims > kMaxDims) {
        fail(GgufErrorCode::bad_dimension_count, where(dims_at) + label + " has " + std::to_string(t.n_dims) +
                                                     " dimensions, expected 1 to " + std::to_string(kMaxDims));
      }
      t.ne.fill(1);
      t.n_elements = 1;
      bool overflow = false;
      for (uint32_t d = 0; d < t.n_dims; ++d) {
        const uint64_t dim_at = pos_;
        const auto dim = read_scalar<uint64_t>("dimension " + std::to_string(d) + " of " + label);
        if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          fail(GgufErrorCode::bad_dimension,
               where(dim_at) + label + " has dimension " + std::to_string(d) + " = " +
                   (dim == 0 ? std::string("0") : std::to_string(static_cast<int64_t>(dim)) + " (as signed)") +
                   ", expected a positive size");
        }
        t.ne[d] = dim;
        if (t.n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim) overflow = true;
        else t.n_elements *= dim;
      }
      const uint64_t type_at = pos_;
      const auto type_id = read_scalar<uint32_t>("the type of " + label);
      const auto traits = tensor_type_traits(type_id);
      if (!traits) {
        fail(GgufErrorCode::unknown_tensor_type,
             where(type_at) + label + " has tensor type id " + std::to_string(type_id) +
                 ", which Switchyard does not know; the file may need a newer Switchyard");
      }
      t.type = traits->type;
      if (overflow) {
        fail(GgufErrorCode::size_overflow, where(dims_at) + label + ": the element count of its shape overflows 63 bits");
      }
      if (t.ne[0] % traits->block_size != 0) {
        fail(GgufErrorCode::row_not_block_multiple,
             where(dims_at) + label + " has rows of " + std::to_string(t.ne[0]) + " elements, not a multiple of " +
                 std::string(traits->name) + "'s block size " + std::to_string(traits->block_size));
      }
      const auto bytes = tensor_storage_bytes(t.type, t.n_elements);
      if (!bytes) {
        fail(GgufErrorCode::size_overflow,
             where(dims_at) + label + ": " + std::to_string(t.n_elements) + " elements of " +
                 std::string(traits->name) + " " +
                 (t.n_elements % traits->block_size ? "do not fill whole blocks" : "overflow 64-bit byte sizes"));
      }
      t.n_bytes = *bytes;
      t.offset = read_scalar<uint64_t>("the data offset of " + label);
      file_.tensor_index_.emplace(t.name, file_.tensors_.size());
      file_.tensors_.push_back(std::move(t));
    }
  }

  void locate_data_section() {
    const uint64_t alignment = file_.alignment_;
    // pos_ <= size, and alignment <= 1 MiB, so this cannot overflow.
    file_.data_offset_ = (pos_ + alignment - 1) / alignment * alignment;
  }

  std::vector<Finding> check_tensor_table() const {
    std::vector<Finding> findings;
    const uint64_t size = bytes_.size();
    const uint64_t data_offset = file_.data_offset_;
    for (const auto& t : file_.tensors_) {
      const std::string label = "tensor '" + t.name + "'";
      if (t.offset % file_.alignment_ != 0) {
        findings.push_back({GgufErrorCode::offset_misaligned,
                            where(t.info_offset) + label + " has data offset " + std::to_string(t.offset) +
                                ", not a multiple of the alignment " + std::to_string(file_.alignment_)});
      }
      const uint64_t available = data_offset <= size ? size - data_offset : 0;
      if (t.offset > available || t.n_bytes > available - t.offset) {
        findings.push_back({GgufErrorCode::data_past_end,
                            where(t.info_offset) + label + " occupies bytes " +
                                std::to_string(t.offset) + ".." +
                                (t.offset > UINT64_MAX - t.n_bytes ? std::string("(overflow)")
                                                                   : std::to_string(t.offset + t.n_bytes)) +
                                " of the data section, which holds only " + std::to_string(available) +
                                " bytes; the file is truncated or the tensor table is corrupt"});
      }
    }
    // Overlap: with tensors sorted by offset, each must start at or after the end of the one before.
    std::vector<const TensorInfo*> by_offset;
    by_offset.reserve(file_.tensors_.size());
    for (const auto& t : file_.tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const TensorInfo& previous = *by_offset[i - 1];
      const TensorInfo& current = *by_offset[i];
      const bool previous_overflows = previous.offset > UINT64_MAX - previous.n_bytes;
      if (previous_overflows || current.offset < previous.offset + previous.n_bytes) {
        findings.push_back({GgufErrorCode::tensors_overlap,
                            where(current.info_offset) + "tensor '" + current.name + "' (data offset " +
                                std::to_string(current.offset) + ") overlaps tensor '" + previous.name +
                                "' (data offset " + std::to_string(previous.offset) + ", " +
                                std::to_string(previous.n_bytes) + " bytes)"});
      }
    }
    return findings;
  }

  File& file_;
  std::span<const std::byte> bytes_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t nested_array_bytes_ = 0;  // memory taken by nested arrays so far, bounded by the file's size
};

// ---------------------------------------------------------------------------------------------------------------
// File
// ---------------------------------------------------------------------------------------------------------------

File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::parse(std::span<const std::byte> bytes, std::string name) {
  File file;
  file.name_ = std::move(name);
  file.bytes_ = bytes;
  Parser(file).run();
  return file;
}

File File::open(const std::filesystem::path& path, OnFindings on_findings) {
  const std::string name = path.string();
  std::string error;
  const int fd = open_regular_file(path, error);  // a FIFO or device is refused before it can block
  if (fd < 0) fail(GgufErrorCode::io_error, error);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    fail(GgufErrorCode::io_error, name + ": cannot read its size: " + why);
  }
  auto mapping = std::make_unique<Mapping>();
  mapping->length = static_cast<size_t>(st.st_size);
  if (mapping->length > 0) {
    mapping->address = map_file(fd, mapping->length);
    if (mapping->address == MAP_FAILED) {
      mapping->address = nullptr;
      const std::string why = errno_text();
      ::close(fd);
      fail(GgufErrorCode::io_error, name + ": cannot map " + std::to_string(mapping->length) + " bytes: " + why);
    }
  }
  ::close(fd);  // the mapping keeps the file alive
  if (mapping->address) mapping->signal_slot = register_mapping(mapping->address, mapping->length, name.c_str());

  File file;
  file.name_ = name;
  file.bytes_ = {static_cast<const std::byte*>(mapping->address), mapping->length};
  file.mapping_ = std::move(mapping);
  file.keep_findings_ = on_findings == OnFindings::keep;
  Parser(file).run();
  return file;
}

void File::release(std::span<const std::byte> range) const {
  if (!mapping_ || !mapping_->address || range.empty()) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto first = (reinterpret_cast<uintptr_t>(range.data()) + page - 1) / page * page;
  const auto last = (reinterpret_cast<uintptr_t>(range.data()) + range.size()) / page * page;
  const auto begin = reinterpret_cast<uintptr_t>(mapping_->address);
  if (first < begin || last > begin + mapping_->length || first >= last) return;
  madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

void File::populate(std::span<const std::byte> range) const {
  if (!mapping_ || !mapping_->address || range.empty()) return;
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14; older kernels refuse it with EINVAL, and the loop below does the work
#endif
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<uintptr_t>(range.data()) / page * page;
  const auto last = reinterpret_cast<uintptr_t>(range.data()) + range.size();
  if (madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_READ) == 0) return;
  volatile const std::byte* bytes = range.data();
  std::byte sink{};
  for (size_t at = 0; at < range.size(); at += page) sink ^= bytes[at];
  (void)sink;
}

double File::huge_page_share() const {
  if (!mapping_ || !mapping_->address) return -1;
  std::ifstream smaps("/proc/self/smaps");
  const auto start = reinterpret_cast<uintptr_t>(mapping_->address);
  std::string line;
  bool inside = false;
  double rss = -1, pmd = -1;
  while (std::getline(smaps, line)) {
    unsigned long begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &begin, &end) == 2) {  // a mapping's first line: "begin-end perms ..."
      if (inside) break;
      inside = begin == start;
      continue;
    }
    unsigned long kib = 0;
    if (inside && std::sscanf(line.c_str(), "Rss: %lu kB", &kib) == 1) rss = static_cast<double>(kib);
    if (inside && std::sscanf(line.c_str(), "FilePmdMapped: %lu kB", &kib) == 1) pmd = static_cast<double>(kib);
  }
  if (rss <= 0 || pmd < 0) return -1;
  return pmd / rss;
}

const Value* File::find(std::string_view key) const {
  auto it = key_index_.find(std::string(key));
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> File::tensor_data(const TensorInfo& tensor) const {
  if (!findings_.empty()) throw GgufError(findings_);
  // In range by construction: the parser refused every tensor that does not fit inside the mapping.
  return bytes_.subspan(data_offset_ + tensor.offset, tensor.n_bytes);
}

std::string File::architecture() const {
  const Value* v = find("general.architecture");
  const std::string* s = v ? v->as_string() : nullptr;
  return s ? *s : std::string();
}

const Value* File::find_arch(std::string_view suffix) const {
  const std::string arch = architecture();
  if (arch.empty()) return nullptr;
  return find(arch + "." + std::string(suffix));
}

}  // namespace sy::gguf
