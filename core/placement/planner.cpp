#include "core/placement/planner.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <re2/re2.h>
#include <map>
#include <memory>
#include <set>

#include "core/common/error.h"
#include "core/quant/reencode.h"

namespace sy::placement {
namespace {

using gguf::TensorType;

bool type_in(uint64_t mask, TensorType type) {
  const auto id = static_cast<uint32_t>(type);
  return id < 64 && (mask >> id) & 1;
}

// The type a matrix is re-encoded into on `d` (quant::reencoding_of), where the device asks for it and multiplies
// the result; nullopt otherwise.
std::optional<TensorType> reencoding_on(const DeviceDescription& d, const TensorDescription& t) {
  if (!t.is_matrix || !type_in(d.reencoded_types, t.type)) return std::nullopt;
  const auto target = quant::reencoding_of(t.type);
  if (!target || !type_in(d.multipliable_types, *target)) return std::nullopt;
  return target;
}

// The device-side type of a tensor: its re-encoding where the device asks for one and `reencode` allows, else its
// own when the device can use it, else F16 or F32 when conversion is allowed and the device can use those; nullopt
// when the device cannot hold it at all.
std::optional<TensorType> stored_type_on(const DeviceDescription& d, const TensorDescription& t, bool allow_conversion,
                                         bool reencode) {
  if (reencode)
    if (const auto target = reencoding_on(d, t)) return target;
  const uint64_t mask = t.is_matrix ? d.multipliable_types : d.storable_types;
  if (type_in(mask, t.type)) return t.type;
  if (!allow_conversion) return std::nullopt;
  for (TensorType target : {TensorType::F16, TensorType::F32}) {
    if (type_in(mask, target)) return target;
  }
  return std::nullopt;
}

// Why `d` cannot hold `group` at all: the first tensor whose type it can neither use nor be converted to.
std::string cannot_hold(const DeviceDescription& d, const std::vector<const TensorDescription*>& group,
                        bool allow_conversion, bool reencode) {
  for (const auto* t : group) {
    if (stored_type_on(d, *t, allow_conversion, reencode)) continue;
    return fmt::format("{} cannot {} {} ({}){}", d.name, t->is_matrix ? "multiply" : "store", gguf::to_string(t->type),
                       t->name, allow_conversion ? ", nor F16 or F32" : ", and placement.allow_conversion is false");
  }
  return d.name + " cannot hold it";
}

uint64_t stored_bytes(const TensorDescription& t, TensorType stored) {
  if (stored == t.type) return t.bytes;
  return *gguf::tensor_storage_bytes(stored, t.n_elements);
}

bool matches_device_filter(const DeviceDescription& d, const std::string& filter) {
  if (filter == "auto" || filter == d.name) return true;
  // A kind or plugin prefix: "cuda" matches cuda:0, cuda:1; "cpu" matches cpu.
  return d.name.rfind(filter + ":", 0) == 0 || d.name == filter;
}

struct DeviceState {
  DeviceDescription description;
  DeviceUsage usage;
  bool scratch_reserved = false;
  bool excluded = false;  // takes nothing more (a failed allocation)
};

class Builder {
 public:
  Builder(const std::vector<DeviceDescription>& devices, const RunShape& shape, const config::RunConfig& config,
          const std::set<std::string>& excluded)
      : shape_(shape), config_(config) {
    for (const auto& d : devices) {
      if (!matches_device_filter(d, config.placement.device)) continue;
      if (d.buffer_alignment > model::kActivationAlignment || (d.buffer_alignment & (d.buffer_alignment - 1))) {
        notes.push_back(fmt::format("{} unused: it needs tensor offsets aligned to {} bytes, and the runtime aligns "
                                    "activations to {}; update Switchyard or the plugin",
                                    d.name, d.buffer_alignment, model::kActivationAlignment));
        continue;
      }
      DeviceState s;
      s.description = d;
      s.usage.device = d.name;
      s.usage.kind = d.kind;
      s.usage.free_memory = d.free_memory;
      const auto budget = config.budget_for(d.name);
      double cap = static_cast<double>(d.free_memory) * budget.max_utilization;
      if (d.kind != DeviceKind::cpu && config.placement.gpu_memory_limit_mib > 0) {
        cap = std::min(cap, static_cast<double>(config.placement.gpu_memory_limit_mib << 20));
      }
      const double reserve = static_cast<double>(budget.reserve_mib << 20);
      s.usage.budget = cap > reserve ? static_cast<uint64_t>(cap - reserve) : 0;
      s.excluded = excluded.count(d.name) > 0;
      states_.push_back(std::move(s));
    }
    if (states_.empty()) {
      std::string names;
      for (const auto& d : devices) names += (names.empty() ? "" : ", ") + d.name;
      throw Error(ErrorCode::invalid_argument, "placement.device '" + config.placement.device +
                                                   "' matches no device; devices here: " + names);
    }
    rank();
  }

  std::vector<DeviceState>& states() { return states_; }

  DeviceState* find(const std::string& name) {
    for (auto& s : states_) {
      if (s.description.name == name) return &s;
    }
    return nullptr;
  }

