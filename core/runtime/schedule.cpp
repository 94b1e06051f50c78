#include "core/runtime/schedule.h"

#include <switchyard/plugin.h>

#include <algorithm>

#include "core/common/error.h"

namespace sy::runtime {

std::string_view to_string(Activation activation) {
  switch (activation) {
    case Activation::residual: return "residual";
    case Activation::normed: return "normed";
    case Activation::q: return "q";
    case Activation::k: return "k";
    case Activation::v: return "v";
    case Activation::attention: return "attention";
    case Activation::branch: return "branch";
    case Activation::gate: return "gate";
    case Activation::up: return "up";
    case Activation::hidden: return "hidden";
    case Activation::logits: return "logits";
    case Activation::token_ids: return "token_ids";
    case Activation::positions: return "positions";
    case Activation::step_values: return "step_values";
    case Activation::rope_factors: return "rope_factors";
  }
  return "unknown";
}

uint64_t activation_offset(const model::ActivationLayout& layout, Activation activation) {
  switch (activation) {
    case Activation::residual: return layout.residual;
    case Activation::normed: return layout.normed;
    case Activation::q: return layout.q;
    case Activation::k: return layout.k;
    case Activation::v: return layout.v;
    case Activation::attention: return layout.attention;
    case Activation::branch: return layout.branch;
    case Activation::gate: return layout.gate;
    case Activation::up: return layout.up;
    case Activation::hidden: return layout.hidden;
    case Activation::logits: return layout.logits;
    case Activation::token_ids: return layout.token_ids;
    case Activation::positions: return layout.positions;
    case Activation::step_values: return layout.step_values;
    case Activation::rope_factors: return layout.rope_factors;
  }
  return 0;
}

namespace {

class Builder {
 public:
  Builder(const model::ModelStructure& model, const placement::Plan& plan) : model_(model), plan_(plan) {}

  Schedule build() {
    const auto& hp = model_.hp;
    const int64_t n_embd = static_cast<int64_t>(hp.n_embd), n_ff = static_cast<int64_t>(hp.n_ff);
    s_.embedding_device = device_of(model_.token_embd);
    step(SY_OP_GET_ROWS, s_.embedding_device, -1, &model_.token_embd, Activation::token_ids, Activation::residual, 1,
         n_embd);
    for (size_t l = 0; l < model_.layers.size(); ++l) {
      const auto& t = model_.layers[l];
      const auto layer = static_cast<int64_t>(l);
      LayerPlacement where;
      where.attention = device_of(t.wq);
      where.feed_forward = device_of(t.ffn_up);
      where.kv_cache = kv_device(layer, device_of(t.wk));
      s_.layers.push_back(where);

      // Attention block.
      norm(t.attn_norm, layer, Activation::residual, Activation::normed, n_embd);
      projection(t.wq, t.wq_scale, t.bq, layer, Activation::normed, Activation::q, n_embd, hp.q_width());
      projection(t.wk, t.wk_scale, t.bk, layer, Activation::normed, Activation::k, n_embd, hp.k_width());
      projection(t.wv, t.wv_scale, t.bv, layer, Activation::normed, Activation::v, n_embd, hp.v_width());
      const uint32_t rope = model_.rope == model::RopeStyle::neox ? SY_OP_ROPE_NEOX : SY_OP_ROPE;
      step(rope, where.kv_cache, layer, nullptr, Activation::q, Activation::q, hp.q_width(), hp.q_width());
      step(rope, where.kv_cache, layer, nullptr, Activation::k, Activation::k, hp.k_width(), hp.k_width()).value_cache = true;
      step(SY_OP_KV_WRITE, where.kv_cache, layer, nullptr, Activation::k, Activation::k, hp.k_width(), hp.k_width());
      step(SY_OP_KV_WRITE, where.kv_cache, layer, nullptr, Activation::v, Activation::v, hp.v_width(), hp.v_width())
          .value_cache = true;
      step(SY_OP_ATTENTION, where.kv_cache, layer, nullptr, Activation::q, Activation::attention, hp.q_width(),
           hp.attention_width());
      if (t.attn_sub_norm) norm(t.attn_sub_norm, layer, Activation::attention, Activation::attention, hp.attention_width());
      projection(t.wo, t.wo_scale, t.bo, layer, Activation::attention, Activation::branch, hp.attention_width(), n_embd);
      residual_add(layer, n_embd);

      // Feed-forward block.
      norm(t.ffn_norm, layer, Activation::residual, Activation::normed, n_embd);
      projection(t.ffn_gate, t.ffn_gate_scale, {}, layer, Activation::normed, Activation::gate, n_embd, n_ff);
      projection(t.ffn_up, t.ffn_up_scale, {}, layer, Activation::normed, Activation::up, n_embd, n_ff);
      Step& glu = step(model_.gate == model::GateActivation::squared_relu ? SY_OP_SQUARED_RELU_GLU : SY_OP_SWIGLU,
                       last_device_, layer, nullptr, Activation::gate, Activation::hidden, n_ff, n_ff);
      glu.y = Activation::up;
      glu.reads_y = true;
      if (t.ffn_sub_norm) norm(t.ffn_sub_norm, layer, Activation::hidden, Activation::hidden, n_ff);
      projection(t.ffn_down, t.ffn_down_scale, {}, layer, Activation::hidden, Activation::branch, n_ff, n_embd);
      residual_add(layer, n_embd);
    }
    norm(model_.output_norm, -1, Activation::residual, Activation::normed, n_embd).head = true;
    const model::TensorSlot* head = &model_.head();
    if (const placement::TensorPlacement* copy = plan_.find("output.weight");
        model_.tied_output() && copy && copy->copy_of == model_.token_embd.name) {
      auto slot = std::make_shared<model::TensorSlot>(model_.token_embd);
      slot->name = copy->tensor;
      s_.head_copy = slot;
      head = slot.get();
    }
    s_.head_device = device_of(*head);
    step(SY_OP_MATMUL, s_.head_device, -1, head, Activation::normed, Activation::logits, n_embd,
         static_cast<int64_t>(hp.n_vocab))
        .head = true;
    s_.needs_positions.assign(s_.devices.size(), false);
    for (const auto& st : s_.steps) {
      if (st.kind == SY_OP_ROPE || st.kind == SY_OP_ROPE_NEOX) s_.needs_positions[static_cast<size_t>(st.device)] = true;
    }
    plan_transfers();
    return std::move(s_);
  }

