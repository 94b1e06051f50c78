// `switchyard load`: carries out the placement plan and reports what it cost — bytes per device, zero-copy bytes
// versus copied bytes, peak resident memory and time per phase — as text or as JSON ("switchyard.load/1").
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <optional>

#include "core/common/json_text.h"
#include "core/common/utf8.h"
#include "core/gguf/file.h"
#include "core/loader/loader.h"
#include "core/model/architecture.h"
#include "core/placement/plan_report.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/model_file.h"
#include "tools/switchyard/progress.h"
#include "tools/switchyard/run_options.h"
#include "tools/switchyard/usage.h"

namespace sy::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

nlohmann::ordered_json report_to_json(const loader::LoadReport& r, uint64_t file_size) {
  nlohmann::ordered_json j;
  j["schema"] = "switchyard.load/1";
  j["mode"] = r.mode;
  j["file_bytes"] = file_size;
  j["zero_copy_bytes"] = r.zero_copy_bytes;
  j["copied_bytes"] = r.copied_bytes;
  j["converted_tensors"] = r.converted_tensors;
  j["peak_resident_bytes"] = r.peak_resident_bytes;
  j["devices"] = nlohmann::ordered_json::array();
  for (const auto& d : r.devices) {
    j["devices"].push_back({{"device", d.device}, {"tensors", d.tensors}, {"bytes", d.bytes},
                            {"zero_copy_bytes", d.zero_copy_bytes}, {"copied_bytes", d.copied_bytes}});
  }
  j["phases"] = nlohmann::ordered_json::object();
  for (const auto& [phase, seconds] : r.phase_seconds) j["phases"][phase] = seconds;
  if (!r.caches.empty()) {
    j["caches"] = nlohmann::ordered_json::object();
    for (const auto& [device, c] : r.caches) {
      j["caches"][device] = {{"budget_bytes", c.budget_bytes}, {"resident_bytes", c.resident_bytes},
                             {"hits", c.hits}, {"misses", c.misses}, {"evictions", c.evictions}};
    }
  }
  j["notes"] = r.notes;
  return j;
}

void print_text(const loader::LoadReport& r, uint64_t file_size) {
  std::cout << fmt::format("loaded ({} mode)\n", r.mode);
  for (const auto& d : r.devices) {
    std::cout << fmt::format("  {:<10} {:>12}  {:>10}  zero-copy {:>10}  copied {:>10}\n", printable(d.device),
                             count_of(d.tensors, "tensor"),
                             placement::format_bytes(d.bytes), placement::format_bytes(d.zero_copy_bytes),
                             placement::format_bytes(d.copied_bytes));
  }
  std::cout << fmt::format("zero-copy bytes   {}\ncopied bytes      {}\n", r.zero_copy_bytes, r.copied_bytes);
  std::cout << fmt::format("peak resident     {} ({:.3f} x the file's {})\n", placement::format_bytes(r.peak_resident_bytes),
                           file_size ? static_cast<double>(r.peak_resident_bytes) / static_cast<double>(file_size) : 0.0,
                           placement::format_bytes(file_size));
  for (const auto& [phase, seconds] : r.phase_seconds) std::cout << fmt::format("phase {:<11} {:.3f} s\n", phase, seconds);
  for (const auto& [device, c] : r.caches) {
    std::cout << fmt::format("cache {:<10} budget {}, resident {}, hits {}, misses {}, evictions {}\n",
                             printable(device),
                             placement::format_bytes(c.budget_bytes), placement::format_bytes(c.resident_bytes),
                             c.hits, c.misses, c.evictions);
  }
  for (const auto& note : r.notes) std::cout << "note: " << printable(note) << "\n";
}

}  // namespace

