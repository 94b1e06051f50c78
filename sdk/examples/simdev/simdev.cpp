// libswitchyard-simdev.so: a simulated GPU plugin, built out of tree against the installed SDK only. It reports N
// devices of kind gpu whose memory is private to the plugin (no map, no host adoption: the core reaches it only
// through uploads and downloads), runs the SDK's reference kernels on the CPU, and can inject faults. It is how
// placement across GPUs, memory exhaustion and cross-device execution are tested on machines without GPUs. It
// multiplies Q4_0, Q8_0, Q4_K, Q6_K and TQ2_0 weights as they are stored, with the reference implementation's integer
// arithmetic (switchyard/quant/integer_dot.h), as a GPU plugin should: the same bits as the CPU plugin.
//
// Configuration (negotiation options of the same names win over the environment):
//   SWITCHYARD_SIMDEV=2x64MiB             devices: count x capacity (B, KiB, MiB, GiB)
//   SWITCHYARD_SIMDEV_FAIL_ALLOC_AFTER=N  allocations fail once the device would hold more than N bytes
//   SWITCHYARD_SIMDEV_LIE_FREE=N          memory_free reports N bytes more than is free
//   SWITCHYARD_SIMDEV_CORRUPT_UPLOAD=N    the buffer byte at offset N is inverted by every upload that writes it
//   SWITCHYARD_SIMDEV_MAX_CONTEXT=N       attention takes KV caches of at most N positions (default: any)
//   SWITCHYARD_SIMDEV_ALIGNMENT=N         tensor offsets must be multiples of N bytes (default 256, 0 = none)
//   SWITCHYARD_SIMDEV_ABI=1.2             speak plugin ABI 1.2 (no events, step values or limits), as an older
//                                         plugin would, so hosts can be tested against one
#include <switchyard/plugin.h>
#include <switchyard/plugin_helpers.hpp>
#include <switchyard/quant/integer_dot.h>
#include <switchyard/reference/reference_ops.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using sy::sdk::guard;
using sy::sdk::StatusError;

struct SimConfig {
  uint32_t device_count = 0;
  uint64_t capacity = 0;
  uint64_t fail_alloc_after = UINT64_MAX;
  uint64_t lie_free_extra = 0;
  uint64_t corrupt_offset = UINT64_MAX;
  uint64_t max_context = 0;   // 0: no limit
  uint64_t alignment = 256;   // what execute enforces on every tensor offset
  bool abi_1_2 = false;       // behave as a plugin built against ABI 1.2
};

struct SimPlugin {
  sy_plugin object{};
  sy::sdk::HostLog log;
  SimConfig config;
  std::string config_error;  // why there are no devices, for the probe
};

struct SimDevice;

struct SimBuffer {
  sy_buffer object{};
  SimDevice* device;
  std::vector<uint8_t> bytes;  // "device memory": private to the plugin
};

// In-order queue: work is deferred until synchronize, as on a real GPU, so a host that forgets to synchronize (or
// frees a source too early) sees it here too.
struct SimStream {
  sy_stream object{};
  SimDevice* device;
  std::vector<std::function<void()>> pending;
  uint64_t submitted = 0;  // work items ever enqueued
  uint64_t completed = 0;  // work items ever run (they run in order)
};

// A point in a stream: complete once the stream has run `target` items. Waiting on it runs the stream that far,
// which is how deferred work makes a missing wait show as wrong data rather than pass by luck.
struct SimEvent {
  sy_event object{};
  SimDevice* device;
  SimStream* stream = nullptr;  // nullptr: complete
  uint64_t target = 0;
};

struct SimDevice {
  sy_device object{};
  SimPlugin* plugin;
  uint32_t index;
  std::mutex mutex;
  uint64_t allocated = 0;
  uint64_t host_allocations = 0;  // staging buffers from host_memory_allocate not yet freed
  std::vector<SimStream*> streams;
};

// ---- Quantized weights ------------------------------------------------------------------------------------------

namespace quant = sy::quant;
constexpr uint32_t kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14, kTQ2_0 = 35;  // GGUF type ids

template <class Block>
uint64_t whole_blocks(int64_t n, int64_t elements) {
  return n > 0 && n % elements == 0 ? static_cast<uint64_t>(n / elements) * sizeof(Block) : 0;
}