 private:
  int device_index(const std::string& name) {
    const auto it = std::find(s_.devices.begin(), s_.devices.end(), name);
    if (it != s_.devices.end()) return static_cast<int>(it - s_.devices.begin());
    s_.devices.push_back(name);
    return static_cast<int>(s_.devices.size() - 1);
  }

  int device_of(const model::TensorSlot& slot) {
    const placement::TensorPlacement* p = plan_.find(slot.name);
    if (!p)
      throw Error(ErrorCode::invalid_argument,
                  "the plan places no tensor '" + slot.name + "'; plan the same model file the session runs");
    return device_index(p->device);
  }

  // The layer's KV cache goes where the planner reserved it; without a reservation, beside the K matrix.
  int kv_device(int64_t layer, int fallback) {
    for (const auto& usage : plan_.devices) {
      if (std::find(usage.layers.begin(), usage.layers.end(), layer) != usage.layers.end() && usage.kv_cache > 0)
        return device_index(usage.device);
    }
    return fallback;
  }

  Step& step(uint32_t kind, int device, int64_t layer, const model::TensorSlot* weight, Activation x, Activation dst,
             int64_t width_in, int64_t width_out) {
    Step st;
    st.kind = kind;
    st.device = device;
    st.layer = layer;
    st.weight = weight;
    st.x = x;
    st.dst = dst;
    st.width_in = width_in;
    st.width_out = width_out;
    s_.steps.push_back(st);
    last_device_ = device;
    return s_.steps.back();
  }

  Step& norm(const model::TensorSlot& weight, int64_t layer, Activation x, Activation dst, int64_t width) {
    return step(SY_OP_RMS_NORM, device_of(weight), layer, &weight, x, dst, width, width);
  }

  // dst = (weight · x) × scale + bias, each factor on the device that holds it.
  void projection(const model::TensorSlot& weight, const model::TensorSlot& scale, const model::TensorSlot& bias,
                  int64_t layer, Activation x, Activation dst, uint64_t width_in, uint64_t width_out) {
    const auto in = static_cast<int64_t>(width_in), out = static_cast<int64_t>(width_out);
    step(SY_OP_MATMUL, device_of(weight), layer, &weight, x, dst, in, out);
    if (scale) step(SY_OP_MUL, device_of(scale), layer, &scale, dst, dst, out, out).scalar_weight = true;
    if (bias) step(SY_OP_ADD, device_of(bias), layer, &bias, dst, dst, out, out);
  }

  void residual_add(int64_t layer, int64_t n_embd) {
    Step& add = step(SY_OP_ADD, last_device_, layer, nullptr, Activation::residual, Activation::residual, n_embd, n_embd);
    add.y = Activation::branch;
    add.reads_y = true;
  }

