// A model ready to run, from a file path and a configuration: the steps every command and embedder takes in the
// same order — open and check the file, find the plugins, plan, load, create a session — owned together and torn
// down in reverse. The public API (switchyard/switchyard.hpp) and the CLI's run, score and crossval build on it.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "core/config/run_config.h"
#include "core/gguf/file.h"
#include "core/loader/loader.h"
#include "core/model/architecture.h"
#include "core/placement/planner.h"
#include "core/plugin/discovery.h"
#include "core/runtime/session.h"

namespace sy::runtime {

struct EngineTimings {
  double open_seconds = 0;     // map and check the file
  double plugins_seconds = 0;  // discover and open plugins
  double plan_seconds = 0;
  double load_seconds = 0;     // weights onto devices, and the session's buffers
};

// Plugin discovery as the configuration says: its plugins.paths and plugins.require, and the CPU thread count.
plugin::LoaderOptions loader_options(const config::RunConfig& config);

class Engine {
 public:
  // Throws sy::Error: the file is unreadable or not a model Switchyard runs, no plan fits, a device fails.
  // Without `with_session` no session is created (session() must not be called): embedders make their own.
  static std::unique_ptr<Engine> open(const std::filesystem::path& model, const config::RunConfig& config,
                                      const plugin::LoaderOptions& plugins, const loader::LoadOptions& load = {},
                                      bool with_session = true);
  ~Engine();

  const gguf::File& file() const { return file_; }
  const model::ModelStructure& model() const { return structure_; }
  const plugin::Inventory& inventory() const { return inventory_; }
  const placement::Plan& plan() const { return weights_->plan(); }
  loader::LoadedModel& weights() { return *weights_; }
  Session& session() { return *session_; }
  const EngineTimings& timings() const { return timings_; }

 private:
  Engine(gguf::File file, const config::RunConfig& config);
  // Declared in construction order; destroyed in reverse (the session before the weights before the plugins).
  gguf::File file_;
  model::ModelStructure structure_;
  plugin::Inventory inventory_;
  std::optional<loader::LoadedModel> weights_;
  std::optional<Session> session_;
  EngineTimings timings_;
};

}  // namespace sy::runtime