  uint64_t room(const DeviceState& s) const {
    const uint64_t pending_scratch = s.scratch_reserved ? 0 : shape_.scratch_bytes;
    const uint64_t used = s.usage.used() + pending_scratch;
    return used >= s.usage.budget ? 0 : s.usage.budget - used;
  }

  // Whether `total` bytes, of which `kv` are KV cache and the rest weights, fit on `s`. Lazy streaming through an
  // accelerator (loading.mode lazy with a cache budget) needs room for the cache, not for every weight: a device
  // too small for the model takes it all, and the loader evicts and re-uploads.
  bool fits(const DeviceState& s, uint64_t total, uint64_t kv) const {
    if (streams(s)) {
      const uint64_t cache = config_.loading.lazy_budget_mib << 20;
      const uint64_t scratch = s.scratch_reserved ? s.usage.scratch : shape_.scratch_bytes;
      const uint64_t fixed = s.usage.kv_cache + kv + scratch + cache;
      return total - kv <= cache && fixed <= s.usage.budget;
    }
    return total <= room(s);
  }

  // The bytes `tensors` (plus `kv` bytes) would take on `s`; nullopt when some tensor cannot live there.
  std::optional<uint64_t> cost(const DeviceState& s, const std::vector<const TensorDescription*>& tensors, uint64_t kv) const {
    uint64_t total = kv;
    for (const auto* t : tensors) {
      const auto stored =
          stored_type_on(s.description, *t, config_.placement.allow_conversion, config_.placement.reencode);
      if (!stored) return std::nullopt;
      total += stored_bytes(*t, *stored);
    }
    return total;
  }

  void place(DeviceState& s, const TensorDescription& t, const std::string& reason) {
    const auto stored = t.pinned_type ? *t.pinned_type
                                      : *stored_type_on(s.description, t, config_.placement.allow_conversion,
                                                        config_.placement.reencode);
    if (!s.scratch_reserved) {
      s.scratch_reserved = true;
      s.usage.scratch = shape_.scratch_bytes;
    }
    const uint64_t bytes = stored_bytes(t, stored);
    s.usage.weights += bytes;
    if (stored != t.type) {
      const bool reencoded = reencoding_on(s.description, t) == stored;
      const Conversion key{s.description.name, t.type, stored, t.is_matrix, reencoded, {}};
      auto it = std::find_if(conversions.begin(), conversions.end(), [&](const Conversion& c) {
        return c.device == key.device && c.from == key.from && c.to == key.to && c.matrix == key.matrix;
      });
      if (it == conversions.end()) it = conversions.insert(conversions.end(), key);
      it->tensors.push_back(t.name);
      it->file_bytes += t.bytes;
      it->stored_bytes += bytes;
    }
    placements.push_back({t.name, s.description.name, stored, bytes, t.layer, t.role, reason, t.copy_of});
  }

  void add_kv(DeviceState& s, int64_t layer) {
    s.usage.kv_cache += shape_.kv_bytes_per_layer;
    s.usage.layers.push_back(layer);
  }

  // Whether `s`'s attention takes a KV cache of the run's context length (its max_attention_context), and its
  // plugin the model's rope scaling (the ropes run beside the KV cache).
  bool takes_attention(const DeviceState& s) const {
    const uint64_t limit = s.description.max_attention_context;
    return (limit == 0 || limit >= config_.runtime.context_length) && takes_rope(s);
  }
  bool takes_rope(const DeviceState& s) const { return !shape_.needs_rope_scaling || s.description.rope_scaling; }

  // The plan note for a device whose attention context is too short or whose plugin lacks the model's rope
  // scaling, once per device.
  void note_attention_limit(const DeviceState& s) {
    if (!attention_limited.insert(s.description.name).second) return;
    if (!takes_rope(s)) {
      notes.push_back(fmt::format("{} takes no attention layers: the model's rope scaling (YaRN, an attention factor "
                                  "or rope_freqs) needs plugin ABI 1.4 and its plugin speaks an older one; update "
                                  "the plugin to use it",
                                  s.description.name));
      return;
    }
    notes.push_back(fmt::format("{} takes no attention layers: its attention handles at most {} positions and "
                                "runtime.context_length is {} (lower --ctx-size to {} to use it)",
                                s.description.name, s.description.max_attention_context,
                                config_.runtime.context_length, s.description.max_attention_context));
  }

  bool streams(const DeviceState& s) const {
    return config_.loading.mode == "lazy" && config_.loading.lazy_budget_mib > 0 && s.description.kind != DeviceKind::cpu;
  }

  std::string left_after(const DeviceState& s, uint64_t extra) const {
    if (streams(s)) return "streamed through its " + format_bytes(config_.loading.lazy_budget_mib << 20) + " lazy cache";
    const uint64_t r = room(s);
    return format_bytes(r > extra ? r - extra : 0) + " left after reserve";
  }

