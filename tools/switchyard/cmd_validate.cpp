// `switchyard validate` (alias `compat-check`): is this GGUF file well-formed and runnable as one of the architectures Switchyard runs?
// Lists every finding; exit 0 when there is none, 1 when there are findings, 2 for usage or I/O errors.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "core/common/format.h"
#include "core/common/json_text.h"
#include "core/common/utf8.h"
#include "core/gguf/file.h"
#include "core/model/architecture.h"
#include "tools/switchyard/commands.h"

namespace sy::cli {

void add_validate_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("validate", "Check that a GGUF model is well-formed and runnable; list every problem");
  cmd->alias("compat-check");
  struct Options {
    std::string model;
    std::string format = "text";
  };
  auto opts = std::make_shared<Options>();
  add_model_option(*cmd, opts->model);
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([opts, &exit_code] {
    struct Item {
      std::string code;
      std::string message;
    };
    std::vector<Item> findings;
    std::string architecture;
    try {
      const gguf::File file = gguf::File::open(opts->model);
      architecture = file.architecture();
      for (auto& f : model::check_model(file)) findings.push_back({f.code, f.message});
    } catch (const gguf::GgufError& e) {
      if (e.gguf_code() == gguf::GgufErrorCode::io_error) throw;
      for (const auto& f : e.findings()) findings.push_back({std::string(to_string(f.code)), f.message});
    }
    if (opts->format == "json") {
      nlohmann::ordered_json j;
      j["schema"] = "switchyard.validate/2";
      j["model"] = opts->model;
      j["valid"] = findings.empty();
      j["findings"] = nlohmann::ordered_json::array();
      for (const auto& f : findings) j["findings"].push_back({{"code", f.code}, {"message", f.message}});
      std::cout << json_text(j, 2) << "\n";
    } else if (findings.empty()) {
      std::cout << fmt::format("{}: valid, runnable as {}\n", printable(opts->model), printable(architecture));
    } else {
      std::cout << fmt::format("{}: {}\n", printable(opts->model), count_of(findings.size(), "problem"));
      for (const auto& f : findings) std::cout << fmt::format("  [{}] {}\n", f.code, printable(f.message));
    }
    exit_code = findings.empty() ? 0 : 1;
  });
}

}  // namespace sy::cli
