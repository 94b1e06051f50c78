#include "core/runtime/session.h"

#include <switchyard/plugin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <fmt/format.h>

#include "core/common/error.h"
#include "core/kernels/reference_ops.h"

namespace sy::runtime {
namespace {

using Clock = std::chrono::steady_clock;

sy_op blank_op(uint32_t kind) {
  sy_op op;
  std::memset(&op, 0, sizeof op);
  SY_STRUCT_INIT(op);
  op.kind = kind;
  return op;
}

// One device that computes: its scratch (every activation of one batch) and where the host can see it.
// Members in destruction order's reverse: the stream (which waits for its work) goes before the scratch.
struct ComputeDevice {
  const plugin::Device* device = nullptr;
  plugin::Buffer scratch;
  std::byte* host = nullptr;  // the scratch's host address when the device is host-visible (the CPU), else null
  DeviceTime time;
  // A device that is not host-visible and offers streams runs its work queued on `stream` (not in lazy mode, where
  // an evicted weight must not still be in use); `event` marks its hand-offs (ABI 1.3), else they are staged.
  std::optional<plugin::Stream> stream;
  std::optional<plugin::Event> event;
  bool step_values = false;  // its KV writes and attention read the batch's sy_step_values from the scratch
};

// What one batch does, in order: a hand-off, or a run of ops on one device. A decode step's list is built once
// and submitted again for every token (its ops read position and cache length from the step values).
struct Action {
  int device = -1;          // -1: a hand-off
  size_t transfer = 0;      // index into Schedule::transfers, for a hand-off
  std::vector<sy_op> ops;   // for a run
};

// One layer's caches, on the layer's KV device.
struct LayerCache {
  plugin::Buffer k;  // [context, n_head_kv * head_dim]
  plugin::Buffer v;  // [context, n_head_kv * head_dim_v]
};

}  // namespace

struct Session::State {
  const model::ModelStructure& model;
  loader::LoadedModel& weights;
  Schedule schedule;
  model::ActivationLayout layout;
  uint64_t context = 0;
  uint32_t kv_type = SY_TYPE_F32;
  bool lazy = false;
  std::vector<ComputeDevice> devices;
  std::vector<LayerCache> caches;
  // Per step, the weight's reference when the weights stay put (progressive mode): resolved once, so a token looks
  // nothing up by name. In lazy mode each use acquires the tensor (it may have been evicted).
  std::vector<sy_tensor_ref> weight_refs;
  std::vector<uint32_t> weight_types;
  uint64_t n_past = 0;

  // Reused from batch to batch: nothing below grows once the first batch of the largest size has run.
  std::vector<sy_op> ops;  // this batch's ops; reserved for every step, so spans handed to streams stay valid
  size_t pending_first = 0;
  int pending_device = -1;
  std::vector<plugin::StagingMemory> transfer_staging;  // per hand-off: its host copy, for queued copies
  std::vector<int32_t> token_ids;  // host copies the queued uploads read until the batch ends
  std::vector<int32_t> positions;
  sy_step_values step{};
  std::vector<float> logits;
  uint64_t row_alignment = 1;  // head rows start at multiples of this (the devices' buffer_alignment)
  // The decode step's actions, built on its first run when every device can reuse them (step values, no lazy
  // weights); while `recording`, flush and transfer append to it instead of running.
  std::vector<Action> decode_actions;
  bool decode_reusable = false;
  bool recording = false;

  State(const model::ModelStructure& m, loader::LoadedModel& w) : model(m), weights(w) {}
  ~State() {
    for (auto& d : devices) {
      if (!d.stream) continue;
      try {
        d.stream->synchronize();  // queued work may still read buffers destroyed below
      } catch (...) {
        // A failing device at teardown has nothing left to report to.
      }
    }
  }

