// The switchyard CLI: one file per command, each registering a CLI11 subcommand. A command's callback stores
// its exit status in `exit_code`: 0 success, 1 the command ran and found a problem (e.g. an invalid model),
// 2 a usage or I/O error (see README "Exit codes").
#pragma once

#include <CLI/CLI.hpp>

namespace sy::cli {

void add_inspect_command(CLI::App& app, int& exit_code);
void add_validate_command(CLI::App& app, int& exit_code);
void add_plan_command(CLI::App& app, int& exit_code);
void add_load_command(CLI::App& app, int& exit_code);
void add_dequant_command(CLI::App& app, int& exit_code);
void add_quantize_command(CLI::App& app, int& exit_code);
// `switchyard run`: generate text, one prompt or a batch job (cmd_run.cpp).
void add_run_command(CLI::App& app, int& exit_code);
// `switchyard score`: perplexity of a text (cmd_score.cpp).
void add_score_command(CLI::App& app, int& exit_code);
// `switchyard crossval`: logits against a reference run, teacher-forced (cmd_crossval.cpp).
void add_crossval_command(CLI::App& app, int& exit_code);
// `switchyard devices`: plugins found, loaded or skipped, and every device (cmd_devices.cpp).
void add_devices_command(CLI::App& app, int& exit_code);
// `switchyard tokenize` and `switchyard detokenize` (cmd_tokenize.cpp).
void add_tokenize_commands(CLI::App& app, int& exit_code);
// `switchyard bench`: prompt and generation speed in llama-bench's formats (cmd_bench.cpp).
void add_bench_command(CLI::App& app, int& exit_code);

// The model a command runs on when -m is not given: $SWITCHYARD_MODEL, else none.
std::string default_model_path();

// Registers the common "-m,--model" option with its default on `command`; the command refuses to run, saying how
// to pass a model, when there is neither.
CLI::Option* add_model_option(CLI::App& command, std::string& model);

}  // namespace sy::cli