  // One note per kind of conversion (device, from, to), however many tensors it applies to.
  std::vector<std::string> conversion_notes() const {
    std::vector<std::string> out;
    for (const auto& c : conversions) {
      const size_t n = c.tensors.size();
      const std::string what = n == 1   ? c.tensors[0]
                               : n == 2 ? fmt::format("2 tensors ({}, {})", c.tensors[0], c.tensors[1])
                                        : fmt::format("{} tensors ({}, {}, ...)", n, c.tensors[0], c.tensors[1]);
      if (c.reencoded) {
        out.push_back(fmt::format("{} re-encoded from {} to {} on upload to {}: the same values, which {} multiplies "
                                  "faster, in {} instead of {} (placement.reencode false keeps {})",
                                  what, gguf::to_string(c.from), gguf::to_string(c.to), c.device, c.device,
                                  format_bytes(c.stored_bytes), format_bytes(c.file_bytes), gguf::to_string(c.from)));
        continue;
      }
      out.push_back(fmt::format("{} converted from {} to {} on upload to {}: {} does not {} {}", what,
                                gguf::to_string(c.from), gguf::to_string(c.to), c.device, c.device,
                                c.matrix ? "multiply" : "store", gguf::to_string(c.from)));
    }
    return out;
  }

  uint64_t lazy_cache_bytes() const { return config_.loading.lazy_budget_mib << 20; }

  std::vector<TensorPlacement> placements;
  std::vector<std::string> notes;
  std::set<std::string> attention_limited;  // devices noted by note_attention_limit

 private:
  void rank() {
    const std::string& policy = config_.placement.policy;
    auto kind_order = [](DeviceKind k) { return k == DeviceKind::cpu ? 1 : 0; };
    if (policy == "auto") {
      std::stable_sort(states_.begin(), states_.end(), [&](const DeviceState& a, const DeviceState& b) {
        if (a.description.bandwidth != b.description.bandwidth) return a.description.bandwidth > b.description.bandwidth;
        if (kind_order(a.description.kind) != kind_order(b.description.kind))
          return kind_order(a.description.kind) < kind_order(b.description.kind);
        return a.description.name < b.description.name;
      });
    } else {
      std::stable_sort(states_.begin(), states_.end(), [&](const DeviceState& a, const DeviceState& b) {
        if (kind_order(a.description.kind) != kind_order(b.description.kind))
          return kind_order(a.description.kind) < kind_order(b.description.kind);
        return a.description.name < b.description.name;
      });
    }
  }

