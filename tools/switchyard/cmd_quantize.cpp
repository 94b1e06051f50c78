// `switchyard quantize`: rewrites a GGUF model with its matrices in another weight type using the reference
// quantizers (core/quant), byte-identical to llama-quantize without an importance matrix for a single target type
// and for its named mixes (Q4_K_M, Q4_K_S, Q5_K_M, Q6_K, Q8_0), whose per-tensor choices are the reference's.
// Metadata is copied (general.file_type updated), 1-D tensors stay F32, and the file is written atomically.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/common/error.h"
#include "core/common/format.h"
#include "core/gguf/file.h"
#include "core/loader/loader.h"
#include "core/gguf/writer.h"
#include "core/quant/dequantize.h"
#include "core/quant/quantize.h"
#include "tools/switchyard/commands.h"
#include "tools/switchyard/progress.h"

namespace sy::cli {
namespace {

using gguf::TensorType;

gguf::TensorType parse_type(const std::string& name, const char* option) {
  const auto type = gguf::tensor_type_from_name(name);
  if (!type) {
    throw Error(ErrorCode::invalid_argument,
                fmt::format("{}: unknown tensor type '{}'; use a GGUF type name such as q4_0, q4_K, q8_0 or f16",
                            option, name));
  }
  return *type;
}

bool is_weight_target(TensorType type) {
  // Q8_1 and Q8_K are activation formats: no backend multiplies weights stored in them.
  if (type == TensorType::Q8_1 || type == TensorType::Q8_K) return false;
  return type == TensorType::I2_S || quant::can_quantize(type);
}

// llama.cpp's `llama_ftype` for a model that is mostly `type` (general.file_type); the k-quants map to their
// "_S" variant, the single-type mix. I2_S is bitnet.cpp's MOSTLY_I2_S.
uint32_t file_type_of(TensorType type) {
  switch (type) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q4_1: return 3;
    case TensorType::Q8_0: return 7;
    case TensorType::Q5_0: return 8;
    case TensorType::Q5_1: return 9;
    case TensorType::Q4_K: return 14;
    case TensorType::Q5_K: return 16;
    case TensorType::Q6_K: return 18;
    case TensorType::BF16: return 32;
    case TensorType::TQ1_0: return 36;
    case TensorType::TQ2_0: return 37;
    case TensorType::I2_S: return 40;
    default: throw Error(ErrorCode::internal, fmt::format("no file type for {}", gguf::to_string(type)));
  }
}

// Elements whose blocks the storage of `type` groups: I2_S packs the flattened tensor, the others each row.
bool fits(TensorType type, const gguf::TensorInfo& tensor) {
  const auto block = gguf::tensor_type_traits(type).block_size;
  return type == TensorType::I2_S ? tensor.n_elements % block == 0 : tensor.ne[0] % block == 0;
}

// The reference's fallback when a row is not a whole number of the target's blocks: the nearest type with
// 32-element blocks, else F16 (llama-quant.cpp, llama_tensor_get_type).
TensorType fallback_for(TensorType target, const gguf::TensorInfo& tensor) {
  TensorType fallback = TensorType::F16;
  switch (target) {
    case TensorType::TQ1_0: case TensorType::TQ2_0: fallback = TensorType::Q4_0; break;
    case TensorType::Q4_K: fallback = TensorType::Q5_0; break;
    case TensorType::Q5_K: fallback = TensorType::Q5_1; break;
    case TensorType::Q6_K: fallback = TensorType::Q8_0; break;
    default: break;
  }
  return fits(fallback, tensor) ? fallback : TensorType::F16;
}

// llama-quantize's named mixes: a main type and per-tensor exceptions, as llama-quant.cpp chooses them
// (llama_tensor_get_type_impl) for a model without experts, quantized without an importance matrix.
struct Mix {
  const char* name;
  TensorType main;
  uint32_t file_type;  // llama_ftype
};
constexpr Mix kMixes[] = {{"Q4_K_M", TensorType::Q4_K, 15}, {"Q4_K_S", TensorType::Q4_K, 14},
                          {"Q5_K_M", TensorType::Q5_K, 17}, {"Q6_K", TensorType::Q6_K, 18},
                          {"Q8_0", TensorType::Q8_0, 7}};

const Mix* find_mix(const std::string& name) {
  for (const auto& mix : kMixes) {
    if (std::equal(name.begin(), name.end(), mix.name, mix.name + std::strlen(mix.name),
                   [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; })) {
      return &mix;
    }
  }
  return nullptr;
}

// The reference's "more bits" layers: the first and last eighth, and every third one in between.
bool use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// Chooses each tensor's type under a mix, counting the attention-value and feed-forward-down matrices in file
// order as the reference does.
class MixChooser {
 public:
  MixChooser(const Mix& mix, const gguf::File& file) : mix_(mix) {
    bool has_output = false;
    for (const auto& t : file.tensors()) {
      n_attention_v_ += t.name.ends_with("attn_v.weight");
      n_ffn_down_ += t.name.ends_with("ffn_down.weight");
      has_output = has_output || t.name == "output.weight";
    }
    tied_embeddings_ = !has_output;  // the head reuses token_embd: it is quantized as the output
  }

