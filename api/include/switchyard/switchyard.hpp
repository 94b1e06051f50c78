// The Switchyard embedding API: run GGUF models from your own C++ program. Open a model with a run configuration,
// look at where its tensors were placed, create sessions, generate text with a token callback that can stop,
// score text, and read logits. Failures throw sy::Error (switchyard/error.hpp) with a code and a message naming
// the file, key or device. This header and error.hpp are the whole interface: link Switchyard::switchyard
// (find_package(Switchyard)); nothing of the core's private headers is needed.
//
//   auto model = switchyard::Model::open("model.gguf");
//   auto session = model.create_session();
//   session.generate("Once upon a time", {}, [](std::string_view text, int32_t) {
//     std::cout << text << std::flush;
//     return true;  // false stops generation
//   });
#pragma once

#include <switchyard/error.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {

using sy::Error;
using sy::ErrorCode;

// How to open a model. Settings override the configuration file, as command-line flags do for the CLI.
struct OpenOptions {
  std::string config_file;  // a JSON run configuration (configs/schema.json); empty = defaults
  // Key paths and values, e.g. {"runtime.context_length", "4096"}, {"placement.device", "cpu"}.
  std::vector<std::pair<std::string, std::string>> settings;
  // Plugin files or directories searched first. The library also searches SWITCHYARD_PLUGIN_PATH and the plugins
  // installed beside it (<libdir>/switchyard/plugins).
  std::vector<std::string> plugin_paths;
};

// Where the planner put things, and why.
struct PlacedTensor {
  std::string name;
  std::string device;  // "cpu", "cuda:0", ...
  std::string type;    // as stored on the device
  uint64_t bytes = 0;
  int64_t layer = -1;
  std::string reason;
};
struct DeviceUse {
  std::string device;
  uint64_t budget_bytes = 0;
  uint64_t weight_bytes = 0;
  uint64_t kv_cache_bytes = 0;
  uint64_t scratch_bytes = 0;
};
struct Plan {
  std::string policy;
  std::vector<DeviceUse> devices;
  std::vector<PlacedTensor> tensors;
  std::vector<std::string> handoffs;  // "layer 3: residual cuda:0 -> cpu"
  std::vector<std::string> notes;
};

// Sampling and limits for one generation; unset fields take the run configuration's sampling.* values.
struct GenerateOptions {
  std::optional<double> temperature;  // 0 = greedy
  std::optional<uint64_t> top_k;
  std::optional<double> top_p;
  std::optional<double> min_p;
  std::optional<double> repeat_penalty;
  std::optional<uint64_t> seed;
  std::optional<uint64_t> max_tokens;
  bool ignore_eos = false;
};

struct Generation {
  std::string text;             // the continuation (the prompt is not repeated)
  std::vector<int32_t> tokens;  // its token ids
  std::string stop_reason;      // "eos", "length", "context" or "cancelled"
  double prompt_tokens_per_second = 0;
  double generation_tokens_per_second = 0;
};

// Receives each piece of generated text (always valid UTF-8, possibly empty while a character is incomplete) and
// its token id; returns false to stop.
using TokenCallback = std::function<bool(std::string_view text, int32_t token)>;

class Model;

// One conversation's state: its own KV cache over the model's shared weights. Not thread-safe; use one session
// per thread. Must not outlive its Model.
class Session {
 public:
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  // Continues `prompt` (tokenized with BOS as the model's file says) from an empty cache.
  Generation generate(std::string_view prompt, const GenerateOptions& options = {}, const TokenCallback& on_token = {});
  // Perplexity of `text` by the reference implementation's protocol, in chunks of `chunk_tokens`.
  double score(std::string_view text, uint64_t chunk_tokens = 512);
  // Appends `tokens` to the cache and returns the logits of the last (or, with `all`, of each: n_vocab per token).
  std::vector<float> logits(std::span<const int32_t> tokens, bool all = false);
  // Empties the cache.
  void reset();
  uint64_t cached_tokens() const;

 private:
  friend class Model;
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Model {
 public:
  // Reads and checks the file, finds the plugins, plans, and loads the weights onto the devices.
  static Model open(const std::string& path, const OpenOptions& options = {});
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const Plan& plan() const;
  std::string architecture() const;
  uint64_t vocabulary_size() const;
  uint64_t context_length() const;  // runtime.context_length of this run

  std::vector<int32_t> tokenize(std::string_view text, bool add_special = true, bool parse_special = false) const;
  std::string detokenize(std::span<const int32_t> tokens) const;

  // A new session with its own KV cache and scratch buffers on the devices the plan chose.
  Session create_session();

 private:
  friend class Session;
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
