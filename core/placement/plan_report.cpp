#include "core/placement/plan_report.h"

#include <fmt/format.h>

#include "core/common/utf8.h"

namespace sy::placement {
namespace {

// "[#####+++..........]": weights '#', KV cache '+', scratch '~', free '.', scaled to the budget. 18 columns keep
// a device's line within 80 with the largest sizes ("1023.9 MiB of 1023.9 GiB (1023.9 GiB free)").
std::string bar(const DeviceUsage& d, int width = 18) {
  if (d.budget == 0) return "[" + std::string(width, ' ') + "] no budget";
  auto cells = [&](uint64_t bytes) {
    return static_cast<int>(static_cast<double>(bytes) / static_cast<double>(d.budget) * width + 0.5);
  };
  int w = std::min(cells(d.weights), width);
  int k = std::min(cells(d.kv_cache), width - w);
  int s = std::min(cells(d.scratch), width - w - k);
  return "[" + std::string(w, '#') + std::string(k, '+') + std::string(s, '~') + std::string(width - w - k - s, '.') + "]";
}

std::string layer_ranges(const std::vector<int64_t>& layers) {
  std::vector<int64_t> sorted = layers;
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + (i == j ? std::to_string(sorted[i])
                                              : std::to_string(sorted[i]) + "-" + std::to_string(sorted[j]));
    i = j + 1;
  }
  return out;
}

}  // namespace

std::string plan_to_text(const Plan& plan, bool every_tensor, bool unicode) {
  constexpr size_t kColumns = 80;
  std::string out = fmt::format("placement plan (policy {})\n\n", plan.policy);
  for (const auto& d : plan.devices) {
    out += fmt::format("{:<10} {:<4} {} {} of {} ({} free)\n", printable(d.device), to_string(d.kind), bar(d),
                       format_bytes(d.used()), format_bytes(d.budget), format_bytes(d.free_memory));
    std::string detail = fmt::format("{:<16}weights {}, KV cache {}, scratch {}", "", format_bytes(d.weights),
                                     format_bytes(d.kv_cache), format_bytes(d.scratch));
    if (!d.layers.empty()) {
      const std::string layers = "layers " + layer_ranges(d.layers);
      detail += detail.size() + 2 + layers.size() <= kColumns ? ", " + layers : fmt::format("\n{:<16}{}", "", layers);
    }
    out += detail + "\n";
  }
  out += "bars: # weights  + KV cache  ~ scratch  . rest of the budget\n\n";
  // One line per run of tensors of the same layer, device and reason ("blk.12.* → cuda:0: ...").
  for (size_t i = 0; i < plan.tensors.size();) {
    const auto& t = plan.tensors[i];
    size_t j = i + 1;
    if (!every_tensor && t.layer >= 0) {
      while (j < plan.tensors.size() && plan.tensors[j].layer == t.layer && plan.tensors[j].device == t.device &&
             plan.tensors[j].reason == t.reason) {
        ++j;
      }
    }
    const std::string label = j - i > 1 ? "blk." + std::to_string(t.layer) + ".*" : printable(t.tensor);
    out += fmt::format("{} {} {}: {}\n", label, unicode ? "→" : "->", printable(t.device), printable(t.reason));
    i = j;
  }
  for (const auto& note : plan.notes) out += "note: " + printable(note) + "\n";
  return out;
}

nlohmann::ordered_json plan_to_json(const Plan& plan) {
  nlohmann::ordered_json j;
  j["schema"] = "switchyard.plan/1";
  j["policy"] = plan.policy;
  j["devices"] = nlohmann::ordered_json::array();
  for (const auto& d : plan.devices) {
    j["devices"].push_back({{"device", d.device},
                            {"kind", to_string(d.kind)},
                            {"free_bytes", d.free_memory},
                            {"budget_bytes", d.budget},
                            {"weight_bytes", d.weights},
                            {"kv_cache_bytes", d.kv_cache},
                            {"scratch_bytes", d.scratch},
                            {"layers", d.layers}});
  }
  j["tensors"] = nlohmann::ordered_json::array();
  for (const auto& t : plan.tensors) {
    j["tensors"].push_back({{"name", t.tensor},
                            {"device", t.device},
                            {"type", gguf::to_string(t.stored_type)},
                            {"bytes", t.bytes},
                            {"layer", t.layer},
                            {"role", to_string(t.role)},
                            {"reason", t.reason},
                            {"copy_of", t.copy_of.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(t.copy_of)}});
  }
  j["notes"] = plan.notes;
  return j;
}

}  // namespace sy::placement
