#include "tools/switchyard/run_options.h"

#include <fmt/format.h>

#include <regex>
#include <span>

#include "core/config/schema.h"
#include "core/runtime/engine.h"

namespace sy::cli {
namespace {

// The schema's default for `key` ("placement.policy"), as help text shows it; `fallback` where it declares none.
std::string schema_default(const std::string& key, const char* fallback) {
  const nlohmann::json* node = &config::run_config_schema();
  for (size_t start = 0; node;) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    node = node->contains("properties") && (*node)["properties"].contains(part) ? &(*node)["properties"][part]
                                                                                 : nullptr;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!node || !node->contains("default")) return fallback;
  const auto& value = (*node)["default"];
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// "REGEX=DEVICE" split at its last '=' (a device name has none; a pattern may).
config::Override parse_tensor_override(const std::string& text) {
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw Error(ErrorCode::invalid_argument,
                "--override-tensor '" + text +
                    "': expected REGEX=DEVICE, e.g. 'ffn_.*=cpu' or 'blk\\.1[0-9]\\.=cuda:0'");
  }
  config::Override rule{text.substr(0, eq), text.substr(eq + 1)};
  try {
    std::regex check(rule.pattern);
  } catch (const std::regex_error& e) {
    throw Error(ErrorCode::invalid_argument,
                "--override-tensor '" + text + "': '" + rule.pattern + "' is not a regular expression: " + e.what());
  }
  return rule;
}

}  // namespace

config::RunConfig RunOptions::load() const {
  std::vector<config::Setting> flags;
  for (const auto& f : flag_values) flags.push_back({f.key, f.text, "flag " + f.flag});
  std::optional<std::filesystem::path> file;
  if (!config_file.empty()) file = config_file;
  config::RunConfig config = config::load_run_config(file, config::settings_from_environment(), flags);
  // List-valued flags add to the file's lists.
  for (const auto& p : plugin_paths) config.plugins.paths.push_back(p);
  for (const auto& r : require_devices) config.plugins.require.push_back(r);
  std::vector<config::Override> rules;
  for (const auto& text : tensor_overrides) rules.push_back(parse_tensor_override(text));
  if (!rules.empty()) {
    config.placement.overrides.insert(config.placement.overrides.begin(), rules.begin(), rules.end());
    auto& document_rules = config.document["placement"]["overrides"];
    nlohmann::ordered_json merged = nlohmann::ordered_json::array();
    for (const auto& r : config.placement.overrides) merged.push_back({{"pattern", r.pattern}, {"device", r.device}});
    document_rules = merged;
    config.origins["placement.overrides"] = "flag --override-tensor";
  }
  return config;
}

plugin::LoaderOptions RunOptions::loader_options(const config::RunConfig& config) const {
  return runtime::loader_options(config);
}

namespace {

// Each flag sets one configuration key; the text is checked against the schema like the file's values.
struct FlagSpec {
  const char* flag;  // CLI11 names, e.g. "-t,--threads"
  const char* key;
  const char* type;
  const char* help;
  const char* variable;    // the environment variable that sets the same key, or nullptr
  const char* no_default;  // shown when the schema declares no default
};

void add_flags(CLI::App& command, const std::shared_ptr<RunOptions>& options, std::span<const FlagSpec> specs) {
  for (const auto& spec : specs) {
    const std::string key = spec.key, flag = std::string(spec.flag).substr(std::string(spec.flag).rfind(',') + 1);
    std::string help = fmt::format("{} (default {}; config {}", spec.help, schema_default(key, spec.no_default), key);
    help += spec.variable ? fmt::format("; env {})", spec.variable) : ")";
    auto set = [options, key, flag](const std::string& text) { options->flag_values.push_back({key, text, flag}); };
    command.add_option_function<std::string>(spec.flag, set, help)->type_name(spec.type);
  }
}

}  // namespace

