// Writer → reader round trips over randomly generated files: random metadata of every value type (nested arrays
// and strings included) and random tensors of every type in the traits table read back identically.
#include <doctest/doctest.h>

#include <random>

#include "core/gguf/file.h"
#include "core/gguf/writer.h"
#include "tests/test_support.h"

using namespace sy::gguf;

namespace {

std::string random_string(std::mt19937_64& rng, size_t max_length) {
  std::uniform_int_distribution<size_t> length(0, max_length);
  std::uniform_int_distribution<int> ch(32, 126);
  std::string s(length(rng), ' ');
  for (auto& c : s) c = static_cast<char>(ch(rng));
  return s;
}

Array random_array(std::mt19937_64& rng, int depth);

ValueType random_type(std::mt19937_64& rng, bool allow_array) {
  for (;;) {
    auto t = static_cast<ValueType>(std::uniform_int_distribution<uint32_t>(0, 12)(rng));
    if (t != ValueType::ARRAY || allow_array) return t;
  }
}

Value random_value(std::mt19937_64& rng, ValueType type, int depth) {
  std::uniform_int_distribution<uint64_t> bits;
  switch (type) {
    case ValueType::UINT8: return Value::make_uint(type, bits(rng) & 0xff);
    case ValueType::UINT16: return Value::make_uint(type, bits(rng) & 0xffff);
    case ValueType::UINT32: return Value::make_uint(type, bits(rng) & 0xffffffff);
    case ValueType::UINT64: return Value::make_uint(type, bits(rng));
    case ValueType::BOOL: return Value::make_uint(type, bits(rng) & 1);
    case ValueType::INT8: return Value::make_int(type, static_cast<int8_t>(bits(rng)));
    case ValueType::INT16: return Value::make_int(type, static_cast<int16_t>(bits(rng)));
    case ValueType::INT32: return Value::make_int(type, static_cast<int32_t>(bits(rng)));
    case ValueType::INT64: return Value::make_int(type, static_cast<int64_t>(bits(rng)));
    case ValueType::FLOAT32: return Value::make_float(type, std::normal_distribution<float>(0, 1e3f)(rng));
    case ValueType::FLOAT64: return Value::make_float(type, std::normal_distribution<double>(0, 1e9)(rng));
    case ValueType::STRING: return Value::make_string(random_string(rng, 40));
    case ValueType::ARRAY: return Value::make_array(random_array(rng, depth + 1));
  }
  return {};
}

Array random_array(std::mt19937_64& rng, int depth) {
  Array a;
  a.element_type = random_type(rng, depth < 3);
  const size_t n = std::uniform_int_distribution<size_t>(0, 20)(rng);
  if (a.element_type == ValueType::STRING) {
    for (size_t i = 0; i < n; ++i) a.strings.push_back(random_string(rng, 12));
  } else if (a.element_type == ValueType::ARRAY) {
    for (size_t i = 0; i < n; ++i) a.arrays.push_back(random_array(rng, depth + 1));
  } else {
    a.raw.resize(n * scalar_size(a.element_type));
    for (auto& b : a.raw) b = static_cast<std::byte>(rng());
    if (a.element_type == ValueType::BOOL) {
      for (auto& b : a.raw) b &= std::byte{1};
    }
  }
  return a;
}

}  // namespace

