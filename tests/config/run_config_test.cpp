// The run configuration: shipped examples load, precedence is file < environment < flags with provenance, and
// every error class names the key path, the value, what is allowed and where it came from.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "core/config/run_config.h"
#include "core/config/schema.h"
#include "tests/test_support.h"

using namespace sy::config;

namespace {

std::string error_of(const std::string& json_text, std::vector<Setting> env = {}, std::vector<Setting> flags = {}) {
  sy::test::ScratchDir dir;
  const auto path = dir / "run.json";
  std::ofstream(path) << json_text;
  try {
    load_run_config(path, env, flags);
  } catch (const sy::Error& e) {
    return e.what();
  }
  FAIL("the configuration was accepted: " << json_text);
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("every shipped example config loads") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SWITCHYARD_CONFIGS_DIR)) {
    if (entry.path().extension() != ".json" || entry.path().filename() == "schema.json") continue;
    CAPTURE(entry.path().string());
    CHECK_NOTHROW(load_run_config(entry.path(), {}, {}));
    ++count;
  }
  CHECK(count >= 5);
}

TEST_CASE("defaults fill a missing file") {
  const RunConfig c = load_run_config(std::nullopt, {}, {});
  CHECK(c.placement.policy == "auto");
  CHECK(c.loading.mode == "progressive");
  CHECK(c.loading.cpu_weights == "auto");
  CHECK(c.runtime.context_length == 2048);
  CHECK(c.origins.empty());
  CHECK(contains(describe(c), "runtime.threads = 0"));
  CHECK(contains(describe(c), "(default)"));
}

TEST_CASE("flags override the environment, which overrides the file; each value keeps its source") {
  sy::test::ScratchDir dir;
  std::ofstream(dir / "run.json") << R"({"runtime": {"threads": 3, "seed": 7}, "placement": {"policy": "cpu"}})";
  const std::vector<Setting> env = {{"runtime.threads", "5", "env SWITCHYARD_THREADS"},
                                    {"runtime.seed", "11", "env SWITCHYARD_SEED"}};
  const std::vector<Setting> flags = {{"runtime.threads", "9", "flag --threads"}};
  const RunConfig c = load_run_config(dir / "run.json", env, flags);
  CHECK(c.runtime.threads == 9);
  CHECK(c.runtime.seed == 11);
  CHECK(c.placement.policy == "cpu");
  CHECK(c.origins.at("runtime.threads") == "flag --threads");
  CHECK(c.origins.at("runtime.seed") == "env SWITCHYARD_SEED");
  CHECK(c.origins.at("placement.policy") == "file " + (dir / "run.json").string());
  const std::string text = describe(c);
  CHECK(contains(text, "runtime.threads = 9"));
  CHECK(contains(text, "(flag --threads)"));
}

TEST_CASE("environment variables map to their keys") {
  static const std::map<std::string, std::string> fake = {
      {"SWITCHYARD_DEVICE", "cpu"}, {"SWITCHYARD_GPU_MEMORY_LIMIT", "2048"}, {"SWITCHYARD_THREADS", "4"}};
  auto getenv = [](const char* name) -> const char* {
    auto it = fake.find(name);
    return it == fake.end() ? nullptr : it->second.c_str();
  };
  const auto settings = settings_from_environment(getenv);
  const RunConfig c = load_run_config(std::nullopt, settings, {});
  CHECK(c.placement.device == "cpu");
  CHECK(c.placement.gpu_memory_limit_mib == 2048);
  CHECK(c.runtime.threads == 4);
  CHECK(c.origins.at("placement.gpu_memory_limit_mib") == "env SWITCHYARD_GPU_MEMORY_LIMIT");
}

TEST_CASE("an unknown key names the nearest valid one") {
  const std::string e = error_of(R"({"placement": {"polcy": "cpu"}})");
  CHECK(contains(e, "unknown key 'placement.polcy'"));
  CHECK(contains(e, "did you mean 'placement.policy'?"));
}

TEST_CASE("a wrong type names the key, the value and the expected type") {
  const std::string e = error_of(R"({"runtime": {"threads": "four"}})");
  CHECK(contains(e, "'runtime.threads' is a string (\"four\"), expected an integer"));
}

TEST_CASE("out of range and not allowed values say what is allowed") {
  CHECK(contains(error_of(R"({"sampling": {"top_p": 1.5}})"), "'sampling.top_p' is 1.5, above the maximum 1"));
  CHECK(contains(error_of(R"({"placement": {"policy": "fastest"}})"),
                 "'placement.policy' is \"fastest\", expected one of \"auto\", \"cpu\""));
  CHECK(contains(error_of(R"({"loading": {"cpu_weights": "mmap"}})"),
                 "'loading.cpu_weights' is \"mmap\", expected one of \"auto\", \"map\", \"copy\""));
  CHECK(contains(error_of(R"({"placement": {"devices": {"cuda:0": {"max_utilization": 0}}}})"),
                 "'placement.devices.cuda:0.max_utilization' is 0, must be greater than 0"));
}

