// Generation end to end on the real model: greedy decoding one token at a time reproduces the reference's tokens,
// and every way of stopping stops where it should.
#include <doctest/doctest.h>

#include "core/runtime/crossval.h"
#include "core/runtime/generate.h"
#include "tests/runtime/runtime_support.h"
#include "tests/test_support.h"

using namespace sy;

namespace {
runtime::GenerationParams greedy(uint64_t max_tokens) {
  runtime::GenerationParams p;
  p.sampling.temperature = 0;
  p.max_tokens = max_tokens;
  return p;
}
}  // namespace

TEST_CASE("greedy generation reproduces the reference's tokens exactly") {
  for (const char* name : {"stories260K.once-upon-a-time.json", "stories260K.lily-and-ben.json"}) {
    CAPTURE(name);
    auto engine = test::open_engine("stories260K.gguf", test::Placement::cpu);
    const auto reference = runtime::read_reference(test::shared_dir() / "reference" / name);
    const auto result = runtime::generate(engine->session(), reference.prompt_tokens,
                                          greedy(reference.generated_tokens.size()), nullptr, nullptr);
    CHECK(result.tokens == reference.generated_tokens);
    CHECK(result.stop == runtime::StopReason::max_tokens);
    CHECK(result.metrics.prompt_tokens == reference.prompt_tokens.size());
  }
}

TEST_CASE("generation stops at end-of-generation, when the caller says so, and when the context is full") {
  auto engine = test::open_engine("stories260K.gguf", test::Placement::cpu);
  const auto reference = runtime::read_reference(test::shared_dir() / "reference" / "stories260K.once-upon-a-time.json");
  const int32_t third = reference.generated_tokens[2];
  auto r = runtime::generate(engine->session(), reference.prompt_tokens, greedy(40),
                             [&](int32_t t) { return t == third; }, nullptr);
  CHECK(r.stop == runtime::StopReason::end_of_generation);
  CHECK(r.tokens.size() == 2);  // the end token itself is not part of the output

  int seen = 0;
  r = runtime::generate(engine->session(), reference.prompt_tokens, greedy(40), nullptr, [&](int32_t) { return ++seen < 5; });
  CHECK(r.stop == runtime::StopReason::cancelled);
  CHECK(r.tokens.size() == 5);

  // The test engines have 256 positions: a long limit ends with a full context, not an error.
  r = runtime::generate(engine->session(), reference.prompt_tokens, greedy(1000), nullptr, nullptr);
  CHECK(r.stop == runtime::StopReason::context_full);
  CHECK(reference.prompt_tokens.size() + r.tokens.size() == 256 + 1);
  CHECK(engine->session().n_past() == 256);
  CHECK_THROWS_AS(engine->session().evaluate(std::vector<int32_t>{1}, false), Error);
}