TEST_CASE("random files round-trip through the writer and the reader") {
  auto rng = sy::test::make_rng("gguf writer round trip");
  sy::test::ScratchDir dir;
  for (int round = 0; round < 20; ++round) {
    const uint64_t alignment = uint64_t{1} << std::uniform_int_distribution<int>(0, 8)(rng);
    Writer writer(alignment);
    std::vector<KeyValue> expected_metadata;
    if (alignment != kDefaultAlignment) {
      expected_metadata.push_back({"general.alignment", Value::make_uint(ValueType::UINT32, alignment)});
    }
    const int n_kv = std::uniform_int_distribution<int>(0, 30)(rng);
    for (int i = 0; i < n_kv; ++i) {
      const std::string key = "test." + std::to_string(i) + "." + random_string(rng, 8);
      Value v = random_value(rng, random_type(rng, true), 0);
      writer.add(key, v);
      expected_metadata.push_back({key, v});
    }
    // One tensor of every type the traits table knows, with random shapes and bytes.
    struct Expected { std::string name; TensorType type; std::vector<uint64_t> ne; std::vector<std::byte> data; };
    std::vector<Expected> tensors;
    for (uint32_t id = 0; id < 64; ++id) {
      auto traits = tensor_type_traits(id);
      if (!traits) continue;
      Expected t;
      t.name = "t" + std::to_string(id) + "." + std::string(traits->name);
      t.type = traits->type;
      const int dims = std::uniform_int_distribution<int>(1, 4)(rng);
      t.ne.push_back(traits->block_size * std::uniform_int_distribution<uint64_t>(1, 3)(rng));
      for (int d = 1; d < dims; ++d) t.ne.push_back(std::uniform_int_distribution<uint64_t>(1, 3)(rng));
      uint64_t n = 1;
      for (auto d : t.ne) n *= d;
      if (t.type == TensorType::I2_S && n % 128) continue;
      t.data.resize(*tensor_storage_bytes(t.type, n));
      for (auto& b : t.data) b = static_cast<std::byte>(rng());
      tensors.push_back(std::move(t));
    }
    for (const auto& t : tensors) writer.add_tensor(t.name, t.type, t.ne, t.data);
    const auto path = dir / ("round" + std::to_string(round) + ".gguf");
    writer.write(path);

    const File file = File::open(path);
    CHECK(file.alignment() == alignment);
    REQUIRE(file.metadata().size() == expected_metadata.size());
    for (size_t i = 0; i < expected_metadata.size(); ++i) {
      CAPTURE(expected_metadata[i].key);
      CHECK(file.metadata()[i].key == expected_metadata[i].key);
      CHECK(file.metadata()[i].value == expected_metadata[i].value);
    }
    REQUIRE(file.tensors().size() == tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorInfo& t = file.tensors()[i];
      CAPTURE(t.name);
      CHECK(t.name == tensors[i].name);
      CHECK(t.type == tensors[i].type);
      CHECK(t.n_dims == tensors[i].ne.size());
      CHECK(std::equal(tensors[i].ne.begin(), tensors[i].ne.end(), t.ne.begin()));
      const auto data = file.tensor_data(t);
      CHECK(std::equal(data.begin(), data.end(), tensors[i].data.begin(), tensors[i].data.end()));
      CHECK((file.data_offset() + t.offset) % alignment == 0);
    }
  }
}

TEST_CASE("a failed write leaves no file behind") {
  sy::test::ScratchDir dir;
  Writer writer;
  const uint64_t ne[] = {32};
  writer.add_tensor("boom", TensorType::F32, ne, [](uint64_t, std::span<std::byte>) {
    throw std::runtime_error("producer failed");
  });
  CHECK_THROWS(writer.write(dir / "out.gguf"));
  CHECK_FALSE(std::filesystem::exists(dir / "out.gguf"));
  CHECK_FALSE(std::filesystem::exists(dir / "out.gguf.tmp"));
}

TEST_CASE("the writer refuses what the reader would refuse") {
  Writer writer;
  const uint64_t bad_row[] = {33};
  std::vector<std::byte> data(18 * 2);
  CHECK_THROWS_AS(writer.add_tensor("q", TensorType::Q4_0, bad_row, data), sy::Error);
  const uint64_t ok[] = {32};
  std::vector<std::byte> wrong_size(17);
  CHECK_THROWS_AS(writer.add_tensor("q", TensorType::Q4_0, ok, wrong_size), sy::Error);
  writer.add("k", Value::make_string("v"));
  CHECK_THROWS_AS(writer.add("k", Value::make_string("w")), sy::Error);
  CHECK_THROWS_AS(Writer(3), sy::Error);
}