TEST_CASE("a regular expression that does not compile is named") {
  const std::string e = error_of(R"({"placement": {"overrides": [{"pattern": "blk\\.(1", "device": "cpu"}]}})");
  CHECK(contains(e, "'placement.overrides[0].pattern' is \"blk\\\\.(1\", which is not a valid regular expression"));
}

TEST_CASE("errors from the environment and flags name their source") {
  const std::string e = error_of("{}", {{"runtime.threads", "lots", "env SWITCHYARD_THREADS"}},
                                 {{"runtime.seed", "-3", "flag --seed"}});
  CHECK(contains(e, "env SWITCHYARD_THREADS: 'lots' is not a non-negative integer (sets 'runtime.threads')"));
  CHECK(contains(e, "flag --seed: '-3' is not a non-negative integer"));
  CHECK(contains(error_of("{}", {}, {{"runtime.threads", "5000", "flag --threads"}}),
                 "flag --threads: 'runtime.threads' is 5000, above the maximum 1024"));
}

TEST_CASE("malformed JSON and inconsistent ranges are refused with the file named") {
  CHECK(contains(error_of("{\"runtime\": "), "not valid JSON"));
  // Found by fuzz_run_config: a number past double's range was an out_of_range exception that escaped as such.
  CHECK(contains(error_of(R"({"runtime": {"seed": 1e400}})"), "not valid JSON: [json.exception.out_of_range.406] number "
                                                             "overflow parsing '1e400'"));
  CHECK(contains(error_of(R"({"placement": {"policy": "layers", "layers": [{"device": "cpu", "first": 4, "last": 2}]}})"),
                 "'placement.layers[0]' has first 4 after last 2"));
  CHECK(contains(error_of(R"({"placement": {"policy": "layers"}})"), "'placement.layers' is empty"));
  CHECK(contains(error_of(R"([1, 2])"), "the document is an array"));
}

TEST_CASE("edit distance") {
  CHECK(edit_distance("polcy", "policy") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("same", "same") == 0);
}

// Pathological documents are clear errors, found in linear time without recursion: 100,000 nested arrays used to
// recurse through every pass (a stack overflow under the sanitizers), and thousands of keys took quadratic time.
TEST_CASE("nesting, key counts and string lengths past any real configuration are refused, naming where") {
  CHECK(contains(error_of(std::string(100000, '[') + std::string(100000, ']')),
                 "the run configuration has nesting deeper than 32 levels at '[0][0][0][0][0][0][0][0]...'"));
  std::string deep_objects;
  for (int i = 0; i < 50000; ++i) deep_objects += R"({"a": )";
  deep_objects += "1" + std::string(50000, '}');
  CHECK(contains(error_of(R"({"placement": )" + deep_objects + "}"),
                 "nesting deeper than 32 levels at 'placement"));
  std::string many_keys = R"({"placement": {"devices": {)";
  for (int i = 0; i < 100000; ++i) many_keys += (i ? "," : "") + ("\"d" + std::to_string(i) + "\": {}");
  many_keys += "}}}";
  CHECK(contains(error_of(many_keys), "an object with more than 4096 keys (at most 4096 keys are allowed) at "
                                      "'placement.devices.d4095'"));
  CHECK(contains(error_of(R"({"plugins": {"paths": [")" + std::string(100000, 'a') + R"("]}})"),
                 "a string of 100000 bytes (at most 4096 bytes are allowed) at 'plugins.paths[0]'"));
  CHECK(contains(error_of(R"({"plugins": {"paths": [)" + [] {
                   std::string items;
                   for (int i = 0; i < 5000; ++i) items += (i ? ",\"p\"" : "\"p\"");
                   return items;
                 }() + "]}}"),
                 "an array with more than 4096 items"));
}

TEST_CASE("override patterns are RE2: backreferences, unbalanced groups and huge patterns are refused") {
  CHECK(contains(error_of(R"({"placement": {"overrides": [{"pattern": "(a)\\1", "device": "cpu"}]}})"),
                 "'placement.overrides[0].pattern' is \"(a)\\\\1\", which is not a valid regular expression (RE2 "
                 "syntax): invalid escape sequence"));
  const std::string nested = std::string(20000, '(') + std::string(20000, ')');
  CHECK(contains(error_of(R"({"placement": {"overrides": [{"pattern": ")" + nested + R"(", "device": "cpu"}]}})"),
                 "a string of 40000 bytes (at most 4096 bytes are allowed) at 'placement.overrides[0].pattern'"));
  const std::string long_pattern(2000, 'a');
  CHECK(contains(error_of(R"({"placement": {"overrides": [{"pattern": ")" + long_pattern + R"(", "device": "cpu"}]}})"),
                 "'placement.overrides[0].pattern' is 2000 characters long, more than the 1024 allowed"));
  // What backtracking engines take exponential time on is an ordinary pattern here.
  sy::test::ScratchDir dir;
  std::ofstream(dir / "c.json") << R"({"placement": {"overrides": [{"pattern": "^(.|.|.)*X$", "device": "cpu"}]}})";
  CHECK(load_run_config(dir / "c.json", {}, {}).placement.overrides.at(0).pattern == "^(.|.|.)*X$");
}

TEST_CASE("sizes in MiB that overflow bytes and layer numbers past 2^63 are refused, not wrapped") {
  CHECK(contains(error_of(R"({"placement": {"gpu_memory_limit_mib": 17592186044416}})"),
                 "'placement.gpu_memory_limit_mib' is 17592186044416 MiB, more than the 17592186044415 MiB"));
  CHECK(contains(error_of(R"({"placement": {"devices": {"cuda:0": {"reserve_mib": 17592186044416}}}})"),
                 "'placement.devices.cuda:0.reserve_mib' is 17592186044416 MiB"));
  CHECK(contains(error_of("{}", {{"placement.gpu_memory_limit_mib", "17592186044416", "env SWITCHYARD_GPU_MEMORY_LIMIT"}}),
                 "env SWITCHYARD_GPU_MEMORY_LIMIT: 'placement.gpu_memory_limit_mib' is 17592186044416 MiB"));
  CHECK(contains(error_of(R"({"placement": {"policy": "layers", "layers": [{"device": "cpu", "first": 0,
                              "last": 9223372036854775808}]}})"),
                 "'placement.layers[0].last' is 9223372036854775808, past the largest integer a configuration takes "
                 "(9223372036854775807)"));
}

