// `switchyard bench`: prompt and generation speed the way llama-bench measures them, in its output formats, so
// that the two tools' results sit side by side and scripts written for llama-bench read ours. Each test runs on
// a session of core/runtime (one Engine per thread count, the count reaching the CPU plugin as runtime.threads),
// next to the machine's read bandwidth measured in the same run, which bounds generation.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/common/error.h"
#include "core/runtime/engine.h"
#include "core/common/json_text.h"
#include "core/common/memory_read.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/progress.h"
#include "tools/switchyard/run_options.h"

extern const char* const kSwitchyardCommit;

namespace sy::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string model;
  std::string prompts = "512";  // -p, comma-separated token counts
  std::string gens = "128";     // -n
  std::string threads;          // -t; empty: the configuration's runtime.threads
  uint64_t repetitions = 5;
  std::string format = "md";
  std::string config_file;
  std::string cpu_weights;  // --cpu-weights; empty: the configuration's loading.cpu_weights
  std::vector<std::string> plugin_paths;
};

// "64,512" as numbers; `flag` names the option in the message. Zero is allowed where `allow_zero` (llama-bench's
// -p 0 or -n 0 skips that kind of test).
std::vector<uint64_t> parse_list(const std::string& text, const char* flag, bool allow_zero) {
  std::vector<uint64_t> values;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const bool digits = !item.empty() && item.size() <= 9 && std::all_of(item.begin(), item.end(), ::isdigit);
    if (!digits || (!allow_zero && std::stoull(item) == 0))
      throw Error(ErrorCode::invalid_argument,
                  fmt::format("{} '{}': expected a comma-separated list of {} integers, e.g. {} 1,2", flag, text,
                              allow_zero ? "non-negative" : "positive", flag));
    values.push_back(std::stoull(item));
    start = comma + 1;
  }
  return values;
}

// One test: "pp" evaluates n_prompt tokens from an empty cache, "tg" n_gen single-token evaluations from an empty
// cache (as llama-bench runs them: no prompt before the generation).
struct Test {
  uint64_t threads = 0;
  uint64_t n_prompt = 0;
  uint64_t n_gen = 0;
  std::string name() const { return n_prompt > 0 ? fmt::format("pp{}", n_prompt) : fmt::format("tg{}", n_gen); }
  uint64_t tokens() const { return n_prompt + n_gen; }
};

struct Result {
  Test test;
  std::string test_time;  // ISO 8601, UTC, when the test started
  std::vector<uint64_t> samples_ns;
  double load_seconds = 0;
  uint64_t peak_resident_bytes = 0;
  std::vector<std::string> placement;
  std::string cpu_weights;    // "mapped" or "copied" (loading.cpu_weights), "" with no weights on the CPU
  double read_bandwidth = 0;  // bytes/s, the test's thread count
  uint64_t n_batch = 0;
  std::string type_k;
};

double mean(const std::vector<double>& v) {
  double sum = 0;
  for (const double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

// The sample standard deviation, as llama-bench reports it (0 for fewer than two samples).
double stddev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double sq = 0;
  for (const double x : v) sq += (x - m) * (x - m);
  return std::sqrt(sq / static_cast<double>(v.size() - 1));
}

std::string cpu_info() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      const auto value = line.substr(line.find(':') + 1);
      return value.substr(std::min(value.find_first_not_of(' '), value.size()));
    }
  }
  return "unknown";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// What the model file says about itself, as llama-bench describes a model.
struct ModelFacts {
  std::string filename;
  std::string type;             // "llama 1.1B Q4_0"
  uint64_t size_bytes = 0;      // every tensor's storage
  uint64_t n_params = 0;
  // Weights one generated token streams, as its devices hold them (a re-encoded tensor counts its stored bytes):
  // every planned tensor but an embedding table that is only looked up (the head untied, or given its own copy).
  uint64_t bytes_per_token = 0;
};

std::string count_label(double n, const char* unit_b = "B") {
  if (n >= 1e9) return fmt::format("{:.2f} {}", n / 1e9, unit_b);
  if (n >= 1e6) return fmt::format("{:.2f} M", n / 1e6);
  return fmt::format("{:.2f} K", n / 1e3);
}

