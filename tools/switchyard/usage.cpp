#include "tools/switchyard/usage.h"

#include <fmt/format.h>
#include <langinfo.h>

#include <algorithm>
#include <clocale>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/common/json_text.h"
#include "core/common/error.h"
#include "core/config/schema.h"

// Written at build time by cmake/version_info.cmake, so the commit is the one built, not the one configured.
extern const char* const kSwitchyardVersion;
extern const char* const kSwitchyardCommit;
extern const char* const kSwitchyardBuildType;

namespace sy::cli {
namespace {

// The name among `candidates` nearest to `word`, or empty when none is close enough to be what was meant.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = config::edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best_distance <= std::max<size_t>(2, word.size() / 3) ? best : std::string();
}

std::vector<std::string> command_names(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
  return names;
}

// Every flag `command` accepts, its parents' included (global flags work after the subcommand too).
std::vector<std::string> flag_names(const CLI::App* command) {
  std::vector<std::string> names;
  for (const CLI::App* app = command; app; app = app->get_parent()) {
    for (const CLI::Option* option : app->get_options()) {
      for (const auto& n : option->get_lnames()) names.push_back("--" + n);
      for (const auto& n : option->get_snames()) names.push_back("-" + n);
    }
  }
  for (const char* form : {"-ngl", "-ot"}) names.push_back(form);
  return names;
}

}  // namespace

std::string version_text() {
  return fmt::format("switchyard {} (commit {}, {} build)", kSwitchyardVersion, kSwitchyardCommit,
                     kSwitchyardBuildType);
}

std::string help_footer() {
  return "Exit codes: 0 success; 1 the command ran and found a problem (invalid model, failed check, no room); "
         "2 usage or I/O error.\n"
         "\n"
         "Environment (flags override variables, variables override the --config file):\n"
         "  SWITCHYARD_MODEL                 the model when -m is not given\n"
         "  SWITCHYARD_DEVICE                placement.device: auto, cpu, cuda, rocm, cuda:1, ... (--device)\n"
         "  SWITCHYARD_GPU_MEMORY_LIMIT      placement.gpu_memory_limit_mib: MiB per GPU, 0 = no cap "
         "(--gpu-memory-limit)\n"
         "  SWITCHYARD_THREADS               runtime.threads: CPU threads, 0 = one per core (--threads)\n"
         "  SWITCHYARD_SEED                  runtime.seed: sampling seed (--seed)\n"
         "  SWITCHYARD_PLUGIN_PATH           plugin files or directories, colon-separated, searched after "
         "--plugin-path\n"
         "  SWITCHYARD_PLUGIN_ISOLATION      off: open plugins in this process without probing them in a child first\n"
         "  SWITCHYARD_CPU_ISA               CPU plugin: scalar, avx2 or avx512, at most what the processor has\n"
         "  SWITCHYARD_CUDA_BLAS_MIN_TOKENS  CUDA plugin: batches of at least this many tokens multiply in cuBLAS "
         "(default 32)\n"
         "  SWITCHYARD_SIMDEV, SWITCHYARD_SIMDEV_FAIL_ALLOC_AFTER, SWITCHYARD_SIMDEV_LIE_FREE,\n"
         "  SWITCHYARD_SIMDEV_CORRUPT_UPLOAD, SWITCHYARD_SIMDEV_MAX_CONTEXT, SWITCHYARD_SIMDEV_ALIGNMENT,\n"
         "  SWITCHYARD_SIMDEV_ABI the SDK's simulated-GPU plugin simdev (sdk/README.md)\n"
         "  NO_COLOR                         set and not empty: no colour in log messages\n";
}

std::vector<std::string> expand_short_forms(int argc, const char* const* argv) {
  static const std::map<std::string, std::string, std::less<>> kForms = {{"-ngl", "--n-gpu-layers"},
                                                                         {"-ot", "--override-tensor"}};
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {  // everything after it is a value
      for (; i < argc; ++i) out.emplace_back(argv[i]);
      break;
    }
    const std::string name = arg.substr(0, arg.find('='));
    if (auto it = kForms.find(name); it != kForms.end()) arg = it->second + arg.substr(name.size());
    out.push_back(std::move(arg));
  }
  return out;
}

