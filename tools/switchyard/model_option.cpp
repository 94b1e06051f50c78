#include <cstdlib>

#include "tools/switchyard/commands.h"

namespace sy::cli {

std::string default_model_path() {
  if (const char* env = std::getenv("SWITCHYARD_MODEL"); env && *env) return env;
  return "../shared/models/stories260K.gguf";
}

CLI::Option* add_model_option(CLI::App& command, std::string& model) {
  model = default_model_path();
  return command.add_option("-m,--model", model, "GGUF model file (default: $SWITCHYARD_MODEL, else " +
                                                     std::string("../shared/models/stories260K.gguf)"))
      ->capture_default_str();
}

}  // namespace sy::cli