void add_run_options(CLI::App& command, const std::shared_ptr<RunOptions>& options) {
  command.add_option("--config", options->config_file, "Run configuration (JSON, see configs/schema.json)")
      ->check(CLI::ExistingFile);
  command.add_flag("--print-config", options->print_config,
                   "Print the merged configuration and where each value came from, then continue");
  // The short forms are llama.cpp's where the meaning is the same (-ngl is spelled --n-gpu-layers here, see usage.h).
  static const FlagSpec kFlags[] = {
      {"--device", "placement.device", "NAME",
       "Use only this device kind or device (auto, cpu, cuda, rocm, cuda:1, ...)", "SWITCHYARD_DEVICE", nullptr},
      {"--policy", "placement.policy", "POLICY", "Placement policy: auto, cpu, gpu-first, balanced, layers", nullptr,
       nullptr},
      {"--n-gpu-layers", "placement.gpu_layers", "UINT",
       "-ngl: the last N layers on the GPUs, the others on the CPU (llama.cpp's -ngl)", nullptr,
       "none, the policy places every layer"},
      {"--gpu-memory-limit", "placement.gpu_memory_limit_mib", "MIB", "Cap on the memory used on each GPU, in MiB",
       "SWITCHYARD_GPU_MEMORY_LIMIT", "0 = no cap"},
      {"--load-mode", "loading.mode", "MODE", "progressive or lazy", nullptr, nullptr},
      {"--lazy-budget", "loading.lazy_budget_mib", "MIB", "Lazy mode: per-device cache budget in MiB", nullptr,
       "0 = the placement budget"},
      {"--cpu-weights", "loading.cpu_weights", "MODE", kCpuWeightsHelp, nullptr, nullptr},
      {"-t,--threads", "runtime.threads", "UINT", "CPU threads (0 = one per core)", "SWITCHYARD_THREADS", nullptr},
      {"-c,--ctx-size", "runtime.context_length", "TOKENS", "Context length in tokens (sizes the KV cache)", nullptr,
       nullptr},
      {"-b,--batch-size", "runtime.batch_size", "TOKENS", "Tokens per batch (sizes the scratch buffers)", nullptr,
       nullptr},
      {"--kv-type", "runtime.kv_type", "TYPE", "KV cache element type: f32 or f16", nullptr, nullptr},
      {"--seed", "runtime.seed", "UINT", "Sampling seed", "SWITCHYARD_SEED", nullptr},
  };
  add_flags(command, options, kFlags);
  command.add_option("--override-tensor", options->tensor_overrides,
                     "-ot: tensors whose name matches REGEX go to DEVICE, e.g. 'ffn_.*=cpu' (repeatable; before the "
                     "config's placement.overrides)")
      ->type_name("REGEX=DEVICE");
  command.add_option("--plugin-path", options->plugin_paths,
                     "Plugin file or directory searched first (repeatable; then SWITCHYARD_PLUGIN_PATH)")
      ->type_name("PATH");
  command.add_option("--require-device", options->require_devices,
                     "Fail unless a device of this kind or name is present, e.g. cuda (repeatable)");
}

void add_sampling_options(CLI::App& command, const std::shared_ptr<RunOptions>& options) {
  static const FlagSpec kFlags[] = {
      {"-n,--n-predict", "sampling.max_tokens", "TOKENS", "Tokens to generate at most", nullptr, nullptr},
      {"--temp", "sampling.temperature", "NUMBER", "Sampling temperature; 0 is greedy", nullptr, nullptr},
      {"--top-k", "sampling.top_k", "UINT", "Keep the K most likely tokens; 0 keeps all", nullptr, nullptr},
      {"--top-p", "sampling.top_p", "NUMBER", "Keep the most likely tokens up to this probability mass; 1 is off",
       nullptr, nullptr},
      {"--min-p", "sampling.min_p", "NUMBER", "Drop tokens less likely than this times the best; 0 is off", nullptr,
       nullptr},
      {"--repeat-penalty", "sampling.repeat_penalty", "NUMBER", "Divide recent tokens' positive logits by this; 1 is off",
       nullptr, nullptr},
      {"--repeat-last-n", "sampling.repeat_last_n", "TOKENS", "Recent tokens the penalty looks at", nullptr, nullptr},
  };
  add_flags(command, options, kFlags);
}

}  // namespace sy::cli