  sy_tensor_ref activation_ref(int device, Activation a, uint64_t row, int64_t width) const {
    sy_tensor_ref ref{};
    ref.buffer = devices[static_cast<size_t>(device)].scratch.raw();
    ref.offset = activation_offset(layout, a) + row * static_cast<uint64_t>(width) * 4;  // F32 and I32 alike
    ref.type = a == Activation::token_ids || a == Activation::positions ? SY_TYPE_I32
               : a == Activation::step_values                             ? SY_TYPE_I64
                                                                          : SY_TYPE_F32;
    return ref;
  }

  sy_tensor_ref weight_ref(size_t i) {
    const Step& st = schedule.steps[i];
    if (!lazy) return weight_refs[i];
    sy_tensor_ref ref{};
    ref.buffer = weights.acquire(st.weight->name).raw();
    ref.type = weight_types[i];
    return ref;
  }

  // The op of step `i` for `n` rows starting at row `first` (the head's rows), with the cache holding `n_past`
  // positions before this batch.
  sy_op make_op(size_t i, int64_t n, int64_t first, uint64_t past) {
    const Step& st = schedule.steps[i];
    const auto& hp = model.hp;
    const auto row = static_cast<uint64_t>(first);
    sy_op op = blank_op(st.kind);
    const auto act = [&](Activation a, int64_t width, uint64_t r) { return activation_ref(st.device, a, r, width); };
    switch (st.kind) {
      case SY_OP_GET_ROWS:
        op.src[0] = weight_ref(i);
        op.src[1] = act(Activation::token_ids, 1, 0);
        op.dst = act(st.dst, st.width_out, 0);
        op.params.get_rows = {static_cast<int64_t>(hp.n_vocab), st.width_out, n};
        break;
      case SY_OP_MATMUL:
        op.src[0] = weight_ref(i);
        op.src[1] = act(st.x, st.width_in, row);
        // The head writes its rows from the start of the logits, so that the last token's logits are row 0.
        op.dst = act(st.dst, st.width_out, st.head ? 0 : row);
        op.params.matmul = {st.width_out, st.width_in, n};
        break;
      case SY_OP_RMS_NORM:
        op.src[0] = act(st.x, st.width_in, row);
        op.src[1] = weight_ref(i);
        op.dst = act(st.dst, st.width_out, row);
        op.params.rms_norm = {n, st.width_in, static_cast<float>(hp.rms_norm_eps)};
        break;
      case SY_OP_MUL:
      case SY_OP_ADD:
        op.src[0] = act(st.x, st.width_in, row);
        op.dst = act(st.dst, st.width_out, row);
        if (st.reads_y) {
          op.src[1] = act(st.y, st.width_in, row);
          op.params.binary = {n, st.width_in, n};
        } else if (st.scalar_weight) {
          op.src[1] = weight_ref(i);
          op.params.binary = {n * st.width_in, 1, 1};  // every element times the one-element scale
        } else {
          op.src[1] = weight_ref(i);
          op.params.binary = {n, st.width_in, 1};  // a bias row broadcast over the tokens
        }
        break;
      case SY_OP_ROPE:
      case SY_OP_ROPE_NEOX: {
        const auto heads = static_cast<int64_t>(st.value_cache ? hp.n_head_kv : hp.n_head);
        op.src[0] = act(st.x, st.width_in, 0);
        op.src[1] = act(Activation::positions, 1, 0);
        op.dst = op.src[0];
        op.params.rope = {n, heads, static_cast<int64_t>(hp.head_dim), static_cast<int64_t>(hp.n_rot),
                          static_cast<float>(hp.rope_freq_base), static_cast<float>(hp.rope_freq_scale),
                          0, 0.0f, 1.0f, 0.0f, 0.0f};  // the ABI 1.4 fields: read only with SY_OP_FLAG_ROPE_SCALING
        if (hp.needs_rope_scaling()) {  // ABI 1.4: the planner placed this layer on a plugin that has it
          op.flags = SY_OP_FLAG_ROPE_SCALING;
          auto& p = op.params.rope;
          p.n_ctx_orig = static_cast<int32_t>(hp.rope_n_ctx_orig);
          p.ext_factor = static_cast<float>(hp.yarn_ext_factor);
          p.attn_factor = hp.rope_op_attn_factor();
          p.beta_fast = static_cast<float>(hp.yarn_beta_fast);
          p.beta_slow = static_cast<float>(hp.yarn_beta_slow);
          if (hp.rope_freqs) op.src[2] = act(Activation::rope_factors, 1, 0);
        }
        break;
      }
      case SY_OP_KV_WRITE: {
        const LayerCache& cache = caches[static_cast<size_t>(st.layer)];
        op.src[0] = act(st.x, st.width_in, 0);
        op.dst.buffer = (st.value_cache ? cache.v : cache.k).raw();
        op.dst.type = kv_type;
        op.params.kv_write = {n, st.width_in, static_cast<int64_t>(past), static_cast<int64_t>(context)};
        if (devices[static_cast<size_t>(st.device)].step_values) {
          op.flags = SY_OP_FLAG_STEP_VALUES;
          op.src[3] = act(Activation::step_values, 2, 0);
          op.params.kv_write.first_position = 0;  // read from the step values when it runs
        }
        break;
      }
      case SY_OP_ATTENTION: {
        const LayerCache& cache = caches[static_cast<size_t>(st.layer)];
        op.src[0] = act(Activation::q, st.width_in, 0);
        op.src[1].buffer = cache.k.raw();
        op.src[1].type = kv_type;
        op.src[2].buffer = cache.v.raw();
        op.src[2].type = kv_type;
        op.dst = act(st.dst, st.width_out, 0);
        op.params.attention = {n,
                               static_cast<int64_t>(hp.n_head),
                               static_cast<int64_t>(hp.n_head_kv),
                               static_cast<int64_t>(hp.head_dim),
                               static_cast<int64_t>(past) + n,
                               static_cast<int64_t>(context),
                               1.0f / std::sqrt(static_cast<float>(hp.head_dim))};  // as the reference rounds it
        if (devices[static_cast<size_t>(st.device)].step_values) {
          op.flags = SY_OP_FLAG_STEP_VALUES;
          op.src[3] = act(Activation::step_values, 2, 0);
          op.params.attention.n_kv = n;  // read from the step values when it runs
        }
        break;
      }
      case SY_OP_SWIGLU:
      case SY_OP_SQUARED_RELU_GLU:
        op.src[0] = act(st.x, st.width_in, 0);
        op.src[1] = act(st.y, st.width_in, 0);
        op.dst = act(st.dst, st.width_out, 0);
        op.params.swiglu = {n, st.width_in};
        break;
      default: throw Error(ErrorCode::internal, fmt::format("schedule holds op kind {}", st.kind));
    }
    return op;
  }