ModelFacts model_facts(runtime::Engine& engine, const std::string& path) {
  ModelFacts facts;
  facts.filename = path;
  std::map<gguf::TensorType, uint64_t> bytes_by_type;
  for (const auto& t : engine.file().tensors()) {
    facts.size_bytes += t.n_bytes;
    facts.n_params += t.n_elements;
    if (t.n_dims >= 2) bytes_by_type[t.type] += t.n_bytes;
  }
  const auto& structure = engine.model();
  const auto& planned = engine.plan().tensors;
  const bool head_copied = std::any_of(planned.begin(), planned.end(), [](const auto& p) { return !p.copy_of.empty(); });
  for (const auto& p : planned) {
    const bool looked_up = structure.token_embd && p.tensor == structure.token_embd.info->name &&
                           (!structure.tied_output() || head_copied);
    if (!looked_up) facts.bytes_per_token += p.bytes;
  }
  gguf::TensorType main_type = gguf::TensorType::F32;
  uint64_t most = 0;
  for (const auto& [type, bytes] : bytes_by_type) {
    if (bytes > most) most = bytes, main_type = type;
  }
  std::string size = "?B";
  if (const auto* label = engine.file().find("general.size_label"); label && label->as_string())
    size = *label->as_string();
  else if (facts.n_params >= 1e9)
    size = fmt::format("{:.1f}B", static_cast<double>(facts.n_params) / 1e9);
  else if (facts.n_params >= 1e6)
    size = fmt::format("{:.0f}M", static_cast<double>(facts.n_params) / 1e6);
  else
    size = fmt::format("{:.0f}K", static_cast<double>(facts.n_params) / 1e3);
  std::string type_name(gguf::to_string(main_type));
  std::transform(type_name.begin(), type_name.end(), type_name.begin(), ::toupper);
  facts.type = fmt::format("{} {} {}", model::to_string(structure.architecture), size, type_name);
  return facts;
}

std::string backends(const std::vector<std::string>& placement) {
  std::vector<std::string> kinds;
  for (const auto& device : placement) {
    std::string kind = device.substr(0, device.find(':'));
    std::transform(kind.begin(), kind.end(), kind.begin(), ::toupper);
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
  }
  std::string text;
  for (const auto& k : kinds) text += (text.empty() ? "" : ",") + k;
  return text.empty() ? "CPU" : text;
}

nlohmann::ordered_json result_json(const Result& r, const ModelFacts& facts, const std::string& cpu) {
  std::vector<double> ns, ts;
  for (const uint64_t s : r.samples_ns) {
    ns.push_back(static_cast<double>(s));
    ts.push_back(1e9 * static_cast<double>(r.test.tokens()) / static_cast<double>(s));
  }
  const std::string backend = backends(r.placement);
  nlohmann::ordered_json j = {
      {"build_commit", kSwitchyardCommit},
      {"build_number", 0},
      {"cpu_info", cpu},
      {"gpu_info", backend == "CPU" ? "" : backend},
      {"backends", backend},
      {"model_filename", facts.filename},
      {"model_type", facts.type},
      {"model_size", facts.size_bytes},
      {"model_n_params", facts.n_params},
      {"n_batch", r.n_batch},
      {"n_ubatch", r.n_batch},
      {"n_threads", r.test.threads},
      {"type_k", r.type_k},
      {"type_v", r.type_k},
      {"n_gpu_layers", 0},
      {"use_mmap", true},
      {"embeddings", false},
      {"n_prompt", r.test.n_prompt},
      {"n_gen", r.test.n_gen},
      {"n_depth", 0},
      {"test_time", r.test_time},
      {"avg_ns", static_cast<uint64_t>(mean(ns))},
      {"stddev_ns", static_cast<uint64_t>(stddev(ns))},
      {"avg_ts", mean(ts)},
      {"stddev_ts", stddev(ts)},
      {"samples_ns", r.samples_ns},
      {"samples_ts", ts},
      // Ours.
      {"load_seconds", r.load_seconds},
      {"peak_resident_bytes", r.peak_resident_bytes},
      {"placement", r.placement},
      {"cpu_weights", r.cpu_weights},
      {"read_bandwidth_bytes_per_second", r.read_bandwidth},
      {"bytes_per_token", facts.bytes_per_token}};
  if (r.test.n_gen > 0 && r.read_bandwidth > 0)
    j["bandwidth_fraction"] = static_cast<double>(facts.bytes_per_token) * mean(ts) / r.read_bandwidth;
  return j;
}