  struct Conversion {
    std::string device;
    TensorType from, to;
    bool matrix;
    bool reencoded;  // lossless, because the device multiplies `to` faster (else: it cannot use `from`)
    std::vector<std::string> tensors;
    uint64_t file_bytes = 0, stored_bytes = 0;
  };
  std::vector<Conversion> conversions;  // in the order first met
  const RunShape& shape_;
  const config::RunConfig& config_;
  std::vector<DeviceState> states_;
};

std::string device_list(const std::vector<DeviceDescription>& devices) {
  std::string names;
  for (const auto& d : devices) names += (names.empty() ? "" : ", ") + d.name;
  return names;
}

void check_named_devices(const std::vector<DeviceDescription>& devices, const config::RunConfig& config) {
  auto exists = [&](const std::string& name) {
    return std::any_of(devices.begin(), devices.end(), [&](const auto& d) { return d.name == name; });
  };
  std::vector<std::string> problems;
  for (size_t i = 0; i < config.placement.overrides.size(); ++i) {
    const auto& o = config.placement.overrides[i];
    if (!exists(o.device)) {
      problems.push_back(fmt::format("'placement.overrides[{}].device' is \"{}\", a device that does not exist; "
                                     "devices here: {}", i, o.device, device_list(devices)));
    }
  }
  for (size_t i = 0; i < config.placement.layers.size(); ++i) {
    const auto& r = config.placement.layers[i];
    if (!exists(r.device)) {
      problems.push_back(fmt::format("'placement.layers[{}].device' is \"{}\", a device that does not exist; "
                                     "devices here: {}", i, r.device, device_list(devices)));
    }
  }
  if (!problems.empty()) {
    std::string message = "invalid run configuration:";
    for (const auto& p : problems) message += "\n  " + p;
    throw Error(ErrorCode::invalid_argument, message);
  }
}

[[noreturn]] void no_room(const std::string& what, uint64_t bytes, Builder& b,
                          const std::vector<std::string>& refusals = {}) {
  std::string budgets;
  for (const auto& s : b.states()) {
    budgets += fmt::format("\n  {}: {} free of a {} budget{}", s.description.name, format_bytes(b.room(s)),
                           format_bytes(s.usage.budget), s.excluded ? " (excluded after a failed allocation)" : "");
  }
  for (const auto& r : refusals) budgets += "\n  " + r;
  throw Error(ErrorCode::out_of_memory,
              fmt::format("{} ({}) fits on no device:{}\nLower --ctx-size / runtime.context_length or --batch-size / "
                          "runtime.batch_size (the KV cache and scratch), raise "
                          "placement.devices.<device>.max_utilization, or add a device.",
                          what, format_bytes(bytes), budgets));
}

}  // namespace

std::string_view to_string(Role role) {
  switch (role) {
    case Role::embedding: return "embedding";
    case Role::attention: return "attention";
    case Role::feed_forward: return "feed_forward";
    case Role::norm: return "norm";
    case Role::output: return "output";
    case Role::other: return "other";
  }
  return "other";
}

std::vector<TensorDescription> describe_tensors(const model::ModelStructure& model) {
  std::vector<TensorDescription> out;
  for (const auto& [slot, role, layer] : model.tensors()) {
    if (!slot->info) continue;
    const gguf::TensorInfo& t = *slot->info;
    TensorDescription d;
    d.name = t.name;
    d.type = t.type;
    d.n_elements = t.n_elements;
    d.bytes = t.n_bytes;
    d.layer = layer;
    switch (role) {
      case model::TensorRole::embedding: d.role = Role::embedding; break;
      case model::TensorRole::attention: d.role = Role::attention; break;
      case model::TensorRole::feed_forward: d.role = Role::feed_forward; break;
      case model::TensorRole::norm: d.role = Role::norm; break;
      case model::TensorRole::output: d.role = Role::output; break;
    }
    d.is_matrix = t.n_dims >= 2 && d.role != Role::embedding;
    out.push_back(std::move(d));
  }
  if (model.tied_output() && model.token_embd) {
    // The tied head multiplies by token_embd: a candidate copy for the device of the last layer (see planner.h).
    TensorDescription copy;
    for (const auto& d : out)
      if (d.name == model.token_embd.name) copy = d;
    copy.copy_of = copy.name;
    copy.name = "output.weight";
    copy.role = Role::output;
    copy.is_matrix = true;
    out.push_back(std::move(copy));
  }
  return out;
}

RunShape run_shape(const model::Hparams& hp, const config::RunConfig& config) {
  RunShape s;
  s.n_layer = hp.n_layer;
  const uint64_t ctx = config.runtime.context_length;
  const auto kv_type = model::kv_type_from_name(config.runtime.kv_type).value_or(model::KvType::f32);
  s.kv_bytes_per_layer = model::kv_bytes_per_layer(hp, ctx, kv_type);
  s.scratch_bytes = model::activation_layout(hp, std::min(config.runtime.batch_size, ctx)).bytes;
  s.needs_rope_scaling = hp.needs_rope_scaling();
  return s;
}

const TensorPlacement* Plan::find(std::string_view tensor) const {
  for (const auto& t : tensors) {
    if (t.tensor == tensor) return &t;
  }
  return nullptr;
}

const DeviceUsage* Plan::usage(std::string_view device) const {
  for (const auto& d : devices) {
    if (d.device == device) return &d;
  }
  return nullptr;
}

namespace {

// Why `s` takes nothing: the policy or a flag left it out, it can use none of the layers' types, or its budget
// holds the scratch and KV cache but not the smallest layer. Each reason names the setting that would change it.
std::string why_unused(Builder& b, const DeviceState& s,
                       const std::map<int64_t, std::vector<const TensorDescription*>>& layer_groups,
                       const RunShape& shape, const config::RunConfig& config) {
  const std::string& name = s.description.name;
  const std::string& policy = config.placement.policy;
  const std::string budget = format_bytes(s.usage.budget);
  if (policy == "cpu") return name + " unused: placement.policy is \"cpu\" (--policy)";
  if (policy == "layers" && std::none_of(config.placement.layers.begin(), config.placement.layers.end(),
                                         [&](const auto& r) { return r.device == name; })) {
    return name + " unused: no range in placement.layers names it";
  }
  if (config.placement.gpu_layers && s.description.kind != DeviceKind::cpu && *config.placement.gpu_layers == 0) {
    return name + " unused: placement.gpu_layers is 0 (-ngl 0 keeps every layer on the cpu)";
  }
  std::optional<uint64_t> smallest;
  std::string refusal;
  for (const auto& [layer, group] : layer_groups) {
    const auto bytes = b.cost(s, group, shape.kv_bytes_per_layer);
    if (!bytes) {
      if (refusal.empty())
        refusal = cannot_hold(s.description, group, config.placement.allow_conversion, config.placement.reencode);
      continue;
    }
    if (!smallest || *bytes < *smallest) smallest = *bytes;
  }
  if (!smallest && !refusal.empty()) return name + " unused: " + refusal;
  if (smallest && b.streams(s)) {
    const uint64_t fixed = shape.scratch_bytes + shape.kv_bytes_per_layer;
    if (fixed + b.lazy_cache_bytes() > s.usage.budget) {
      return fmt::format("{} unused: its {} lazy cache (loading.lazy_budget_mib) plus scratch {} and one layer's KV "
                         "cache {} exceed its {} budget; lower --lazy-budget to at most {} MiB",
                         name, format_bytes(b.lazy_cache_bytes()), format_bytes(shape.scratch_bytes),
                         format_bytes(shape.kv_bytes_per_layer), budget,
                         s.usage.budget > fixed ? (s.usage.budget - fixed) >> 20 : 0);
    }
  } else if (smallest && shape.scratch_bytes + *smallest > s.usage.budget) {
    return fmt::format("{} unused: scratch {} plus the smallest layer {} (with its KV cache) exceed its {} budget; "
                       "lower --ctx-size or --batch-size, raise placement.devices.{}.max_utilization{}",
                       name, format_bytes(shape.scratch_bytes), format_bytes(*smallest), budget, name,
                       s.description.kind != DeviceKind::cpu && config.placement.gpu_memory_limit_mib > 0
                           ? " or --gpu-memory-limit"
                           : "");
  }
  return fmt::format("{} unused: policy {} gave every layer to devices ranked before it", name, policy);
}

Plan plan_with(const std::vector<DeviceDescription>& devices, const std::vector<TensorDescription>& tensors,
               const RunShape& shape, const config::RunConfig& config, const std::set<std::string>& excluded) {
  check_named_devices(devices, config);
  Builder b(devices, shape, config, excluded);
  const std::string& policy = config.placement.policy;
  std::vector<bool> done(tensors.size(), false);

  // 1. Tensors already loaded stay where they are.
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (!t.pinned_device) continue;
    DeviceState* s = b.find(*t.pinned_device);
    if (!s) throw Error(ErrorCode::internal, "tensor " + t.name + " is pinned to unknown device " + *t.pinned_device);
    b.place(*s, t, "already loaded here");
    done[i] = true;
  }

