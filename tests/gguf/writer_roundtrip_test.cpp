// Writer → reader round trips over randomly generated files: random metadata of every value type (nested arrays
// and strings included) and random tensors of every type in the traits table read back identically.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
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
  CHECK(std::filesystem::is_empty(dir.path()));  // nor any temporary
}

namespace {

Writer one_tensor_writer(float value) {
  Writer writer;
  const uint64_t ne[] = {32};
  writer.add_tensor("t", TensorType::F32, ne, [value](uint64_t, std::span<std::byte> out) {
    for (size_t i = 0; i < out.size(); i += 4) std::memcpy(out.data() + i, &value, 4);
  });
  return writer;
}

size_t entries_in(const std::filesystem::path& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

}  // namespace

// Outputs are private to their writer: a fixed "OUT.tmp" name used to be shared by two writers (one run's data
// followed by another's) and to follow a symbolic link an attacker planted there.
TEST_CASE("atomic outputs: the mode is kept; links, directories, devices and FIFOs are refused; a planted .tmp is untouched") {
  sy::test::ScratchDir dir;
  const auto out = dir / "out.gguf";
  one_tensor_writer(1.0f).write(out);
  REQUIRE(chmod(out.c_str(), 0640) == 0);
  one_tensor_writer(2.0f).write(out);
  struct stat st {};
  REQUIRE(stat(out.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(File::open(out).tensors().size() == 1);

  // A file at the old fixed temporary name, or a link there, is never written through.
  std::ofstream(dir / "victim") << "precious";
  std::filesystem::create_symlink(dir / "victim", dir / "out.gguf.tmp");
  one_tensor_writer(3.0f).write(out);
  std::ifstream victim(dir / "victim");
  std::string text;
  std::getline(victim, text);
  CHECK(text == "precious");

  std::filesystem::create_symlink(out, dir / "link.gguf");
  CHECK_THROWS_WITH_AS(one_tensor_writer(1.0f).write(dir / "link.gguf"),
                       doctest::Contains("link.gguf: is a symbolic link; it is not replaced"), sy::Error);
  std::filesystem::create_directory(dir / "dir.gguf");
  CHECK_THROWS_WITH_AS(one_tensor_writer(1.0f).write(dir / "dir.gguf"),
                       doctest::Contains("dir.gguf: is a directory, not a regular file; it is not replaced"), sy::Error);
  REQUIRE(mkfifo((dir / "fifo.gguf").c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(one_tensor_writer(1.0f).write(dir / "fifo.gguf"),
                       doctest::Contains("is a FIFO (named pipe), not a regular file"), sy::Error);
  CHECK_THROWS_WITH_AS(one_tensor_writer(1.0f).write("/dev/null"),
                       doctest::Contains("/dev/null: is a character device"), sy::Error);
  CHECK(entries_in(dir.path()) == 6);  // out, victim, out.gguf.tmp, link, dir, fifo: no temporaries left
}

TEST_CASE("SIGTERM while writing removes the temporary and ends the writer as the signal does") {
  sy::test::ScratchDir dir;
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    Writer writer;
    const uint64_t ne[] = {2u << 20};  // 8 MiB: two 4 MiB pieces
    writer.add_tensor("t", TensorType::F32, ne, [](uint64_t offset, std::span<std::byte> out) {
      std::memset(out.data(), 0, out.size());
      if (offset > 0) std::raise(SIGTERM);  // mid-file, the temporary holds the first piece
    });
    writer.write(dir / "out.gguf");
    _exit(0);  // not reached
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(std::filesystem::is_empty(dir.path()));
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