void add_load_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("load", "Load a model's weights onto the planned devices and report the cost");
  struct Options {
    std::string model;
    std::string format = "text";
    bool report = false;
    unsigned touch_passes = 0;
    bool verify = false;
    bool no_mmap = false;
    bool mlock = false;
  };
  auto opts = std::make_shared<Options>();
  auto run = std::make_shared<RunOptions>();
  add_model_option(*cmd, opts->model);
  cmd->add_option("--format", opts->format, "Output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  cmd->add_flag("--report", opts->report,
                "Also print the placement plan carried out, after any re-plan (with --format json: as its \"plan\" "
                "member)");
  cmd->add_option("--touch", opts->touch_passes,
                  "Then use every tensor this many times in plan order, as forward passes would (shows lazy-cache "
                  "hits, misses and evictions)");
  cmd->add_flag("--verify", opts->verify,
                "Then read every tensor back from its device and compare it byte for byte with the file (or with the "
                "same conversion of it); exit 1 on any difference");
  cmd->add_flag("--no-mmap", opts->no_mmap,
                "Read the file into memory instead of mapping it (llama.cpp's --no-mmap; CPU weights are then used "
                "in place from that copy)");
  cmd->add_flag("--mlock", opts->mlock,
                "Lock the model's pages in RAM so that they are never evicted (llama.cpp's --mlock; needs a "
                "locked-memory limit, ulimit -l, as large as the file)");
  add_run_options(*cmd, run);
  cmd->callback([opts, run, &exit_code] {
    loader::LoadReport report;
    const config::RunConfig config = run->load();
    if (run->print_config) std::cerr << config::describe(config);
    auto start = Clock::now();
    const ModelFile model_file = ModelFile::open(opts->model, opts->no_mmap, opts->mlock);
    const gguf::File& file = model_file.file();
    const model::ModelStructure structure = model::describe_model(file);
    const double open_seconds = seconds_since(start);
    start = Clock::now();
    const plugin::Inventory inventory = plugin::load_plugins(run->loader_options(config));
    const double plugin_seconds = seconds_since(start);
    start = Clock::now();
    const auto tensors = placement::describe_tensors(structure);
    const auto shape = placement::run_shape(structure.hp, config);
    auto plan = placement::make_plan(loader::describe_devices(inventory), tensors, shape, config);
    const double plan_seconds = seconds_since(start);

    loader::LoadOptions options;
    ProgressBar bar("load", 0);
    options.progress = [&bar](const loader::Progress& p) {
      bar.set_total(p.bytes_total);
      bar.update(p.bytes_done, p.zero_copy_bytes, p.tensor);
      return true;
    };
    loader::LoadedModel model = loader::load_model(file, inventory, std::move(plan), tensors, shape, config, options);
    bar.finish();
    // The plan carried out, which differs from the one made above when a device refused and the load re-planned.
    // With --format json it goes inside the one JSON document stdout carries.
    std::optional<nlohmann::ordered_json> plan_json;
    if (opts->report && opts->format == "json") plan_json = placement::plan_to_json(model.plan());
    if (opts->report && opts->format != "json") {
      std::cout << placement::plan_to_text(model.plan(), false, locale_is_utf8()) << "\n";
    }
    start = Clock::now();
    for (unsigned pass = 0; pass < opts->touch_passes; ++pass) {
      for (const auto& t : model.plan().tensors) model.acquire(t.tensor);
    }
    const double touch_seconds = seconds_since(start);
    report = model.report();
    report.phase_seconds.insert(report.phase_seconds.begin(), {{"open", open_seconds}, {"plugins", plugin_seconds},
                                                               {"plan", plan_seconds}});
    if (opts->touch_passes) report.phase_seconds.push_back({"touch", touch_seconds});
    std::optional<loader::VerifyReport> verified;
    if (opts->verify) {
      start = Clock::now();
      ProgressBar verify_bar("verify", 0);
      verified = loader::verify_model(model, file, [&verify_bar](const loader::Progress& p) {
        verify_bar.set_total(p.bytes_total);
        verify_bar.update(p.bytes_done, 0, p.tensor);
        return true;
      });
      verify_bar.finish();
      report.phase_seconds.push_back({"verify", seconds_since(start)});
    }
    // The high-water mark of the whole command, every phase included (--verify reads the whole model back).
    report.peak_resident_bytes = loader::peak_resident_bytes();
    if (opts->format == "json") {
      auto j = report_to_json(report, file.file_size());
      j["model"] = opts->model;
      j["file_access"] = model_file.access();
      if (plan_json) j["plan"] = std::move(*plan_json);
      if (verified) {
        j["verify"] = {{"tensors", verified->tensors}, {"bytes", verified->bytes},
                       {"mismatches", verified->mismatches}};
      }
      std::cout << json_text(j, 2) << "\n";
    } else {
      print_text(report, file.file_size());
      std::cout << fmt::format("file access       {}\n", model_file.access());
      if (verified) {
        std::cout << fmt::format("verify            {}, {} read back, {}\n", count_of(verified->tensors, "tensor"),
                                 placement::format_bytes(verified->bytes),
                                 verified->mismatches.empty() ? "all identical to the file"
                                                              : fmt::format("{} differ", verified->mismatches.size()));
        for (const auto& m : verified->mismatches) std::cout << "MISMATCH " << printable(m) << "\n";
      }
    }
    exit_code = verified && !verified->mismatches.empty() ? 1 : 0;
  });
}

}  // namespace sy::cli
