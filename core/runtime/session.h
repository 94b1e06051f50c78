// A running model: the forward pass (schedule.h) executed through the plugin ABI on the devices the plan chose,
// with its KV cache and activation buffers allocated per device from the plan's own figures. Prompts run in batches
// of runtime.batch_size tokens (matrix-matrix products), generation one token at a time; decoding a token
// allocates nothing on the host once the session exists.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/config/run_config.h"
#include "core/loader/loader.h"
#include "core/model/architecture.h"
#include "core/plugin/discovery.h"
#include "core/runtime/schedule.h"

namespace sy::runtime {

// Time spent per device (ops and the hand-offs into it), for `run --metrics`.
struct DeviceTime {
  std::string device;
  double seconds = 0;
  uint64_t executes = 0;   // calls into the plugin's execute
  uint64_t transfers = 0;  // activation hand-offs into this device
};

// Which plugin ABI 1.3 features the session uses, per device name (for tests and diagnostics).
struct SessionFeatures {
  bool reused_decode_ops = false;               // a decode step submits the same ops every token
  std::vector<std::string> step_value_devices;  // KV writes and attention read sy_step_values
  std::vector<std::string> queued_devices;      // work queued on a stream, drained once per batch
  std::vector<std::string> event_devices;       // hand-offs out of it wait on an event, not the whole stream
};

class Session {
 public:
  // `model`, `weights` and `inventory` are borrowed and must outlive the session; `weights` must have been loaded
  // from the plan `weights.plan()` of the same file `model` describes. Throws sy::Error naming the device and op
  // when a device cannot run an op the schedule gives it, or cannot hold the KV cache or scratch.
  Session(const model::ModelStructure& model, loader::LoadedModel& weights, const plugin::Inventory& inventory,
          const config::RunConfig& config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Evaluates `tokens` at positions n_past() ... n_past() + size - 1 and appends them to the KV cache. Returns the
  // logits (n_vocab floats per row) of every token when `all_logits`, else of the last token only; the span is
  // valid until the next call. Throws sy::Error(invalid_argument) when the tokens would overflow the context or an
  // id is outside the vocabulary (then nothing is appended).
  std::span<const float> evaluate(std::span<const int32_t> tokens, bool all_logits);

  // Forgets the KV cache: the next evaluate starts at position 0.
  void reset();
  // Drops the cache past `n_past` positions (n_past <= this->n_past()), so a prompt can be re-evaluated from there.
  void truncate(uint64_t n_past);

  uint64_t n_past() const;
  uint64_t context_length() const;
  uint64_t n_vocab() const;
  const Schedule& schedule() const;
  SessionFeatures features() const;
  std::vector<DeviceTime> device_times() const;
  // Bytes the session allocated per device: KV cache and scratch, as the plan reported them.
  std::vector<std::pair<std::string, uint64_t>> device_bytes() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sy::runtime
