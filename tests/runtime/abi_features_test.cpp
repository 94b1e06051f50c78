// The runtime's use of plugin ABI 1.3 on simulated GPUs (simdev defers queued work until it is waited for, so a
// missing wait shows as wrong logits): decode steps reuse one op list reading per-step values, hand-offs wait on
// events, and a plugin speaking ABI 1.2 still runs the same model to the same logits without any of it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/runtime/crossval.h"
#include "tests/runtime/runtime_support.h"
#include "tests/test_support.h"

using namespace sy;

namespace {

// The logits of every position of `tokens`, fed one token at a time after a one-batch prompt of `prompt` tokens.
std::vector<float> decoded_logits(runtime::Session& session, const std::vector<int32_t>& tokens, size_t prompt) {
  session.reset();
  const auto first = session.evaluate(std::span(tokens.data(), prompt), true);
  std::vector<float> out(first.begin(), first.end());
  for (size_t i = prompt; i < tokens.size(); ++i) {
    const auto step = session.evaluate(std::span(tokens.data() + i, 1), false);
    out.insert(out.end(), step.begin(), step.end());
  }
  return out;
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

std::vector<int32_t> reference_tokens(const char* name) {
  const auto reference = runtime::read_reference(test::shared_dir() / "reference" / name);
  std::vector<int32_t> tokens = reference.prompt_tokens;
  tokens.insert(tokens.end(), reference.generated_tokens.begin(), reference.generated_tokens.end());
  return tokens;
}

}  // namespace

TEST_CASE("decode steps on simulated GPUs reuse one op list with step values and events, matching one batch") {
  const auto tokens = reference_tokens("stories260K.once-upon-a-time.json");
  auto cpu = test::open_engine("stories260K.gguf", test::Placement::cpu);
  const auto batch = cpu->session().evaluate(tokens, true);
  const std::vector<float> expected(batch.begin(), batch.end());
  for (const auto placement : {test::Placement::simulated, test::Placement::mixed}) {
    CAPTURE(test::to_string(placement));
    auto engine = test::open_engine("stories260K.gguf", placement);
    const auto features = engine->session().features();
    CHECK(features.reused_decode_ops);
    CHECK(!features.step_value_devices.empty());
    CHECK(!features.event_devices.empty());
    CHECK(std::find(features.queued_devices.begin(), features.queued_devices.end(), "simdev:0") !=
          features.queued_devices.end());
    // Twice: the second pass runs the op list recorded by the first, with the cache reset in between.
    for (int pass = 0; pass < 2; ++pass) {
      CAPTURE(pass);
      CHECK(max_difference(decoded_logits(engine->session(), tokens, 3), expected) <= 1e-4);
    }
  }
}

TEST_CASE("a simdev speaking plugin ABI 1.2 runs the same model to the same logits, without 1.3 features") {
  const auto tokens = reference_tokens("stories260K.lily-and-ben.json");
  auto current = test::open_engine("stories260K.gguf", test::Placement::simulated);
  auto old = test::open_engine("stories260K.gguf", test::Placement::simulated, 512, 0, {{"simdev.abi", "1.2"}});
  const auto features = old->session().features();
  CHECK(!features.reused_decode_ops);
  CHECK(features.step_value_devices.empty());
  CHECK(features.event_devices.empty());
  CHECK(max_difference(decoded_logits(old->session(), tokens, 4), decoded_logits(current->session(), tokens, 4)) <= 1e-5);
}

TEST_CASE("a tied head on simulated GPUs multiplies by its own copy of token_embd: no hand-off back to the CPU") {
  auto engine = test::open_engine("synth-qwen2-F32.gguf", test::Placement::simulated);
  const auto& schedule = engine->session().schedule();
  REQUIRE(schedule.head_copy != nullptr);
  CHECK(schedule.head_copy->name == "output.weight");
  CHECK(schedule.devices[static_cast<size_t>(schedule.head_device)].rfind("simdev:", 0) == 0);
  for (const auto& t : schedule.transfers) CHECK(t.layer >= 0);  // nothing crosses for the head
  CHECK(runtime::schedule_to_text(schedule).find("(tied: its own copy of token_embd.weight)") != std::string::npos);
  const auto reference = runtime::read_reference(test::shared_dir() / "reference" / "synth-qwen2-F32.quick-brown-fox.json");
  const auto result = runtime::crossval(engine->session(), reference, 1e-4, 1e-4);
  CHECK(result.max_abs_error <= 1e-4);
}
