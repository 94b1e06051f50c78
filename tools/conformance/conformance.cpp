// switchyard-conformance PLUGIN.so: the one test every backend plugin must pass, in tree or out of tree. It loads
// the plugin through the core's own loader (core/plugin), then checks device queries, buffer round trips, every op
// the plugin claims against the core's scalar reference (core/kernels) at the tolerances documented in
// sdk/README.md, odd sizes, op sequences and error paths. Exit status as switchyard's: 0 all passed, 1 a check
// failed (or the plugin did not load), 2 a usage or I/O error; errors are `error:` lines on stderr, logs as
// switchyard writes them (--log-level, NO_COLOR).
#include <switchyard/plugin_helpers.hpp>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/common/log.h"
#include "core/gguf/tensor_type.h"
#include "core/quant/reencode.h"
#include "core/quant/row_decoder.h"
#include "core/kernels/reference_ops.h"
#include "core/config/run_config.h"
#include "core/plugin/discovery.h"
#include "core/quant/quantize.h"

namespace {

using sy::plugin::Buffer;
using sy::plugin::Device;

// ---- Reporting ---------------------------------------------------------------------------------------------------

struct Report {
  int checks = 0;
  int failures = 0;
  bool verbose = false;

  void pass(const std::string& what) {
    ++checks;
    if (verbose) std::cout << "ok    " << what << "\n";
  }
  void fail(const std::string& what, const std::string& why) {
    ++checks;
    ++failures;
    std::cout << "FAIL  " << what << ": " << why << "\n";
  }
  void expect(bool condition, const std::string& what, const std::string& why) {
    condition ? pass(what) : fail(what, why);
  }
  // Runs `body`; an sy::Error escaping it is a failure of `what`.
  void guarded(const std::string& what, const std::function<void()>& body) {
    try {
      body();
    } catch (const std::exception& error) {
      fail(what, std::string("threw: ") + error.what());
    }
  }
};

// ---- Tensors on host and device ----------------------------------------------------------------------------------

std::vector<float> random_floats(std::mt19937_64& rng, size_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> values(n);
  for (auto& v : values) v = dist(rng);
  return values;
}

template <class T>
std::vector<uint8_t> as_bytes(const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

// A tensor that exists twice: in host memory for the reference and in a device buffer for the plugin.
struct TwinTensor {
  std::vector<uint8_t> host;
  Buffer device;
  uint32_t type = SY_TYPE_F32;
};

constexpr uint8_t kPoison = 0xCD;  // what outputs are filled with before a run, so an unwritten byte shows

TwinTensor make_twin(const Device& device, std::vector<uint8_t> bytes, uint32_t type) {
  TwinTensor tensor;
  tensor.host = std::move(bytes);
  tensor.type = type;
  tensor.device = device.allocate(std::max<uint64_t>(tensor.host.size(), 1));
  tensor.device.upload(0, tensor.host.data(), tensor.host.size());
  return tensor;
}

TwinTensor make_output(const Device& device, size_t bytes, uint32_t type) {
  return make_twin(device, std::vector<uint8_t>(bytes, kPoison), type);
}

sy_tensor_ref device_ref(const TwinTensor& tensor) { return {tensor.device.raw(), 0, tensor.type, 0}; }

// Weight rows of `type`: quantized through core/quant where it has a quantizer, else random blocks whose decode is
// finite (types without a reference quantizer), F32/F16/BF16 encoded directly.
std::vector<uint8_t> make_weight(std::mt19937_64& rng, uint32_t type, int64_t rows, int64_t cols,
                                 const sy::kernels::RowDecoder& decoder) {
  const uint64_t row_bytes = sy::kernels::row_bytes(type, cols, decoder);
  std::vector<uint8_t> bytes(row_bytes * static_cast<uint64_t>(rows));
  const auto gguf_type = static_cast<sy::gguf::TensorType>(type);
  if (gguf_type == sy::gguf::TensorType::I2_S) {
    // The whole tensor (plugin.h): ternary values times one scale, then the 32-byte tail, whose 28 bytes after the
    // scale are left random as in real files (a plugin must not read them).
    const auto n = static_cast<uint64_t>(rows * cols);
    const float scale = std::uniform_real_distribution<float>(0.25f, 2.0f)(rng);
    std::vector<float> values(n);
    for (auto& v : values) v = scale * static_cast<float>(static_cast<int>(rng() % 3) - 1);
    bytes.resize(sy::kernels::tensor_bytes(type, rows, cols, decoder));
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    sy::quant::quantize_i2_s(values, std::as_writable_bytes(std::span(bytes)));
    for (uint64_t i = n / 4 + sizeof(float); i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(rng());
    return bytes;
  }
  if (sy::kernels::is_plain_float_type(type) || sy::quant::can_quantize(gguf_type)) {
    for (int64_t r = 0; r < rows; ++r) {
      const auto values = random_floats(rng, static_cast<size_t>(cols));
      if (sy::kernels::is_plain_float_type(type))
        sy::kernels::encode_row(type, values.data(), bytes.data() + r * row_bytes, cols);
      else
        sy::quant::quantize_row(gguf_type, values.data(), bytes.data() + r * row_bytes, cols);
    }
    return bytes;
  }
  // Block by block, each redrawn until it decodes to small finite values: a random fp16 scale can be NaN or huge,
  // and a long row drawn whole would almost never be finite everywhere.
  const int64_t block = sy::gguf::tensor_type_traits(type)->block_size;
  const uint64_t block_bytes = sy::kernels::row_bytes(type, block, decoder);
  std::vector<float> decoded(static_cast<size_t>(block));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint64_t offset = 0; offset < bytes.size(); offset += block_bytes) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      for (uint64_t i = 0; i < block_bytes; ++i) bytes[offset + i] = static_cast<uint8_t>(byte(rng));
      sy::kernels::decode_row(type, bytes.data() + offset, decoded.data(), block, decoder);
      if (std::all_of(decoded.begin(), decoded.end(), [](float v) { return std::isfinite(v) && std::fabs(v) < 1e4f; }))
        break;
    }
  }
  return bytes;
}

// ---- Comparing against the reference ------------------------------------------------------------------------------

// Tolerance of one op: |device - reference| <= absolute + relative * scale[i], where scale[i] is the op's natural
// magnitude for element i (for matmul: sum_k |w_k x_k|, the bound of float rounding of that dot product).
struct Tolerance {
  double absolute;
  double relative;
};