  // Runs (or, while recording, appends to decode_actions) the ops gathered since the last flush.
  void flush() {
    if (ops.size() == pending_first) return;
    const std::span<const sy_op> run(ops.data() + pending_first, ops.size() - pending_first);
    pending_first = ops.size();
    if (recording) {
      Action action;
      action.device = pending_device;
      action.ops.assign(run.begin(), run.end());
      decode_actions.push_back(std::move(action));
      return;
    }
    execute(pending_device, run);
  }

  void execute(int device, std::span<const sy_op> run) {
    ComputeDevice& d = devices[static_cast<size_t>(device)];
    const auto start = Clock::now();
    if (d.stream) d.device->execute(run, *d.stream);
    else d.device->execute(run);
    d.time.seconds += std::chrono::duration<double>(Clock::now() - start).count();
    ++d.time.executes;
  }

  // Hands rows [0, n) of an activation from one device's scratch to another's through host memory. A device that
  // queues work (a stream) keeps its queue: the producer's download is queued and only the point after it is
  // waited for (ABI 1.3 events: by the consumer's stream where the plugin can, else by the host), or, without
  // events, the producer's stream alone is synchronized; the consumer's upload is queued behind it.
  void transfer(size_t k, int64_t n) {
    if (recording) {
      Action action;
      action.transfer = k;
      decode_actions.push_back(std::move(action));
      return;
    }
    const Transfer& t = schedule.transfers[k];
    ComputeDevice& from = devices[static_cast<size_t>(t.from)];
    ComputeDevice& to = devices[static_cast<size_t>(t.to)];
    const auto start = Clock::now();
    const uint64_t offset = activation_offset(layout, t.activation);
    const uint64_t bytes = static_cast<uint64_t>(n) * static_cast<uint64_t>(t.width) * 4;
    std::byte* staging = transfer_staging[k].data();
    if (!from.stream && !to.stream) {
      if (from.host && to.host) {
        std::memcpy(to.host + offset, from.host + offset, bytes);
      } else if (from.host) {
        to.scratch.upload(offset, from.host + offset, bytes);
      } else if (to.host) {
        from.scratch.download(offset, to.host + offset, bytes);
      } else {
        from.scratch.download(offset, staging, bytes);
        to.scratch.upload(offset, staging, bytes);
      }
    } else if (!from.stream) {
      // The producer has finished; the queued upload reads a copy the producer cannot overwrite before it runs.
      if (from.host) std::memcpy(staging, from.host + offset, bytes);
      else from.scratch.download(offset, staging, bytes);
      to.scratch.upload(offset, staging, bytes, *to.stream);
    } else {
      std::byte* landing = !to.stream && to.host ? to.host + offset : staging;
      from.scratch.download(offset, landing, bytes, *from.stream);
      bool waited_on_device = false;
      if (from.event) {
        from.device->record(*from.event, &*from.stream);
        waited_on_device = to.stream && to.event && to.device->wait(*to.stream, *from.event);
        if (!waited_on_device) from.event->synchronize();
      } else {
        from.stream->synchronize();  // the staged copy: this stream only, not the device
      }
      if (to.stream) to.scratch.upload(offset, staging, bytes, *to.stream);
      else if (!to.host) to.scratch.upload(offset, staging, bytes);
    }
    to.time.seconds += std::chrono::duration<double>(Clock::now() - start).count();
    ++to.time.transfers;
  }

