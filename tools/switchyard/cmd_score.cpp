// `switchyard score`: perplexity of a text, by the protocol of ../shared/reference/perplexity.json (the reference
// implementation's): the text tokenized with BOS, cut into chunks of n_ctx tokens each starting again with BOS and
// evaluated from an empty cache, the second half of each chunk scored.
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/runtime/engine.h"
#include "core/tokenizer/tokenizer.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/run_options.h"

namespace sy::cli {

void add_score_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string model;
    std::string text_file;
    uint64_t n_ctx = 512;
    std::string format = "text";
  };
  auto opts = std::make_shared<Options>();
  auto run = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("score", "Perplexity of a text file (the reference implementation's protocol)");
  add_model_option(*cmd, opts->model);
  cmd->add_option("-f,--file", opts->text_file, "The text to score")->required()->check(CLI::ExistingFile);
  cmd->add_option("-c,--chunk-size", opts->n_ctx, "Tokens per chunk (n_ctx); the second half of each is scored")
      ->check(CLI::Range(uint64_t{4}, uint64_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  add_run_options(*cmd, run);
  cmd->callback([opts, run, &exit_code] {
    config::RunConfig config = run->load();
    if (run->print_config) std::cerr << config::describe(config);
    config.runtime.context_length = opts->n_ctx;  // each chunk starts from an empty cache of exactly n_ctx
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
    const uint64_t n_ctx = opts->n_ctx, n_chunks = tokens.size() / n_ctx;
    if (n_chunks == 0)
      throw Error(ErrorCode::invalid_argument, fmt::format("{}: {} tokens are fewer than one chunk of {}; lower -c",
                                                           opts->text_file, tokens.size(), n_ctx));
    const uint64_t first = n_ctx / 2;
    const bool progress = isatty(STDERR_FILENO) && opts->format == "text";
    double nll = 0;
    uint64_t scored = 0;
    std::vector<double> chunk_ppl;
    const size_t n_vocab = engine->session().n_vocab();
    for (uint64_t c = 0; c < n_chunks; ++c) {
      std::vector<int32_t> chunk(tokens.begin() + static_cast<ptrdiff_t>(c * n_ctx),
                                 tokens.begin() + static_cast<ptrdiff_t>((c + 1) * n_ctx));
      chunk[0] = *bos;
      engine->session().reset();
      const auto logits = engine->session().evaluate(chunk, true);
      double chunk_nll = 0;
      for (uint64_t j = first; j + 1 < n_ctx; ++j) {
        const float* row = logits.data() + j * n_vocab;
        double max_logit = row[0];
        for (size_t i = 1; i < n_vocab; ++i) max_logit = std::max<double>(max_logit, row[i]);
        double sum = 0;
        for (size_t i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - max_logit);
        const double log_p = static_cast<double>(row[chunk[j + 1]]) - max_logit - std::log(sum);
        chunk_nll -= log_p;
      }
      nll += chunk_nll;
      scored += n_ctx - 1 - first;
      chunk_ppl.push_back(std::exp(nll / static_cast<double>(scored)));
      if (progress) {
        const int width = 30, filled = static_cast<int>(width * (c + 1) / n_chunks);
        std::cerr << fmt::format("\r[{}{}] chunk {}/{}  perplexity so far {:.4f}\x1b[K", std::string(filled, '#'),
                                 std::string(width - filled, '.'), c + 1, n_chunks, chunk_ppl.back())
                  << std::flush;
      }
    }
    if (progress) std::cerr << "\r\x1b[K";
    const double ppl = std::exp(nll / static_cast<double>(scored));
    if (opts->format == "json") {
      nlohmann::ordered_json j;
      j["schema"] = "switchyard.score/1";
      j["model"] = opts->model;
      j["file"] = opts->text_file;
      j["tokens"] = tokens.size();
      j["n_ctx"] = n_ctx;
      j["chunks"] = n_chunks;
      j["scored_tokens"] = scored;
      j["perplexity"] = ppl;
      j["perplexity_after_chunk"] = chunk_ppl;
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << fmt::format("{}: perplexity {:.4f} over {} chunks of {} tokens ({} tokens scored, {} in the text)\n",
                               opts->text_file, ppl, n_chunks, n_ctx, scored, tokens.size());
    }
    exit_code = 0;
  });
}

}  // namespace sy::cli