// `extra`, when given, adds a per-element allowance (matmul of quantized weights: the activation quantization).
std::string compare_floats(const std::vector<float>& got, const std::vector<float>& want,
                           const std::vector<double>& scale, Tolerance tolerance,
                           const std::vector<double>& extra = {}) {
  for (size_t i = 0; i < want.size(); ++i) {
    const double allowed = tolerance.absolute + tolerance.relative * (scale.empty() ? std::fabs(want[i]) : scale[i]) +
                           (extra.empty() ? 0.0 : extra[i]);
    const double error = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(error <= allowed))  // NaN fails too
      return "element " + std::to_string(i) + " is " + std::to_string(got[i]) + ", reference " +
             std::to_string(want[i]) + " (allowed error " + std::to_string(allowed) + ")";
  }
  return {};
}

std::vector<float> download_floats(const TwinTensor& tensor) {
  std::vector<float> values(tensor.host.size() / 4);
  tensor.device.download(0, values.data(), values.size() * 4);
  return values;
}

std::vector<float> host_floats(const TwinTensor& tensor) {
  std::vector<float> values(tensor.host.size() / 4);
  std::memcpy(values.data(), tensor.host.data(), values.size() * 4);
  return values;
}

// Runs `ops` on the device and, with the same tensors' host copies, on the reference.
void run_both(const Device& device, std::vector<sy_op> ops, const std::vector<TwinTensor*>& tensors,
              const sy::kernels::RowDecoder& decoder) {
  device.execute(ops);
  const auto host_address = [&](const sy_tensor_ref& ref) -> void* {
    if (!ref.buffer) return nullptr;
    for (auto* tensor : tensors)
      if (tensor->device.raw() == ref.buffer) return tensor->host.data() + ref.offset;
    throw std::logic_error("conformance: an op names a buffer the test does not know");
  };
  for (const auto& op : ops) sy::kernels::reference_execute(op, host_address, decoder);
}

using sy::sdk::make_op;

// SY_OP_MATMUL of `weight` [n_out, n_in] and `x` [n_tokens, n_in] into `y` [n_tokens, n_out].
sy_op matmul_op(const TwinTensor& weight, const TwinTensor& x, const TwinTensor& y, int64_t n_out, int64_t n_in,
                int64_t n_tokens) {
  sy_op op = make_op(SY_OP_MATMUL);
  op.src[0] = device_ref(weight);
  op.src[1] = device_ref(x);
  op.dst = device_ref(y);
  op.params.matmul = {n_out, n_in, n_tokens};
  return op;
}

std::string type_name(uint32_t type) {
  if (auto traits = sy::gguf::tensor_type_traits(type)) return std::string(traits->name);
  return "type" + std::to_string(type);
}

// ---- The checks --------------------------------------------------------------------------------------------------

class DeviceSuite {
 public:
  // `abi_version` is what the plugin negotiated: ops added in a later minor version are not asked of it.
  DeviceSuite(const Device& device, Report& report, uint64_t seed, uint32_t abi_version)
      : device_(device), report_(report), rng_(seed), decoder_(sy::quant::row_decoder()),
        has_abi_1_2_(abi_version >= SY_ABI_MAKE_VERSION(1, 2)), has_abi_1_3_(abi_version >= SY_ABI_MAKE_VERSION(1, 3)),
        has_abi_1_4_(abi_version >= SY_ABI_MAKE_VERSION(1, 4)) {}

  void run_all() {
    report_.guarded(label("queries"), [&] { queries(); });
    report_.guarded(label("buffers"), [&] { buffers(); });
    report_.guarded(label("errors"), [&] { error_paths(); });
    report_.guarded(label("ops"), [&] { ops(); });
    report_.guarded(label("re-encodings"), [&] { reencodings(); });  // none asked for before ABI 1.5
    report_.guarded(label("sequence"), [&] { sequence(); });
    if (!has_abi_1_3_) return;
    report_.guarded(label("limits"), [&] { limits(); });
    report_.guarded(label("step values"), [&] { step_values(); });
    report_.guarded(label("events"), [&] { events(); });
  }

 private:
  std::string label(const std::string& what) const { return device_.name() + " " + what; }

  void queries() {
    const auto& info = device_.info();
    report_.expect(!info.name.empty(), label("name"), "the device reports an empty name");
    report_.expect(!info.arch.empty(), label("arch"), "the device reports an empty architecture string");
    report_.expect(info.total_memory > 0, label("total_memory"), "total memory is 0");
    report_.expect(info.max_allocation > 0 && info.max_allocation <= info.total_memory, label("max_allocation"),
                   "max_allocation " + std::to_string(info.max_allocation) + " is 0 or above total memory " +
                       std::to_string(info.total_memory));
    const uint64_t free_bytes = device_.free_memory();
    report_.expect(free_bytes <= info.total_memory, label("memory_free"),
                   "free memory " + std::to_string(free_bytes) + " exceeds total " + std::to_string(info.total_memory));
    report_.expect((info.storable_types & SY_TYPE_BIT(SY_TYPE_F32)) != 0, label("storable F32"),
                   "every device must store F32 tensors");
    report_.expect((info.multipliable_types & ~info.storable_types) == 0, label("multipliable within storable"),
                   "a type is multipliable but not storable");
    // ABI 1.5: a type asked to be re-encoded has a re-encoding the host knows, into a type the device multiplies.
    for (uint32_t type = 0; type < 64; ++type) {
      if (!(info.reencoded_types & SY_TYPE_BIT(type))) continue;
      const auto target = sy::quant::reencoding_of(static_cast<sy::gguf::TensorType>(type));
      report_.expect(target && (info.multipliable_types & SY_TYPE_BIT(static_cast<uint32_t>(*target))),
                     label("reencoded " + type_name(type)),
                     target ? "the re-encoding, " + type_name(static_cast<uint32_t>(*target)) + ", is not multipliable"
                            : "the host knows no re-encoding of it (core/quant/reencode.h)");
    }
  }

