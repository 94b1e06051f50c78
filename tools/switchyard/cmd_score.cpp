// `switchyard score`: perplexity of a text, by the protocol of ../shared/reference/perplexity.json (the reference
// implementation's): the text tokenized with BOS, cut into chunks of n_ctx tokens each starting again with BOS and
// evaluated from an empty cache, the second half of each chunk scored.
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/runtime/engine.h"
#include "core/runtime/perplexity.h"
#include "core/tokenizer/tokenizer.h"
#include "core/common/json_text.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/run_options.h"

namespace sy::cli {

void add_score_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string model;
    std::string text_file;
    std::string format = "text";
  };
  auto opts = std::make_shared<Options>();
  auto run = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand(
      "score", "Perplexity of a text file (the reference implementation's protocol); -c sets the chunk size (default 512)");
  add_model_option(*cmd, opts->model);
  cmd->add_option("-f,--file", opts->text_file, "The text to score")->required()->check(CLI::ExistingFile);
  cmd->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  add_run_options(*cmd, run);
  cmd->callback([opts, run, &exit_code] {
    config::RunConfig config = run->load();
    if (run->print_config) std::cerr << config::describe(config);
    // -c (runtime.context_length) is the chunk size, as for the reference's perplexity tool; 512 when not given.
    const auto origin = config.origins.find("runtime.context_length");
    if (origin == config.origins.end() || origin->second == "default") config.runtime.context_length = 512;
    const uint64_t n_ctx = config.runtime.context_length;
    std::ifstream in(opts->text_file, std::ios::binary);
    if (!in) throw Error(ErrorCode::io, opts->text_file + ": cannot open");
    std::stringstream text;
    text << in.rdbuf();
    auto engine = runtime::Engine::open(opts->model, config, run->loader_options(config));
    const auto tokenizer = tokenizer::Tokenizer::from_file(engine->file());
    const auto bos = tokenizer.vocabulary().bos();
    if (!bos) throw Error(ErrorCode::unsupported, opts->model + ": the vocabulary has no BOS token, which the protocol needs");
    std::vector<int32_t> tokens = tokenizer.encode(text.str(), false, false);
    tokens.insert(tokens.begin(), *bos);
    const bool progress = isatty(STDERR_FILENO) && opts->format == "text";
    const auto r = runtime::perplexity(engine->session(), tokens, n_ctx, *bos, [&](uint64_t done, uint64_t total, double ppl) {
      if (!progress) return;
      const int width = 30, filled = static_cast<int>(width * done / total);
      std::cerr << fmt::format("\r[{}{}] chunk {}/{}  perplexity so far {:.4f}\x1b[K", std::string(filled, '#'),
                               std::string(width - filled, '.'), done, total, ppl)
                << std::flush;
    });
    if (progress) std::cerr << "\r\x1b[K";
    if (opts->format == "json") {
      nlohmann::ordered_json j;
      j["schema"] = "switchyard.score/1";
      j["model"] = opts->model;
      j["file"] = opts->text_file;
      j["tokens"] = tokens.size();
      j["n_ctx"] = n_ctx;
      j["chunks"] = r.chunks;
      j["scored_tokens"] = r.scored_tokens;
      j["perplexity"] = r.perplexity;
      j["perplexity_after_chunk"] = r.after_chunk;
      std::cout << json_text(j, 2) << "\n";
    } else {
      std::cout << fmt::format("{}: perplexity {:.4f} over {} chunk{} of {} tokens ({} tokens scored, {} in the text)\n",
                               opts->text_file, r.perplexity, r.chunks, r.chunks == 1 ? "" : "s", n_ctx,
                               r.scored_tokens, tokens.size());
    }
    exit_code = 0;
  });
}

}  // namespace sy::cli
