#include "tools/switchyard/run_options.h"

#include "core/runtime/engine.h"

#include <span>

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
  return runtime::loader_options(config);
}

namespace {

// Each flag sets one configuration key; the text is checked against the schema like the file's values.
struct FlagSpec {
  const char* flag;  // CLI11 names, e.g. "-n,--n-predict"
  const char* key;
  const char* help;
};

void add_flags(CLI::App& command, const std::shared_ptr<RunOptions>& options, std::span<const FlagSpec> specs) {
  for (const auto& spec : specs) {
    const std::string key = spec.key, names = spec.flag;
    const std::string flag = names.substr(names.rfind(',') + 1);  // the long name, for messages
    command.add_option_function<std::string>(
        spec.flag, [options, key, flag](const std::string& text) { options->flag_values.push_back({key, text, flag}); },
        spec.help);
  }
}

}  // namespace

void add_run_options(CLI::App& command, const std::shared_ptr<RunOptions>& options) {
  command.add_option("--config", options->config_file, "Run configuration (JSON, see configs/schema.json)")
      ->check(CLI::ExistingFile);
  command.add_flag("--print-config", options->print_config,
                   "Print the merged configuration and where each value came from, then continue");
  static const FlagSpec kFlags[] = {
      {"--device", "placement.device", "Use only this device kind or device (auto, cpu, cuda, rocm, cuda:1, ...)"},
      {"--policy", "placement.policy", "Placement policy: auto, cpu, gpu-first, balanced, layers"},
      {"--gpu-memory-limit", "placement.gpu_memory_limit_mib", "Cap on the memory used on each GPU, in MiB"},
      {"--load-mode", "loading.mode", "progressive (default) or lazy"},
      {"--lazy-budget", "loading.lazy_budget_mib", "Lazy mode: per-device cache budget in MiB"},
      {"--threads", "runtime.threads", "CPU threads (0 = one per core)"},
      {"--ctx-size", "runtime.context_length", "Context length in tokens (sizes the KV cache)"},
      {"--batch-size", "runtime.batch_size", "Tokens per batch (sizes the scratch buffers)"},
      {"--kv-type", "runtime.kv_type", "KV cache element type: f32 (default) or f16"},
      {"--seed", "runtime.seed", "Sampling seed"},
  };
  add_flags(command, options, kFlags);
  command.add_option("--plugin-path", options->plugin_paths, "Plugin file or directory searched first (repeatable)");
  command.add_option("--require-device", options->require_devices,
                     "Fail unless a device of this kind or name is present, e.g. cuda (repeatable)");
}

void add_sampling_options(CLI::App& command, const std::shared_ptr<RunOptions>& options) {
  static const FlagSpec kFlags[] = {
      {"-n,--n-predict", "sampling.max_tokens", "Tokens to generate at most (default 128)"},
      {"--temp", "sampling.temperature", "Sampling temperature; 0 is greedy (default 0.8)"},
      {"--top-k", "sampling.top_k", "Keep the K most likely tokens; 0 keeps all (default 40)"},
      {"--top-p", "sampling.top_p", "Keep the most likely tokens up to this probability mass; 1 is off (default 0.95)"},
      {"--min-p", "sampling.min_p", "Drop tokens less likely than this times the best; 0 is off (default 0.05)"},
      {"--repeat-penalty", "sampling.repeat_penalty", "Divide recent tokens' positive logits by this; 1 is off (default 1)"},
      {"--repeat-last-n", "sampling.repeat_last_n", "Recent tokens the penalty looks at (default 64)"},
  };
  add_flags(command, options, kFlags);
}

}  // namespace sy::cli