  TensorType choose(const gguf::TensorInfo& t) {
    const bool k_quant = mix_.main == TensorType::Q4_K || mix_.main == TensorType::Q5_K;
    if (t.name == "output.weight" || (tied_embeddings_ && t.name == "token_embd.weight")) {
      if (!fits(mix_.main, t)) return TensorType::Q8_0;
      return mix_.main == TensorType::Q8_0 ? TensorType::Q8_0 : TensorType::Q6_K;
    }
    if (t.name.ends_with("attn_v.weight")) {
      const int64_t i = i_attention_v_++;
      const std::string_view name = mix_.name;
      if ((name == "Q4_K_M" || name == "Q5_K_M") && use_more_bits(i, n_attention_v_)) return TensorType::Q6_K;
      if (name == "Q4_K_S" && i < 4) return TensorType::Q5_K;
      return mix_.main;
    }
    if (t.name.ends_with("ffn_down.weight")) {
      const int64_t i = i_ffn_down_++;
      const std::string_view name = mix_.name;
      if ((name == "Q4_K_M" || name == "Q5_K_M") && use_more_bits(i, n_ffn_down_)) return TensorType::Q6_K;
      if (name == "Q4_K_S" && i < n_ffn_down_ / 8) return TensorType::Q5_K;
      return mix_.main;
    }
    if (k_quant && t.name.ends_with("attn_qkv.weight")) {
      const std::string_view name = mix_.name;
      if (name == "Q4_K_M") return TensorType::Q5_K;
      if (name == "Q5_K_M") return TensorType::Q6_K;
    }
    return mix_.main;
  }

 private:
  const Mix& mix_;
  int64_t n_attention_v_ = 0, n_ffn_down_ = 0, i_attention_v_ = 0, i_ffn_down_ = 0;
  bool tied_embeddings_ = false;
};

bool is_one_dimensional(const gguf::TensorInfo& tensor) {
  return std::all_of(tensor.ne.begin() + 1, tensor.ne.end(), [](uint64_t d) { return d == 1; });
}

// Produces the bytes of `tensor` converted to `target` for gguf::Writer, which asks for pieces at arbitrary byte
// offsets: each request is widened to whole blocks of both types (every block size divides the larger one), those
// elements are decoded and re-encoded, and the requested bytes copied out. I2_S has one scale for the tensor, so
// it is converted whole on the first request. A tensor that keeps its type is copied. `on_done` runs after the
// last piece (progress reporting).
class Conversion {
 public:
  Conversion(const gguf::File& file, const gguf::TensorInfo& tensor, TensorType target, std::function<void()> on_done)
      : file_(file), tensor_(tensor), target_(target), on_done_(std::move(on_done)) {}

  void operator()(uint64_t offset, std::span<std::byte> out) {
    if (target_ == tensor_.type) {
      // Same type: copy the bytes, which is exact and keeps whatever the original quantizer chose.
      const auto source = file_.tensor_data(tensor_).subspan(offset, out.size());
      std::copy(source.begin(), source.end(), out.begin());
    } else if (target_ == TensorType::I2_S) {
      produce_i2_s(offset, out);
    } else {
      produce_blocks(offset, out);
    }
    if (offset + out.size() == *gguf::tensor_storage_bytes(target_, tensor_.n_elements) && on_done_) on_done_();
  }

