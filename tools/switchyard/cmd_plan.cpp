// `switchyard plan`: where every tensor of a model would go and why, from the devices found now and the run
// configuration, without loading any weight. Text draws each device's memory as a bar; JSON is
// "switchyard.plan/1" (docs/cli-json.md).
#include <iostream>

#include "core/common/json_text.h"
#include "core/gguf/file.h"
#include "core/loader/loader.h"
#include "core/model/architecture.h"
#include "core/runtime/schedule.h"
#include "core/placement/plan_report.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/run_options.h"
#include "tools/switchyard/usage.h"

namespace sy::cli {

void add_plan_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("plan", "Show which device would hold each tensor and why, without loading weights");
  struct Options {
    std::string model;
    std::string format = "text";
    bool every_tensor = false;
  };
  auto opts = std::make_shared<Options>();
  auto run = std::make_shared<RunOptions>();
  add_model_option(*cmd, opts->model);
  cmd->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  cmd->add_flag("--every-tensor", opts->every_tensor, "Text: one line per tensor instead of one per layer");
  add_run_options(*cmd, run);
  cmd->callback([opts, run, &exit_code] {
    const config::RunConfig config = run->load();
    if (run->print_config) std::cerr << config::describe(config);
    const gguf::File file = gguf::File::open(opts->model);
    const model::ModelStructure structure = model::describe_model(file);
    const plugin::Inventory inventory = plugin::load_plugins(run->loader_options(config));
    const auto plan = placement::make_plan(loader::describe_devices(inventory), placement::describe_tensors(structure),
                                           placement::run_shape(structure.hp, config), config);
    const runtime::Schedule schedule = runtime::make_schedule(structure, plan);
    if (opts->format == "json") {
      auto j = placement::plan_to_json(plan);
      j["model"] = opts->model;
      j["forward_pass"] = runtime::schedule_to_json(schedule);
      std::cout << json_text(j, 2) << "\n";
    } else {
      std::cout << placement::plan_to_text(plan, opts->every_tensor, locale_is_utf8()) << "\n"
                << runtime::schedule_to_text(schedule);
    }
    exit_code = 0;
  });
}

}  // namespace sy::cli
