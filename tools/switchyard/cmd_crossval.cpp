// `switchyard crossval`: feeds a reference run's tokens teacher-forced and compares the logits at every position
// (core/runtime/crossval.h). Exit 1 when out of tolerance.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "core/runtime/crossval.h"
#include "core/runtime/engine.h"
#include "core/common/json_text.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/run_options.h"

namespace sy::cli {

void add_crossval_command(CLI::App& app, int& exit_code) {
  struct Options {
    std::string model;
    std::string reference;
    double tolerance = -1;
    double margin = -1;
    std::string format = "text";
  };
  auto opts = std::make_shared<Options>();
  auto run = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand(
      "crossval", "Compare the logits with a reference run, teacher-forced, at every position (exit 1 out of tolerance)");
  add_model_option(*cmd, opts->model);
  cmd->add_option("--reference", opts->reference,
                  "Reference run (JSON: prompt_tokens, generated_tokens, prompt_logits, generated_logits, n_vocab)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--tolerance", opts->tolerance,
                  "Largest absolute logit error allowed (default: 1e-4 for F32/F16/BF16 matrices, 0.2 when quantized)");
  cmd->add_option("--margin", opts->margin,
                  "Argmax may differ only where the reference's top-2 margin is below this (default: the tolerance)");
  cmd->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  add_run_options(*cmd, run);
  cmd->callback([opts, run, &exit_code] {
    const config::RunConfig config = run->load();
    if (run->print_config) std::cerr << config::describe(config);
    const auto reference = runtime::read_reference(opts->reference);
    config::RunConfig sized = config;
    const uint64_t needed = reference.prompt_tokens.size() + reference.generated_tokens.size();
    if (sized.runtime.context_length < needed) sized.runtime.context_length = needed;
    auto engine = runtime::Engine::open(opts->model, sized, run->loader_options(config));
    const double tolerance = opts->tolerance >= 0 ? opts->tolerance : runtime::default_tolerance(engine->model());
    const double margin = opts->margin >= 0 ? opts->margin : tolerance;
    const auto r = runtime::crossval(engine->session(), reference, tolerance, margin);
    if (opts->format == "json") {
      nlohmann::ordered_json j;
      j["schema"] = "switchyard.crossval/1";
      j["model"] = opts->model;
      j["reference"] = opts->reference;
      j["positions"] = r.positions;
      j["max_abs_error"] = r.max_abs_error;
      j["max_abs_position"] = r.max_abs_position;
      j["max_rel_error"] = r.max_rel_error;
      j["position_errors"] = r.position_errors;
      j["tolerance"] = r.tolerance;
      j["margin"] = r.margin;
      j["greedy_reproduced"] = r.greedy_reproduced;
      j["argmax_differences"] = nlohmann::ordered_json::array();
      for (const auto& d : r.argmax_differences)
        j["argmax_differences"].push_back(
            {{"position", d.position}, {"ours", d.ours}, {"reference", d.reference}, {"reference_margin", d.reference_margin}});
      j["passed"] = r.passed();
      std::cout << json_text(j, 2) << "\n";
    } else {
      std::cout << fmt::format("{}: {} positions teacher-forced against {}\n", opts->model, r.positions, opts->reference);
      std::cout << fmt::format("  largest absolute error {:.3g} (position {}), largest relative error {:.3g}\n",
                               r.max_abs_error, r.max_abs_position, r.max_rel_error);
      std::cout << fmt::format("  greedy tokens {}\n", r.greedy_reproduced ? "reproduced" : "differ");
      for (const auto& d : r.argmax_differences)
        std::cout << fmt::format("  argmax differs at position {}: ours {}, reference {} (its top-2 margin {:.3g})\n",
                                 d.position, d.ours, d.reference, d.reference_margin);
      std::cout << fmt::format("{} (tolerance {:.3g}, argmax margin {:.3g})\n",
                               r.passed() ? "within tolerance" : "OUT OF TOLERANCE", tolerance, margin);
    }
    exit_code = r.passed() ? 0 : 1;
  });
}

}  // namespace sy::cli
