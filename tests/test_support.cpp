#include "tests/test_support.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

namespace sy::test {

std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("SWITCHYARD_SHARED_DIR"); env && *env) return env;
  return SWITCHYARD_SHARED_DIR;
}

std::filesystem::path shared_model(const std::string& file_name) { return shared_dir() / "models" / file_name; }

ScratchDir::ScratchDir() {
  auto base = std::filesystem::temp_directory_path();
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = base / ("switchyard-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("could not create a scratch directory under " + base.string());
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

uint64_t test_seed() {
  static const uint64_t seed = [] {
    if (const char* env = std::getenv("SWITCHYARD_TEST_SEED"); env && *env) return static_cast<uint64_t>(std::strtoull(env, nullptr, 0));
    return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }();
  return seed;
}

std::mt19937_64 make_rng(const char* what) {
  // Printed once per draw so that any failure can be replayed with SWITCHYARD_TEST_SEED.
  std::cerr << "[seed] " << what << ": SWITCHYARD_TEST_SEED=" << test_seed() << "\n";
  return std::mt19937_64(test_seed());
}

}  // namespace sy::test