  // 2. Overrides: the first rule whose expression matches a tensor's name decides its device.
  //    RE2 matches in time linear in the name, whatever the pattern: a user's `^(.|.|.)*X$` cannot hang a plan.
  std::vector<std::unique_ptr<RE2>> rules;
  RE2::Options options;
  options.set_log_errors(false);
  for (size_t r = 0; r < config.placement.overrides.size(); ++r) {
    const auto& o = config.placement.overrides[r];
    rules.push_back(std::make_unique<RE2>(o.pattern, options));
    if (!rules.back()->ok()) {  // the config loader already refused it; a config built by hand may not have been
      throw Error(ErrorCode::invalid_argument, fmt::format("placement.overrides[{}].pattern \"{}\" is not a valid "
                                                           "regular expression (RE2 syntax): {}", r, o.pattern,
                                                           rules.back()->error()));
    }
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (done[i]) continue;
    const auto& t = tensors[i];
    for (size_t r = 0; r < rules.size(); ++r) {
      if (!RE2::PartialMatch(t.name, *rules[r])) continue;
      const auto& o = config.placement.overrides[r];
      DeviceState* s = b.find(o.device);
      if (s && s->excluded) {
        // The rule's device refused an allocation in this load: choosing it again would only repeat the refusal
        // (and re-plan forever), so the tensor is placed by the policy like any other.
        b.notes.push_back(fmt::format("placement.overrides[{}] sends {} to {}, which refused an allocation in this "
                                      "load; placed by the policy instead", r, t.name, o.device));
        break;
      }
      if (!s) {
        throw Error(ErrorCode::invalid_argument,
                    fmt::format("placement.overrides[{}] sends {} to {}, which placement.device '{}' excludes", r,
                                t.name, o.device, config.placement.device));
      }
      auto bytes = b.cost(*s, {&t}, 0);
      if (!bytes) {
        throw Error(ErrorCode::unsupported,
                    fmt::format("placement.overrides[{}] sends {} ({}) to {}, which can neither use nor convert that "
                                "type; remove the rule or set placement.allow_conversion",
                                r, t.name, gguf::to_string(t.type), o.device));
      }
      if (!b.fits(*s, *bytes, 0)) no_room(t.name + " (by placement.overrides[" + std::to_string(r) + "])", *bytes, b);
      if (t.role == Role::attention && t.layer >= 0 && !b.takes_rope(*s)) {
        throw Error(ErrorCode::unsupported,
                    fmt::format("placement.overrides[{}] sends {} to {}, whose plugin speaks a plugin ABI older than "
                                "1.4 and cannot run this model's rope scaling; update the plugin or remove the rule",
                                r, t.name, o.device));
      }
      if (t.role == Role::attention && t.layer >= 0 && !b.takes_attention(*s)) {
        throw Error(ErrorCode::unsupported,
                    fmt::format("placement.overrides[{}] sends {} to {}, whose attention handles at most {} positions; "
                                "runtime.context_length is {}: lower --ctx-size or remove the rule",
                                r, t.name, o.device, s->description.max_attention_context,
                                config.runtime.context_length));
      }
      b.place(*s, t, fmt::format("override '{}' (placement.overrides[{}])", o.pattern, r));
      done[i] = true;
      break;
    }
  }

