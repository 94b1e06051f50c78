// The switchyard command-line tool: parses the command line with CLI11, sets up logging, and dispatches to one of
// the commands registered in commands.h. Errors reach the user as one line on stderr and a documented exit code.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/common/utf8.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/progress.h"
#include "tools/switchyard/usage.h"

int main(int argc, char** argv) {
  CLI::App app{"Switchyard: load GGUF language models and run them on the backends this machine has.", "switchyard"};
  app.set_version_flag("-V,--version", sy::cli::version_text());
  app.require_subcommand(1);
  app.fallthrough();  // global flags such as --log-level work after the subcommand too
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "Log verbosity on stderr: trace, debug, info, warn, error, off")
      ->capture_default_str();
  app.footer(sy::cli::help_footer());

  int exit_code = 0;
  sy::cli::add_inspect_command(app, exit_code);
  sy::cli::add_validate_command(app, exit_code);
  sy::cli::add_plan_command(app, exit_code);
  sy::cli::add_load_command(app, exit_code);
  sy::cli::add_dequant_command(app, exit_code);
  sy::cli::add_quantize_command(app, exit_code);
  sy::cli::add_devices_command(app, exit_code);
  sy::cli::add_run_command(app, exit_code);
  sy::cli::add_score_command(app, exit_code);
  sy::cli::add_crossval_command(app, exit_code);
  sy::cli::add_tokenize_commands(app, exit_code);
  sy::cli::add_bench_command(app, exit_code);
  sy::cli::add_help_and_version_commands(app, exit_code);

  app.parse_complete_callback([&] {
    try {
      sy::log_init(log_level);
      sy::cli::set_progress_allowed(log_level != "off");  // off means nothing on stderr but errors
    } catch (const sy::Error& e) {
      throw CLI::ValidationError("--log-level", e.what());
    }
  });
  std::vector<std::string> args = sy::cli::expand_short_forms(argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    const std::string unknown = sy::cli::describe_unknown_arguments(app, e);
    // Arguments are echoed (a file name from a shell glob among them): each line escaped, one error a line.
    std::stringstream lines(unknown.empty() ? "error: " + std::string(e.what()) +
                                                  "\nRun 'switchyard --help' for the flags."
                                            : unknown);
    for (std::string line; std::getline(lines, line);) std::cerr << sy::printable(line) << "\n";
    if (sy::cli::json_output_requested(app)) {
      std::string message = unknown.empty() ? e.what() : unknown;
      for (size_t at; (at = message.find("error: ")) != std::string::npos;) message.erase(at, 7);
      sy::cli::print_json_error("usage", message);
    }
    return 2;
  } catch (const sy::Error& e) {
    // Messages name tensors, keys and plugins as their files spell them: escaped before a terminal sees them, the
    // newlines of a message that is several lines on purpose kept.
    std::cerr << "error: " << sy::escape_text(e.what(), sy::EscapeFor::terminal_lines) << "\n";
    if (sy::cli::json_output_requested(app)) sy::cli::print_json_error(sy::to_string(e.code()), e.what());
    // A model that is malformed or does not fit is a finding (1); bad flags, configs and missing files are 2.
    const bool finding = e.code() == sy::ErrorCode::invalid_file || e.code() == sy::ErrorCode::out_of_memory ||
                         e.code() == sy::ErrorCode::unsupported;
    return finding ? 1 : 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << sy::escape_text(e.what(), sy::EscapeFor::terminal_lines) << "\n";
    if (sy::cli::json_output_requested(app)) sy::cli::print_json_error("internal", e.what());
    return 2;
  }
  return exit_code;
}