// A device name may hold a dot; --print-config used to split the path back into keys and index a missing one
// (undefined behaviour, an assertion in debug builds).
TEST_CASE("describe prints keys that contain a dot") {
  sy::test::ScratchDir dir;
  std::ofstream(dir / "c.json") << R"({"placement": {"devices": {"gpu.0": {"reserve_mib": 7}}}})";
  const auto text = describe(load_run_config(dir / "c.json", {}, {}));
  CHECK(contains(text, "placement.devices.gpu.0.reserve_mib = 7"));
}

TEST_CASE("a configuration given as text is bounded the same way (the fuzz target's entry point)") {
  CHECK_THROWS_AS(parse_run_config(std::string(kMaxConfigBytes + 1, ' '), "big.json", {}, {}), sy::Error);
  CHECK(parse_run_config(std::string_view(R"({"runtime": {"threads": 3}})"), "t.json", {}, {}).runtime.threads == 3);
  CHECK(parse_run_config(std::nullopt, "", {}, {}).runtime.threads == 0);
}

// Plugins read no environment: the core resolves config < environment < flags and hands the result over.
TEST_CASE("plugins.options and runtime.threads reach plugins through one resolver") {
  sy::test::ScratchDir dir;
  std::ofstream(dir / "c.json") << R"({"plugins": {"options": {"isa": "avx2", "simdev.devices": "2x64MiB"}},
                                       "runtime": {"threads": 4}})";
  const auto from_file = load_run_config(dir / "c.json", {}, {});
  CHECK(from_file.plugin_settings() == std::vector<std::pair<std::string, std::string>>{
                                           {"isa", "avx2"}, {"simdev.devices", "2x64MiB"}, {"threads", "4"}});
  const char* (*fake_env)(const char*) = [](const char* name) -> const char* {
    if (std::string(name) == "SWITCHYARD_CPU_ISA") return "scalar";
    if (std::string(name) == "SWITCHYARD_THREADS") return "3";
    return nullptr;
  };
  const auto merged = load_run_config(dir / "c.json", settings_from_environment(fake_env),
                                      {{"runtime.threads", "2", "flag --threads"}});
  CHECK(merged.plugins.options.at("isa") == "scalar");
  CHECK(merged.origins.at("plugins.options.isa") == "env SWITCHYARD_CPU_ISA");
  CHECK(merged.plugin_settings() == std::vector<std::pair<std::string, std::string>>{
                                        {"isa", "scalar"}, {"simdev.devices", "2x64MiB"}, {"threads", "2"}});
  CHECK(contains(describe(merged), "plugins.options.isa = \"scalar\""));
  CHECK(contains(error_of(R"({"plugins": {"options": {"isa": 2}}})"), "'plugins.options.isa' is an integer (2), expected a string"));
}
