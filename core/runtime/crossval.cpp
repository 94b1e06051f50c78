#include "core/runtime/crossval.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/common/error.h"

namespace sy::runtime {
namespace {

double top2_margin(std::span<const float> row, int32_t& best) {
  best = 0;
  for (size_t i = 1; i < row.size(); ++i) {
    if (row[i] > row[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  float second = -INFINITY;
  for (size_t i = 0; i < row.size(); ++i) {
    if (static_cast<int32_t>(i) != best) second = std::max(second, row[i]);
  }
  return static_cast<double>(row[static_cast<size_t>(best)]) - second;
}

}  // namespace

ReferenceRun read_reference(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::io, path.string() + ": cannot open the reference file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::invalid_file, path.string() + ": not JSON: " + e.what());
  }
  ReferenceRun r;
  const auto field = [&](const char* name) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(name))
      throw Error(ErrorCode::invalid_file, path.string() + ": field '" + name + "' is missing; expected a reference run");
    return j[name];
  };
  try {
    r.prompt = field("prompt").get<std::string>();
    r.prompt_tokens = field("prompt_tokens").get<std::vector<int32_t>>();
    r.generated_tokens = field("generated_tokens").get<std::vector<int32_t>>();
    r.n_vocab = field("n_vocab").get<uint64_t>();
    const auto rows = [&](const char* name, size_t expected) {
      const auto& value = field(name);
      if (!value.is_array() || value.size() != expected)
        throw Error(ErrorCode::invalid_file, path.string() + ": field '" + name + "' should hold " +
                                                 std::to_string(expected) + " rows");
      for (const auto& row : value) {
        if (!row.is_array() || row.size() != r.n_vocab)
          throw Error(ErrorCode::invalid_file, path.string() + ": a row of '" + name + "' does not hold n_vocab " +
                                                   std::to_string(r.n_vocab) + " values");
        for (const auto& v : row) r.logits.push_back(v.get<float>());
      }
    };
    rows("prompt_logits", r.prompt_tokens.size());
    rows("generated_logits", r.generated_tokens.size());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::invalid_file, path.string() + ": " + e.what());
  }
  if (r.prompt_tokens.empty()) throw Error(ErrorCode::invalid_file, path.string() + ": 'prompt_tokens' is empty");
  return r;
}

bool CrossvalResult::passed() const {
  if (!(max_abs_error <= tolerance)) return false;
  return std::none_of(argmax_differences.begin(), argmax_differences.end(),
                      [&](const ArgmaxDifference& d) { return d.reference_margin > margin; });
}

double default_tolerance(const model::ModelStructure& model) {
  for (const auto& t : model.tensors()) {
    if (!t.slot->info || t.slot->info->n_dims < 2) continue;
    const auto type = t.slot->info->type;
    if (type != gguf::TensorType::F32 && type != gguf::TensorType::F16 && type != gguf::TensorType::BF16) return 2e-1;
  }
  return 1e-4;
}

CrossvalResult crossval(Session& session, const ReferenceRun& reference, double tolerance, double margin) {
  if (reference.n_vocab != session.n_vocab())
    throw Error(ErrorCode::invalid_argument, "the reference's n_vocab " + std::to_string(reference.n_vocab) +
                                                 " differs from the model's " + std::to_string(session.n_vocab()));
  std::vector<int32_t> tokens = reference.prompt_tokens;
  tokens.insert(tokens.end(), reference.generated_tokens.begin(), reference.generated_tokens.end());
  session.reset();
  // As the reference ran: the prompt as one batch, then each generated token on its own.
  std::vector<float> logits(tokens.size() * reference.n_vocab);
  {
    const auto prompt = session.evaluate(reference.prompt_tokens, true);
    std::copy(prompt.begin(), prompt.end(), logits.begin());
    size_t at = prompt.size();
    for (const int32_t token : reference.generated_tokens) {
      const auto step = session.evaluate(std::span<const int32_t>(&token, 1), true);
      std::copy(step.begin(), step.end(), logits.begin() + static_cast<std::ptrdiff_t>(at));
      at += step.size();
    }
  }
  CrossvalResult result;
  result.tolerance = tolerance;
  result.margin = margin;
  result.positions = tokens.size();
  const size_t n_vocab = reference.n_vocab;
  for (size_t p = 0; p < tokens.size(); ++p) {
    const auto ours = std::span<const float>(logits).subspan(p * n_vocab, n_vocab);
    const auto theirs = std::span<const float>(reference.logits).subspan(p * n_vocab, n_vocab);
    double position_error = 0;
    for (size_t i = 0; i < n_vocab; ++i) {
      const double error = std::fabs(static_cast<double>(ours[i]) - theirs[i]);
      if (!(error <= position_error)) position_error = std::isnan(error) ? INFINITY : error;
      if (!(error <= result.max_abs_error)) {  // NaN counts as the largest error
        result.max_abs_error = std::isnan(error) ? INFINITY : error;
        result.max_abs_position = p;
      }
      result.max_rel_error = std::max(result.max_rel_error, error / std::max(1.0, std::fabs(static_cast<double>(theirs[i]))));
    }
    result.position_errors.push_back(position_error);
    int32_t reference_best = 0;
    const double reference_margin = top2_margin(theirs, reference_best);
    int32_t our_best = 0;
    (void)top2_margin(ours, our_best);
    if (our_best != reference_best) result.argmax_differences.push_back({p, our_best, reference_best, reference_margin});
    // Greedy: the argmax after position p is the reference's next token (the prompt's last position onwards).
    if (p + 1 >= reference.prompt_tokens.size() && p + 1 < tokens.size() && our_best != tokens[p + 1])
      result.greedy_reproduced = false;
  }
  return result;
}

}  // namespace sy::runtime