std::string size_label(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.2f} MiB", b / (1024.0 * 1024));
  return fmt::format("{:.2f} KiB", b / 1024.0);
}

void print_markdown(const std::vector<nlohmann::ordered_json>& rows) {
  std::cout << fmt::format("| {:<30} | {:>10} | {:>10} | {:<10} | {:>7} | {:>13} | {:>20} |\n", "model", "size",
                           "params", "backend", "threads", "test", "t/s");
  std::cout << fmt::format("| {} | {}: | {}: | {} | {}: | {}: | {}: |\n", std::string(30, '-'), std::string(9, '-'),
                           std::string(9, '-'), std::string(10, '-'), std::string(6, '-'), std::string(12, '-'),
                           std::string(19, '-'));
  for (const auto& j : rows) {
    const uint64_t p = j["n_prompt"], n = j["n_gen"];
    const std::string test = p > 0 ? fmt::format("pp{}", p) : fmt::format("tg{}", n);
    std::cout << fmt::format("| {:<30} | {:>10} | {:>10} | {:<10} | {:>7} | {:>13} | {:>20} |\n",
                             j["model_type"].get<std::string>(), size_label(j["model_size"]),
                             count_label(j["model_n_params"].get<double>()), j["backends"].get<std::string>(),
                             j["n_threads"].get<uint64_t>(), test,
                             fmt::format("{:.2f} ± {:.2f}", j["avg_ts"].get<double>(), j["stddev_ts"].get<double>()));
  }
}

// llama-bench's CSV: a header of the field names, then one line per test, every value quoted.
void print_csv(const std::vector<nlohmann::ordered_json>& rows) {
  bool header = true;
  for (const auto& j : rows) {
    std::string names, values;
    for (const auto& [key, value] : j.items()) {
      if (value.is_array() && key != "placement") continue;  // samples: JSON only, as in llama-bench
      std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      if (key == "placement") {
        text.clear();
        for (const auto& device : value) text += (text.empty() ? "" : ";") + device.get<std::string>();
      }
      std::string quoted;
      for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      names += (names.empty() ? "" : ",") + key;
      values += (values.empty() ? "\"" : ",\"") + quoted + "\"";
    }
    if (header) std::cout << names << "\n";
    header = false;
    std::cout << values << "\n";
  }
}