std::string describe_unknown_arguments(const CLI::App& const_app, const CLI::ParseError& error) {
  // CLI11 keeps the words it could not place, in the order typed, whichever error it stopped at.
  auto& app = const_cast<CLI::App&>(const_app);  // CLI11 2.1 lists subcommands only through its non-const API
  const std::vector<std::string> unknown = app.remaining();
  if (unknown.empty() || (dynamic_cast<const CLI::ExtrasError*>(&error) == nullptr &&
                          dynamic_cast<const CLI::RequiredError*>(&error) == nullptr)) {
    return {};
  }
  const std::vector<CLI::App*> chosen = app.get_subcommands();
  const CLI::App* command = chosen.empty() ? &app : chosen.back();
  const std::string where = chosen.empty() ? "switchyard" : "switchyard " + command->get_name();
  std::string message;
  for (const auto& word : unknown) {
    if (!message.empty()) message += "\n";
    if (chosen.empty() && !word.starts_with("-")) {
      message += fmt::format("error: unknown command '{}'", word);
      if (const std::string best = nearest(word, command_names(app)); !best.empty()) {
        message += fmt::format("; did you mean '{}'?", best);
      }
      return message + " ('switchyard help' lists the commands)";  // the rest were meant for that command
    }
    if (word.starts_with("-")) {
      const std::string name = word.substr(0, word.find('='));
      message += fmt::format("error: unknown flag '{}' for '{}'", name, where);
      if (const std::string best = nearest(name, flag_names(command)); !best.empty()) {
        message += fmt::format("; did you mean '{}'?", best);
      }
    } else {
      message += fmt::format("error: unexpected argument '{}' for '{}' (a model is passed with -m)", word, where);
    }
  }
  return message + fmt::format("\nRun '{} --help' for its flags.", where);
}

bool locale_is_utf8() {
  // Ask the environment's LC_CTYPE, then put back the program's own ("C"), which the rest of the code assumes.
  const std::string previous = std::setlocale(LC_CTYPE, nullptr);
  const bool utf8 = std::setlocale(LC_CTYPE, "") && std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
  std::setlocale(LC_CTYPE, previous.c_str());
  return utf8;
}

bool json_output_requested(const CLI::App& const_app) {
  auto& app = const_cast<CLI::App&>(const_app);
  for (const CLI::App* command : app.get_subcommands()) {
    const CLI::Option* format = command->get_option_no_throw("--format");
    if (!format) continue;
    for (const auto& value : format->results()) {
      if (value == "json") return true;
    }
  }
  return false;
}

void print_json_error(std::string_view code, const std::string& message) {
  nlohmann::ordered_json error;
  error["error"] = {{"code", code}, {"message", message}};
  std::cout << json_text(error, 2) << "\n";
}

void add_help_and_version_commands(CLI::App& app, int& exit_code) {
  auto* help = app.add_subcommand("help", "Show the help of switchyard or of one command (switchyard help plan)");
  auto command = std::make_shared<std::string>();
  help->add_option("command", *command, "The command whose help to show");
  help->callback([&app, command, &exit_code] {
    if (command->empty()) {
      // Not app.help(): with a subcommand chosen (this one) it shows that subcommand's help.
      std::cout << app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
    } else {
      CLI::App* sub = nullptr;
      try {
        sub = app.get_subcommand(*command);
      } catch (const CLI::OptionNotFound&) {
        std::string message = fmt::format("unknown command '{}'", *command);
        if (const std::string best = nearest(*command, command_names(app)); !best.empty()) {
          message += fmt::format("; did you mean '{}'?", best);
        }
        throw Error(ErrorCode::invalid_argument, message);
      }
      std::cout << app.get_formatter()->make_help(sub, app.get_name() + " " + sub->get_name(),
                                                  CLI::AppFormatMode::Normal);
    }
    exit_code = 0;
  });
  auto* version = app.add_subcommand("version", "Show the version, the commit it was built from and the build type");
  version->callback([&exit_code] {
    std::cout << version_text() << "\n";
    exit_code = 0;
  });
}

}  // namespace sy::cli