  // ABI 1.5: the weights a device asks to hold re-encoded give the same bits as the file's type, matrix-vector and
  // matrix-matrix (the planner re-encodes only on that promise).
  void reencodings() {
    const auto& info = device_.info();
    for (uint32_t type = 0; type < 64; ++type) {
      if (!(info.reencoded_types & SY_TYPE_BIT(type)) || !(info.multipliable_types & SY_TYPE_BIT(type))) continue;
      const auto from = static_cast<sy::gguf::TensorType>(type);
      const auto target = sy::quant::reencoding_of(from);
      if (!target || !(info.multipliable_types & SY_TYPE_BIT(static_cast<uint32_t>(*target)))) continue;
      for (const int64_t n_tokens : {int64_t{1}, int64_t{7}}) {
        const int64_t n_out = 9, n_in = 3 * sy::gguf::tensor_type_traits(from).block_size;
        std::vector<uint8_t> file = make_weight(rng_, type, n_out, n_in, decoder_);
        std::vector<uint8_t> stored(*sy::gguf::tensor_storage_bytes(*target, static_cast<uint64_t>(n_out * n_in)));
        sy::quant::reencode_blocks(from, file.data(), static_cast<uint64_t>(n_out * n_in), stored.data());
        auto x = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(n_tokens * n_in))), SY_TYPE_F32);
        std::vector<std::vector<float>> results;
        for (auto& [bytes, weight_type] : {std::pair{&file, type}, std::pair{&stored, static_cast<uint32_t>(*target)}}) {
          auto weight = make_twin(device_, *bytes, weight_type);
          auto y = make_output(device_, static_cast<size_t>(n_tokens * n_out) * 4, SY_TYPE_F32);
          const sy_op op = matmul_op(weight, x, y, n_out, n_in, n_tokens);
          device_.execute({&op, 1});
          results.push_back(download_floats(y));
        }
        report_.expect(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)) == 0,
                       label("matmul " + type_name(type) + " re-encoded as " +
                             type_name(static_cast<uint32_t>(*target)) + ", " + std::to_string(n_tokens) + " tokens"),
                       "the results differ from the file type's: a device may ask for a re-encoding only where they "
                       "are the same bits");
      }
    }
  }

  void buffers() {
    for (const uint64_t size : {uint64_t{1}, uint64_t{7}, uint64_t{4099}, uint64_t{1} << 20}) {
      std::vector<uint8_t> data(size);
      for (auto& b : data) b = static_cast<uint8_t>(rng_());
      Buffer buffer = device_.allocate(size);
      report_.expect(buffer.size() == size, label("buffer size " + std::to_string(size)), "reported size differs");
      buffer.upload(0, data.data(), size);
      std::vector<uint8_t> back(size, kPoison);
      buffer.download(0, back.data(), size);
      report_.expect(back == data, label("round trip " + std::to_string(size) + " bytes"), "downloaded bytes differ");
    }
    // Offsets: write the middle of a buffer, read back an unaligned window across it.
    Buffer a = device_.allocate(1000);
    std::vector<uint8_t> zeros(1000, 0), middle(333);
    for (auto& b : middle) b = static_cast<uint8_t>(rng_());
    a.upload(0, zeros.data(), zeros.size());
    a.upload(101, middle.data(), middle.size());
    std::vector<uint8_t> window(400, kPoison);
    a.download(67, window.data(), window.size());
    bool window_ok = true;
    for (size_t i = 0; i < window.size(); ++i) {
      const size_t at = 67 + i;
      const uint8_t want = (at >= 101 && at < 101 + middle.size()) ? middle[at - 101] : 0;
      window_ok = window_ok && window[i] == want;
    }
    report_.expect(window_ok, label("upload/download at offsets"), "bytes at odd offsets differ");

    // Device-to-device copy between two buffers at odd offsets.
    Buffer b = device_.allocate(1000);
    std::vector<uint8_t> poison(1000, kPoison);
    b.upload(0, poison.data(), poison.size());
    device_.copy(a, 101, b, 3, middle.size());
    std::vector<uint8_t> copied(middle.size());
    b.download(3, copied.data(), copied.size());
    std::vector<uint8_t> before(3);
    b.download(0, before.data(), 3);
    report_.expect(copied == middle && before == std::vector<uint8_t>(3, kPoison), label("device-to-device copy"),
                   "copied bytes differ or bytes outside the destination range changed");

    // Adopting host memory: zero copy where the device claims it, refusal (not a crash) elsewhere.
    std::vector<uint8_t> host(4096);
    for (auto& v : host) v = static_cast<uint8_t>(rng_());
    auto adopted = device_.adopt_host(host.data(), host.size());
    if (device_.info().flags & SY_DEVICE_FLAG_ADOPTS_HOST_MEMORY) {
      report_.expect(adopted.has_value(), label("adopt host memory"), "the device claims ADOPTS_HOST_MEMORY but refused");
      if (adopted) {
        std::vector<uint8_t> back(host.size());
        adopted->download(0, back.data(), back.size());
        host[5] ^= 0xff;  // zero copy: a change to the host memory is visible through the buffer
        std::vector<uint8_t> changed(8);
        adopted->download(0, changed.data(), changed.size());
        report_.expect(back[0] == host[0] && changed[5] == host[5], label("adopted memory is not copied"),
                       "the adopted buffer does not alias the host memory");
      }
    } else {
      report_.pass(label("adopt host memory (not claimed)"));
    }
  }

  void error_paths() {
    const auto& info = device_.info();
    const auto expect_error = [&](const std::string& what, sy::ErrorCode code, const std::function<void()>& body) {
      try {
        body();
        report_.fail(label(what), "succeeded, expected an error");
      } catch (const sy::Error& error) {
        report_.expect(error.code() == code, label(what),
                       std::string("error code ") + std::string(sy::to_string(error.code())) + ", expected " +
                           std::string(sy::to_string(code)) + ": " + error.what());
      }
    };
    expect_error("allocate past max_allocation", sy::ErrorCode::out_of_memory,
                 [&] { (void)device_.allocate(info.max_allocation + 1); });
    expect_error("allocate past total memory", sy::ErrorCode::out_of_memory,
                 [&] { (void)device_.allocate(info.total_memory + (uint64_t{1} << 30)); });
    Buffer small = device_.allocate(64);
    std::vector<uint8_t> data(128);
    expect_error("upload past the end", sy::ErrorCode::invalid_argument, [&] { small.upload(32, data.data(), 64); });
    expect_error("download past the end", sy::ErrorCode::invalid_argument, [&] { small.download(65, data.data(), 1); });

    sy_op unknown = make_op(999);
    report_.expect(!device_.supports(unknown), label("supports(unknown op) is 0"), "an unknown op kind is claimed");
    expect_error("execute an unknown op", sy::ErrorCode::unsupported, [&] { device_.execute({&unknown, 1}); });

    // A destination too small for the op: refused before anything runs.
    auto x = make_twin(device_, as_bytes(random_floats(rng_, 64)), SY_TYPE_F32);
    auto too_small = make_output(device_, 16, SY_TYPE_F32);
    sy_op op = make_op(SY_OP_SWIGLU);
    op.src[0] = op.src[1] = device_ref(x);
    op.dst = device_ref(too_small);
    op.params.swiglu = {4, 16};
    expect_error("op whose destination is too small", sy::ErrorCode::invalid_argument,
                 [&] { device_.execute({&op, 1}); });
    // An I2_S weight whose buffer ends before its scale tail: the tail is part of the operand (plugin.h).
    if (info.multipliable_types & SY_TYPE_BIT(static_cast<uint32_t>(sy::gguf::TensorType::I2_S))) {
      const uint32_t i2_s = static_cast<uint32_t>(sy::gguf::TensorType::I2_S);
      auto weight = make_twin(device_, std::vector<uint8_t>(4 * 128 / 4), i2_s);  // 4 rows of 128, no tail
      auto input = make_twin(device_, as_bytes(random_floats(rng_, 128)), SY_TYPE_F32);
      auto output = make_output(device_, 4 * 4, SY_TYPE_F32);
      sy_op matmul = make_op(SY_OP_MATMUL);
      matmul.src[0] = device_ref(weight);
      matmul.src[1] = device_ref(input);
      matmul.dst = device_ref(output);
      matmul.params.matmul = {4, 128, 1};
      expect_error("i2_s matmul whose buffer lacks the scale tail", sy::ErrorCode::invalid_argument,
                   [&] { device_.execute({&matmul, 1}); });
    }
    const auto untouched = download_floats(too_small);
    uint32_t poison_word;
    std::memset(&poison_word, kPoison, 4);
    report_.expect(std::all_of(untouched.begin(), untouched.end(),
                               [&](float v) { uint32_t w; std::memcpy(&w, &v, 4); return w == poison_word; }),
                   label("refused op wrote nothing"), "the destination changed");
  }

  // One op on random data, device vs reference. `outputs` are compared; inputs are never written.
  void check_op(const std::string& name, const sy_op& op, const std::vector<TwinTensor*>& tensors, TwinTensor& output,
                Tolerance tolerance, const std::vector<double>& scale = {}, const std::vector<double>& extra = {}) {
    if (!device_.supports(op)) {
      report_.fail(label(name), "supports() says no; every device must run the whole op set on F32 and every weight "
                                "type it lists as multipliable");
      return;
    }
    run_both(device_, {op}, tensors, decoder_);
    if (output.type == SY_TYPE_F32) {
      const auto message = compare_floats(download_floats(output), host_floats(output), scale, tolerance, extra);
      report_.expect(message.empty(), label(name), message);
    } else {
      std::vector<uint8_t> got(output.host.size());
      output.device.download(0, got.data(), got.size());
      report_.expect(got == output.host, label(name), "encoded bytes differ from the reference's rounding");
    }
  }

  void ops() {
    const auto& info = device_.info();
    std::uniform_int_distribution<int> small(1, 5);
    // Weight types: F32 always; every type the device lists as multipliable.
    std::vector<uint32_t> weight_types;
    for (uint32_t type = 0; type < 64; ++type)
      if ((info.multipliable_types & SY_TYPE_BIT(type)) &&
          (sy::kernels::is_plain_float_type(type) || (decoder_.quantized_types & SY_TYPE_BIT(type))))
        weight_types.push_back(type);
    if (std::find(weight_types.begin(), weight_types.end(), SY_TYPE_F32) == weight_types.end())
      report_.fail(label("multipliable F32"), "every device must multiply F32 weights");

    for (uint32_t type : weight_types) {
      const int64_t block = sy::gguf::tensor_type_traits(type) ? sy::gguf::tensor_type_traits(type)->block_size : 1;
      // Odd sizes where the type allows them; whole blocks otherwise; and a row longer than the 8192-element
      // activation tiles GPU kernels stage in shared memory.
      for (const int64_t n_in : {block == 1 ? int64_t{67} : block * 3, block == 1 ? int64_t{1} : block,
                                 block == 1 ? int64_t{8195} : (8192 / block + 3) * block}) {
        for (const int64_t n_tokens : {int64_t{1}, int64_t{3}, int64_t{9}}) {
          const int64_t n_out = 5 + small(rng_);
          auto weight = make_twin(device_, make_weight(rng_, type, n_out, n_in, decoder_), type);
          auto x = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(n_tokens * n_in))), SY_TYPE_F32);
          auto y = make_output(device_, static_cast<size_t>(n_tokens * n_out) * 4, SY_TYPE_F32);
          const sy_op op = matmul_op(weight, x, y, n_out, n_in, n_tokens);
          // Scale per output: sum |w x|, computed from the decoded weight. A quantized weight may meet activations
          // quantized to 8 bits per block (as llama.cpp's CPU and GPU kernels do): allow one step of that,
          // sum |w| * max|x| / 127, with the row's max bounding every block's.
          std::vector<double> scale(static_cast<size_t>(n_tokens * n_out)), quantization(scale.size());
          const bool quantized_weight = !sy::kernels::is_plain_float_type(type);
          std::vector<float> row(static_cast<size_t>(n_in));
          const auto xs = host_floats(x);
          for (int64_t o = 0; o < n_out; ++o) {
            sy::kernels::decode_tensor_row(type, weight.host.data(), o, n_out, n_in, row.data(), decoder_);
            for (int64_t t = 0; t < n_tokens; ++t) {
              double sum = 0, weight_sum = 0, x_max = 0;
              for (int64_t i = 0; i < n_in; ++i) {
                const double w_i = row[static_cast<size_t>(i)], x_i = xs[static_cast<size_t>(t * n_in + i)];
                sum += std::fabs(w_i * x_i);
                weight_sum += std::fabs(w_i);
                x_max = std::max(x_max, std::fabs(x_i));
              }
              scale[static_cast<size_t>(t * n_out + o)] = sum;
              quantization[static_cast<size_t>(t * n_out + o)] = quantized_weight ? weight_sum * x_max / 127.0 : 0.0;
            }
          }
          check_op("matmul " + type_name(type) + " " + std::to_string(n_out) + "x" + std::to_string(n_in) + " x " +
                       std::to_string(n_tokens) + " tokens",
                   op, {&weight, &x, &y}, y, {1e-6, 1e-4}, scale, quantization);
        }
      }
      // get_rows over the same type, ids in any order with repeats.
      const int64_t n_cols = block == 1 ? 37 : block * 2, n_rows = 9, n_ids = 5;
      auto table = make_twin(device_, make_weight(rng_, type, n_rows, n_cols, decoder_), type);
      std::vector<int32_t> ids = {3, 0, 8, 3, 5};
      auto id_tensor = make_twin(device_, as_bytes(ids), SY_TYPE_I32);
      auto out = make_output(device_, static_cast<size_t>(n_ids * n_cols) * 4, SY_TYPE_F32);
      sy_op op = make_op(SY_OP_GET_ROWS);
      op.src[0] = device_ref(table);
      op.src[1] = device_ref(id_tensor);
      op.dst = device_ref(out);
      op.params.get_rows = {n_rows, n_cols, n_ids};
      check_op("get_rows " + type_name(type), op, {&table, &id_tensor, &out}, out, {0, 1e-6});
      // convert to F32 of the same data: its first row, or the whole tensor for a type with a tail (I2_S).
      const int64_t n_convert = sy::kernels::tensor_tail_bytes(type, decoder_) ? n_rows * n_cols : n_cols;
      auto converted = make_output(device_, static_cast<size_t>(n_convert) * 4, SY_TYPE_F32);
      sy_op convert = make_op(SY_OP_CONVERT);
      convert.src[0] = device_ref(table);
      convert.dst = device_ref(converted);
      convert.params.convert = {n_convert};
      check_op("convert " + type_name(type) + " -> f32", convert, {&table, &converted}, converted, {0, 1e-6});
    }

    for (const int64_t n_cols : {int64_t{1}, int64_t{33}, int64_t{260}}) {
      const int64_t n_rows = 3;
      const size_t n = static_cast<size_t>(n_rows * n_cols);
      auto x = make_twin(device_, as_bytes(random_floats(rng_, n, 3.0f)), SY_TYPE_F32);
      auto weight = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(n_cols))), SY_TYPE_F32);
      auto y = make_output(device_, n * 4, SY_TYPE_F32);
      sy_op op = make_op(SY_OP_RMS_NORM);
      op.src[0] = device_ref(x);
      op.src[1] = device_ref(weight);
      op.dst = device_ref(y);
      op.params.rms_norm = {n_rows, n_cols, 1e-5f};
      check_op("rms_norm " + std::to_string(n_cols) + " cols", op, {&x, &weight, &y}, y, {1e-6, 1e-5});
      op.src[1] = {nullptr, 0, SY_TYPE_F32, 0};
      check_op("rms_norm without weight " + std::to_string(n_cols) + " cols", op, {&x, &y}, y, {1e-6, 1e-5});

      for (const sy_op_kind kind : {SY_OP_MUL, SY_OP_ADD}) {
        for (const int64_t b_rows : {int64_t{1}, n_rows}) {
          auto b = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(b_rows * n_cols))), SY_TYPE_F32);
          auto out = make_output(device_, n * 4, SY_TYPE_F32);
          sy_op binary = make_op(kind);
          binary.src[0] = device_ref(x);
          binary.src[1] = device_ref(b);
          binary.dst = device_ref(out);
          binary.params.binary = {n_rows, n_cols, b_rows};
          check_op(std::string(sy::kernels::op_kind_name(kind)) + " broadcast " + std::to_string(b_rows) + " row(s) " +
                       std::to_string(n_cols) + " cols",
                   binary, {&x, &b, &out}, out, {1e-7, 1e-6});
        }
      }

      auto up = make_twin(device_, as_bytes(random_floats(rng_, n, 3.0f)), SY_TYPE_F32);
      auto glu_out = make_output(device_, n * 4, SY_TYPE_F32);
      for (const sy_op_kind kind : {SY_OP_SWIGLU, SY_OP_SQUARED_RELU_GLU}) {
        if (kind == SY_OP_SQUARED_RELU_GLU && !has_abi_1_2_) continue;
        sy_op glu = make_op(kind);
        glu.src[0] = device_ref(x);
        glu.src[1] = device_ref(up);
        glu.dst = device_ref(glu_out);
        glu.params.swiglu = {n_rows, n_cols};
        check_op(std::string(sy::kernels::op_kind_name(kind)) + " " + std::to_string(n_cols) + " cols", glu,
                 {&x, &up, &glu_out}, glu_out, {1e-6, 1e-5});
      }
    }

    // Rope in both pairings: odd head counts, partial rotation, positions far from zero.
    for (const sy_op_kind kind : {SY_OP_ROPE, SY_OP_ROPE_NEOX}) {
      if (kind == SY_OP_ROPE_NEOX && !has_abi_1_2_) continue;
      for (const int64_t head_dim : {int64_t{8}, int64_t{64}}) {
        const int64_t n_tokens = 3, n_heads = 3, n_rot = head_dim == 64 ? 48 : 8;
        const size_t n = static_cast<size_t>(n_tokens * n_heads * head_dim);
        auto x = make_twin(device_, as_bytes(random_floats(rng_, n)), SY_TYPE_F32);
        std::vector<int32_t> positions = {0, 17, 1000};
        auto pos = make_twin(device_, as_bytes(positions), SY_TYPE_I32);
        auto out = make_output(device_, n * 4, SY_TYPE_F32);
        sy_op rope = make_op(kind);
        rope.src[0] = device_ref(x);
        rope.src[1] = device_ref(pos);
        rope.dst = device_ref(out);
        rope.params.rope = {n_tokens, n_heads, head_dim, n_rot, 10000.0f, 1.0f, 0, 0.0f, 1.0f, 0.0f, 0.0f};
        check_op(std::string(sy::kernels::op_kind_name(kind)) + " head_dim " + std::to_string(head_dim) + " n_rot " +
                     std::to_string(n_rot),
                 rope, {&x, &pos, &out}, out, {1e-4, 1e-5});
      }
    }

    // ABI 1.4 rope scaling: YaRN's ramp across the rotated pairs, llama3-style per-frequency factors, an attention
    // factor, and the flag with neutral values (which must equal the plain op).
    if (has_abi_1_4_) {
      struct Scaling {
        const char* name;
        float freq_scale, ext_factor, attn_factor;
        bool factors;
      };
      for (const Scaling& c : {Scaling{"yarn x4", 0.25f, 1.0f, 1.0f, false},
                               Scaling{"yarn x8 with freq factors", 0.125f, 1.0f, 1.1f, true},
                               Scaling{"freq factors only", 1.0f, 0.0f, 1.0f, true},
                               Scaling{"neutral", 1.0f, 0.0f, 1.0f, false}}) {
        for (const sy_op_kind kind : {SY_OP_ROPE, SY_OP_ROPE_NEOX}) {
          const int64_t n_tokens = 3, n_heads = 2, head_dim = 64, n_rot = 64;
          const size_t n = static_cast<size_t>(n_tokens * n_heads * head_dim);
          auto x = make_twin(device_, as_bytes(random_floats(rng_, n)), SY_TYPE_F32);
          std::vector<int32_t> positions = {0, 33, 5000};
          auto pos = make_twin(device_, as_bytes(positions), SY_TYPE_I32);
          std::vector<float> factors(static_cast<size_t>(n_rot / 2));
          for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + 0.25f * static_cast<float>(i % 7);
          auto freq = make_twin(device_, as_bytes(factors), SY_TYPE_F32);
          auto out = make_output(device_, n * 4, SY_TYPE_F32);
          sy_op rope = make_op(kind);
          rope.flags = SY_OP_FLAG_ROPE_SCALING;
          rope.src[0] = device_ref(x);
          rope.src[1] = device_ref(pos);
          if (c.factors) rope.src[2] = device_ref(freq);
          rope.dst = device_ref(out);
          rope.params.rope = {n_tokens, n_heads, head_dim, n_rot, 10000.0f, c.freq_scale,
                              4096,     c.ext_factor, c.attn_factor, 32.0f, 1.0f};
          std::vector<TwinTensor*> tensors = {&x, &pos, &out};
          if (c.factors) tensors.push_back(&freq);
          check_op(std::string(sy::kernels::op_kind_name(kind)) + " scaling " + c.name, rope, tensors, out,
                   {1e-4, 1e-5});
        }
      }
    }

    // KV write then attention, for F32 and F16 caches, with grouped heads and a partly filled cache.
    for (const uint32_t kv_type : {SY_TYPE_F32, SY_TYPE_F16}) {
      if (!(info.storable_types & SY_TYPE_BIT(kv_type))) continue;
      const int64_t n_heads = 4, n_kv_heads = 2, head_dim = 16, kv_capacity = 11, n_past = 5, n_tokens = 3;
      const int64_t row = n_kv_heads * head_dim;
      const size_t cache_bytes = static_cast<size_t>(kv_capacity * row) * (kv_type == SY_TYPE_F32 ? 4 : 2);
      auto k_cache = make_output(device_, cache_bytes, kv_type);
      auto v_cache = make_output(device_, cache_bytes, kv_type);
      for (auto* cache : {&k_cache, &v_cache}) {  // fill positions 0..n_past+n_tokens through kv_write
        auto values = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>((n_past + n_tokens) * row))),
                                SY_TYPE_F32);
        sy_op write = make_op(SY_OP_KV_WRITE);
        write.src[0] = device_ref(values);
        write.dst = device_ref(*cache);
        write.params.kv_write = {n_past + n_tokens, row, 0, kv_capacity};
        if (!device_.supports(write)) {
          report_.fail(label("kv_write " + type_name(kv_type)), "supports() says no");
          return;
        }
        run_both(device_, {write}, {&values, cache}, decoder_);
        std::vector<uint8_t> got(cache->host.size());
        cache->device.download(0, got.data(), got.size());
        // Only the written rows are defined; the rest still holds the poison on both sides.
        report_.expect(got == cache->host, label("kv_write " + type_name(kv_type)), "cache bytes differ");
      }
      auto q = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(n_tokens * n_heads * head_dim))),
                         SY_TYPE_F32);
      auto out = make_output(device_, static_cast<size_t>(n_tokens * n_heads * head_dim) * 4, SY_TYPE_F32);
      sy_op attention = make_op(SY_OP_ATTENTION);
      attention.src[0] = device_ref(q);
      attention.src[1] = device_ref(k_cache);
      attention.src[2] = device_ref(v_cache);
      attention.dst = device_ref(out);
      attention.params.attention = {n_tokens, n_heads, n_kv_heads, head_dim, n_past + n_tokens, kv_capacity,
                                    1.0f / std::sqrt(static_cast<float>(head_dim))};
      check_op("attention GQA kv " + type_name(kv_type), attention, {&q, &k_cache, &v_cache, &out}, out, {1e-5, 1e-4});
    }

    // Conversions into 16-bit types must round like the reference (nearest even), bit for bit.
    for (const uint32_t to : {SY_TYPE_F16, SY_TYPE_BF16}) {
      if (!(info.storable_types & SY_TYPE_BIT(to))) continue;
      const int64_t n = 101;
      auto source = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(n), 100.0f)), SY_TYPE_F32);
      auto out = make_output(device_, static_cast<size_t>(n) * 2, to);
      sy_op convert = make_op(SY_OP_CONVERT);
      convert.src[0] = device_ref(source);
      convert.dst = device_ref(out);
      convert.params.convert = {n};
      check_op("convert f32 -> " + type_name(to), convert, {&source, &out}, out, {0, 0});
    }
  }

  // A dependent chain submitted at once: h = rms_norm(x); y = W h; z = y + x. Must equal running them one by one.
  void sequence() {
    const int64_t n = 48, n_tokens = 2;
    auto x = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(n * n_tokens))), SY_TYPE_F32);
    auto h = make_output(device_, static_cast<size_t>(n * n_tokens) * 4, SY_TYPE_F32);
    auto w = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(n * n))), SY_TYPE_F32);
    auto y = make_output(device_, static_cast<size_t>(n * n_tokens) * 4, SY_TYPE_F32);
    sy_op norm = make_op(SY_OP_RMS_NORM);
    norm.src[0] = device_ref(x);
    norm.dst = device_ref(h);
    norm.params.rms_norm = {n_tokens, n, 1e-6f};
    sy_op matmul = make_op(SY_OP_MATMUL);
    matmul.src[0] = device_ref(w);
    matmul.src[1] = device_ref(h);
    matmul.dst = device_ref(y);
    matmul.params.matmul = {n, n, n_tokens};
    sy_op add = make_op(SY_OP_ADD);
    add.src[0] = device_ref(y);
    add.src[1] = device_ref(x);
    add.dst = device_ref(y);  // in place, as the residual stream does
    add.params.binary = {n_tokens, n, n_tokens};
    run_both(device_, {norm, matmul, add}, {&x, &h, &w, &y}, decoder_);
    const auto message = compare_floats(download_floats(y), host_floats(y), {}, {1e-4, 1e-4});
    report_.expect(message.empty(), label("sequence rms_norm -> matmul -> add"), message);
  }

  // ABI 1.3 device limits: a sane alignment that the device honours both ways, and an attention context limit
  // that supports() agrees with.
  void limits() {
    const auto& info = device_.info();
    const uint64_t alignment = info.buffer_alignment;
    report_.expect((alignment & (alignment - 1)) == 0 && alignment <= 4096, label("buffer_alignment"),
                   "buffer_alignment " + std::to_string(alignment) + " is not 0 or a power of two up to 4096");
    // An op whose tensors sit at a multiple of the alignment (past the buffer's start) must run.
    const uint64_t at = std::max<uint64_t>(alignment, 4) * 3;
    const int64_t n = 40;
    std::vector<uint8_t> bytes(at + n * 4, 0);
    const auto values = random_floats(rng_, n);
    std::memcpy(bytes.data() + at, values.data(), n * 4);
    auto a = make_twin(device_, bytes, SY_TYPE_F32);
    auto out = make_output(device_, static_cast<size_t>(at + n * 4), SY_TYPE_F32);
    sy_op add = make_op(SY_OP_ADD);
    add.src[0] = add.src[1] = {a.device.raw(), at, SY_TYPE_F32, 0};
    add.dst = {out.device.raw(), at, SY_TYPE_F32, 0};
    add.params.binary = {1, n, 1};
    check_op("add at aligned offset " + std::to_string(at), add, {&a, &out}, out, {0, 1e-6});
    if (alignment > 4) {
      sy_op off = add;
      off.src[0].offset = off.src[1].offset = off.dst.offset = at + 4;  // element-aligned, off the device's alignment
      off.params.binary = {1, n - 1, 1};
      report_.expect(!device_.supports(off), label("offset off buffer_alignment refused"),
                     "supports() accepts an offset that is not a multiple of buffer_alignment " +
                         std::to_string(alignment));
    }
    if (info.max_attention_context > 0) {
      const auto limit = static_cast<int64_t>(info.max_attention_context);
      sy_op attention = make_op(SY_OP_ATTENTION);
      attention.src[1].type = attention.src[2].type = SY_TYPE_F32;
      attention.params.attention = {1, 2, 2, 8, limit, limit, 0.25f};
      report_.expect(device_.supports(attention), label("attention at max_attention_context"),
                     "supports() refuses attention over " + std::to_string(limit) + " positions, its own limit");
      attention.params.attention.n_kv = attention.params.attention.kv_capacity = limit + 1;
      report_.expect(!device_.supports(attention), label("attention past max_attention_context"),
                     "supports() accepts attention over more positions than max_attention_context");
    }
  }

  // SY_OP_FLAG_STEP_VALUES: one op list (kv_write of K and V, attention), built once, run for three steps with only
  // the step block changed; each step must equal the reference run with the same block.
  void step_values() {
    const int64_t n_heads = 4, n_kv_heads = 2, head_dim = 16, kv_capacity = 9, row = n_kv_heads * head_dim;
    const uint32_t kv_type = SY_TYPE_F32;
    auto k_cache = make_output(device_, static_cast<size_t>(kv_capacity * row) * 4, kv_type);
    auto v_cache = make_output(device_, static_cast<size_t>(kv_capacity * row) * 4, kv_type);
    auto k = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(row))), SY_TYPE_F32);
    auto v = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(row))), SY_TYPE_F32);
    auto q = make_twin(device_, as_bytes(random_floats(rng_, static_cast<size_t>(n_heads * head_dim))), SY_TYPE_F32);
    auto out = make_output(device_, static_cast<size_t>(n_heads * head_dim) * 4, SY_TYPE_F32);
    auto block = make_twin(device_, std::vector<uint8_t>(sizeof(sy_step_values), 0), SY_TYPE_I64);
    std::vector<sy_op> ops;
    for (auto* pair : {&k, &v}) {
      sy_op write = make_op(SY_OP_KV_WRITE);
      write.flags = SY_OP_FLAG_STEP_VALUES;
      write.src[0] = device_ref(*pair);
      write.src[3] = device_ref(block);
      write.dst = device_ref(pair == &k ? k_cache : v_cache);
      write.params.kv_write = {1, row, 0, kv_capacity};
      ops.push_back(write);
    }
    sy_op attention = make_op(SY_OP_ATTENTION);
    attention.flags = SY_OP_FLAG_STEP_VALUES;
    attention.src[0] = device_ref(q);
    attention.src[1] = device_ref(k_cache);
    attention.src[2] = device_ref(v_cache);
    attention.src[3] = device_ref(block);
    attention.dst = device_ref(out);
    attention.params.attention = {1, n_heads, n_kv_heads, head_dim, 1, kv_capacity,
                                  1.0f / std::sqrt(static_cast<float>(head_dim))};
    ops.push_back(attention);
    for (const auto& op : ops) {
      if (!device_.supports(op)) {
        report_.fail(label(std::string("step values ") + sy::kernels::op_kind_name(op.kind)), "supports() says no");
        return;
      }
    }
    for (int64_t position = 0; position < 3; ++position) {
      const sy_step_values values = {position, position + 1};
      std::memcpy(block.host.data(), &values, sizeof values);
      block.device.upload(0, &values, sizeof values);
      for (auto* input : {&k, &v, &q}) {  // new token, same buffers
        const auto fresh = random_floats(rng_, input->host.size() / 4);
        std::memcpy(input->host.data(), fresh.data(), input->host.size());
        input->device.upload(0, input->host.data(), input->host.size());
      }
      run_both(device_, ops, {&k_cache, &v_cache, &k, &v, &q, &out, &block}, decoder_);
      const auto message = compare_floats(download_floats(out), host_floats(out), {}, {1e-5, 1e-4});
      report_.expect(message.empty(), label("step values: attention at position " + std::to_string(position)), message);
      std::vector<uint8_t> cache(k_cache.host.size());
      k_cache.device.download(0, cache.data(), cache.size());
      report_.expect(cache == k_cache.host, label("step values: kv_write at position " + std::to_string(position)),
                     "cache bytes differ from the reference's (the row was written at the wrong position?)");
    }
  }

  // Events on this device: complete when created; after a queued upload, recorded and waited for, the data is
  // there; a second stream ordered behind the first by stream_wait_event sees its result.
  void events() {
    auto event = device_.create_event();
    if (!event) {
      report_.pass(label("events (none: hand-offs are staged)"));
      return;
    }
    event->synchronize();
    report_.pass(label("event created complete"));
    auto first = device_.create_stream();
    device_.record(*event, first ? &*first : nullptr);
    event->synchronize();
    if (!first) {
      report_.pass(label("event on synchronous work"));
      return;
    }
    auto second = device_.create_stream();
    const size_t size = 1 << 16;
    std::vector<uint8_t> data(size), back(size, kPoison), relay(size, kPoison), final_bytes(size, kPoison);
    for (auto& b : data) b = static_cast<uint8_t>(rng_());
    Buffer a = device_.allocate(size), b = device_.allocate(size);
    a.upload(0, data.data(), size, *first);
    a.download(0, back.data(), size, *first);
    device_.record(*event, &*first);
    event->synchronize();
    report_.expect(back == data, label("event after queued copies"), "the event completed before the copies it follows");
    // first: download a into `relay`; second waits for that, then uploads `relay` into b.
    std::vector<uint8_t> changed(data);
    for (auto& v : changed) v ^= 0x5a;
    a.upload(0, changed.data(), size, *first);
    a.download(0, relay.data(), size, *first);
    device_.record(*event, &*first);
    if (!device_.wait(*second, *event)) {
      report_.fail(label("stream_wait_event"), "refused an event of its own device");
      return;
    }
    b.upload(0, relay.data(), size, *second);
    second->synchronize();
    b.download(0, final_bytes.data(), size);
    report_.expect(final_bytes == changed, label("stream_wait_event orders the second stream"),
                   "the waiting stream ran before the event it waited for");
  }

  const Device& device_;
  Report& report_;
  std::mt19937_64 rng_;
  const sy::kernels::RowDecoder& decoder_;
  bool has_abi_1_2_ = false;  // the plugin negotiated ABI 1.2 or later
  bool has_abi_1_3_ = false;  // ... 1.3 or later: events, step values, limits
  bool has_abi_1_4_ = false;  // ... 1.4 or later: rope scaling
};

