// Throughput of a backend plugin's weight kernels through the plugin ABI, per device and weight type, as the
// runtime will call them: MATMUL against one token (decode; effective bandwidth, weight bytes read per second, next
// to the bandwidth the device reports), MATMUL against a prompt (GFLOP/s counting 2 per weight element and token)
// and CONVERT to F32 (dequantize; G elements/s and GB/s of float32 written). Each figure is the median over runs of
// a batch of identical ops submitted in one execute call, so that one synchronization is spread over the batch.
// Works for any plugin: the CPU's, CUDA's, ROCm's, a vendor's. Prints numbers; never a test.
//   bench_ops [--plugin FILE]... [--device NAME] [--types q4_0,q8_0] [--mib 256] [--tokens 256] [--runs 7]
#include <switchyard/plugin_helpers.hpp>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/gguf/tensor_type.h"
#include "core/plugin/discovery.h"
#include "bench/native_weight.h"
#include "core/quant/quantize.h"

namespace {

using sy::gguf::TensorType;

struct Options {
  std::vector<std::string> plugins;
  std::string device;
  std::vector<std::string> types;
  uint64_t mib = 256;
  int64_t tokens = 256;
  int runs = 7;
};

constexpr int64_t kRowElements = 4096;  // a 7B model's hidden size: every listed type's block divides it
constexpr int64_t kPromptRows = 4096;   // the prompt product's weight: 4096 x 4096
constexpr int64_t kConvertMaxElements = int64_t{64} << 20;

using sy::sdk::make_op;

sy_tensor_ref ref(const sy::plugin::Buffer& buffer, uint32_t type) { return {buffer.raw(), 0, type, 0}; }

// Median seconds of one op, each run timing `batch` copies of it submitted together.
double op_seconds(const sy::plugin::Device& device, const sy_op& op, int batch, int runs) {
  const std::vector<sy_op> ops(static_cast<size_t>(batch), op);
  device.execute(ops);  // warm-up: first-touch, kernel loading, library handles
  return sy::bench::median_seconds(runs, [&] { device.execute(ops); }) / batch;
}

// A batch long enough (about 50 ms) that one synchronization is noise, from one timed op.
int batch_for(const sy::plugin::Device& device, const sy_op& op) {
  const double one = op_seconds(device, op, 1, 1);
  return static_cast<int>(std::clamp(0.05 / std::max(one, 1e-7), 1.0, 1000.0));
}

void bench_type(const sy::plugin::Device& device, TensorType type, const Options& options, std::mt19937_64& rng) {
  const auto id = static_cast<uint32_t>(type);
  const auto& traits = sy::gguf::tensor_type_traits(type);
  const uint64_t row_bytes = *sy::gguf::row_storage_bytes(type, kRowElements);
  const int64_t decode_rows = std::max<int64_t>(64, static_cast<int64_t>((options.mib << 20) / row_bytes) / 64 * 64);
  std::printf("%-10s %-7s", device.name().c_str(), std::string(traits.name).c_str());

  sy_op probe = make_op(SY_OP_MATMUL);
  probe.src[0].type = id;
  probe.src[1].type = probe.dst.type = SY_TYPE_F32;
  probe.params.matmul = {decode_rows, kRowElements, 1};
  if (!device.supports(probe)) {
    std::printf(" not multiplied by this device\n");
    return;
  }
  int64_t weight_rows = 0;  // decode_rows: the bytes asked for are whole rows
  const std::vector<uint8_t> host_weight =
      sy::bench::make_native_weight(type, kRowElements, static_cast<uint64_t>(decode_rows) * row_bytes, weight_rows, rng);
  sy::plugin::Buffer weight = device.allocate(host_weight.size());
  weight.upload(0, host_weight.data(), host_weight.size());
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> host_x(static_cast<size_t>(options.tokens * kRowElements));
  for (float& f : host_x) f = normal(rng);
  sy::plugin::Buffer x = device.allocate(host_x.size() * sizeof(float));
  x.upload(0, host_x.data(), host_x.size() * sizeof(float));
  const uint64_t out_floats = std::max<uint64_t>(static_cast<uint64_t>(decode_rows),
                                                 static_cast<uint64_t>(options.tokens * kPromptRows));
  const int64_t convert_n = std::min<int64_t>(decode_rows * kRowElements, kConvertMaxElements);
  const sy::plugin::Buffer out =
      device.allocate(std::max(out_floats, static_cast<uint64_t>(convert_n)) * sizeof(float));

  // Decode: the whole weight against one token.
  sy_op decode = make_op(SY_OP_MATMUL);
  decode.src[0] = ref(weight, id);
  decode.src[1] = ref(x, SY_TYPE_F32);
  decode.dst = ref(out, SY_TYPE_F32);
  decode.params.matmul = {decode_rows, kRowElements, 1};
  const double decode_s = op_seconds(device, decode, batch_for(device, decode), options.runs);
  const double decode_gbs = static_cast<double>(host_weight.size()) / decode_s / 1e9;
  const double reported = static_cast<double>(device.info().bandwidth_bytes_per_second) / 1e9;
  std::printf(" %9.1f GB/s (%3.0f%%)", decode_gbs, reported > 0 ? 100.0 * decode_gbs / reported : 0.0);

  // Prompt: the first kPromptRows rows against `tokens` tokens.
  sy_op prompt = decode;
  prompt.params.matmul = {std::min(kPromptRows, decode_rows), kRowElements, options.tokens};
  const double prompt_s = op_seconds(device, prompt, batch_for(device, prompt), options.runs);
  std::printf(" %10.1f GFLOP/s",
              2.0 * static_cast<double>(prompt.params.matmul.n_out * kRowElements * options.tokens) / prompt_s / 1e9);

  // Dequantize: up to 64 Mi elements of the weight to float32.
  sy_op convert = make_op(SY_OP_CONVERT);
  convert.src[0] = ref(weight, id);
  convert.dst = ref(out, SY_TYPE_F32);
  convert.params.convert = {convert_n};
  if (device.supports(convert)) {
    const double convert_s = op_seconds(device, convert, batch_for(device, convert), options.runs);
    const double elements = static_cast<double>(convert_n) / convert_s;
    std::printf(" %8.2f G elem/s %7.1f GB/s", elements / 1e9, elements * 4 / 1e9);
  } else {
    std::printf(" %8s", "-");
  }
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Throughput of a plugin's weight kernels (matmul decode and prompt, convert) per device and type"};
  app.add_option("--plugin", options.plugins, "plugin file to load first (repeatable); default: the usual search");
  app.add_option("--device", options.device, "only this device (e.g. cuda:0, cpu)");
  app.add_option("--types", options.types, "weight types (e.g. q4_0,q8_0); default: every type the device multiplies")
      ->delimiter(',');
  app.add_option("--mib", options.mib, "decode weight size in MiB (make it larger than the last-level cache)")
      ->capture_default_str();
  app.add_option("--tokens", options.tokens, "prompt length of the matrix-matrix product")->capture_default_str();
  app.add_option("--runs", options.runs, "timed runs per figure (median)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    sy::plugin::LoaderOptions loader;
    for (const auto& file : options.plugins) loader.explicit_files.emplace_back(file);
    const sy::plugin::Inventory inventory = sy::plugin::load_plugins(loader);
    std::set<uint32_t> wanted;
    for (const auto& name : options.types) {
      const auto type = sy::gguf::tensor_type_from_name(name);
      if (!type) {
        std::fprintf(stderr, "bench_ops: --types: unknown type '%s'\n", name.c_str());
        return 2;
      }
      wanted.insert(static_cast<uint32_t>(*type));
    }
    std::mt19937_64 rng(std::random_device{}());
    std::printf("%-10s %-7s %21s %17s %30s\n", "device", "type", "decode (of reported)",
                ("prompt x" + std::to_string(options.tokens)).c_str(), "convert -> f32");
    for (const auto& device : inventory.devices()) {
      if (!options.device.empty() && device->name() != options.device) continue;
      for (uint32_t id = 0; id < 64; ++id) {
        const auto type = static_cast<TensorType>(id);
        if (!(device->info().multipliable_types & SY_TYPE_BIT(id)) || !sy::quant::can_quantize(type)) continue;
        if (!wanted.empty() && !wanted.count(id)) continue;
        if (!sy::gguf::row_storage_bytes(type, kRowElements)) continue;
        bench_type(*device, type, options, rng);
      }
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_ops: %s\n", error.what());
    return 1;
  }
  return 0;
}
