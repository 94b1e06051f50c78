// A byte-level GGUF builder for tests: unlike gguf::Writer it writes whatever it is told, so tests can make
// every kind of malformed file field by field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace sy::test {

class RawGguf {
 public:
  std::vector<std::byte> bytes;

  RawGguf& u8(uint8_t v) { return put(v); }
  RawGguf& u32(uint32_t v) { return put(v); }
  RawGguf& u64(uint64_t v) { return put(v); }
  RawGguf& f32(float v) { return put(v); }
  RawGguf& raw(std::string_view s) {
    for (char c : s) bytes.push_back(static_cast<std::byte>(c));
    return *this;
  }
  RawGguf& str(std::string_view s) { return u64(s.size()).raw(s); }
  RawGguf& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
  }
  // key, UINT32 type, value
  RawGguf& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  RawGguf& kv_str(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  // A tensor info record.
  RawGguf& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  RawGguf& pad_to(size_t alignment) {
    while (bytes.size() % alignment) bytes.push_back(std::byte{0});
    return *this;
  }
  RawGguf& zeros(size_t n) {
    bytes.insert(bytes.end(), n, std::byte{0});
    return *this;
  }
  std::span<const std::byte> span() const { return bytes; }

 private:
  template <class T>
  RawGguf& put(T v) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof v);
    std::memcpy(bytes.data() + at, &v, sizeof v);
    return *this;
  }
};

// Writes `bytes` to `path`.
void write_file(const std::string& path, std::span<const std::byte> bytes);

}  // namespace sy::test
