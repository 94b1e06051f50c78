// `switchyard run`: the main job. One prompt streamed to stdout, or a batch job (JSON lines in, JSON lines out,
// resumable, shardable across machines). Generation itself is core/runtime/generate.h; this file puts text on
// both sides (core/tokenizer) and reports metrics.
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/common/error.h"
#include "core/common/format.h"
#include "core/common/json_text.h"
#include "core/common/utf8.h"
#include "core/runtime/engine.h"
#include "core/runtime/generate.h"
#include "core/tokenizer/tokenizer.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/run_options.h"

namespace sy::cli {
namespace {

std::atomic<bool> g_interrupted{false};

// The first Ctrl-C stops generation cleanly (metrics still print); a second one ends the process at once.
void on_interrupt(int) {
  if (g_interrupted.exchange(true)) _exit(130);
}

struct RunCommandOptions {
  std::string model;
  std::string prompt;
  bool ignore_eos = false;
  bool metrics = false;
  bool parse_special = false;
  std::string format = "text";
  std::string prompts_file;
  std::string output_file;
  bool resume = false;
  std::string shard;  // "K/N"
};

runtime::GenerationParams generation_params(const config::RunConfig& config, bool ignore_eos) {
  runtime::GenerationParams p = runtime::generation_params(config);
  p.ignore_eos = ignore_eos;
  return p;
}

nlohmann::ordered_json generation_metrics_json(const runtime::GenerationMetrics& m) {
  return {{"prompt_tokens", m.prompt_tokens},
          {"generated_tokens", m.generated_tokens},
          {"prompt_seconds", m.prompt_seconds},
          {"time_to_first_token_seconds", m.first_token_seconds},
          {"generation_seconds", m.generation_seconds},
          {"prompt_tokens_per_second", m.prompt_tokens_per_second()},
          {"generation_tokens_per_second", m.generation_tokens_per_second()}};
}

nlohmann::ordered_json engine_metrics_json(runtime::Engine& engine) {
  nlohmann::ordered_json j;
  const auto& t = engine.timings();
  j["load_seconds"] = t.open_seconds + t.plugins_seconds + t.plan_seconds + t.load_seconds;
  j["peak_resident_bytes"] = loader::peak_resident_bytes();
  j["devices"] = nlohmann::ordered_json::array();
  const auto bytes = engine.session().device_bytes();
  const auto report = engine.weights().report();
  for (const auto& time : engine.session().device_times()) {
    uint64_t weights = 0;
    for (const auto& d : report.devices) {
      if (d.device == time.device) weights = d.bytes;
    }
    uint64_t session_bytes = 0;
    for (const auto& [name, b] : bytes) {
      if (name == time.device) session_bytes = b;
    }
    j["devices"].push_back({{"device", time.device},
                            {"seconds", time.seconds},
                            {"executes", time.executes},
                            {"handoffs_in", time.transfers},
                            {"weight_bytes", weights},
                            {"kv_and_scratch_bytes", session_bytes}});
  }
  return j;
}

void print_metrics_text(runtime::Engine& engine, const runtime::GenerationMetrics& m) {
  const auto j = engine_metrics_json(engine);
  std::cerr << fmt::format("\nload {:.3f} s, time to first token {:.3f} s\n", j["load_seconds"].get<double>(),
                           m.first_token_seconds);
  std::cerr << fmt::format("prompt     {} tokens in {:.3f} s: {:.1f} tokens/s\n", m.prompt_tokens, m.prompt_seconds,
                           m.prompt_tokens_per_second());
  std::cerr << fmt::format("generation {} tokens in {:.3f} s: {:.1f} tokens/s\n", m.generated_tokens,
                           m.generation_seconds, m.generation_tokens_per_second());
  for (const auto& d : j["devices"]) {
    std::cerr << fmt::format("device {}: {:.3f} s in {} executes, {} hand-offs in; weights {}, KV cache and scratch {}\n",
                             printable(d["device"].get<std::string>()), d["seconds"].get<double>(),
                             d["executes"].get<uint64_t>(),
                             d["handoffs_in"].get<uint64_t>(), format_bytes(d["weight_bytes"].get<uint64_t>()),
                             format_bytes(d["kv_and_scratch_bytes"].get<uint64_t>()));
  }
  std::cerr << "peak resident memory " << format_bytes(j["peak_resident_bytes"].get<uint64_t>()) << "\n";
}

// The text of generated tokens as a continuation of the prompt: decoded as a stream, so that nothing is stripped
// (a first token's leading space is part of the continuation).
std::string continuation_text(const tokenizer::Tokenizer& tokenizer, const std::vector<int32_t>& tokens) {
  tokenizer::StreamingDecoder decoder(tokenizer);
  std::string text;
  for (const int32_t t : tokens) text += decoder.push(t);
  return text + decoder.finish();
}

// A stable 64-bit hash of an id (FNV-1a), so that every machine of a sharded job agrees on who runs which prompt.
uint64_t id_hash(std::string_view id) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::pair<uint64_t, uint64_t> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  try {
    if (slash != std::string::npos) {
      size_t used = 0;
      const uint64_t k = std::stoull(text.substr(0, slash), &used);
      const uint64_t n = std::stoull(text.substr(slash + 1));
      if (used == slash && n > 0 && k < n) return {k, n};
    }
  } catch (const std::exception&) {
  }
  throw Error(ErrorCode::invalid_argument,
              "--shard '" + text + "' must be K/N with 0 <= K < N (e.g. 0/4: this process runs a quarter of the prompts)");
}

// The ids already in `path`, for --resume. A last line cut short (the process was killed while writing it) is
// removed, so that the file stays whole lines.
std::set<std::string> completed_ids(const std::filesystem::path& path) {
  std::set<std::string> ids;
  std::ifstream in(path, std::ios::binary);
  if (!in) return ids;
  std::string line;
  uint64_t good_bytes = 0, offset = 0;
  while (std::getline(in, line)) {
    const bool whole = !in.eof();
    offset += line.size() + (whole ? 1 : 0);
    if (!whole) break;
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("id") && j["id"].is_string()) ids.insert(j["id"].get<std::string>());
    } catch (const nlohmann::json::exception&) {
    }
    good_bytes = offset;
  }
  in.close();
  if (std::filesystem::file_size(path) != good_bytes) std::filesystem::resize_file(path, good_bytes);
  return ids;
}

