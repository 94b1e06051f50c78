#include "core/gguf/value.h"

#include <bit>
#include <cmath>
#include <sstream>

#include "core/common/error.h"

namespace sy::gguf {

std::string_view to_string(ValueType type) {
  switch (type) {
    case ValueType::UINT8: return "UINT8";
    case ValueType::INT8: return "INT8";
    case ValueType::UINT16: return "UINT16";
    case ValueType::INT16: return "INT16";
    case ValueType::UINT32: return "UINT32";
    case ValueType::INT32: return "INT32";
    case ValueType::FLOAT32: return "FLOAT32";
    case ValueType::BOOL: return "BOOL";
    case ValueType::STRING: return "STRING";
    case ValueType::ARRAY: return "ARRAY";
    case ValueType::UINT64: return "UINT64";
    case ValueType::INT64: return "INT64";
    case ValueType::FLOAT64: return "FLOAT64";
  }
  return "UNKNOWN";
}

size_t scalar_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: case ValueType::ARRAY: return 0;
  }
  return 0;
}

bool is_integer(ValueType type) {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64: return true;
    default: return false;
  }
}

namespace {
bool is_unsigned(ValueType t) {
  return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 || t == ValueType::UINT64 ||
         t == ValueType::BOOL;
}
bool is_signed(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 || t == ValueType::INT64;
}
}  // namespace

uint64_t Array::size() const {
  if (element_type == ValueType::STRING) return strings.size();
  if (element_type == ValueType::ARRAY) return arrays.size();
  const size_t width = scalar_size(element_type);
  return width ? raw.size() / width : 0;
}

Value Value::make_uint(ValueType type, uint64_t v) {
  if (!is_unsigned(type)) throw Error(ErrorCode::internal, "make_uint with non-unsigned type");
  Value out;
  out.type_ = type;
  out.data_ = v;
  return out;
}

Value Value::make_int(ValueType type, int64_t v) {
  if (!is_signed(type)) throw Error(ErrorCode::internal, "make_int with non-signed type");
  Value out;
  out.type_ = type;
  out.data_ = v;
  return out;
}

Value Value::make_float(ValueType type, double v) {
  if (type != ValueType::FLOAT32 && type != ValueType::FLOAT64) {
    throw Error(ErrorCode::internal, "make_float with non-float type");
  }
  Value out;
  out.type_ = type;
  out.data_ = type == ValueType::FLOAT32 ? static_cast<double>(static_cast<float>(v)) : v;
  return out;
}

Value Value::make_string(std::string v) {
  Value out;
  out.type_ = ValueType::STRING;
  out.data_ = std::move(v);
  return out;
}

Value Value::make_array(Array v) {
  Value out;
  out.type_ = ValueType::ARRAY;
  out.data_ = std::move(v);
  return out;
}

std::optional<uint64_t> Value::as_uint() const {
  if (type_ == ValueType::BOOL) return std::nullopt;
  if (auto* u = std::get_if<uint64_t>(&data_)) return *u;
  if (auto* i = std::get_if<int64_t>(&data_); i && *i >= 0) return static_cast<uint64_t>(*i);
  return std::nullopt;
}

std::optional<int64_t> Value::as_int() const {
  if (type_ == ValueType::BOOL) return std::nullopt;
  if (auto* i = std::get_if<int64_t>(&data_)) return *i;
  if (auto* u = std::get_if<uint64_t>(&data_); u && *u <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> Value::as_float() const {
  if (auto* d = std::get_if<double>(&data_)) return *d;
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (type_ != ValueType::BOOL) return std::nullopt;
  return std::get<uint64_t>(data_) != 0;
}

const std::string* Value::as_string() const { return std::get_if<std::string>(&data_); }
const Array* Value::as_array() const { return std::get_if<Array>(&data_); }

bool Value::operator==(const Value& other) const {
  if (type_ != other.type_) return false;
  if (auto* d = std::get_if<double>(&data_)) {
    return std::bit_cast<uint64_t>(*d) == std::bit_cast<uint64_t>(std::get<double>(other.data_));
  }
  return data_ == other.data_;
}

namespace {

void format_scalar_element(std::ostringstream& os, const Array& a, size_t i) {
  switch (a.element_type) {
    case ValueType::UINT8: os << static_cast<unsigned>(a.at<uint8_t>(i)); break;
    case ValueType::INT8: os << static_cast<int>(a.at<int8_t>(i)); break;
    case ValueType::UINT16: os << a.at<uint16_t>(i); break;
    case ValueType::INT16: os << a.at<int16_t>(i); break;
    case ValueType::UINT32: os << a.at<uint32_t>(i); break;
    case ValueType::INT32: os << a.at<int32_t>(i); break;
    case ValueType::FLOAT32: os << a.at<float>(i); break;
    case ValueType::BOOL: os << (a.at<uint8_t>(i) ? "true" : "false"); break;
    case ValueType::UINT64: os << a.at<uint64_t>(i); break;
    case ValueType::INT64: os << a.at<int64_t>(i); break;
    case ValueType::FLOAT64: os << a.at<double>(i); break;
    default: break;
  }
}

void format_array(std::ostringstream& os, const Array& a, size_t max_items) {
  const uint64_t n = a.size();
  os << '[';
  for (uint64_t i = 0; i < n && i < max_items; ++i) {
    if (i) os << ", ";
    if (a.element_type == ValueType::STRING) {
      os << '"' << a.strings[i] << '"';
    } else if (a.element_type == ValueType::ARRAY) {
      format_array(os, a.arrays[i], max_items);
    } else {
      format_scalar_element(os, a, i);
    }
  }
  if (n > max_items) os << ", ... (" << n << " items)";
  os << ']';
}

}  // namespace

std::string format_value(const Value& value, size_t max_items) {
  std::ostringstream os;
  if (auto b = value.as_bool()) {
    os << (*b ? "true" : "false");
  } else if (auto* s = value.as_string()) {
    os << '"' << *s << '"';
  } else if (auto* a = value.as_array()) {
    format_array(os, *a, max_items);
  } else if (auto f = value.as_float()) {
    os << *f;
  } else if (auto i = value.as_int()) {
    os << *i;
  } else if (auto u = value.as_uint()) {
    os << *u;
  }
  return os.str();
}

}  // namespace sy::gguf