  // 3. Layers, whole: each layer's remaining tensors and its KV cache go to one device.
  std::map<int64_t, std::vector<size_t>> layers;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].layer < 0) continue;
    auto& members = layers[tensors[i].layer];  // every layer gets an entry: its KV cache needs a home
    if (!done[i]) members.push_back(i);
  }
  auto& states = b.states();
  auto usable = [&](const DeviceState& s) { return !s.excluded; };

  // For balanced: how many layers each GPU should take, in proportion to its budget.
  std::map<std::string, uint64_t> quota;
  if (policy == "balanced") {
    uint64_t total_budget = 0;
    for (const auto& s : states) {
      if (s.description.kind != DeviceKind::cpu && usable(s)) total_budget += s.usage.budget;
    }
    uint64_t assigned = 0, cumulative = 0;
    for (const auto& s : states) {
      if (s.description.kind == DeviceKind::cpu || !usable(s) || total_budget == 0) continue;
      cumulative += s.usage.budget;
      const auto upto = static_cast<uint64_t>(std::llround(static_cast<double>(layers.size()) *
                                                           static_cast<double>(cumulative) / static_cast<double>(total_budget)));
      quota[s.description.name] = upto - assigned;
      assigned = upto;
    }
  }

  // placement.gpu_layers (-ngl N): the last N layers go to the GPUs, the others to the CPU. Without a usable GPU
  // (none found, or placement.device excludes them) every layer stays on the CPU, as llama.cpp does.
  const auto& gpu_layers = config.placement.gpu_layers;
  const bool any_gpu = std::any_of(states.begin(), states.end(), [&](const DeviceState& s) {
    return s.description.kind != DeviceKind::cpu && usable(s);
  });
  const uint64_t first_gpu_layer =
      !gpu_layers ? 0 : !any_gpu ? shape.n_layer : shape.n_layer - std::min(*gpu_layers, shape.n_layer);
  if (gpu_layers && *gpu_layers > 0 && !any_gpu) {
    b.notes.push_back(fmt::format("placement.gpu_layers asks for {} on GPUs, but no GPU is usable here; every layer "
                                  "stays on the cpu",
                                  count_of(*gpu_layers, "layer")));
  }

  size_t cursor = 0;  // layers fill devices in ranking order and never go back
  for (auto& entry : layers) {
    // Plain names, not structured bindings: lambdas below capture them (C++20 allows it, clang 14 does not).
    const int64_t layer = entry.first;
    const std::vector<size_t>& indices = entry.second;
    std::vector<const TensorDescription*> group;
    for (size_t i : indices) group.push_back(&tensors[i]);
    const uint64_t kv = shape.kv_bytes_per_layer;
    // A layer whose attention already has a device (pinned or overridden) keeps its KV cache beside it.
    const auto attention_device = [&]() -> DeviceState* {
      for (const auto& p : b.placements) {
        if (p.layer == layer && p.role == Role::attention) return b.find(p.device);
      }
      return nullptr;
    }();
    if (attention_device && std::none_of(group.begin(), group.end(),
                                         [](const auto* t) { return t->role == Role::attention; })) {
      if (b.room(*attention_device) < kv) no_room("the KV cache of blk." + std::to_string(layer), kv, b);
      b.add_kv(*attention_device, layer);
      // The rest of the layer (norms, feed-forward), if any, follows the policy below without a second KV cache.
      if (group.empty()) continue;
    }
    const uint64_t layer_kv = attention_device ? 0 : kv;
    DeviceState* chosen = nullptr;
    std::string reason;
    const std::string label = "blk." + std::to_string(layer) + ".*";

    if (policy == "cpu") {
      chosen = b.find("cpu");
      if (!chosen) throw Error(ErrorCode::not_found, "placement.policy is \"cpu\" but no cpu device is loaded");
      // With the policy's only device refusing, nothing is left: the loader turns this into its final error.
      if (chosen->excluded) no_room(label + " (placement.policy \"cpu\")", b.cost(*chosen, group, layer_kv).value_or(0), b);
      reason = "policy cpu";
    } else if (gpu_layers && static_cast<uint64_t>(layer) < first_gpu_layer) {
      chosen = b.find("cpu");
      if (!chosen) {
        throw Error(ErrorCode::not_found, "placement.gpu_layers keeps layers on the cpu, which is not loaded");
      }
      reason = !any_gpu ? fmt::format("placement.gpu_layers = {}, but no GPU is usable here", *gpu_layers)
               : first_gpu_layer >= shape.n_layer
                   ? std::string("placement.gpu_layers = 0: no layer goes to a GPU")
                   : fmt::format("placement.gpu_layers = {}: only blk.{}.. go to GPUs", *gpu_layers, first_gpu_layer);
    } else if (policy == "layers") {
      for (size_t r = 0; r < config.placement.layers.size(); ++r) {
        const auto& range = config.placement.layers[r];
        if (layer >= static_cast<int64_t>(range.first) && layer <= static_cast<int64_t>(range.last)) {
          chosen = b.find(range.device);
          reason = fmt::format("placement.layers[{}] ({}..{})", r, range.first, range.last);
          break;
        }
      }
      if (!chosen) {
        chosen = b.find("cpu");
        reason = "no range in placement.layers covers this layer: the cpu";
      }
      if (chosen && chosen->excluded) {
        // A device that refused takes nothing more: the layer goes to the next device with room, as in `auto`.
        b.notes.push_back(fmt::format("{} ({}) would go to {}, which refused an allocation in this load; placed on "
                                      "the next device with room instead", label, reason, chosen->description.name));
        chosen = nullptr;
      }
    }
    const bool group_has_attention =
        layer_kv > 0 || std::any_of(group.begin(), group.end(), [](const auto* t) { return t->role == Role::attention; });
    if (chosen && group_has_attention && !b.takes_attention(*chosen)) {
      // The policy's device cannot run this layer's attention over the context: the next device that can takes it.
      b.note_attention_limit(*chosen);
      chosen = nullptr;
    }
    if (chosen) {
      auto bytes = b.cost(*chosen, group, layer_kv);
      if (!bytes) throw Error(ErrorCode::unsupported, label + " cannot be held by " + chosen->description.name);
      if (!b.fits(*chosen, *bytes, layer_kv)) no_room(label + " on " + chosen->description.name, *bytes, b);
      reason += ", " + b.left_after(*chosen, *bytes);
    } else {
      std::vector<std::string> refusals;  // devices that cannot hold the layer's types at all
      size_t candidates = 0;
      for (; cursor < states.size(); ++cursor) {
        DeviceState& s = states[cursor];
        if (!usable(s)) continue;
        if (gpu_layers && s.description.kind == DeviceKind::cpu) continue;  // the CPU's layers were chosen above
        if (policy == "balanced" && s.description.kind != DeviceKind::cpu) {
          auto q = quota.find(s.description.name);
          if (q == quota.end() || q->second == 0) continue;
        }
        if (group_has_attention && !b.takes_attention(s)) {
          b.note_attention_limit(s);
          continue;
        }
        ++candidates;
        auto bytes = b.cost(s, group, layer_kv);
        if (!bytes)
          refusals.push_back(
              cannot_hold(s.description, group, config.placement.allow_conversion, config.placement.reencode));
        if (!bytes || !b.fits(s, *bytes, layer_kv)) continue;
        chosen = &s;
        if (policy == "balanced" && s.description.kind != DeviceKind::cpu) {
          quota[s.description.name] -= 1;
          reason = "balanced share of " + s.description.name + ", " + b.left_after(s, *bytes);
        } else {
          reason = "layer fits, " + b.left_after(s, *bytes);
        }
        break;
      }
      if (!chosen) {
        uint64_t need = layer_kv;
        for (const auto* t : group) need += t->bytes;
        if (!refusals.empty() && refusals.size() == candidates) {
          // Not memory: no device can use a type of this layer.
          std::string message = label + " fits on no device:";
          for (const auto& r : refusals) message += "\n  " + r;
          throw Error(ErrorCode::unsupported,
                      message + (config.placement.allow_conversion
                                     ? "\nAdd a device that multiplies this type."
                                     : "\nSet placement.allow_conversion to true in the --config file, or add a "
                                       "device that multiplies this type."));
        }
        no_room(gpu_layers ? label + " (one of the last " + std::to_string(*gpu_layers) +
                                 " layers placement.gpu_layers puts on GPUs: lower -ngl)"
                           : label,
                need, b, refusals);
      }
    }
    if (layer_kv) b.add_kv(*chosen, layer);
    for (const auto* t : group) b.place(*chosen, *t, reason);
    for (size_t i : indices) done[i] = true;
  }

  // 4. The output head where the last layer is (its input is there), else the best device with room; the
  //    embedding on the CPU: a row lookup per token needs no bandwidth, and accelerator memory is kept for layers.
  const std::string last_layer_device =
      b.placements.empty() ? std::string() : [&] {
        for (auto it = b.placements.rbegin(); it != b.placements.rend(); ++it) {
          if (it->layer >= 0) return it->device;
        }
        return std::string();
      }();
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (done[i] || !tensors[i].copy_of.empty()) continue;
    const auto& t = tensors[i];
    std::vector<DeviceState*> candidates;
    std::string preferred_reason;
    if (policy == "cpu") {
      candidates.push_back(b.find("cpu"));
      preferred_reason = "policy cpu";
    } else if (t.role == Role::embedding) {
      if (DeviceState* cpu = b.find("cpu")) candidates.push_back(cpu);
      preferred_reason = "embedding rows are looked up, not multiplied: the CPU costs least";
    } else if (!last_layer_device.empty()) {
      candidates.push_back(b.find(last_layer_device));
      preferred_reason = "next to the last layer";
    }
    for (auto& s : states) candidates.push_back(&s);
    DeviceState* chosen = nullptr;
    std::string reason;
    for (size_t c = 0; c < candidates.size(); ++c) {
      DeviceState* s = candidates[c];
      if (!s || !usable(*s)) continue;
      auto bytes = b.cost(*s, {&t}, 0);
      if (!bytes || !b.fits(*s, *bytes, 0)) continue;
      chosen = s;
      reason = (c == 0 && !preferred_reason.empty() ? preferred_reason : std::string("first device with room")) +
               ", " + b.left_after(*s, *bytes);
      break;
    }
    if (!chosen) no_room(t.name, t.bytes, b);
    b.place(*chosen, t, reason);
    done[i] = true;
  }

  // 4b. A tied head's own copy of token_embd where the last layer runs on a GPU: otherwise every token's final
  //     activation would go to the embedding's device for the head and come back. Nowhere else, and not when it
  //     does not fit (then the head shares token_embd, with a note saying so).
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (done[i] || tensors[i].copy_of.empty()) continue;
    const auto& t = tensors[i];
    done[i] = true;
    const auto source = std::find_if(b.placements.begin(), b.placements.end(),
                                     [&](const TensorPlacement& p) { return p.tensor == t.copy_of; });
    DeviceState* last = last_layer_device.empty() ? nullptr : b.find(last_layer_device);
    if (source == b.placements.end() || !last || last->description.kind == DeviceKind::cpu ||
        source->device == last_layer_device || !usable(*last))
      continue;
    const auto bytes = b.cost(*last, {&t}, 0);
    if (!bytes || !b.fits(*last, *bytes, 0)) {
      b.notes.push_back(fmt::format("the tied output head runs on {} with {}: {} has no room for its own copy ({}), "
                                    "so each token's final activation crosses to {} and back",
                                    source->device, t.copy_of, last_layer_device, format_bytes(t.bytes),
                                    source->device));
      continue;
    }
    b.place(*last, t, "own copy of " + t.copy_of + " for the tied output head, next to the last layer, " +
                          b.left_after(*last, *bytes));
    b.notes.push_back(fmt::format("the tied output head gets its own copy of {} on {} ({}), beside the last layer: "
                                  "no round trip to {} per token",
                                  t.copy_of, last_layer_device, format_bytes(*bytes), source->device));
  }

  Plan plan;
  plan.policy = policy;
  // Load order: by file order of the tensors, so the mapping is read front to back.
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < tensors.size(); ++i) order[tensors[i].name] = i;
  plan.tensors = std::move(b.placements);
  std::stable_sort(plan.tensors.begin(), plan.tensors.end(),
                   [&](const auto& x, const auto& y) { return order[x.tensor] < order[y.tensor]; });
  for (auto& s : states) plan.devices.push_back(s.usage);
  plan.notes = b.conversion_notes();
  plan.notes.insert(plan.notes.end(), b.notes.begin(), b.notes.end());
  // 5. A device that got nothing says why, with the numbers and what would change it.
  std::map<int64_t, std::vector<const TensorDescription*>> layer_groups;
  for (const auto& t : tensors) {
    if (t.layer >= 0) layer_groups[t.layer].push_back(&t);
  }
  for (const auto& s : states) {
    if (s.usage.used() == 0 && !s.excluded && !b.attention_limited.count(s.description.name))
      plan.notes.push_back(why_unused(b, s, layer_groups, shape, config));
  }
  for (const auto& s : states) {
    if (b.streams(s) && s.usage.weights > (config.loading.lazy_budget_mib << 20)) {
      plan.notes.push_back(fmt::format("lazy mode: {} holds {} of weights through a {} cache; least-recently-used "
                                       "tensors are evicted and uploaded again when needed",
                                       s.description.name, format_bytes(s.usage.weights),
                                       format_bytes(config.loading.lazy_budget_mib << 20)));
    }
  }
  for (const auto& budget_entry : config.placement.devices) {
    const std::string& name = budget_entry.first;
    if (!std::any_of(devices.begin(), devices.end(), [&](const auto& d) { return d.name == name; })) {
      plan.notes.push_back("placement.devices names '" + name + "', which is not present here; its budget is unused");
    }
  }
  return plan;
}

}  // namespace

