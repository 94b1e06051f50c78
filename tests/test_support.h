// Helpers shared by the test suites: where the shared models live, scratch directories, seeded randomness.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

namespace sy::test {

// ../shared (or SWITCHYARD_SHARED_DIR from the environment, which wins).
std::filesystem::path shared_dir();
std::filesystem::path shared_model(const std::string& file_name);  // shared_dir()/models/<file_name>

// A fresh directory under the system temp dir, removed when the object dies.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A random engine seeded from SWITCHYARD_TEST_SEED when set, else from the clock; the seed is printed with
// doctest's MESSAGE-on-failure so a failing draw can be replayed.
std::mt19937_64 make_rng(const char* what);
uint64_t test_seed();

}  // namespace sy::test
