#include "core/gguf/writer.h"

#include <bit>
#include <cstring>
#include <memory>

#include "core/common/atomic_file.h"
#include "core/common/error.h"

namespace sy::gguf {
namespace {

constexpr uint64_t kChunkBytes = 4u << 20;  // tensors stream to disk in pieces of this size

// Counts what it writes (for padding) and hands it to the atomic output file.
class Output {
 public:
  explicit Output(AtomicOutputFile& file) : file_(file) {}
  void bytes(const void* data, size_t n) {
    if (n) file_.write(data, n);
    written_ += n;
  }
  template <class T>
  void scalar(T v) { bytes(&v, sizeof v); }
  void string(const std::string& s) {
    scalar<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    static const char zeros[256] = {};
    uint64_t pad = (alignment - written_ % alignment) % alignment;
    while (pad) {
      const size_t n = pad < sizeof zeros ? pad : sizeof zeros;
      bytes(zeros, n);
      pad -= n;
    }
  }
  uint64_t written() const { return written_; }

 private:
  AtomicOutputFile& file_;
  uint64_t written_ = 0;
};

void write_array(Output& out, const Array& a);

void write_value(Output& out, const Value& v) {
  switch (v.type()) {
    case ValueType::UINT8: out.scalar(static_cast<uint8_t>(*v.as_uint())); break;
    case ValueType::INT8: out.scalar(static_cast<int8_t>(*v.as_int())); break;
    case ValueType::UINT16: out.scalar(static_cast<uint16_t>(*v.as_uint())); break;
    case ValueType::INT16: out.scalar(static_cast<int16_t>(*v.as_int())); break;
    case ValueType::UINT32: out.scalar(static_cast<uint32_t>(*v.as_uint())); break;
    case ValueType::INT32: out.scalar(static_cast<int32_t>(*v.as_int())); break;
    case ValueType::FLOAT32: out.scalar(static_cast<float>(*v.as_float())); break;
    case ValueType::BOOL: out.scalar(static_cast<uint8_t>(*v.as_bool() ? 1 : 0)); break;
    case ValueType::STRING: out.string(*v.as_string()); break;
    case ValueType::ARRAY: write_array(out, *v.as_array()); break;
    case ValueType::UINT64: out.scalar(*v.as_uint()); break;
    case ValueType::INT64: out.scalar(*v.as_int()); break;
    case ValueType::FLOAT64: out.scalar(*v.as_float()); break;
  }
}

void write_array(Output& out, const Array& a) {
  out.scalar(static_cast<uint32_t>(a.element_type));
  out.scalar<uint64_t>(a.size());
  if (a.element_type == ValueType::STRING) {
    for (const auto& s : a.strings) out.string(s);
  } else if (a.element_type == ValueType::ARRAY) {
    for (const auto& inner : a.arrays) write_array(out, inner);
  } else {
    out.bytes(a.raw.data(), a.raw.size());
  }
}

}  // namespace

Writer::Writer(uint64_t alignment) : alignment_(alignment) {
  if (alignment == 0 || !std::has_single_bit(alignment) || alignment > kMaxAlignment) {
    throw Error(ErrorCode::invalid_argument, "GGUF alignment " + std::to_string(alignment) +
                                                 " is not a power of two between 1 and 1 MiB");
  }
  if (alignment != kDefaultAlignment) {
    add("general.alignment", Value::make_uint(ValueType::UINT32, alignment));
  }
}

void Writer::add(std::string key, Value value) {
  for (const auto& kv : metadata_) {
    if (kv.key == key) throw Error(ErrorCode::invalid_argument, "GGUF key '" + key + "' added twice");
  }
  metadata_.push_back({std::move(key), std::move(value)});
}

void Writer::add_tensor(std::string name, TensorType type, std::span<const uint64_t> ne,
                        std::span<const std::byte> data) {
  const uint64_t expected = data.size();
  add_tensor(std::move(name), type, ne, [data](uint64_t offset, std::span<std::byte> out) {
    std::memcpy(out.data(), data.data() + offset, out.size());
  });
  if (tensors_.back().n_bytes != expected) {
    const std::string message = "tensor '" + tensors_.back().name + "' needs " +
                                std::to_string(tensors_.back().n_bytes) + " bytes of " +
                                std::string(to_string(type)) + " data, given " + std::to_string(expected);
    tensors_.pop_back();
    throw Error(ErrorCode::invalid_argument, message);
  }
}

void Writer::add_tensor(std::string name, TensorType type, std::span<const uint64_t> ne, Producer producer) {
  if (ne.empty() || ne.size() > kMaxDims) {
    throw Error(ErrorCode::invalid_argument, "tensor '" + name + "' needs 1 to 4 dimensions");
  }
  if (name.empty() || name.size() > kMaxTensorNameBytes) {
    throw Error(ErrorCode::invalid_argument, "tensor name '" + name + "' must have 1 to 63 bytes");
  }
  for (const auto& t : tensors_) {
    if (t.name == name) throw Error(ErrorCode::invalid_argument, "tensor '" + name + "' added twice");
  }
  uint64_t n_elements = 1;
  for (uint64_t d : ne) {
    if (d == 0 || n_elements > UINT64_MAX / d) {
      throw Error(ErrorCode::invalid_argument, "tensor '" + name + "' has an empty or overflowing shape");
    }
    n_elements *= d;
  }
  const auto& traits = tensor_type_traits(type);
  const auto bytes = tensor_storage_bytes(type, n_elements);
  if (ne[0] % traits.block_size != 0 || !bytes) {
    throw Error(ErrorCode::invalid_argument, "tensor '" + name + "': rows of " + std::to_string(ne[0]) +
                                                 " elements are not a multiple of " + std::string(traits.name) +
                                                 "'s block size " + std::to_string(traits.block_size));
  }
  tensors_.push_back({std::move(name), type, {ne.begin(), ne.end()}, *bytes, std::move(producer)});
}

void Writer::write(const std::filesystem::path& path) const {
  // A unique temporary beside `path`, renamed over it when complete; removed on failure, SIGINT or SIGTERM.
  AtomicOutputFile file(path);
  Output out(file);
  out.bytes("GGUF", 4);
  out.scalar<uint32_t>(3);
  out.scalar<uint64_t>(tensors_.size());
  out.scalar<uint64_t>(metadata_.size());
  for (const auto& kv : metadata_) {
    out.string(kv.key);
    out.scalar(static_cast<uint32_t>(kv.value.type()));
    write_value(out, kv.value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    out.string(t.name);
    out.scalar<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) out.scalar(d);
    out.scalar(static_cast<uint32_t>(t.type));
    out.scalar(offset);
    offset += (t.n_bytes + alignment_ - 1) / alignment_ * alignment_;
  }
  out.pad_to(alignment_);
  std::vector<std::byte> chunk;
  for (const auto& t : tensors_) {
    chunk.resize(std::min<uint64_t>(t.n_bytes, kChunkBytes));
    for (uint64_t done = 0; done < t.n_bytes;) {
      const uint64_t n = std::min<uint64_t>(t.n_bytes - done, kChunkBytes);
      std::span<std::byte> piece(chunk.data(), n);
      t.producer(done, piece);
      out.bytes(piece.data(), piece.size());
      done += n;
    }
    out.pad_to(alignment_);
  }
  file.commit();
}

}  // namespace sy::gguf