int run_bench(const BenchOptions& options) {
  const auto prompts = parse_list(options.prompts, "-p", true);
  const auto gens = parse_list(options.gens, "-n", true);
  if (options.repetitions == 0) throw Error(ErrorCode::invalid_argument, "-r 0: give at least one repetition");
  RunOptions base;
  base.config_file = options.config_file;
  base.plugin_paths = options.plugin_paths;
  if (!options.cpu_weights.empty()) base.flag_values.push_back({"loading.cpu_weights", options.cpu_weights, "--cpu-weights"});
  std::vector<uint64_t> thread_counts;
  if (options.threads.empty()) thread_counts.push_back(base.load().runtime.threads);
  else thread_counts = parse_list(options.threads, "-t", false);
  // The context holds the longest test (llama-bench's n_ctx = n_prompt + n_gen).
  const uint64_t longest = std::max(*std::max_element(prompts.begin(), prompts.end()),
                                    *std::max_element(gens.begin(), gens.end()));

  std::vector<Test> tests;
  for (const uint64_t t : thread_counts) {
    for (const uint64_t p : prompts)
      if (p > 0) tests.push_back({t, p, 0});
    for (const uint64_t n : gens)
      if (n > 0) tests.push_back({t, 0, n});
  }
  if (tests.empty()) throw Error(ErrorCode::invalid_argument, "-p and -n are both 0: there is no test to run");

  const std::string cpu = cpu_info();
  std::vector<nlohmann::ordered_json> rows;
  ProgressBar progress("bench", tests.size() * (options.repetitions + 1));
  progress.set_unit("runs");
  uint64_t runs_done = 0;
  std::mt19937 random(1234);  // fixed: every run and every thread count evaluates the same tokens
  for (const uint64_t threads : thread_counts) {
    RunOptions run = base;
    run.flag_values.push_back({"runtime.threads", std::to_string(threads), "-t"});
    config::RunConfig config = run.load();
    if (config.runtime.context_length < longest) {
      run.flag_values.push_back({"runtime.context_length", std::to_string(longest), "-p/-n"});
      config = run.load();
    }
    const auto open_start = Clock::now();
    auto engine = runtime::Engine::open(options.model, config, run.loader_options(config));
    auto& session = engine->session();
    std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(session.n_vocab() - 1));
    const int32_t first = token(random);
    session.evaluate(std::span(&first, 1), false);
    const double load_seconds = std::chrono::duration<double>(Clock::now() - open_start).count();
    session.reset();
    const ModelFacts facts = model_facts(*engine, options.model);
    std::vector<std::string> placement;
    std::string cpu_weights;
    for (const auto& d : engine->weights().report().devices) {
      if (d.bytes > 0) placement.push_back(d.device);
      if (d.device == "cpu" && d.bytes > 0) cpu_weights = d.zero_copy_bytes > 0 ? "mapped" : "copied";
    }
    // The probe's buffer (the model's size) is not the model's memory: the peak so far, then the high-water mark
    // started again after the probe (where Linux allows; else each test's resident set at its end stands in).
    const uint64_t peak_before_probe = loader::peak_resident_bytes();
    const double bandwidth = common::measure_read_bandwidth(facts.size_bytes, std::max<uint64_t>(threads, 1));
    const bool peak_restarted = loader::reset_peak_resident();

    for (const Test& test : tests) {
      if (test.threads != threads) continue;
      Result r;
      r.test = test;
      r.test_time = utc_now();
      std::vector<int32_t> tokens(test.tokens());
      for (auto& id : tokens) id = token(random);
      const auto once = [&] {
        session.reset();
        const auto start = Clock::now();
        if (test.n_prompt > 0) session.evaluate(tokens, false);
        for (uint64_t i = 0; i < test.n_gen; ++i) session.evaluate(std::span(&tokens[i], 1), false);
        return static_cast<uint64_t>(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
      };
      for (uint64_t rep = 0; rep <= options.repetitions; ++rep) {
        const uint64_t ns = once();
        if (rep > 0) r.samples_ns.push_back(ns);  // the first is the warm-up
        progress.update(++runs_done, 0, fmt::format("{} t={} {}/{}", test.name(), threads, rep, options.repetitions));
      }
      r.load_seconds = load_seconds;
      r.peak_resident_bytes = std::max(peak_before_probe, peak_restarted ? loader::peak_resident_bytes()
                                                                         : loader::current_resident_bytes());
      r.placement = placement;
      r.cpu_weights = cpu_weights;
      r.read_bandwidth = bandwidth;
      r.n_batch = config.runtime.batch_size;
      r.type_k = config.runtime.kv_type;
      rows.push_back(result_json(r, facts, cpu));
    }
  }
  progress.finish();

  if (options.format == "json") {
    nlohmann::ordered_json array = nlohmann::ordered_json::array();
    for (auto& j : rows) array.push_back(j);
    std::cout << json_text(array, 2) << "\n";
  } else if (options.format == "csv") {
    print_csv(rows);
  } else {
    print_markdown(rows);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Prompt and generation tokens/s as llama-bench measures them, in its formats");
  add_model_option(*cmd, opts->model);
  cmd->add_option("-p,--n-prompt", opts->prompts, "Prompt sizes, comma-separated: a pp test each (0: none)")
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", opts->gens, "Generation lengths, comma-separated: a tg test each (0: none)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", opts->threads,
                  "CPU thread counts, comma-separated: the tests run once per count (default runtime.threads)");
  cmd->add_option("-r,--repetitions", opts->repetitions, "Timed repetitions per test, after one warm-up run")
      ->capture_default_str();
  cmd->add_option("--format", opts->format, "Output: md (the table; text is the same), json, csv")
      ->check(CLI::IsMember({"text", "md", "json", "csv"}))
      ->capture_default_str();
  cmd->add_option("--config", opts->config_file, "Run configuration (JSON, see configs/schema.json)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--cpu-weights", opts->cpu_weights,
                  std::string(kCpuWeightsHelp) + " (default: the configuration's loading.cpu_weights, auto)")
      ->check(CLI::IsMember({"auto", "map", "copy"}))
      ->type_name("MODE");
  cmd->add_option("--plugin-path", opts->plugin_paths,
                  "Plugin file or directory searched first (repeatable; then SWITCHYARD_PLUGIN_PATH)")
      ->type_name("PATH");
  cmd->callback([opts, &exit_code] { exit_code = run_bench(*opts); });
}

}  // namespace sy::cli