  // `data` must stay unchanged until the batch ends (a queued upload reads it then).
  void write_host(int device, Activation a, const void* data, uint64_t bytes) {
    ComputeDevice& d = devices[static_cast<size_t>(device)];
    const uint64_t offset = activation_offset(layout, a);
    if (d.host) std::memcpy(d.host + offset, data, bytes);
    else if (d.stream) d.scratch.upload(offset, data, bytes, *d.stream);
    else d.scratch.upload(offset, data, bytes);
  }

  // The head's first row: at or before `wanted`, where the rows it reads start on every device's alignment.
  int64_t head_first_row(int64_t wanted) const { return wanted / static_cast<int64_t>(row_alignment) * static_cast<int64_t>(row_alignment); }

  // Gathers the ops of every step for `n` tokens, running them device by device (or recording them).
  void run_steps(int64_t n, int64_t head_first, int64_t head_rows) {
    ops.clear();
    pending_first = 0;
    pending_device = -1;
    size_t next_transfer = 0;
    for (size_t i = 0; i < schedule.steps.size(); ++i) {
      const Step& st = schedule.steps[i];
      for (; next_transfer < schedule.transfers.size() && schedule.transfers[next_transfer].before_step == i; ++next_transfer) {
        flush();
        transfer(next_transfer, n);
      }
      if (st.device != pending_device) {
        flush();
        pending_device = st.device;
      }
      ops.push_back(st.head ? make_op(i, head_rows, head_first, n_past) : make_op(i, n, 0, n_past));
      // In lazy mode the next acquire on this device may evict this op's weight: run it now.
      if (lazy && st.weight) flush();
    }
    flush();
  }