// A hand-off between two devices of the plugin as the runtime does it: the producer's download queued, an event
// recorded after it, the consumer's stream waiting on it, the consumer's upload queued behind.
void cross_device_events(const Device& producer, const Device& consumer, Report& report, std::mt19937_64& rng) {
  const std::string what = producer.name() + " -> " + consumer.name() + " hand-off by event";
  auto event = producer.create_event();
  auto from = producer.create_stream();
  auto to = consumer.create_stream();
  if (!event || !from || !to) {
    report.pass(what + " (no events or streams: staged)");
    return;
  }
  const size_t size = 1 << 16;
  std::vector<uint8_t> data(size), relay(size, kPoison), back(size, kPoison);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  Buffer source = producer.allocate(size), target = consumer.allocate(size);
  source.upload(0, data.data(), size, *from);
  source.download(0, relay.data(), size, *from);
  producer.record(*event, &*from);
  if (!consumer.wait(*to, *event)) {
    report.fail(what, "the consumer refused an event of another device of the same plugin");
    return;
  }
  target.upload(0, relay.data(), size, *to);
  to->synchronize();
  target.download(0, back.data(), size);
  report.expect(back == data, what, "the consumer's upload ran before the producer's download it waited for");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"switchyard-conformance: checks a backend plugin against the Switchyard plugin ABI and reference",
               "switchyard-conformance"};
  std::string plugin_file;
  uint64_t seed = 1234;
  bool verbose = false, require_device = false;
  std::string log_level = "warn";
  app.add_option("plugin", plugin_file, "the plugin's shared library (libswitchyard-NAME.so)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--seed", seed, "seed of the random test data (failures print it)")->capture_default_str();
  app.add_flag("-v,--verbose", verbose, "print passing checks too");
  app.add_flag("--require-device", require_device, "fail when the plugin loads but reports no device");
  app.add_option("--log-level", log_level, "Log verbosity on stderr: trace, debug, info, warn, error, off")
      ->capture_default_str();
  app.footer("Exit codes: 0 every check passed (with no device: negotiation only, unless --require-device); 1 a "
             "check failed or the plugin did not load; 2 usage or I/O error.\nNO_COLOR set and not empty: log "
             "messages without colour.");
  try {
    app.parse(argc, argv);
    sy::log_init(log_level);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "error: " << e.what() << "\nRun 'switchyard-conformance --help' for the flags.\n";
    return 2;
  } catch (const sy::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }

  Report report;
  report.verbose = verbose;
  sy::plugin::LoaderOptions options;
  options.explicit_files = {plugin_file};
  options.use_environment = options.use_install_dir = options.use_build_tree = false;
  // Settings reach the plugin the way the CLI hands them over (SWITCHYARD_CPU_ISA, SWITCHYARD_THREADS, ...).
  try {
    options.plugin_options =
        sy::config::load_run_config(std::nullopt, sy::config::settings_from_environment(), {}).plugin_settings();
  } catch (const std::exception& error) {
    std::cout << "FAIL  settings: " << error.what() << "\n";
    return 1;
  }

  sy::plugin::Inventory inventory;
  try {
    inventory = sy::plugin::load_plugins(options);
  } catch (const std::exception& error) {
    std::cout << "FAIL  load: " << error.what() << "\n";
    return 1;
  }
  if (inventory.plugins().empty() || !inventory.plugins().front().loaded) {
    const std::string why = inventory.plugins().empty() ? "no such file" : inventory.plugins().front().skip_reason;
    std::cout << "FAIL  negotiation: " << plugin_file << ": " << why << "\n";
    return 1;
  }
  const auto& record = inventory.plugins().front();
  std::cout << "plugin " << record.name << " " << record.version << " (" << record.vendor << "), ABI "
            << SY_ABI_VERSION_MAJOR_OF(record.abi_version) << "." << SY_ABI_VERSION_MINOR_OF(record.abi_version)
            << ", probe score " << record.probe_score << ": " << record.probe_reason << "\n";
  report.pass("negotiation");
  if (inventory.devices().empty()) {
    std::cout << "no devices on this machine" << (require_device ? "" : "; nothing more to check") << "\n";
    return require_device ? 1 : 0;
  }
  for (const auto& device : inventory.devices()) {
    std::cout << "device " << device->name() << ": " << device->info().name << " [" << device->info().arch << "]\n";
    DeviceSuite(*device, report, seed, record.abi_version).run_all();
  }
  if (record.abi_version >= SY_ABI_MAKE_VERSION(1, 3) && inventory.devices().size() >= 2) {
    std::mt19937_64 rng(seed);
    report.guarded("cross-device events", [&] {
      cross_device_events(*inventory.devices()[0], *inventory.devices()[1], report, rng);
    });
  }
  std::cout << report.checks << " checks, " << report.failures << " failed (seed " << seed << ")\n";
  return report.failures == 0 ? 0 : 1;
}