class RunCommand {
 public:
  RunCommand(const RunCommandOptions& options, const RunOptions& run) : options_(options), run_(run) {}

  int single() {
    const config::RunConfig config = run_.load();
    if (run_.print_config) std::cerr << config::describe(config);
    auto engine = runtime::Engine::open(options_.model, config, run_.loader_options(config));
    const auto tokenizer = tokenizer::Tokenizer::from_file(engine->file());
    const auto prompt = tokenizer.encode(options_.prompt, true, options_.parse_special);
    if (prompt.empty())
      throw Error(ErrorCode::invalid_argument, "the prompt has no tokens: pass some text with -p");
    tokenizer::StreamingDecoder decoder(tokenizer);
    const bool text = options_.format == "text";
    if (text) {
      std::cout << options_.prompt << std::flush;
    }
    const auto result = runtime::generate(
        engine->session(), prompt, generation_params(config, options_.ignore_eos),
        [&](int32_t t) { return tokenizer.vocabulary().is_end_of_generation(t); },
        [&](int32_t t) {
          if (text) std::cout << decoder.push(t) << std::flush;
          return !g_interrupted.load();
        });
    const std::string tail = decoder.finish();
    if (text) {
      std::cout << tail << "\n" << std::flush;
      if (result.stop == runtime::StopReason::context_full)
        std::cerr << fmt::format("generation stopped: the context of {} tokens is full (raise it with --ctx-size)\n",
                                 engine->session().context_length());
      if (result.stop == runtime::StopReason::cancelled) std::cerr << "generation interrupted\n";
      if (options_.metrics) print_metrics_text(*engine, result.metrics);
    } else {
      nlohmann::ordered_json j;
      j["schema"] = "switchyard.run/1";
      j["model"] = options_.model;
      j["prompt"] = options_.prompt;
      j["text"] = continuation_text(tokenizer, result.tokens);
      j["prompt_tokens"] = prompt;
      j["tokens"] = result.tokens;
      j["stop_reason"] = std::string(runtime::to_string(result.stop));
      j["metrics"] = generation_metrics_json(result.metrics);
      if (options_.metrics) j["metrics"].update(engine_metrics_json(*engine));
      std::cout << json_text(j, 2) << "\n";
    }
    return 0;
  }