uint64_t quantized_row_bytes(uint32_t type, int64_t n) {
  switch (type) {
    case kQ4_0: return whole_blocks<quant::BlockQ4_0>(n, quant::kBlockElements);
    case kQ8_0: return whole_blocks<quant::BlockQ8_0>(n, quant::kBlockElements);
    case kQ4_K: return whole_blocks<quant::BlockQ4_K>(n, quant::kSuperBlockElements);
    case kQ6_K: return whole_blocks<quant::BlockQ6_K>(n, quant::kSuperBlockElements);
    case kTQ2_0: return whole_blocks<quant::BlockTQ2_0>(n, quant::kSuperBlockElements);
    default: return 0;
  }
}

template <class Block, void (*decode)(const Block*, float*), int kElements>
void decode_blocks(const void* source, float* destination, int64_t n) {
  const auto* blocks = static_cast<const Block*>(source);
  for (int64_t b = 0; b < n / kElements; ++b) decode(&blocks[b], destination + b * kElements);
}

void decode_quantized_row(uint32_t type, const void* source, float* destination, int64_t n) {
  switch (type) {
    case kQ4_0: return decode_blocks<quant::BlockQ4_0, quant::dequantize_block_q4_0, quant::kBlockElements>(source, destination, n);
    case kQ8_0: return decode_blocks<quant::BlockQ8_0, quant::dequantize_block_q8_0, quant::kBlockElements>(source, destination, n);
    case kQ4_K: return decode_blocks<quant::BlockQ4_K, quant::dequantize_block_q4_k, quant::kSuperBlockElements>(source, destination, n);
    case kQ6_K: return decode_blocks<quant::BlockQ6_K, quant::dequantize_block_q6_k, quant::kSuperBlockElements>(source, destination, n);
    case kTQ2_0: return decode_blocks<quant::BlockTQ2_0, quant::dequantize_block_tq2_0, quant::kSuperBlockElements>(source, destination, n);
    default: throw std::out_of_range("no decoder for type id " + std::to_string(type));
  }
}

// GET_ROWS and CONVERT decode these types through the SDK's reference kernels; MATMUL is integer_matmul below.
const sy::kernels::RowDecoder kDecoder{quantized_row_bytes, decode_quantized_row,
                                       SY_TYPE_BIT(kQ4_0) | SY_TYPE_BIT(kQ8_0) | SY_TYPE_BIT(kQ4_K) | SY_TYPE_BIT(kQ6_K) |
                                           SY_TYPE_BIT(kTQ2_0)};

// dst[t * n_out + o] = weight row o times token t's activations, quantized to `Activation` blocks first.
template <class Block, class Activation, void (*quantize)(const float*, Activation&),
          float (*row_dot)(const Block*, const Activation*, int64_t), int kElements>
void integer_matmul(const sy_op& op, const void* weight, const float* x, float* dst) {
  const auto& p = op.params.matmul;
  const int64_t blocks = p.n_in / kElements;
  std::vector<Activation> activations(static_cast<size_t>(blocks * p.n_tokens));
  for (int64_t t = 0; t < p.n_tokens; ++t)
    for (int64_t b = 0; b < blocks; ++b)
      quantize(x + t * p.n_in + b * kElements, activations[static_cast<size_t>(t * blocks + b)]);
  const auto* rows = static_cast<const Block*>(weight);
  for (int64_t t = 0; t < p.n_tokens; ++t)
    for (int64_t o = 0; o < p.n_out; ++o)
      dst[t * p.n_out + o] = row_dot(rows + o * blocks, activations.data() + t * blocks, blocks);
}

