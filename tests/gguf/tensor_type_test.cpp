#include <doctest/doctest.h>

#include "core/gguf/tensor_type.h"

using namespace sy::gguf;

TEST_CASE("type traits give the block layouts of the GGUF format") {
  struct Row { TensorType type; uint32_t block; uint32_t bytes; };
  const Row rows[] = {
      {TensorType::F32, 1, 4},      {TensorType::F16, 1, 2},      {TensorType::BF16, 1, 2},
      {TensorType::Q4_0, 32, 18},   {TensorType::Q4_1, 32, 20},   {TensorType::Q5_0, 32, 22},
      {TensorType::Q5_1, 32, 24},   {TensorType::Q8_0, 32, 34},   {TensorType::Q2_K, 256, 84},
      {TensorType::Q3_K, 256, 110}, {TensorType::Q4_K, 256, 144}, {TensorType::Q5_K, 256, 176},
      {TensorType::Q6_K, 256, 210}, {TensorType::Q8_K, 256, 292}, {TensorType::IQ4_NL, 32, 18},
      {TensorType::IQ4_XS, 256, 136}, {TensorType::TQ1_0, 256, 54}, {TensorType::TQ2_0, 256, 66},
  };
  for (const auto& r : rows) {
    CAPTURE(to_string(r.type));
    const auto& t = tensor_type_traits(r.type);
    CHECK(t.block_size == r.block);
    CHECK(t.bytes_per_block == r.bytes);
    CHECK(tensor_type_traits(static_cast<uint32_t>(r.type)).has_value());
  }
  CHECK_FALSE(tensor_type_traits(4u).has_value());  // Q4_2, retired upstream
  CHECK_FALSE(tensor_type_traits(1000u).has_value());
}

TEST_CASE("I2_S stores n/4 bytes of codes plus a 32-byte scale tail") {
  CHECK(tensor_storage_bytes(TensorType::I2_S, 128 * 256).value() == 128 * 256 / 4 + 32);
  CHECK_FALSE(tensor_storage_bytes(TensorType::I2_S, 100).has_value());
}

TEST_CASE("storage sizes refuse overflow and partial blocks") {
  CHECK(tensor_storage_bytes(TensorType::Q4_0, 64).value() == 36);
  CHECK_FALSE(tensor_storage_bytes(TensorType::Q4_0, 33).has_value());
  CHECK_FALSE(tensor_storage_bytes(TensorType::F64, UINT64_MAX / 4).has_value());
}

TEST_CASE("type names look up case-insensitively") {
  CHECK(tensor_type_from_name("Q4_K") == TensorType::Q4_K);
  CHECK(tensor_type_from_name("q6_k") == TensorType::Q6_K);
  CHECK_FALSE(tensor_type_from_name("q9_9").has_value());
}
