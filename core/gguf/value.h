// Metadata values of a GGUF file: the 13 value types, arrays of any of them (strings and nested arrays included).
// Values own their data; the reader bounds what it allocates by the bytes the header really has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sy::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
constexpr uint32_t kValueTypeCount = 13;

std::string_view to_string(ValueType type);
// Bytes of one scalar element in the file; 0 for STRING and ARRAY.
size_t scalar_size(ValueType type);
bool is_integer(ValueType type);

// An array: numbers and booleans stay packed little-endian in `raw`, strings in `strings`, nested arrays in
// `arrays`; exactly one of the three is used, chosen by `element_type`.
struct Array {
  ValueType element_type = ValueType::UINT8;
  std::vector<std::byte> raw;
  std::vector<std::string> strings;
  std::vector<Array> arrays;

  uint64_t size() const;
  // Element `i` of a numeric array read as T; T must have the element's size (checked by the caller's type).
  template <class T>
  T at(size_t i) const {
    T out;
    std::memcpy(&out, raw.data() + i * sizeof(T), sizeof(T));
    return out;
  }
  bool operator==(const Array& other) const = default;  // raw comparison is bitwise, so NaNs compare equal
};

class Value {
 public:
  Value() = default;
  static Value make_uint(ValueType type, uint64_t v);    // UINT8/16/32/64 and BOOL
  static Value make_int(ValueType type, int64_t v);      // INT8/16/32/64
  static Value make_float(ValueType type, double v);     // FLOAT32/64
  static Value make_string(std::string v);
  static Value make_array(Array v);

  ValueType type() const { return type_; }

  // Typed views; nullopt when the value is of another kind. as_uint accepts any non-negative integer type,
  // as_int any integer that fits int64, as_float FLOAT32/FLOAT64.
  std::optional<uint64_t> as_uint() const;
  std::optional<int64_t> as_int() const;
  std::optional<double> as_float() const;
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const Array* as_array() const;

  // The exact bits as stored: integers and bools zero/sign-extended, FLOAT32 widened exactly to double.
  bool operator==(const Value& other) const;

 private:
  ValueType type_ = ValueType::UINT8;
  std::variant<uint64_t, int64_t, double, std::string, Array> data_{uint64_t{0}};
};

// Renders a value for people: scalars as is, strings quoted, arrays as "[a, b, c, ... (N items)]".
std::string format_value(const Value& value, size_t max_items = 8);

}  // namespace sy::gguf