  int batch() {
    const config::RunConfig config = run_.load();
    if (run_.print_config) std::cerr << config::describe(config);
    if (options_.output_file.empty()) throw Error(ErrorCode::invalid_argument, "--prompts needs --output RESULTS.jsonl");
    const auto [shard, shards] = options_.shard.empty() ? std::pair<uint64_t, uint64_t>{0, 1} : parse_shard(options_.shard);
    std::ifstream in(options_.prompts_file);
    if (!in) throw Error(ErrorCode::io, options_.prompts_file + ": cannot open the prompts file");
    std::set<std::string> done;
    if (options_.resume) done = completed_ids(options_.output_file);
    else if (std::filesystem::exists(options_.output_file))
      throw Error(ErrorCode::invalid_argument, options_.output_file +
                                                   " exists: pass --resume to add to it (ids already there are "
                                                   "skipped) or choose another --output");
    std::ofstream out(options_.output_file, std::ios::app | std::ios::binary);
    if (!out) throw Error(ErrorCode::io, options_.output_file + ": cannot open for writing");

    auto engine = runtime::Engine::open(options_.model, config, run_.loader_options(config));
    const auto tokenizer = tokenizer::Tokenizer::from_file(engine->file());
    std::string line;
    uint64_t line_number = 0, failures = 0, written = 0, skipped = 0;
    std::set<std::string> seen;
    while (std::getline(in, line) && !g_interrupted.load()) {
      ++line_number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = fmt::format("{}:{}", options_.prompts_file, line_number);
      try {
        const auto job = nlohmann::json::parse(line);
        if (!job.is_object() || !job.contains("id") || !job["id"].is_string() || !job.contains("prompt") ||
            !job["prompt"].is_string())
          throw Error(ErrorCode::invalid_argument, "expected an object with string fields 'id' and 'prompt'");
        const std::string id = job["id"].get<std::string>();
        if (!seen.insert(id).second) throw Error(ErrorCode::invalid_argument, "id '" + id + "' appears twice");
        if (id_hash(id) % shards != shard) continue;
        if (done.count(id)) {
          ++skipped;
          continue;
        }
        auto params = generation_params(config, options_.ignore_eos);
        apply_overrides(job, params);
        const auto prompt = tokenizer.encode(job["prompt"].get<std::string>(), true, options_.parse_special);
        if (prompt.empty()) throw Error(ErrorCode::invalid_argument, "the prompt has no tokens");
        const auto result = runtime::generate(
            engine->session(), prompt, params, [&](int32_t t) { return tokenizer.vocabulary().is_end_of_generation(t); },
            [&](int32_t) { return !g_interrupted.load(); });
        if (result.stop == runtime::StopReason::cancelled) break;  // an interrupted prompt is not written
        nlohmann::ordered_json r;
        r["id"] = id;
        r["text"] = continuation_text(tokenizer, result.tokens);
        r["tokens"] = result.tokens;
        r["stop_reason"] = std::string(runtime::to_string(result.stop));
        r["metrics"] = generation_metrics_json(result.metrics);
        // One write of a whole line, flushed: a result is in the file completely or not at all.
        out << json_text(r) + "\n" << std::flush;
        if (!out) throw Error(ErrorCode::io, options_.output_file + ": write failed");
        ++written;
      } catch (const nlohmann::json::exception& e) {
        ++failures;
        std::cerr << "error: " << printable(where) << ": not a JSON object: " << printable(e.what()) << "\n";
      } catch (const Error& e) {
        if (e.code() == ErrorCode::io) throw;
        ++failures;
        std::cerr << "error: " << printable(where) << ": " << printable(e.what()) << "\n";
      }
    }
    std::cerr << fmt::format("{} result{} written to {}, {} already there, {} failed{}\n", written,
                             written == 1 ? "" : "s", options_.output_file, skipped, failures,
                             g_interrupted.load() ? "; interrupted: run again with --resume to finish" : "");
    return failures > 0 ? 1 : 0;
  }

