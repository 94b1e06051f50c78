#include "core/runtime/engine.h"

#include <chrono>

namespace sy::runtime {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

Engine::Engine(gguf::File file, const config::RunConfig&) : file_(std::move(file)), structure_(model::describe_model(file_)) {}

Engine::~Engine() {
  session_.reset();
  weights_.reset();
}

plugin::LoaderOptions loader_options(const config::RunConfig& config) {
  plugin::LoaderOptions options;
  for (const auto& p : config.plugins.paths) options.config_paths.emplace_back(p);
  options.require = config.plugins.require;
  options.plugin_options = config.plugin_settings();
  return options;
}

std::unique_ptr<Engine> Engine::open(const std::filesystem::path& model, const config::RunConfig& config,
                                     const plugin::LoaderOptions& plugins, const loader::LoadOptions& load,
                                     bool with_session) {
  auto start = Clock::now();
  std::unique_ptr<Engine> e(new Engine(gguf::File::open(model), config));
  e->timings_.open_seconds = seconds_since(start);
  start = Clock::now();
  e->inventory_ = plugin::load_plugins(plugins);
  e->timings_.plugins_seconds = seconds_since(start);
  start = Clock::now();
  const auto tensors = placement::describe_tensors(e->structure_);
  const auto shape = placement::run_shape(e->structure_.hp, config);
  placement::Plan plan = placement::make_plan(loader::describe_devices(e->inventory_), tensors, shape, config);
  e->timings_.plan_seconds = seconds_since(start);
  start = Clock::now();
  e->weights_.emplace(loader::load_model(e->file_, e->inventory_, std::move(plan), tensors, shape, config, load));
  if (with_session) e->session_.emplace(e->structure_, *e->weights_, e->inventory_, config);
  e->timings_.load_seconds = seconds_since(start);
  return e;
}

}  // namespace sy::runtime
