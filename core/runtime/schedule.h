// The forward pass as placed: every op of one step of the model (llama, qwen2, bitnet), the device it runs on, and
// every hand-off of an activation between devices. It is built once from the model's structure (core/model) and the
// plan (core/placement) and reused for every batch and token; `switchyard plan` prints its hand-offs, and the
// session (session.h) executes it through the plugin ABI.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/architecture.h"
#include "core/placement/planner.h"

namespace sy::runtime {

// The activations of one batch; each has the same place in every device's scratch (model::ActivationLayout).
enum class Activation : uint8_t {
  residual, normed, q, k, v, attention, branch, gate, up, hidden, logits, token_ids, positions, step_values,
  rope_factors,
};
constexpr size_t kActivationCount = 15;
std::string_view to_string(Activation activation);
// Byte offset of `activation` in a scratch buffer laid out as `layout`.
uint64_t activation_offset(const model::ActivationLayout& layout, Activation activation);

// One op of the forward pass. Ops with a weight run on the device that holds it; rope, KV writes and attention run
// where the layer's KV cache is; the residual adds and the gate run where their last input was made.
struct Step {
  uint32_t kind = 0;   // sy_op_kind
  int device = 0;      // index into Schedule::devices
  int64_t layer = -1;  // -1 outside the layers
  const model::TensorSlot* weight = nullptr;  // the op's weight, or nullptr
  Activation x = Activation::residual;        // first activation read (MATMUL's input, ADD's a, ...)
  Activation y = Activation::residual;        // second activation read (residual add's b, the gate's up), if any
  Activation dst = Activation::residual;
  bool reads_y = false;
  int64_t width_in = 0;   // elements per row of x
  int64_t width_out = 0;  // elements per row of dst
  bool value_cache = false;  // KV_WRITE into the V cache (else K); ROPE of K (else Q)
  bool scalar_weight = false;  // MUL by a one-element scale
  bool head = false;           // the output norm and head: run on the rows whose logits are wanted only
};

// Before step `before_step`, `activation` is copied from device `from` to device `to` (the plugin ABI's download
// and upload, or one copy where one side is host memory).
struct Transfer {
  size_t before_step = 0;
  Activation activation = Activation::residual;
  int from = 0;
  int to = 0;
  int64_t layer = -1;
  int64_t width = 0;  // elements per row
};

struct LayerPlacement {
  int attention = 0;     // device of the attention matrices
  int feed_forward = 0;  // device of the feed-forward matrices
  int kv_cache = 0;      // device of the KV cache (and of rope and attention)
};

struct Schedule {
  std::vector<std::string> devices;  // names of the devices that compute
  std::vector<Step> steps;
  std::vector<Transfer> transfers;  // ordered by before_step
  std::vector<LayerPlacement> layers;
  int embedding_device = 0;
  int head_device = 0;
  // A tied head's own copy of token_embd on the head's device, when the plan made one ("output.weight" copying
  // token_embd.weight): the head step's weight. Shared so that a moved or copied schedule keeps the step's pointer.
  std::shared_ptr<const model::TensorSlot> head_copy;
  std::vector<bool> needs_positions;  // per device: runs a rope
};

// Throws sy::Error(invalid_argument) when the plan lacks a tensor of the model.
Schedule make_schedule(const model::ModelStructure& model, const placement::Plan& plan);

// One line per hand-off a token crosses ("layer 3: residual cuda:0 -> cpu"); empty when everything runs on one
// device.
std::vector<std::string> describe_handoffs(const Schedule& schedule);

// What `switchyard plan` prints of the schedule: per layer (runs of equal layers folded) where attention, the
// feed-forward block and the KV cache live, where the embedding and the head run, and the hand-offs.
std::string schedule_to_text(const Schedule& schedule);
nlohmann::ordered_json schedule_to_json(const Schedule& schedule);

}  // namespace sy::runtime