  // One batch of at most layout.batch tokens; writes the logits of all its rows, or of its last, at `logits_at`.
  void run_batch(std::span<const int32_t> tokens, bool all_logits, size_t logits_at) {
    const auto n = static_cast<int64_t>(tokens.size());
    token_ids.assign(tokens.begin(), tokens.end());
    write_host(schedule.embedding_device, Activation::token_ids, token_ids.data(), tokens.size() * 4);
    positions.resize(tokens.size());
    for (size_t t = 0; t < tokens.size(); ++t) positions[t] = static_cast<int32_t>(n_past + t);
    step = {static_cast<int64_t>(n_past), static_cast<int64_t>(n_past) + n};
    for (size_t d = 0; d < devices.size(); ++d) {
      if (schedule.needs_positions[d]) write_host(static_cast<int>(d), Activation::positions, positions.data(), positions.size() * 4);
      if (devices[d].step_values) write_host(static_cast<int>(d), Activation::step_values, &step, sizeof step);
    }
    const int64_t wanted_rows = all_logits ? n : 1;
    const int64_t head_first = head_first_row(n - wanted_rows);
    const int64_t head_rows = n - head_first;
    if (n == 1 && decode_reusable) {
      if (decode_actions.empty()) {
        recording = true;
        run_steps(1, 0, 1);
        recording = false;
      }
      for (const Action& action : decode_actions) {
        if (action.device < 0) transfer(action.transfer, 1);
        else execute(action.device, action.ops);
      }
    } else {
      run_steps(n, head_first, head_rows);
    }
    ComputeDevice& head = devices[static_cast<size_t>(schedule.head_device)];
    const uint64_t bytes = static_cast<uint64_t>(wanted_rows) * model.hp.n_vocab * 4;
    const uint64_t from = layout.logits + static_cast<uint64_t>(n - wanted_rows - head_first) * model.hp.n_vocab * 4;
    float* out = logits.data() + logits_at;
    if (head.host) std::memcpy(out, head.host + from, bytes);
    else if (head.stream) head.scratch.download(from, out, bytes, *head.stream);
    else head.scratch.download(from, out, bytes);
    // The batch ends with every queue drained: the host copies above may be rewritten by the next batch.
    for (auto& d : devices)
      if (d.stream) d.stream->synchronize();
    n_past += tokens.size();
  }
};

Session::Session(const model::ModelStructure& model, loader::LoadedModel& weights, const plugin::Inventory& inventory,
                 const config::RunConfig& config)
    : state_(std::make_unique<State>(model, weights)) {
  State& s = *state_;
  const auto& hp = model.hp;
  if (hp.head_dim_v != hp.head_dim)
    throw Error(ErrorCode::invalid_argument,
                fmt::format("attention.value_length {} differs from key_length {}; Switchyard's attention op needs them "
                            "equal",
                            hp.head_dim_v, hp.head_dim));
  s.schedule = make_schedule(model, weights.plan());
  s.context = config.runtime.context_length;
  const uint64_t batch = std::min(config.runtime.batch_size, s.context);
  s.layout = model::activation_layout(hp, batch);
  const auto kv_type = model::kv_type_from_name(config.runtime.kv_type);
  if (!kv_type)
    throw Error(ErrorCode::invalid_argument, "runtime.kv_type '" + config.runtime.kv_type + "' is not f32 or f16");
  s.kv_type = model::kv_type_id(*kv_type);
  s.lazy = config.loading.mode == "lazy";  // the weights were loaded with this configuration

  for (const auto& name : s.schedule.devices) {
    const plugin::Device* device = inventory.find_device(name);
    if (!device) throw Error(ErrorCode::invalid_argument, "the plan names device '" + name + "', which is not present");
    ComputeDevice d;
    d.device = device;
    d.time.device = name;
    d.scratch = device->allocate(s.layout.bytes);
    d.host = static_cast<std::byte*>(d.scratch.map());
    if (!d.host && !s.lazy) {
      d.stream = device->create_stream();
      if (d.stream) d.event = device->create_event();
    }
    const uint64_t alignment = device->info().buffer_alignment;
    if (alignment > model::kActivationAlignment || (alignment & (alignment - 1)))
      throw Error(ErrorCode::unsupported,
                  fmt::format("device {} asks for a buffer alignment of {} bytes; the runtime aligns activations to "
                              "{} (plan again: the planner leaves such a device out)",
                              name, alignment, model::kActivationAlignment));
    // Head rows start at multiples of `row_alignment` rows, so that their offsets keep this alignment.
    if (alignment > 1) {
      const uint64_t row_bytes = hp.n_embd * 4;
      s.row_alignment = std::max(s.row_alignment, alignment / std::gcd(alignment, row_bytes));
    }
    s.devices.push_back(std::move(d));
  }
  for (size_t l = 0; l < model.layers.size(); ++l) {
    const auto& device = *s.devices[static_cast<size_t>(s.schedule.layers[l].kv_cache)].device;
    const uint64_t element = *kv_type == model::KvType::f16 ? 2 : 4;
    LayerCache cache;
    cache.k = device.allocate(s.context * hp.k_width() * element);
    cache.v = device.allocate(s.context * hp.v_width() * element);
    s.caches.push_back(std::move(cache));
  }

  // llama3-style rope factors sit in the scratch of every device that ropes, written once (they never change).
  if (hp.rope_freqs) {
    for (size_t d = 0; d < s.devices.size(); ++d)
      if (s.schedule.needs_positions[d])
        s.write_host(static_cast<int>(d), Activation::rope_factors, model.rope_freq_factors.data(),
                     model.rope_freq_factors.size() * sizeof(float));
  }
  // Resolve every weight once and ask each device whether it runs its ops, before the first token.
  s.weight_refs.resize(s.schedule.steps.size());
  s.weight_types.resize(s.schedule.steps.size());
  for (size_t i = 0; i < s.schedule.steps.size(); ++i) {
    const Step& st = s.schedule.steps[i];
    if (!st.weight) continue;
    const placement::TensorPlacement* p = weights.plan().find(st.weight->name);
    s.weight_types[i] = static_cast<uint32_t>(p->stored_type);
    if (!s.lazy) {
      s.weight_refs[i].buffer = weights.acquire(st.weight->name).raw();
      s.weight_refs[i].type = s.weight_types[i];
    }
  }
  // Per-step values where the plugin takes them (ABI 1.3) for both of a device's KV ops; else baked per batch.
  for (size_t d = 0; d < s.devices.size(); ++d) {
    ComputeDevice& device = s.devices[d];
    if (!s.schedule.needs_positions[d] || !device.device->speaks(1, 3)) continue;
    device.step_values = true;
    for (size_t i = 0; i < s.schedule.steps.size() && device.step_values; ++i) {
      const Step& st = s.schedule.steps[i];
      if (st.device != static_cast<int>(d) || (st.kind != SY_OP_KV_WRITE && st.kind != SY_OP_ATTENTION)) continue;
      device.step_values = device.device->supports(s.make_op(i, 1, 0, 0));
    }
  }
  s.decode_reusable = !s.lazy;
  for (size_t d = 0; d < s.devices.size(); ++d)
    if (s.schedule.needs_positions[d] && !s.devices[d].step_values) s.decode_reusable = false;
  for (size_t i = 0; i < s.schedule.steps.size(); ++i) {
    const Step& st = s.schedule.steps[i];
    sy_op op = s.make_op(i, 1, 0, 0);
    if (s.lazy && st.weight) op.src[st.kind == SY_OP_MATMUL || st.kind == SY_OP_GET_ROWS ? 0 : 1].buffer = nullptr;
    const auto& device = *s.devices[static_cast<size_t>(st.device)].device;
    if (!device.supports(op)) {
      throw Error(ErrorCode::unsupported,
                  fmt::format("device {} ({}) cannot run {}{}{}: update the plugin or place {} on another device "
                              "(placement.overrides)",
                              device.name(), device.owner(), kernels::op_kind_name(st.kind),
                              st.weight ? " of tensor " + st.weight->name : std::string(),
                              st.layer >= 0 ? fmt::format(" in layer {}", st.layer) : std::string(),
                              st.weight ? st.weight->name : fmt::format("layer {}", st.layer)));
    }
  }
  // Each hand-off gets its own host copy (page-locked where the producer offers it): a queued copy of one
  // hand-off must not be overwritten by the next before it has run.
  for (const auto& t : s.schedule.transfers) {
    const auto& producer = *s.devices[static_cast<size_t>(t.from)].device;
    s.transfer_staging.push_back(producer.allocate_staging(static_cast<uint64_t>(t.width) * 4 * batch));
  }
  s.ops.reserve(s.schedule.steps.size());
  s.token_ids.reserve(batch);
  s.positions.reserve(batch);
  s.logits.reserve(hp.n_vocab);
}

Session::~Session() = default;

std::span<const float> Session::evaluate(std::span<const int32_t> tokens, bool all_logits) {
  State& s = *state_;
  const uint64_t n_vocab = s.model.hp.n_vocab;
  if (tokens.empty()) throw Error(ErrorCode::invalid_argument, "evaluate: no tokens");
  if (s.n_past + tokens.size() > s.context)
    throw Error(ErrorCode::invalid_argument,
                fmt::format("the context is full: {} tokens past {} exceed runtime.context_length {} (raise it with "
                            "--ctx-size)",
                            tokens.size(), s.n_past, s.context));
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || static_cast<uint64_t>(tokens[i]) >= n_vocab)
      throw Error(ErrorCode::invalid_argument,
                  fmt::format("token id {} at index {} is outside the vocabulary of {} tokens", tokens[i], i, n_vocab));
  }
  s.logits.resize((all_logits ? tokens.size() : 1) * n_vocab);
  const size_t batch = s.layout.batch;
  for (size_t first = 0; first < tokens.size(); first += batch) {
    const size_t count = std::min(batch, tokens.size() - first);
    // Without all_logits each batch overwrites the one row: the last batch's last token is what remains.
    s.run_batch(tokens.subspan(first, count), all_logits, all_logits ? first * n_vocab : 0);
  }
  return s.logits;
}