 private:
  void produce_blocks(uint64_t offset, std::span<std::byte> out) {
    const auto& to = gguf::tensor_type_traits(target_);
    const uint64_t unit = std::max(to.block_size, gguf::tensor_type_traits(tensor_.type).block_size);
    const uint64_t first_element = offset / to.bytes_per_block * to.block_size / unit * unit;
    const uint64_t end_block = (offset + out.size() + to.bytes_per_block - 1) / to.bytes_per_block;
    const uint64_t end_element = std::min(tensor_.n_elements, (end_block * to.block_size + unit - 1) / unit * unit);
    floats_.resize(end_element - first_element);
    quant::dequantize_range(tensor_.type, file_.tensor_data(tensor_), tensor_.n_elements, first_element, floats_,
                            tensor_.name);
    bytes_.resize(floats_.size() / to.block_size * to.bytes_per_block);
    quant::quantize_row(target_, floats_.data(), bytes_.data(), static_cast<int64_t>(floats_.size()));
    const uint64_t skip = offset - first_element / to.block_size * to.bytes_per_block;
    std::copy_n(bytes_.begin() + static_cast<ptrdiff_t>(skip), out.size(), out.begin());
  }

  void produce_i2_s(uint64_t offset, std::span<std::byte> out) {
    if (bytes_.empty()) {
      floats_ = loader::dequantize_tensor(file_, tensor_);
      bytes_.resize(*gguf::tensor_storage_bytes(TensorType::I2_S, tensor_.n_elements));
      quant::quantize_i2_s(floats_, bytes_);
      floats_ = {};
    }
    std::copy_n(bytes_.begin() + static_cast<ptrdiff_t>(offset), out.size(), out.begin());
  }

  const gguf::File& file_;
  const gguf::TensorInfo& tensor_;
  TensorType target_;
  std::function<void()> on_done_;
  std::vector<float> floats_;
  std::vector<std::byte> bytes_;
};

}  // namespace

