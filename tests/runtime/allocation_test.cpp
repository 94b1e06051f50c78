// Decoding a token allocates nothing on the host, in the core or in the CPU plugin: every buffer a step needs
// exists once the session has run its first batch. Counted by replacing the global operator new for this binary
// (the CPU plugin, loaded into the process, allocates through it too).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/runtime/crossval.h"
#include "tests/runtime/runtime_support.h"
#include "tests/test_support.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace sy;

TEST_CASE("decoding a token performs no heap allocation") {
  for (const char* name : {"stories260K.gguf", "synth-qwen2-Q8_0.gguf", "synth-tiny-Q4_K_M.gguf", "synth-bitnet-TQ2_0.gguf"}) {
    CAPTURE(name);
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      auto engine = test::open_engine(name, test::Placement::cpu, 512, threads);
      auto& session = engine->session();
      const std::vector<int32_t> prompt = {1, 300, 301, 302};
      (void)session.evaluate(prompt, false);
      int32_t token = 5;
      (void)session.evaluate(std::span<const int32_t>(&token, 1), false);  // the first one-token step sizes its buffers
      g_allocations = 0;
      g_counting = true;
      for (int i = 0; i < 8; ++i) {
        const auto logits = session.evaluate(std::span<const int32_t>(&token, 1), false);
        token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      g_counting = false;
      CHECK(g_allocations.load() == 0);
    }
  }
}