// Runs `op` if it is a matmul of a quantized weight; false for every other op.
template <class Address>
bool run_integer_matmul(const sy_op& op, const Address& address) {
  if (op.kind != SY_OP_MATMUL) return false;
  const void* w = address(op.src[0]);
  const auto* x = static_cast<const float*>(address(op.src[1]));
  auto* dst = static_cast<float*>(address(op.dst));
  switch (op.src[0].type) {
    case kQ4_0:
      integer_matmul<quant::BlockQ4_0, quant::BlockQ8_0, quant::quantize_block_q8_0_activation,
                     quant::row_dot_q4_0_q8_0, quant::kBlockElements>(op, w, x, dst);
      return true;
    case kQ8_0:
      integer_matmul<quant::BlockQ8_0, quant::BlockQ8_0, quant::quantize_block_q8_0_activation,
                     quant::row_dot_q8_0_q8_0, quant::kBlockElements>(op, w, x, dst);
      return true;
    case kQ4_K:
      integer_matmul<quant::BlockQ4_K, quant::BlockQ8_K, quant::quantize_block_q8_k, quant::row_dot_q4_k_q8_k,
                     quant::kSuperBlockElements>(op, w, x, dst);
      return true;
    case kQ6_K:
      integer_matmul<quant::BlockQ6_K, quant::BlockQ8_K, quant::quantize_block_q8_k, quant::row_dot_q6_k_q8_k,
                     quant::kSuperBlockElements>(op, w, x, dst);
      return true;
    case kTQ2_0:
      integer_matmul<quant::BlockTQ2_0, quant::BlockQ8_K, quant::quantize_block_q8_k, quant::row_dot_tq2_0_q8_k,
                     quant::kSuperBlockElements>(op, w, x, dst);
      return true;
    default: return false;
  }
}

// ---- Parsing -----------------------------------------------------------------------------------------------------

uint64_t parse_bytes(const std::string& text, const char* what) {
  size_t used = 0;
  uint64_t value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (...) {
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string("simdev: ") + what + " '" + text + "' is not a size");
  }
  const std::string unit = text.substr(used);
  if (unit.empty() || unit == "B") return value;
  if (unit == "KiB") return value << 10;
  if (unit == "MiB") return value << 20;
  if (unit == "GiB") return value << 30;
  throw StatusError(SY_STATUS_INVALID_ARGUMENT,
                    std::string("simdev: ") + what + " '" + text + "' has unit '" + unit + "'; use B, KiB, MiB or GiB");
}

// "2x64MiB" -> 2 devices of 64 MiB.
void parse_devices(const std::string& text, SimConfig& config) {
  const auto x = text.find('x');
  if (x == std::string::npos)
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, "simdev: SWITCHYARD_SIMDEV '" + text + "' should look like 2x64MiB");
  config.device_count = static_cast<uint32_t>(parse_bytes(text.substr(0, x), "device count"));
  config.capacity = parse_bytes(text.substr(x + 1), "device capacity");
}

SimPlugin* plugin_of(sy_plugin* p) { return static_cast<SimPlugin*>(p->impl); }
SimDevice* device_of(sy_device* d) { return static_cast<SimDevice*>(d->impl); }

extern const sy_buffer_vtable kBufferVtable;

SimBuffer* buffer_of(sy_buffer* buffer, const SimDevice* device) {
  if (!buffer || buffer->vtable != &kBufferVtable)
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, "simdev: a buffer of another plugin was passed; copy through the host");
  auto* sim = static_cast<SimBuffer*>(buffer->impl);
  if (sim->device != device)
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, "simdev: the buffer belongs to simdev device " +
                                                      std::to_string(sim->device->index) + ", not device " +
                                                      std::to_string(device->index) + "; copy through the host");
  return sim;
}

void check_range(const SimBuffer* buffer, uint64_t offset, uint64_t size, const char* what) {
  if (offset > buffer->bytes.size() || size > buffer->bytes.size() - offset)
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string("simdev: ") + what + " of " + std::to_string(size) +
                                                      " bytes at offset " + std::to_string(offset) +
                                                      " runs past the buffer's " + std::to_string(buffer->bytes.size()) +
                                                      " bytes");
}

// Runs `work` now (NULL stream) or at the stream's next synchronize.
void submit(sy_stream* stream, std::function<void()> work) {
  if (!stream) return work();
  auto* sim = static_cast<SimStream*>(stream->impl);
  sim->pending.push_back(std::move(work));
  sim->submitted += 1;
}

// Runs the stream's deferred work in order until `target` items have run (all of it for UINT64_MAX).
void run_stream_until(SimStream* stream, uint64_t target) {
  while (stream->completed < target && !stream->pending.empty()) {
    auto work = std::move(stream->pending.front());
    stream->pending.erase(stream->pending.begin());
    stream->completed += 1;
    work();
  }
}

// ---- Buffer and stream -------------------------------------------------------------------------------------------

