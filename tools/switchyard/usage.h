// The command line's habits, shared by every command: llama.cpp's multi-letter short forms, `error:` messages with
// a did-you-mean for unknown commands and flags, and the `help` and `version` subcommands. main.cpp wires them in.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace sy::cli {

// "switchyard 0.1.0 (commit 1a2b3c4d5e6f, RelWithDebInfo build)"; the commit is "unknown" outside a git checkout.
std::string version_text();

// The footer of `switchyard --help`: exit codes and every environment variable Switchyard and its plugins read.
std::string help_footer();

// The arguments with llama.cpp's multi-letter single-dash forms (`-ngl 20`, `-ot REGEX=DEVICE`), which CLI11
// cannot declare, spelled as their long forms. argv[0] is dropped.
std::vector<std::string> expand_short_forms(int argc, const char* const* argv);

// The message for a command line CLI11 refused because of unknown words: the unknown command or flags in the
// order typed, each with the nearest valid name when one is close. Empty when `error` is of another kind.
std::string describe_unknown_arguments(const CLI::App& app, const CLI::ParseError& error);

// True when the command chosen was asked for `--format json`: its errors then also go to stdout as JSON.
bool json_output_requested(const CLI::App& app);

// {"error": {"code": "...", "message": "..."}} on stdout, for a program reading the JSON a command prints.
void print_json_error(std::string_view code, const std::string& message);

// Whether the user's locale (LC_ALL, LC_CTYPE, LANG) encodes text as UTF-8; output is ASCII otherwise.
bool locale_is_utf8();

// Registers `help [COMMAND]` and `version`, which print what `--help` and `--version` print.
void add_help_and_version_commands(CLI::App& app, int& exit_code);

}  // namespace sy::cli