 private:
  // Per-prompt sampling fields of a batch line override the configuration.
  static void apply_overrides(const nlohmann::json& job, runtime::GenerationParams& p) {
    const auto number = [&](const char* key, auto& field) {
      if (!job.contains(key)) return;
      if (!job[key].is_number())
        throw Error(ErrorCode::invalid_argument, std::string("field '") + key + "' must be a number");
      const double value = job[key].get<double>();
      if (value < 0) throw Error(ErrorCode::invalid_argument, std::string("field '") + key + "' must be >= 0");
      field = static_cast<std::remove_reference_t<decltype(field)>>(value);
    };
    number("temperature", p.sampling.temperature);
    number("top_k", p.sampling.top_k);
    number("top_p", p.sampling.top_p);
    number("min_p", p.sampling.min_p);
    number("repeat_penalty", p.sampling.repeat_penalty);
    number("seed", p.sampling.seed);
    number("max_tokens", p.max_tokens);
    if (job.contains("ignore_eos")) {
      if (!job["ignore_eos"].is_boolean()) throw Error(ErrorCode::invalid_argument, "field 'ignore_eos' must be a boolean");
      p.ignore_eos = job["ignore_eos"].get<bool>();
    }
  }

  const RunCommandOptions& options_;
  const RunOptions& run_;
};

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<RunCommandOptions>();
  auto run = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate text: stream one prompt's continuation, or run a batch job of prompts");
  add_model_option(*cmd, opts->model);
  cmd->add_option("-p,--prompt", opts->prompt, "The prompt to continue");
  cmd->add_flag("--ignore-eos", opts->ignore_eos, "Keep generating past end-of-generation tokens");
  cmd->add_flag("--parse-special", opts->parse_special, "Turn control-token text in the prompt (<s>, <|im_start|>) into those tokens");
  cmd->add_flag("--metrics", opts->metrics,
                "Report load time, time to first token, prompt and generation tokens/s, time and memory per device, "
                "peak resident memory (stderr in text form)");
  cmd->add_option("--format", opts->format, "Output: text streams the continuation, json prints one object at the end")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--prompts", opts->prompts_file,
                  "Batch job: JSON lines {\"id\", \"prompt\", optional temperature, top_k, top_p, min_p, "
                  "repeat_penalty, seed, max_tokens, ignore_eos}")
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", opts->output_file, "Batch job: results, one JSON line per prompt as it completes");
  cmd->add_flag("--resume", opts->resume, "Batch job: keep the output's results and skip their ids");
  cmd->add_option("--shard", opts->shard,
                  "Batch job: K/N runs the prompts whose id hashes to K of N (0 <= K < N), e.g. a job array index");
  add_sampling_options(*cmd, run);
  add_run_options(*cmd, run);
  cmd->callback([opts, run, cmd, &exit_code] {
    g_interrupted = false;
    std::signal(SIGINT, on_interrupt);
    RunCommand command(*opts, *run);
    if (!opts->prompts_file.empty()) {
      if (cmd->count("--prompt")) throw Error(ErrorCode::invalid_argument, "give either -p or --prompts, not both");
      exit_code = command.batch();
      return;
    }
    if (!opts->output_file.empty() || opts->resume || !opts->shard.empty())
      throw Error(ErrorCode::invalid_argument, "--output, --resume and --shard belong to a batch job (--prompts)");
    if (!cmd->count("--prompt")) throw Error(ErrorCode::invalid_argument, "give a prompt with -p TEXT or a batch job with --prompts FILE");
    exit_code = command.single();
  });
}

}  // namespace sy::cli