void buffer_destroy(sy_buffer* object) {
  auto* buffer = static_cast<SimBuffer*>(object->impl);
  {
    std::lock_guard lock(buffer->device->mutex);
    buffer->device->allocated -= buffer->bytes.size();
  }
  delete buffer;
}

// No map slot: simdev memory is not host-visible, on purpose.
const sy_buffer_vtable kBufferVtable = {
    .struct_size = sizeof(sy_buffer_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = buffer_destroy,
    .map = nullptr,
};

sy_status* stream_synchronize(sy_stream* object) {
  return guard("stream synchronize", [&] {
    run_stream_until(static_cast<SimStream*>(object->impl), UINT64_MAX);
  });
}

void stream_destroy(sy_stream* object) {
  auto* stream = static_cast<SimStream*>(object->impl);
  if (sy_status* status = stream_synchronize(object)) status->release(status);
  {
    std::lock_guard lock(stream->device->mutex);
    auto& streams = stream->device->streams;
    streams.erase(std::remove(streams.begin(), streams.end(), stream), streams.end());
  }
  delete stream;
}

// ---- Events ------------------------------------------------------------------------------------------------------

extern const sy_event_vtable kEventVtable;

SimEvent* event_of(sy_event* event) {
  if (!event || event->vtable != &kEventVtable)
    throw StatusError(SY_STATUS_UNSUPPORTED, "simdev: the event belongs to another plugin; wait for it on the host");
  return static_cast<SimEvent*>(event->impl);
}

void event_destroy(sy_event* object) { delete static_cast<SimEvent*>(object->impl); }

sy_status* event_synchronize(sy_event* object) {
  return guard("event synchronize", [&] {
    SimEvent* event = event_of(object);
    if (event->stream) run_stream_until(event->stream, event->target);
  });
}

const sy_event_vtable kEventVtable = {
    .struct_size = sizeof(sy_event_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = event_destroy,
    .synchronize = event_synchronize,
};

const sy_stream_vtable kStreamVtable = {
    .struct_size = sizeof(sy_stream_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = stream_destroy,
    .synchronize = stream_synchronize,
};

// ---- Device ------------------------------------------------------------------------------------------------------

void device_destroy(sy_device* object) {
  SimDevice* device = device_of(object);
  if (device->host_allocations != 0) {
    device->plugin->log.warn("simdev:" + std::to_string(device->index) + " closed with " +
                             std::to_string(device->host_allocations) +
                             " staging buffer(s) never returned through host_memory_free: the host leaks them");
  }
  delete device;
}

sy_status* device_get_info(sy_device* object, sy_device_info* out) {
  return guard("get_info", [&] {
    const SimDevice* device = device_of(object);
    auto info = sy::sdk::make_struct<sy_device_info>();
    info.index = device->index;
    info.kind = SY_DEVICE_GPU;
    sy::sdk::copy_text(info.name, "Switchyard simulated GPU " + std::to_string(device->index));
    sy::sdk::copy_text(info.arch, "simdev");
    info.total_memory = device->plugin->config.capacity;
    info.max_allocation = device->plugin->config.capacity;
    info.bandwidth_bytes_per_second = 100'000'000'000ull;  // pretend: a mid-range GPU
    info.compute_units = 1;
    info.multipliable_types = sy::kernels::weight_types(kDecoder);
    info.storable_types = info.multipliable_types | SY_TYPE_BIT(SY_TYPE_I32) | SY_TYPE_BIT(SY_TYPE_I64);
    info.max_attention_context = device->plugin->config.max_context;
    info.buffer_alignment = static_cast<uint32_t>(device->plugin->config.alignment);
    // A 1.2 plugin's struct ends before the 1.3 fields: it neither knows nor writes them.
    const size_t ours = device->plugin->config.abi_1_2 ? offsetof(sy_device_info, max_attention_context) : sizeof info;
    const uint32_t host_size = out->struct_size;
    std::memcpy(out, &info, std::min<size_t>(host_size, ours));
    out->struct_size = host_size;
  });
}

sy_status* device_memory_free(sy_device* object, uint64_t* out_free_bytes) {
  return guard("memory_free", [&] {
    SimDevice* device = device_of(object);
    std::lock_guard lock(device->mutex);
    *out_free_bytes = device->plugin->config.capacity - device->allocated + device->plugin->config.lie_free_extra;
  });
}

sy_status* device_buffer_allocate(sy_device* object, uint64_t size, sy_buffer** out_buffer) {
  return guard("buffer_allocate", [&] {
    SimDevice* device = device_of(object);
    const SimConfig& config = device->plugin->config;
    std::lock_guard lock(device->mutex);
    const uint64_t free_bytes = config.capacity - device->allocated;
    if (size > free_bytes)
      throw StatusError(SY_STATUS_OUT_OF_MEMORY, "simdev:" + std::to_string(device->index) + ": cannot allocate " +
                                                     std::to_string(size) + " bytes, " + std::to_string(free_bytes) +
                                                     " of " + std::to_string(config.capacity) + " are free");
    if (device->allocated + size > config.fail_alloc_after)
      throw StatusError(SY_STATUS_OUT_OF_MEMORY, "simdev:" + std::to_string(device->index) +
                                                     ": injected allocation failure past " +
                                                     std::to_string(config.fail_alloc_after) + " bytes");
    auto buffer = std::make_unique<SimBuffer>();
    buffer->bytes.resize(size);
    buffer->device = device;
    buffer->object = sy::sdk::make_struct<sy_buffer>();
    buffer->object.vtable = &kBufferVtable;
    buffer->object.impl = buffer.get();
    buffer->object.size = size;
    device->allocated += size;
    *out_buffer = &buffer.release()->object;
  });
}

sy_status* device_buffer_upload(sy_device* object, sy_buffer* target, uint64_t offset, const void* source,
                                uint64_t size, sy_stream* stream) {
  return guard("buffer_upload", [&] {
    SimBuffer* buffer = buffer_of(target, device_of(object));
    check_range(buffer, offset, size, "upload");
    const uint64_t corrupt = device_of(object)->plugin->config.corrupt_offset;
    submit(stream, [=] {
      std::memcpy(buffer->bytes.data() + offset, source, size);
      if (corrupt >= offset && corrupt - offset < size) buffer->bytes[corrupt] = static_cast<uint8_t>(~buffer->bytes[corrupt]);
    });
  });
}

sy_status* device_buffer_download(sy_device* object, sy_buffer* source, uint64_t offset, void* destination,
                                  uint64_t size, sy_stream* stream) {
  return guard("buffer_download", [&] {
    SimBuffer* buffer = buffer_of(source, device_of(object));
    check_range(buffer, offset, size, "download");
    submit(stream, [=] { std::memcpy(destination, buffer->bytes.data() + offset, size); });
  });
}

sy_status* device_buffer_copy(sy_device* object, sy_buffer* source, uint64_t source_offset, sy_buffer* destination,
                              uint64_t destination_offset, uint64_t size, sy_stream* stream) {
  return guard("buffer_copy", [&] {
    SimBuffer* from = buffer_of(source, device_of(object));
    SimBuffer* to = buffer_of(destination, device_of(object));
    check_range(from, source_offset, size, "copy source");
    check_range(to, destination_offset, size, "copy destination");
    submit(stream, [=] { std::memmove(to->bytes.data() + destination_offset, from->bytes.data() + source_offset, size); });
  });
}

// "Pinned" host memory: plain heap memory here, counted so that a host that leaks staging buffers is caught when
// the device closes (a real GPU plugin would return page-locked memory).
sy_status* device_host_memory_allocate(sy_device* object, uint64_t size, void** out_host_pointer) {
  return guard("host_memory_allocate", [&] {
    SimDevice* device = device_of(object);
    void* pointer = std::malloc(std::max<uint64_t>(size, 1));
    if (!pointer) throw StatusError(SY_STATUS_OUT_OF_MEMORY, "simdev: no host memory for a staging buffer");
    std::lock_guard lock(device->mutex);
    device->host_allocations += 1;
    *out_host_pointer = pointer;
  });
}

void device_host_memory_free(sy_device* object, void* host_pointer) {
  if (!host_pointer) return;
  SimDevice* device = device_of(object);
  std::free(host_pointer);
  std::lock_guard lock(device->mutex);
  device->host_allocations -= 1;
}

sy_status* device_stream_create(sy_device* object, sy_stream** out_stream) {
  return guard("stream_create", [&] {
    SimDevice* device = device_of(object);
    auto stream = std::make_unique<SimStream>();
    stream->device = device;
    stream->object = sy::sdk::make_struct<sy_stream>();
    stream->object.vtable = &kStreamVtable;
    stream->object.impl = stream.get();
    std::lock_guard lock(device->mutex);
    device->streams.push_back(stream.get());
    *out_stream = &stream.release()->object;
  });
}

sy_status* device_synchronize(sy_device* object) {
  return guard("synchronize", [&] {
    SimDevice* device = device_of(object);
    std::vector<SimStream*> streams;
    {
      std::lock_guard lock(device->mutex);
      streams = device->streams;
    }
    for (SimStream* stream : streams)
      if (sy_status* status = stream_synchronize(&stream->object)) {
        const std::string message = status->message;
        status->release(status);
        throw StatusError(SY_STATUS_DEVICE_ERROR, message);
      }
  });
}

// What this device refuses beyond the reference's rules: offsets off its alignment, caches past its context, and
// (speaking ABI 1.2) anything 1.2 did not have.
std::string device_limits(const SimDevice* device, const sy_op& op, const std::vector<sy::kernels::TensorUse>& uses) {
  const SimConfig& config = device->plugin->config;
  if (config.abi_1_2 && (op.flags != 0 || op.kind >= SY_OP_KIND_COUNT)) return "flags are not part of ABI 1.2";
  if (config.max_context && op.kind == SY_OP_ATTENTION &&
      static_cast<uint64_t>(op.params.attention.kv_capacity) > config.max_context)
    return "attention over a cache of " + std::to_string(op.params.attention.kv_capacity) + " positions; this device "
           "takes at most " + std::to_string(config.max_context);
  if (config.alignment > 1) {
    for (const auto& use : uses)
      if (use.ref->offset % config.alignment != 0)
        return std::string(sy::kernels::op_kind_name(op.kind)) + ": " + use.role + " at offset " +
               std::to_string(use.ref->offset) + " is not a multiple of the device's buffer_alignment " +
               std::to_string(config.alignment);
  }
  return {};
}

sy_status* device_supports(sy_device* object, const sy_op* op, uint32_t* out_supported) {
  return guard("supports", [&] {
    std::vector<sy::kernels::TensorUse> uses;
    *out_supported = sy::kernels::describe_op_tensors(*op, kDecoder, uses).empty() &&
                             device_limits(device_of(object), *op, uses).empty()
                         ? 1
                         : 0;
  });
}

sy_status* device_execute(sy_device* object, const sy_op* ops, uint32_t op_count, sy_stream* stream) {
  return guard("execute", [&] {
    SimDevice* device = device_of(object);
    std::vector<sy::kernels::TensorUse> uses;
    for (uint32_t i = 0; i < op_count; ++i) {
      std::string why = sy::kernels::describe_op_tensors(ops[i], kDecoder, uses);
      if (why.empty()) why = device_limits(device, ops[i], uses);
      if (!why.empty()) throw StatusError(SY_STATUS_UNSUPPORTED, "simdev: op " + std::to_string(i) + ": " + why);
      if (std::string bounds = sy::kernels::check_op(ops[i], kDecoder); !bounds.empty())
        throw StatusError(SY_STATUS_INVALID_ARGUMENT, "simdev: op " + std::to_string(i) + ": " + bounds);
      for (const auto& use : uses)
        if (use.ref->buffer) buffer_of(use.ref->buffer, device);
    }
    // Copy the op list: `ops` is borrowed only until the work completes, and with a stream that is later.
    std::vector<sy_op> copies(ops, ops + op_count);
    submit(stream, [copies = std::move(copies)] {
      const auto address = [](const sy_tensor_ref& ref) -> void* {
        if (!ref.buffer) return nullptr;
        return static_cast<SimBuffer*>(ref.buffer->impl)->bytes.data() + ref.offset;
      };
      for (const auto& op : copies) {
        try {
          if (!run_integer_matmul(op, address)) sy::kernels::reference_execute(op, address, kDecoder);
        } catch (const std::out_of_range& error) {
          throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string("simdev: ") + error.what());
        }
      }
    });
  });
}

sy_status* device_event_create(sy_device* object, sy_event** out_event) {
  return guard("event_create", [&] {
    auto event = std::make_unique<SimEvent>();
    event->device = device_of(object);
    event->object = sy::sdk::make_struct<sy_event>();
    event->object.vtable = &kEventVtable;
    event->object.impl = event.get();
    *out_event = &event.release()->object;
  });
}

sy_status* device_event_record(sy_device* object, sy_event* target, sy_stream* stream) {
  return guard("event_record", [&] {
    SimEvent* event = event_of(target);
    if (event->device != device_of(object))
      throw StatusError(SY_STATUS_INVALID_ARGUMENT, "simdev: event_record on another device's event");
    event->stream = stream ? static_cast<SimStream*>(stream->impl) : nullptr;
    event->target = event->stream ? event->stream->submitted : 0;
  });
}

// The waiting stream gets a work item that first runs the event's stream up to the event: deferred like
// everything else, so the wait orders the work without blocking the host.
sy_status* device_stream_wait_event(sy_device* object, sy_stream* stream, sy_event* target) {
  return guard("stream_wait_event", [&] {
    SimEvent* event = event_of(target);
    if (!stream || static_cast<SimStream*>(stream->impl)->device != device_of(object))
      throw StatusError(SY_STATUS_INVALID_ARGUMENT, "simdev: stream_wait_event needs a stream of this device");
    SimStream* producer = event->stream;
    const uint64_t until = event->target;
    if (producer) submit(stream, [producer, until] { run_stream_until(producer, until); });
  });
}

const sy_device_vtable kDeviceVtable = {
    .struct_size = sizeof(sy_device_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = device_destroy,
    .get_info = device_get_info,
    .memory_free = device_memory_free,
    .buffer_allocate = device_buffer_allocate,
    .buffer_adopt_host = nullptr,  // device memory is separate from the host's
    .buffer_upload = device_buffer_upload,
    .buffer_download = device_buffer_download,
    .buffer_copy = device_buffer_copy,
    .stream_create = device_stream_create,
    .synchronize = device_synchronize,
    .supports = device_supports,
    .execute = device_execute,
    .host_memory_allocate = device_host_memory_allocate,
    .host_memory_free = device_host_memory_free,
    .event_create = device_event_create,
    .event_record = device_event_record,
    .stream_wait_event = device_stream_wait_event,
};

// The same table as a 1.2 plugin has it: its struct_size ends before the 1.3 slots, so the host never calls them.
const sy_device_vtable kDeviceVtableAbi12 = [] {
  sy_device_vtable table = kDeviceVtable;
  table.struct_size = offsetof(sy_device_vtable, event_create);
  table.abi_version = SY_ABI_MAKE_VERSION(1, 2);
  table.event_create = nullptr;
  table.event_record = nullptr;
  table.stream_wait_event = nullptr;
  return table;
}();

// ---- Plugin ------------------------------------------------------------------------------------------------------

void plugin_destroy(sy_plugin* object) { delete plugin_of(object); }

sy_status* plugin_probe(sy_plugin* object, sy_probe_result* out) {
  const SimPlugin* plugin = plugin_of(object);
  if (plugin->config.device_count == 0) {
    out->score = 0;
    sy::sdk::copy_text(out->reason, plugin->config_error);
  } else {
    out->score = 50;
    sy::sdk::copy_text(out->reason, std::to_string(plugin->config.device_count) + " simulated GPU(s) of " +
                                        std::to_string(plugin->config.capacity) + " bytes");
  }
  return nullptr;
}

sy_status* plugin_device_count(sy_plugin* object, uint32_t* out_count) {
  *out_count = plugin_of(object)->config.device_count;
  return nullptr;
}

sy_status* plugin_device_open(sy_plugin* object, uint32_t index, sy_device** out_device) {
  return guard("device_open", [&] {
    SimPlugin* plugin = plugin_of(object);
    if (index >= plugin->config.device_count)
      throw StatusError(SY_STATUS_NOT_FOUND, "simdev: no device " + std::to_string(index));
    auto device = std::make_unique<SimDevice>();
    device->object = sy::sdk::make_struct<sy_device>();
    device->object.vtable = plugin->config.abi_1_2 ? &kDeviceVtableAbi12 : &kDeviceVtable;
    device->object.impl = device.get();
    device->plugin = plugin;
    device->index = index;
    *out_device = &device.release()->object;
  });
}

const sy_plugin_vtable kPluginVtable = {
    .struct_size = sizeof(sy_plugin_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = plugin_destroy,
    .probe = plugin_probe,
    .device_count = plugin_device_count,
    .device_open = plugin_device_open,
};

std::string setting(const sy_negotiation_request* request, const char* key, const char* environment_name) {
  for (uint32_t i = 0; i < request->option_count; ++i)
    if (request->options[i].key && std::strcmp(request->options[i].key, key) == 0 && request->options[i].value)
      return request->options[i].value;
  const char* value = std::getenv(environment_name);
  return value ? value : "";
}

}  // namespace

extern "C" SY_PLUGIN_EXPORT sy_status* sy_plugin_negotiate(const sy_negotiation_request* request,
                                                            sy_plugin** out_plugin) {
  return guard("sy_plugin_negotiate", [&] {
    const uint32_t version = sy::sdk::negotiate_version(request, "simdev plugin");
    auto plugin = std::make_unique<SimPlugin>();
    plugin->log.attach(request->host);
    const std::string devices = setting(request, "simdev.devices", "SWITCHYARD_SIMDEV");
    if (devices.empty()) {
      plugin->config_error = "SWITCHYARD_SIMDEV is not set; set it to e.g. 2x64MiB to get two simulated GPUs";
    } else {
      parse_devices(devices, plugin->config);
    }
    if (auto text = setting(request, "simdev.fail_alloc_after", "SWITCHYARD_SIMDEV_FAIL_ALLOC_AFTER"); !text.empty())
      plugin->config.fail_alloc_after = parse_bytes(text, "SWITCHYARD_SIMDEV_FAIL_ALLOC_AFTER");
    if (auto text = setting(request, "simdev.lie_free", "SWITCHYARD_SIMDEV_LIE_FREE"); !text.empty()) {
      plugin->config.lie_free_extra = parse_bytes(text, "SWITCHYARD_SIMDEV_LIE_FREE");
      plugin->log.warn("simdev: memory_free will over-report by " + text + " (fault injection)");
    }
    if (auto text = setting(request, "simdev.corrupt_upload", "SWITCHYARD_SIMDEV_CORRUPT_UPLOAD"); !text.empty()) {
      plugin->config.corrupt_offset = parse_bytes(text, "SWITCHYARD_SIMDEV_CORRUPT_UPLOAD");
      plugin->log.warn("simdev: uploads will invert the byte at offset " + text + " of their buffer (fault injection)");
    }
    if (auto text = setting(request, "simdev.max_context", "SWITCHYARD_SIMDEV_MAX_CONTEXT"); !text.empty())
      plugin->config.max_context = parse_bytes(text, "SWITCHYARD_SIMDEV_MAX_CONTEXT");
    if (auto text = setting(request, "simdev.alignment", "SWITCHYARD_SIMDEV_ALIGNMENT"); !text.empty()) {
      plugin->config.alignment = parse_bytes(text, "SWITCHYARD_SIMDEV_ALIGNMENT");
      if (plugin->config.alignment & (plugin->config.alignment - 1))
        throw StatusError(SY_STATUS_INVALID_ARGUMENT, "simdev: SWITCHYARD_SIMDEV_ALIGNMENT " + text +
                                                          " is not a power of two");
    }
    uint32_t spoken = version;
    if (auto text = setting(request, "simdev.abi", "SWITCHYARD_SIMDEV_ABI"); !text.empty()) {
      if (text != "1.2")
        throw StatusError(SY_STATUS_INVALID_ARGUMENT, "simdev: SWITCHYARD_SIMDEV_ABI '" + text + "': only 1.2 can be "
                                                      "emulated (unset it for this SDK's own version)");
      if (request->min_abi_version > SY_ABI_MAKE_VERSION(1, 2))
        throw StatusError(SY_STATUS_ABI_MISMATCH, "simdev: the host no longer speaks ABI 1.2");
      plugin->config.abi_1_2 = true;
      plugin->config.alignment = 0;  // 1.2 had no way to ask for alignment
      spoken = SY_ABI_MAKE_VERSION(1, 2);
    }
    plugin->object = sy::sdk::make_struct<sy_plugin>();
    plugin->object.abi_version = spoken;
    plugin->object.vtable = &kPluginVtable;
    plugin->object.impl = plugin.get();
    plugin->object.name = "simdev";
    plugin->object.version = "0.1.0";
    plugin->object.vendor = "Switchyard SDK example";
    *out_plugin = &plugin.release()->object;
  });
}
