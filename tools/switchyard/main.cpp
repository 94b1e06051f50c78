// The switchyard command-line tool: parses the command line with CLI11, sets up logging, and dispatches to one of
// the commands registered in commands.h. Errors reach the user as one line on stderr and a documented exit code.
#include <cstdlib>
#include <iostream>

#include "core/common/error.h"
#include "core/common/log.h"
#include "tools/switchyard/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Switchyard: load GGUF language models and run them on the backends this machine has."};
  app.set_version_flag("--version", "switchyard 0.1.0");
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "Log verbosity on stderr: trace, debug, info, warn, error, off")
      ->capture_default_str();
  app.footer(
      "Exit codes: 0 success; 1 the command ran and found a problem (invalid model, failed check); "
      "2 usage or I/O error.\nEnvironment: SWITCHYARD_MODEL sets the default model.");

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

  app.parse_complete_callback([&] {
    try {
      sy::log_init(log_level);
    } catch (const sy::Error& e) {
      throw CLI::ValidationError("--log-level", e.what());
    }
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const sy::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    // A model that is malformed or does not fit is a finding (1); bad flags, configs and missing files are 2.
    const bool finding = e.code() == sy::ErrorCode::invalid_file || e.code() == sy::ErrorCode::out_of_memory ||
                         e.code() == sy::ErrorCode::unsupported;
    return finding ? 1 : 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return exit_code;
}