Plan make_plan(const std::vector<DeviceDescription>& devices, const std::vector<TensorDescription>& tensors,
               const RunShape& shape, const config::RunConfig& config) {
  try {
    return plan_with(devices, tensors, shape, config, {});
  } catch (const Error& error) {
    // A re-encoding is worth its bytes only while the model fits: where some tensor found no room, plan again in
    // the file's types. (A re-plan keeps the first plan's choice: its loaded tensors hold those types.)
    const bool asked =
        std::any_of(devices.begin(), devices.end(), [](const auto& d) { return d.reencoded_types != 0; });
    if (error.code() != ErrorCode::out_of_memory || !config.placement.reencode || !asked) throw;
    config::RunConfig plain = config;
    plain.placement.reencode = false;
    Plan plan = plan_with(devices, tensors, shape, plain, {});
    plan.notes.insert(plan.notes.begin(), std::string("weights kept in the file's types: re-encoded as the devices "
                                                      "ask (placement.reencode), they would not fit: ") + error.what());
    return plan;
  }
}

Plan replan_without(const std::set<std::string>& failed_devices, const std::vector<DeviceDescription>& devices,
                    const std::vector<TensorDescription>& tensors, const RunShape& shape,
                    const config::RunConfig& config) {
  Plan plan = plan_with(devices, tensors, shape, config, failed_devices);
  std::string names;
  for (const auto& d : failed_devices) names += (names.empty() ? "" : ", ") + d;
  plan.notes.insert(plan.notes.begin(), names + " refused an allocation it had reported room for; the remaining "
                                                "tensors were planned onto the next devices");
  return plan;
}

}  // namespace sy::placement
