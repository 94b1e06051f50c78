#include "core/gguf/tensor_type.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/common/error.h"

namespace sy::gguf {
namespace {

// Block layouts are facts of the GGUF format (ggml-common.h); I2_S from bitnet.cpp (see docs/formats.md).
constexpr std::array kTraits = {
    TensorTypeTraits{TensorType::F32, "f32", 1, 4, false},
    TensorTypeTraits{TensorType::F16, "f16", 1, 2, false},
    TensorTypeTraits{TensorType::Q4_0, "q4_0", 32, 18, true},
    TensorTypeTraits{TensorType::Q4_1, "q4_1", 32, 20, true},
    TensorTypeTraits{TensorType::Q5_0, "q5_0", 32, 22, true},
    TensorTypeTraits{TensorType::Q5_1, "q5_1", 32, 24, true},
    TensorTypeTraits{TensorType::Q8_0, "q8_0", 32, 34, true},
    TensorTypeTraits{TensorType::Q8_1, "q8_1", 32, 36, true},
    TensorTypeTraits{TensorType::Q2_K, "q2_K", 256, 84, true},
    TensorTypeTraits{TensorType::Q3_K, "q3_K", 256, 110, true},
    TensorTypeTraits{TensorType::Q4_K, "q4_K", 256, 144, true},
    TensorTypeTraits{TensorType::Q5_K, "q5_K", 256, 176, true},
    TensorTypeTraits{TensorType::Q6_K, "q6_K", 256, 210, true},
    TensorTypeTraits{TensorType::Q8_K, "q8_K", 256, 292, true},
    TensorTypeTraits{TensorType::IQ2_XXS, "iq2_xxs", 256, 66, true},
    TensorTypeTraits{TensorType::IQ2_XS, "iq2_xs", 256, 74, true},
    TensorTypeTraits{TensorType::IQ3_XXS, "iq3_xxs", 256, 98, true},
    TensorTypeTraits{TensorType::IQ1_S, "iq1_s", 256, 50, true},
    TensorTypeTraits{TensorType::IQ4_NL, "iq4_nl", 32, 18, true},
    TensorTypeTraits{TensorType::IQ3_S, "iq3_s", 256, 110, true},
    TensorTypeTraits{TensorType::IQ2_S, "iq2_s", 256, 82, true},
    TensorTypeTraits{TensorType::IQ4_XS, "iq4_xs", 256, 136, true},
    TensorTypeTraits{TensorType::I8, "i8", 1, 1, false},
    TensorTypeTraits{TensorType::I16, "i16", 1, 2, false},
    TensorTypeTraits{TensorType::I32, "i32", 1, 4, false},
    TensorTypeTraits{TensorType::I64, "i64", 1, 8, false},
    TensorTypeTraits{TensorType::F64, "f64", 1, 8, false},
    TensorTypeTraits{TensorType::IQ1_M, "iq1_m", 256, 56, true},
    TensorTypeTraits{TensorType::BF16, "bf16", 1, 2, false},
    TensorTypeTraits{TensorType::TQ1_0, "tq1_0", 256, 54, true},
    TensorTypeTraits{TensorType::TQ2_0, "tq2_0", 256, 66, true},
    // I2_S packs 4 elements per byte; the per-tensor 32-byte tail is added by tensor_storage_bytes. Its block
    // of 128 elements is the packing unit bitnet.cpp requires of the flattened tensor.
    TensorTypeTraits{TensorType::I2_S, "i2_s", 128, 32, true},
    TensorTypeTraits{TensorType::MXFP4, "mxfp4", 32, 17, true},
};

constexpr uint64_t kI2STailBytes = 32;

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::optional<TensorTypeTraits> tensor_type_traits(uint32_t type_id) {
  for (const auto& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == type_id) return t;
  }
  return std::nullopt;
}

const TensorTypeTraits& tensor_type_traits(TensorType type) {
  for (const auto& t : kTraits) {
    if (t.type == type) return t;
  }
  throw Error(ErrorCode::internal, "tensor type id " + std::to_string(static_cast<uint32_t>(type)) +
                                       " is missing from the type-traits table");
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
  for (const auto& t : kTraits) {
    if (equal_ignoring_case(t.name, name)) return t.type;
  }
  return std::nullopt;
}

std::string_view to_string(TensorType type) { return tensor_type_traits(type).name; }

std::optional<uint64_t> row_storage_bytes(TensorType type, uint64_t row_length) {
  const auto& t = tensor_type_traits(type);
  if (row_length % t.block_size != 0) return std::nullopt;
  const uint64_t blocks = row_length / t.block_size;
  if (blocks > UINT64_MAX / t.bytes_per_block) return std::nullopt;
  return blocks * t.bytes_per_block;
}

std::optional<uint64_t> tensor_storage_bytes(TensorType type, uint64_t n_elements) {
  auto body = row_storage_bytes(type, n_elements);
  if (!body || type != TensorType::I2_S) return body;
  if (*body > UINT64_MAX - kI2STailBytes) return std::nullopt;
  return *body + kI2STailBytes;
}

}  // namespace sy::gguf
