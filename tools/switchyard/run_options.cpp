#include "tools/switchyard/run_options.h"

namespace sy::cli {

config::RunConfig RunOptions::load() const {
  std::vector<config::Setting> flags;
  for (const auto& f : flag_values) flags.push_back({f.key, f.text, "flag " + f.flag});
  std::optional<std::filesystem::path> file;
  if (!config_file.empty()) file = config_file;
  config::RunConfig config = config::load_run_config(file, config::settings_from_environment(), flags);
  // List-valued flags add to the file's lists.
  for (const auto& p : plugin_paths) config.plugins.paths.push_back(p);
  for (const auto& r : require_devices) config.plugins.require.push_back(r);
  return config;
}

plugin::LoaderOptions RunOptions::loader_options(const config::RunConfig& config) const {
  plugin::LoaderOptions options;
  for (const auto& p : config.plugins.paths) options.config_paths.emplace_back(p);
  options.require = config.plugins.require;
  options.plugin_options = config.plugin_settings();
  return options;
}

void add_run_options(CLI::App& command, const std::shared_ptr<RunOptions>& options) {
  command.add_option("--config", options->config_file, "Run configuration (JSON, see configs/schema.json)")
      ->check(CLI::ExistingFile);
  command.add_flag("--print-config", options->print_config,
                   "Print the merged configuration and where each value came from, then continue");
  // Each flag sets one configuration key; the text is checked against the schema like the file's values.
  struct FlagSpec {
    const char* flag;
    const char* key;
    const char* help;
  };
  static const FlagSpec kFlags[] = {
      {"--device", "placement.device", "Use only this device kind or device (auto, cpu, cuda, rocm, cuda:1, ...)"},
      {"--policy", "placement.policy", "Placement policy: auto, cpu, gpu-first, balanced, layers"},
      {"--gpu-memory-limit", "placement.gpu_memory_limit_mib", "Cap on the memory used on each GPU, in MiB"},
      {"--load-mode", "loading.mode", "progressive (default) or lazy"},
      {"--lazy-budget", "loading.lazy_budget_mib", "Lazy mode: per-device cache budget in MiB"},
      {"--threads", "runtime.threads", "CPU threads (0 = one per core)"},
      {"--ctx-size", "runtime.context_length", "Context length in tokens (sizes the KV cache)"},
      {"--batch-size", "runtime.batch_size", "Tokens per batch (sizes the scratch buffers)"},
      {"--seed", "runtime.seed", "Sampling seed"},
  };
  for (const auto& spec : kFlags) {
    const std::string key = spec.key, flag = spec.flag;
    command.add_option_function<std::string>(
        spec.flag, [options, key, flag](const std::string& text) { options->flag_values.push_back({key, text, flag}); },
        spec.help);
  }
  command.add_option("--plugin-path", options->plugin_paths, "Plugin file or directory searched first (repeatable)");
  command.add_option("--require-device", options->require_devices,
                     "Fail unless a device of this kind or name is present, e.g. cuda (repeatable)");
}

}  // namespace sy::cli