void Session::reset() { state_->n_past = 0; }

SessionFeatures Session::features() const {
  SessionFeatures f;
  f.reused_decode_ops = state_->decode_reusable;
  for (const auto& d : state_->devices) {
    if (d.step_values) f.step_value_devices.push_back(d.time.device);
    if (d.stream) f.queued_devices.push_back(d.time.device);
    if (d.event) f.event_devices.push_back(d.time.device);
  }
  return f;
}

void Session::truncate(uint64_t n_past) {
  if (n_past > state_->n_past)
    throw Error(ErrorCode::invalid_argument, fmt::format("truncate to {} past the cache's {}", n_past, state_->n_past));
  state_->n_past = n_past;
}

uint64_t Session::n_past() const { return state_->n_past; }
uint64_t Session::context_length() const { return state_->context; }
uint64_t Session::n_vocab() const { return state_->model.hp.n_vocab; }
const Schedule& Session::schedule() const { return state_->schedule; }

std::vector<DeviceTime> Session::device_times() const {
  std::vector<DeviceTime> out;
  for (const auto& d : state_->devices) out.push_back(d.time);
  return out;
}

std::vector<std::pair<std::string, uint64_t>> Session::device_bytes() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 0; i < state_->devices.size(); ++i) {
    uint64_t bytes = state_->devices[i].scratch.size();
    for (size_t l = 0; l < state_->caches.size(); ++l) {
      if (state_->schedule.layers[l].kv_cache == static_cast<int>(i))
        bytes += state_->caches[l].k.size() + state_->caches[l].v.size();
    }
    out.emplace_back(state_->devices[i].time.device, bytes);
  }
  return out;
}

}  // namespace sy::runtime
