// `switchyard dequant`: decodes a model's tensors to float32 with the scalar reference (core/quant) and prints one
// JSON line per tensor. With --sha256 the line is the fingerprint reference/dequant.jsonl holds (same keys, same
// order, same number format), so a diff against that file checks the decoder end to end.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/common/json_text.h"
#include "core/common/error.h"
#include "core/common/sha256.h"
#include "core/common/utf8.h"
#include "core/gguf/file.h"
#include "core/quant/dequantize.h"
#include "tools/switchyard/commands.h"

namespace sy::cli {
namespace {

// Decoded in pieces of about this many floats, so a tensor of any size needs only 16 MiB of scratch.
constexpr uint64_t kPieceElements = 4u << 20;

// Shortest form that reads back as the same float, like the reference's printf("%.9g"): "-0", "1", "0.159423828".
// JSON has no NaN or infinity; they print as null.
std::string format_float(float value) {
  if (!std::isfinite(value)) return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", static_cast<double>(value));
  return text;
}

std::string json_string(const std::string& text) { return json_text(nlohmann::ordered_json(text)); }

// Decodes `tensor` piece by piece, calling `consume` with each run of floats in order.
template <class Consume>
void for_each_piece(const gguf::File& file, const gguf::TensorInfo& tensor, Consume&& consume) {
  const auto data = file.tensor_data(tensor);
  // Pieces hold whole blocks; every block size (1, 32, 128, 256) divides 256, and so does kPieceElements.
  std::vector<float> piece(std::min<uint64_t>(tensor.n_elements, kPieceElements));
  for (uint64_t first = 0; first < tensor.n_elements; first += piece.size()) {
    const uint64_t count = std::min<uint64_t>(piece.size(), tensor.n_elements - first);
    std::span<float> out(piece.data(), count);
    quant::dequantize_range(tensor.type, data, tensor.n_elements, first, out, tensor.name);
    consume(std::span<const float>(out));
  }
}

std::string digest_line(const std::string& model, const gguf::File& file, const gguf::TensorInfo& tensor) {
  Sha256 hasher;
  std::vector<float> first4;
  for_each_piece(file, tensor, [&](std::span<const float> values) {
    hasher.update(std::as_bytes(values));  // the host is little-endian, as the reference's digest assumes
    for (size_t i = 0; i < values.size() && first4.size() < 4; ++i) first4.push_back(values[i]);
  });
  std::string line = fmt::format(R"({{"model":{},"tensor":{},"type":"{}","n":{},"sha256_f32":"{}","first4":[)",
                                 json_string(model), json_string(tensor.name), gguf::to_string(tensor.type),
                                 tensor.n_elements, hasher.hex_digest());
  for (size_t i = 0; i < first4.size(); ++i) line += (i ? "," : "") + format_float(first4[i]);
  return line + "]}";
}

std::string values_line(const std::string& model, const gguf::File& file, const gguf::TensorInfo& tensor) {
  std::string line = fmt::format(R"({{"model":{},"tensor":{},"type":"{}","n":{},"values":[)", json_string(model),
                                 json_string(tensor.name), gguf::to_string(tensor.type), tensor.n_elements);
  bool first = true;
  for_each_piece(file, tensor, [&](std::span<const float> values) {
    for (float v : values) {
      if (!first) line += ',';
      line += format_float(v);
      first = false;
    }
  });
  return line + "]}";
}

}  // namespace

void add_dequant_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "dequant", "Decode tensors to float32 with the reference decoder; print one JSON line per tensor");
  struct Options {
    std::string model;
    std::vector<std::string> tensors;
    bool sha256 = false;
  };
  auto opts = std::make_shared<Options>();
  add_model_option(*cmd, opts->model);
  cmd->add_option("--tensor", opts->tensors, "Only this tensor (repeatable); default: every tensor in file order");
  cmd->add_flag("--sha256", opts->sha256,
                "Print the SHA-256 of the float32 values and the first four values (the format of "
                "reference/dequant.jsonl) instead of every value");
  cmd->callback([opts, &exit_code] {
    const gguf::File file = gguf::File::open(opts->model);
    std::vector<const gguf::TensorInfo*> selected;
    if (opts->tensors.empty()) {
      for (const auto& t : file.tensors()) selected.push_back(&t);
    } else {
      for (const auto& name : opts->tensors) {
        const auto* t = file.find_tensor(name);
        if (!t) {
          throw Error(ErrorCode::not_found, opts->model + ": no tensor named '" + name +
                                                "'; `switchyard inspect --tensors` lists the tensors it has");
        }
        selected.push_back(t);
      }
    }
    exit_code = 0;
    for (const auto* tensor : selected) {
      if (!quant::can_dequantize(tensor->type)) {
        // Report and go on: one exotic tensor should not hide the fingerprints of all the others.
        std::cerr << fmt::format("error: {}: tensor '{}' has type {}, which the reference decoder does not handle\n",
                                 printable(opts->model), printable(tensor->name), gguf::to_string(tensor->type));
        exit_code = 1;
        continue;
      }
      // Each line is flushed whole: should the process stop (a model truncated while mapped ends it from the
      // SIGBUS handler, which flushes nothing), stdout holds only complete lines.
      std::cout << (opts->sha256 ? digest_line(opts->model, file, *tensor) : values_line(opts->model, file, *tensor))
                << '\n' << std::flush;
    }
  });
}

}  // namespace sy::cli