  // Follows where each activation is valid, step by step, and lists a copy wherever a step reads it elsewhere.
  void plan_transfers() {
    const size_t n_devices = s_.devices.size();
    std::vector<std::vector<bool>> valid(kActivationCount, std::vector<bool>(n_devices, false));
    std::vector<int> writer(kActivationCount, -1);
    // The host writes token ids to the embedding's device and positions to every device that ropes.
    valid[static_cast<size_t>(Activation::token_ids)][static_cast<size_t>(s_.embedding_device)] = true;
    for (size_t d = 0; d < n_devices; ++d) valid[static_cast<size_t>(Activation::positions)][d] = s_.needs_positions[d];
    for (size_t i = 0; i < s_.steps.size(); ++i) {
      const Step& st = s_.steps[i];
      const auto need = [&](Activation a, int64_t width) {
        auto& where = valid[static_cast<size_t>(a)];
        if (where[static_cast<size_t>(st.device)]) return;
        const int from = writer[static_cast<size_t>(a)];
        if (from < 0) throw Error(ErrorCode::internal, "schedule: " + std::string(to_string(a)) + " read before written");
        s_.transfers.push_back({i, a, from, st.device, st.layer, width});
        where[static_cast<size_t>(st.device)] = true;
      };
      need(st.x, st.kind == SY_OP_GET_ROWS ? 1 : st.width_in);
      if (st.reads_y) need(st.y, st.width_in);
      if (st.kind == SY_OP_ROPE || st.kind == SY_OP_ROPE_NEOX) need(Activation::positions, 1);
      // The written activation is now valid only where the step ran.
      auto& where = valid[static_cast<size_t>(st.dst)];
      std::fill(where.begin(), where.end(), false);
      where[static_cast<size_t>(st.device)] = true;
      writer[static_cast<size_t>(st.dst)] = st.device;
    }
  }

  const model::ModelStructure& model_;
  const placement::Plan& plan_;
  Schedule s_;
  int last_device_ = 0;
};

}  // namespace

Schedule make_schedule(const model::ModelStructure& model, const placement::Plan& plan) {
  return Builder(model, plan).build();
}

std::vector<std::string> describe_handoffs(const Schedule& schedule) {
  std::vector<std::string> out;
  for (const auto& t : schedule.transfers) {
    out.push_back((t.layer >= 0 ? "layer " + std::to_string(t.layer) : std::string("output")) + ": " +
                  std::string(to_string(t.activation)) + " " + schedule.devices[static_cast<size_t>(t.from)] + " -> " +
                  schedule.devices[static_cast<size_t>(t.to)]);
  }
  return out;
}

}  // namespace sy::runtime

namespace sy::runtime {

std::string schedule_to_text(const Schedule& schedule) {
  const auto name = [&](int d) { return schedule.devices[static_cast<size_t>(d)]; };
  std::string out = "forward pass\n";
  out += "  embedding on " + name(schedule.embedding_device) + ", output head on " + name(schedule.head_device) +
         (schedule.head_copy ? " (tied: its own copy of token_embd.weight)" : "") + "\n";
  for (size_t first = 0; first < schedule.layers.size();) {
    const LayerPlacement& p = schedule.layers[first];
    size_t last = first;
    while (last + 1 < schedule.layers.size() && schedule.layers[last + 1].attention == p.attention &&
           schedule.layers[last + 1].feed_forward == p.feed_forward && schedule.layers[last + 1].kv_cache == p.kv_cache)
      ++last;
    out += "  layer" + std::string(last > first ? "s " + std::to_string(first) + "-" + std::to_string(last)
                                                : " " + std::to_string(first)) +
           ": attention " + name(p.attention) + ", KV cache " + name(p.kv_cache) + ", feed-forward " +
           name(p.feed_forward) + "\n";
    first = last + 1;
  }
  const auto handoffs = describe_handoffs(schedule);
  out += "  hand-offs per step: " + (handoffs.empty() ? std::string("none (one device)") : std::to_string(handoffs.size())) + "\n";
  for (const auto& h : handoffs) out += "    " + h + "\n";
  return out;
}

nlohmann::ordered_json schedule_to_json(const Schedule& schedule) {
  const auto name = [&](int d) { return schedule.devices[static_cast<size_t>(d)]; };
  nlohmann::ordered_json j;
  j["embedding"] = name(schedule.embedding_device);
  j["output_head"] = name(schedule.head_device);
  j["output_head_copy"] = schedule.head_copy ? nlohmann::ordered_json("token_embd.weight") : nlohmann::ordered_json();
  j["layers"] = nlohmann::ordered_json::array();
  for (size_t l = 0; l < schedule.layers.size(); ++l) {
    const auto& p = schedule.layers[l];
    j["layers"].push_back({{"layer", l},
                           {"attention", name(p.attention)},
                           {"kv_cache", name(p.kv_cache)},
                           {"feed_forward", name(p.feed_forward)}});
  }
  j["handoffs"] = nlohmann::ordered_json::array();
  for (const auto& t : schedule.transfers) {
    j["handoffs"].push_back({{"layer", t.layer},
                             {"activation", std::string(to_string(t.activation))},
                             {"from", name(t.from)},
                             {"to", name(t.to)},
                             {"bytes_per_token", t.width * 4}});
  }
  return j;
}

}  // namespace sy::runtime