void add_quantize_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "quantize", "Write a copy of a model with its matrices in another weight type (reference quantizers)");
  struct Options {
    std::string model;
    std::string output;
    std::string type;
    std::vector<std::string> keep;
    std::string output_type;     // for output.weight, as llama-quantize's --output-tensor-type
    std::string embedding_type;  // for token_embd.weight, as llama-quantize's --token-embedding-type
  };
  auto opts = std::make_shared<Options>();
  add_model_option(*cmd, opts->model);
  cmd->add_option("-o,--output", opts->output, "Where to write the quantized model")->required();
  cmd->add_option("--type", opts->type,
                  "A mix of llama-quantize's with its per-tensor choices (Q4_K_M, Q4_K_S, Q5_K_M, Q6_K, Q8_0), or one "
                  "weight type for every matrix: q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K, tq1_0, tq2_0, i2_s, "
                  "f16, bf16 or f32")
      ->required();
  cmd->add_option("--keep", opts->keep,
                  "Copy tensors stored in this type unchanged instead of converting them (repeatable), e.g. "
                  "--keep q6_K to leave llama-quantize's Q6_K output head alone");
  cmd->add_option("--output-type", opts->output_type,
                  "Type for output.weight (llama-quantize keeps it in q6_K for 4-bit types: --output-type q6_K)");
  cmd->add_option("--embedding-type", opts->embedding_type, "Type for token_embd.weight");
  cmd->callback([opts, &exit_code] {
    const Mix* mix = find_mix(opts->type);
    const TensorType target = mix ? mix->main : parse_type(opts->type, "--type");
    if (!is_weight_target(target)) {
      throw Error(ErrorCode::invalid_argument,
                  fmt::format("--type {}: not a weight type the reference quantizer writes; choose a mix (Q4_K_M, "
                              "Q4_K_S, Q5_K_M, Q6_K, Q8_0) or q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K, "
                              "tq1_0, tq2_0, i2_s, f16, bf16 or f32",
                              opts->type));
    }
    std::set<TensorType> keep;
    for (const auto& name : opts->keep) keep.insert(parse_type(name, "--keep"));
    std::map<std::string, TensorType> per_tensor;  // tensor name -> its own target
    for (const auto& [option, tensor_name, type_name] :
         {std::tuple{"--output-type", "output.weight", opts->output_type},
          std::tuple{"--embedding-type", "token_embd.weight", opts->embedding_type}}) {
      if (type_name.empty()) continue;
      const TensorType type = parse_type(type_name, option);
      if (!is_weight_target(type)) {
        throw Error(ErrorCode::invalid_argument,
                    fmt::format("{} {}: not a weight type the reference quantizer writes", option, type_name));
      }
      per_tensor[tensor_name] = type;
    }

    const gguf::File input = gguf::File::open(opts->model);
    const uint32_t file_type = mix ? mix->file_type : file_type_of(target);
    std::optional<MixChooser> chooser;
    if (mix) chooser.emplace(*mix, input);
    gguf::Writer writer(input.alignment());
    const bool quantized_target = gguf::tensor_type_traits(target).quantized;
    bool wrote_file_type = false, wrote_version = false;
    for (const auto& kv : input.metadata()) {
      if (kv.key == "general.alignment") {
        // The writer records an alignment other than the default itself; the default, when the input spells it
        // out, is kept as the reference keeps it.
        if (input.alignment() == gguf::kDefaultAlignment) writer.add(kv.key, kv.value);
        continue;
      }
      if (kv.key == "general.file_type") {
        writer.add(kv.key, gguf::Value::make_uint(gguf::ValueType::UINT32, file_type));
        wrote_file_type = true;
      } else if (kv.key == "general.quantization_version" && quantized_target) {
        writer.add(kv.key, gguf::Value::make_uint(gguf::ValueType::UINT32, 2));
        wrote_version = true;
      } else {
        writer.add(kv.key, kv.value);
      }
    }
    if (!wrote_file_type) {
      writer.add("general.file_type", gguf::Value::make_uint(gguf::ValueType::UINT32, file_type));
    }
    // The reference records the version of the quantized block formats (GGML_QNT_VERSION, 2 since 2023).
    if (quantized_target && !wrote_version) {
      writer.add("general.quantization_version", gguf::Value::make_uint(gguf::ValueType::UINT32, 2));
    }

    const size_t n_tensors = input.tensors().size();
    size_t fallbacks = 0;
    uint64_t input_bytes = 0, done_bytes = 0, output_bytes = 0, elements = 0;
    for (const auto& tensor : input.tensors()) input_bytes += tensor.n_bytes;
    ProgressBar bar("quantize", input_bytes);
    std::vector<std::unique_ptr<Conversion>> conversions;  // kept alive until write() returns
    for (const auto& tensor : input.tensors()) {
      const auto own_target = per_tensor.find(tensor.name);
      const TensorType wanted = own_target != per_tensor.end() ? own_target->second
                                : chooser && !is_one_dimensional(tensor) ? chooser->choose(tensor)
                                                                         : target;
      TensorType type = wanted;
      if (keep.count(tensor.type)) {
        type = tensor.type;
      } else if (is_one_dimensional(tensor)) {
        type = TensorType::F32;  // norms and biases: tiny, and precision-critical
      } else if (!fits(wanted, tensor)) {
        type = fallback_for(wanted, tensor);
        ++fallbacks;
        spdlog::warn("{}: tensor '{}' has rows of {} elements, not a multiple of {}'s block of {}; using {} instead",
                     opts->model, tensor.name, tensor.ne[0], gguf::to_string(wanted),
                     gguf::tensor_type_traits(wanted).block_size, gguf::to_string(type));
      }
      if (!quant::can_dequantize(tensor.type) && type != tensor.type) {
        throw Error(ErrorCode::unsupported,
                    fmt::format("{}: tensor '{}' is stored as {}, which the reference decoder cannot read, so it "
                                "cannot be converted; pass --keep {} to copy it unchanged",
                                opts->model, tensor.name, gguf::to_string(tensor.type), gguf::to_string(tensor.type)));
      }
      const std::span<const uint64_t> ne(tensor.ne.data(), tensor.n_dims);
      auto report = [&bar, &done_bytes, bytes = tensor.n_bytes,
                     item = fmt::format("{}: {} -> {}", tensor.name, gguf::to_string(tensor.type),
                                        gguf::to_string(type))] {
        done_bytes += bytes;
        bar.update(done_bytes, 0, item);
      };
      output_bytes += *gguf::tensor_storage_bytes(type, tensor.n_elements);
      elements += tensor.n_elements;
      conversions.push_back(std::make_unique<Conversion>(input, tensor, type, report));
      auto* conversion = conversions.back().get();
      writer.add_tensor(tensor.name, type, ne,
                        [conversion](uint64_t offset, std::span<std::byte> out) { (*conversion)(offset, out); });
    }
    writer.write(opts->output);
    bar.finish();
    // The summary llama-quantize prints: sizes before and after, and bits per weight.
    std::cout << fmt::format("{}: {}, {} -> {} ({:.2f} bits per weight), mostly {}{}\n", opts->output,
                             count_of(n_tensors, "tensor"), format_bytes(input_bytes), format_bytes(output_bytes),
                             elements ? 8.0 * static_cast<double>(output_bytes) / static_cast<double>(elements) : 0.0,
                             mix ? std::string(mix->name) : std::string(gguf::to_string(target)),
                             fallbacks ? fmt::format(", {} in a fallback type", count_of(fallbacks, "tensor")) : "");
    exit_code = 0;
  });
}

}  // namespace sy::cli
