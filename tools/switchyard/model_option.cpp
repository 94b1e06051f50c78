#include <cstdlib>

#include "core/common/error.h"
#include "tools/switchyard/commands.h"

namespace sy::cli {

std::string default_model_path() {
  if (const char* env = std::getenv("SWITCHYARD_MODEL"); env && *env) return env;
  return {};
}

CLI::Option* add_model_option(CLI::App& command, std::string& model) {
  model = default_model_path();
  // An installed binary knows no model of its own: without -m or the variable, say how to pass one.
  command.parse_complete_callback([&command, &model] {
    if (!model.empty()) return;
    throw Error(ErrorCode::invalid_argument,
                "no model given: pass one with -m MODEL.gguf (or --model), or set SWITCHYARD_MODEL; "
                "'switchyard " + command.get_name() + " --help' lists the flags");
  });
  return command.add_option("-m,--model", model, "GGUF model file (default: $SWITCHYARD_MODEL)")
      ->type_name("FILE");
}

}  // namespace sy::cli
