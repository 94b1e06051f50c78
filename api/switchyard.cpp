// The embedding API (switchyard/switchyard.hpp) over the core: Model is an Engine without its own session plus the
// tokenizer; each Session is a runtime::Session of its own over the model's loaded weights.
#include <switchyard/switchyard.hpp>

#include <dlfcn.h>

#include <filesystem>

#include "core/config/run_config.h"
#include "core/gguf/tensor_type.h"
#include "core/runtime/engine.h"
#include "core/runtime/generate.h"
#include "core/runtime/perplexity.h"
#include "core/runtime/schedule.h"
#include "core/tokenizer/tokenizer.h"

namespace switchyard {
namespace {

// <libdir>/switchyard/plugins beside this library, where `cmake --install` puts the plugins.
std::optional<std::filesystem::path> installed_plugin_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&installed_plugin_directory), &info) == 0 || !info.dli_fname) return std::nullopt;
  std::error_code ignored;
  const auto directory = std::filesystem::path(info.dli_fname).parent_path() / "switchyard" / "plugins";
  if (!std::filesystem::is_directory(directory, ignored)) return std::nullopt;
  return directory;
}

Plan summarize(const sy::placement::Plan& plan, const sy::runtime::Schedule& schedule) {
  Plan out;
  out.policy = plan.policy;
  for (const auto& d : plan.devices)
    out.devices.push_back({d.device, d.budget, d.weights, d.kv_cache, d.scratch});
  for (const auto& t : plan.tensors)
    out.tensors.push_back({t.tensor, t.device, std::string(sy::gguf::to_string(t.stored_type)), t.bytes, t.layer, t.reason});
  out.handoffs = sy::runtime::describe_handoffs(schedule);
  out.notes = plan.notes;
  return out;
}

}  // namespace

struct Model::Impl {
  sy::config::RunConfig config;
  std::unique_ptr<sy::runtime::Engine> engine;
  std::optional<sy::tokenizer::Tokenizer> tokenizer;
  Plan plan;
};

struct Session::Impl {
  Model::Impl* model = nullptr;  // borrowed: the Model outlives its sessions
  std::unique_ptr<sy::runtime::Session> session;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::open(const std::string& path, const OpenOptions& options) {
  auto impl = std::make_unique<Impl>();
  std::vector<sy::config::Setting> settings;
  for (const auto& [key, value] : options.settings) settings.push_back({key, value, "OpenOptions.settings"});
  std::optional<std::filesystem::path> file;
  if (!options.config_file.empty()) file = options.config_file;
  impl->config = sy::config::load_run_config(file, sy::config::settings_from_environment(), settings);
  sy::plugin::LoaderOptions plugins = sy::runtime::loader_options(impl->config);
  for (const auto& p : options.plugin_paths) plugins.explicit_files.emplace_back(p);
  if (const auto installed = installed_plugin_directory()) plugins.config_paths.push_back(*installed);
  impl->engine = sy::runtime::Engine::open(path, impl->config, plugins, {}, false);
  impl->tokenizer.emplace(sy::tokenizer::Tokenizer::from_file(impl->engine->file()));
  impl->plan = summarize(impl->engine->plan(), sy::runtime::make_schedule(impl->engine->model(), impl->engine->plan()));
  return Model(std::move(impl));
}

const Plan& Model::plan() const { return impl_->plan; }
std::string Model::architecture() const { return std::string(sy::model::to_string(impl_->engine->model().architecture)); }
uint64_t Model::vocabulary_size() const { return impl_->engine->model().hp.n_vocab; }
uint64_t Model::context_length() const { return impl_->config.runtime.context_length; }

std::vector<int32_t> Model::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  return impl_->tokenizer->encode(text, add_special, parse_special);
}

std::string Model::detokenize(std::span<const int32_t> tokens) const { return impl_->tokenizer->decode(tokens); }

Session Model::create_session() {
  auto impl = std::make_unique<Session::Impl>();
  impl->model = impl_.get();
  impl->session = std::make_unique<sy::runtime::Session>(impl_->engine->model(), impl_->engine->weights(),
                                                         impl_->engine->inventory(), impl_->config);
  return Session(std::move(impl));
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Generation Session::generate(std::string_view prompt, const GenerateOptions& options, const TokenCallback& on_token) {
  const auto& config = impl_->model->config;
  const auto& tokenizer = *impl_->model->tokenizer;
  sy::runtime::GenerationParams p = sy::runtime::generation_params(config);
  p.sampling.temperature = options.temperature.value_or(p.sampling.temperature);
  p.sampling.top_k = options.top_k.value_or(p.sampling.top_k);
  p.sampling.top_p = options.top_p.value_or(p.sampling.top_p);
  p.sampling.min_p = options.min_p.value_or(p.sampling.min_p);
  p.sampling.repeat_penalty = options.repeat_penalty.value_or(p.sampling.repeat_penalty);
  p.sampling.seed = options.seed.value_or(p.sampling.seed);
  p.max_tokens = options.max_tokens.value_or(p.max_tokens);
  p.ignore_eos = options.ignore_eos;
  const auto ids = tokenizer.encode(prompt, true, false);
  if (ids.empty()) throw Error(ErrorCode::invalid_argument, "generate: the prompt has no tokens");
  sy::tokenizer::StreamingDecoder decoder(tokenizer);
  Generation out;
  const auto result = sy::runtime::generate(
      *impl_->session, ids, p, [&](int32_t t) { return tokenizer.vocabulary().is_end_of_generation(t); },
      [&](int32_t t) {
        const std::string piece = decoder.push(t);
        out.text += piece;
        return on_token ? on_token(piece, t) : true;
      });
  const std::string tail = decoder.finish();
  out.text += tail;
  if (!tail.empty() && on_token) on_token(tail, -1);
  out.tokens = result.tokens;
  out.stop_reason = std::string(sy::runtime::to_string(result.stop));
  out.prompt_tokens_per_second = result.metrics.prompt_tokens_per_second();
  out.generation_tokens_per_second = result.metrics.generation_tokens_per_second();
  return out;
}

double Session::score(std::string_view text, uint64_t chunk_tokens) {
  const auto& tokenizer = *impl_->model->tokenizer;
  const auto bos = tokenizer.vocabulary().bos();
  if (!bos) throw Error(ErrorCode::unsupported, "score: the vocabulary has no BOS token, which the protocol needs");
  std::vector<int32_t> tokens = tokenizer.encode(text, false, false);
  tokens.insert(tokens.begin(), *bos);
  return sy::runtime::perplexity(*impl_->session, tokens, chunk_tokens, *bos).perplexity;
}

std::vector<float> Session::logits(std::span<const int32_t> tokens, bool all) {
  const auto span = impl_->session->evaluate(tokens, all);
  return {span.begin(), span.end()};
}

void Session::reset() { impl_->session->reset(); }
uint64_t Session::cached_tokens() const { return impl_->session->n_past(); }

}  // namespace switchyard
