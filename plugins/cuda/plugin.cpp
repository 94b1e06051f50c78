// libswitchyard-cuda.so (and, compiled as HIP by plugins/rocm, libswitchyard-rocm.so): the GPU backend behind the
// plugin ABI. Only this library links the GPU runtime, dynamically, so a machine without it just skips this file.
// Where the runtime exists but no driver or GPU does, the plugin loads and reports zero devices with the runtime's
// own error text. Kernels: gpu_kernels.cu; on CUDA, prompt matmuls of every weight type go to cuBLAS (blas_matmul.cpp).
#include <switchyard/plugin.h>
#include <switchyard/plugin_helpers.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/kernels/reference_ops.h"
#include "plugins/cuda/gpu_kernels.h"
#include "plugins/cuda/gpu_runtime.h"
#include "plugins/cuda/weight_rows.h"
#if !defined(SY_GPU_HIP)
#include <dlfcn.h>

#include "plugins/cuda/blas_matmul.h"
#endif

namespace {

using sy::sdk::guard;
using sy::sdk::StatusError;

constexpr const char* kPluginName = SY_GPU_PLUGIN_NAME;

// The weight types the kernels read (weight_rows.h), in the form check_op wants. Only sizes are needed: the host
// never decodes a row here, so decode_row stays NULL.
const sy::kernels::RowDecoder kGpuWeightRows = [] {
  sy::kernels::RowDecoder decoder;
  decoder.row_bytes = sy::gpu::weight_row_bytes;
  decoder.quantized_types = sy::gpu::quantized_weight_types();
  return decoder;
}();

// Where MATMUL goes to cuBLAS (see BlasMatmul); 0 on ROCm, which has no BLAS here.
int64_t blas_min_tokens_from_environment() {
#if defined(SY_GPU_HIP)
  return 0;
#else
  const char* text = std::getenv("SWITCHYARD_CUDA_BLAS_MIN_TOKENS");
  if (!text || !*text) return sy::gpu::BlasMatmul::kDefaultMinTokens;
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  return *end == '\0' && value >= 0 ? value : sy::gpu::BlasMatmul::kDefaultMinTokens;
#endif
}

// Why the runtime found no device, in the user's terms. Without the NVIDIA driver at all, the CUDA runtime says
// its "driver version is insufficient", which sends people looking for a newer driver they do not have.
std::string no_device_reason(gpuError_t error) {
#if !defined(SY_GPU_HIP)
  if (error == cudaErrorInsufficientDriver || error == cudaErrorNoDevice) {
    void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
      return "no NVIDIA driver found (libcuda.so.1 cannot be loaded): install the NVIDIA driver to use a GPU";
    }
    dlclose(driver);
  }
#endif
  return std::string(SY_GPU_RUNTIME_NAME " reports no usable device: ") + gpuGetErrorString(error);
}

void check_gpu(gpuError_t error, const std::string& what) {
  if (error == gpuSuccess) return;
  const auto code = error == gpuErrorMemoryAllocation ? SY_STATUS_OUT_OF_MEMORY : SY_STATUS_DEVICE_ERROR;
  throw StatusError(code, std::string(kPluginName) + ": " + what + ": " + gpuGetErrorString(error));
}

struct GpuPlugin {
  sy_plugin object{};
  sy::sdk::HostLog log;
  int device_count = 0;
  std::string no_device_reason;
  int64_t blas_min_tokens = 0;
};

struct GpuDevice {
  sy_device object{};
  int ordinal;
  std::string name;
  std::string arch;
  uint64_t total_memory = 0;
  uint64_t bandwidth = 0;
  uint32_t multiprocessors = 0;
  int64_t blas_min_tokens = 0;  // MATMULs of this many tokens or more go to cuBLAS; 0: never
#if !defined(SY_GPU_HIP)
  sy::gpu::BlasMatmul blas;
#endif
};

struct GpuBuffer {
  sy_buffer object{};
  GpuDevice* device;
  void* pointer;
};

struct GpuStream {
  sy_stream object{};
  GpuDevice* device;
  gpuStream_t stream;
};

GpuPlugin* plugin_of(sy_plugin* p) { return static_cast<GpuPlugin*>(p->impl); }
GpuDevice* device_of(sy_device* d) { return static_cast<GpuDevice*>(d->impl); }

extern const sy_buffer_vtable kBufferVtable;

GpuBuffer* buffer_of(sy_buffer* buffer, const GpuDevice* device) {
  if (!buffer || buffer->vtable != &kBufferVtable || static_cast<GpuBuffer*>(buffer->impl)->device != device)
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string(kPluginName) +
                                                      ": a buffer of another device was passed; copy it through the host");
  return static_cast<GpuBuffer*>(buffer->impl);
}

gpuStream_t stream_of(sy_stream* stream) { return stream ? static_cast<GpuStream*>(stream->impl)->stream : nullptr; }

void check_range(const sy_buffer* buffer, uint64_t offset, uint64_t size, const char* what) {
  if (offset > buffer->size || size > buffer->size - offset)
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string(kPluginName) + ": " + what + " of " +
                                                      std::to_string(size) + " bytes at offset " +
                                                      std::to_string(offset) + " runs past the buffer's " +
                                                      std::to_string(buffer->size) + " bytes");
}

// A NULL stream means "synchronous": enqueue on the legacy stream, then wait for it.
void finish(sy_stream* stream, const std::string& what) {
  if (!stream) check_gpu(gpuStreamSynchronize(nullptr), what);
}

// ---- Buffer and stream -------------------------------------------------------------------------------------------

// destroy slots cannot report an error (the ABI gives them no status), hence the discarded results here.
void buffer_destroy(sy_buffer* object) {
  auto* buffer = static_cast<GpuBuffer*>(object->impl);
  static_cast<void>(gpuSetDevice(buffer->device->ordinal));
  static_cast<void>(gpuFree(buffer->pointer));
  delete buffer;
}

const sy_buffer_vtable kBufferVtable = {
    .struct_size = sizeof(sy_buffer_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = buffer_destroy,
    .map = nullptr,  // device memory is not host-visible
};

sy_status* stream_synchronize(sy_stream* object) {
  return guard("stream synchronize", [&] {
    auto* stream = static_cast<GpuStream*>(object->impl);
    check_gpu(gpuStreamSynchronize(stream->stream), "stream synchronize");
  });
}

void stream_destroy(sy_stream* object) {
  auto* stream = static_cast<GpuStream*>(object->impl);
  static_cast<void>(gpuStreamSynchronize(stream->stream));
  static_cast<void>(gpuStreamDestroy(stream->stream));
  delete stream;
}

const sy_stream_vtable kStreamVtable = {
    .struct_size = sizeof(sy_stream_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = stream_destroy,
    .synchronize = stream_synchronize,
};

// ---- Device ------------------------------------------------------------------------------------------------------

void device_destroy(sy_device* object) {
  static_cast<void>(gpuSetDevice(device_of(object)->ordinal));  // the cuBLAS handle is released on its own device
  delete device_of(object);
}

sy_status* device_get_info(sy_device* object, sy_device_info* out) {
  return guard("get_info", [&] {
    const GpuDevice* device = device_of(object);
    auto info = sy::sdk::make_struct<sy_device_info>();
    info.index = static_cast<uint32_t>(device->ordinal);
    info.kind = SY_DEVICE_GPU;
    sy::sdk::copy_text(info.name, device->name);
    sy::sdk::copy_text(info.arch, device->arch);
    info.total_memory = device->total_memory;
    info.max_allocation = device->total_memory;
    info.bandwidth_bytes_per_second = device->bandwidth;
    info.compute_units = device->multiprocessors;
    info.multipliable_types = sy::kernels::weight_types(kGpuWeightRows);
    info.storable_types = info.multipliable_types | SY_TYPE_BIT(SY_TYPE_I32) | SY_TYPE_BIT(SY_TYPE_I64);
    info.max_attention_context = static_cast<uint64_t>(sy::gpu::kMaxAttentionPositions);
    info.buffer_alignment = 4;  // the kernels read floats, ids and halves in place: 4 keeps every one aligned
    const uint32_t host_size = out->struct_size;
    std::memcpy(out, &info, std::min<size_t>(host_size, sizeof info));
    out->struct_size = host_size;
  });
}

sy_status* device_memory_free(sy_device* object, uint64_t* out_free_bytes) {
  return guard("memory_free", [&] {
    check_gpu(gpuSetDevice(device_of(object)->ordinal), "set device");
    size_t free_bytes = 0, total_bytes = 0;
    check_gpu(gpuMemGetInfo(&free_bytes, &total_bytes), "memory info");
    *out_free_bytes = free_bytes;
  });
}

sy_status* device_buffer_allocate(sy_device* object, uint64_t size, sy_buffer** out_buffer) {
  return guard("buffer_allocate", [&] {
    GpuDevice* device = device_of(object);
    if (size > device->total_memory)
      throw StatusError(SY_STATUS_OUT_OF_MEMORY, std::string(kPluginName) + ":" + std::to_string(device->ordinal) +
                                                     ": cannot allocate " + std::to_string(size) + " bytes on a " +
                                                     std::to_string(device->total_memory) + "-byte device");
    check_gpu(gpuSetDevice(device->ordinal), "set device");
    void* pointer = nullptr;
    check_gpu(gpuMalloc(&pointer, std::max<uint64_t>(size, 1)), "allocating " + std::to_string(size) + " bytes");
    auto buffer = std::make_unique<GpuBuffer>();
    buffer->object = sy::sdk::make_struct<sy_buffer>();
    buffer->object.vtable = &kBufferVtable;
    buffer->object.impl = buffer.get();
    buffer->object.size = size;
    buffer->device = device;
    buffer->pointer = pointer;
    *out_buffer = &buffer.release()->object;
  });
}

// Page-locked host memory for the host's upload staging: copies from it run as DMA, without a driver bounce.
sy_status* device_host_memory_allocate(sy_device* object, uint64_t size, void** out_host_pointer) {
  return guard("host_memory_allocate", [&] {
    GpuDevice* device = device_of(object);
    check_gpu(gpuSetDevice(device->ordinal), "set device");
    void* pointer = nullptr;
    check_gpu(gpuHostAllocPortable(&pointer, std::max<uint64_t>(size, 1)),
              "allocating " + std::to_string(size) + " bytes of pinned host memory");
    *out_host_pointer = pointer;
  });
}

void device_host_memory_free(sy_device*, void* host_pointer) {
  if (host_pointer) (void)gpuFreeHost(host_pointer);
}

sy_status* device_buffer_upload(sy_device* object, sy_buffer* target, uint64_t offset, const void* source,
                                uint64_t size, sy_stream* stream) {
  return guard("buffer_upload", [&] {
    GpuBuffer* buffer = buffer_of(target, device_of(object));
    check_range(target, offset, size, "upload");
    check_gpu(gpuSetDevice(buffer->device->ordinal), "set device");
    check_gpu(gpuMemcpyAsync(static_cast<uint8_t*>(buffer->pointer) + offset, source, size, gpuMemcpyHostToDevice,
                             stream_of(stream)),
              "upload");
    finish(stream, "upload");
  });
}

sy_status* device_buffer_download(sy_device* object, sy_buffer* source, uint64_t offset, void* destination,
                                  uint64_t size, sy_stream* stream) {
  return guard("buffer_download", [&] {
    GpuBuffer* buffer = buffer_of(source, device_of(object));
    check_range(source, offset, size, "download");
    check_gpu(gpuSetDevice(buffer->device->ordinal), "set device");
    check_gpu(gpuMemcpyAsync(destination, static_cast<const uint8_t*>(buffer->pointer) + offset, size,
                             gpuMemcpyDeviceToHost, stream_of(stream)),
              "download");
    finish(stream, "download");
  });
}

sy_status* device_buffer_copy(sy_device* object, sy_buffer* source, uint64_t source_offset, sy_buffer* destination,
                              uint64_t destination_offset, uint64_t size, sy_stream* stream) {
  return guard("buffer_copy", [&] {
    GpuBuffer* from = buffer_of(source, device_of(object));
    GpuBuffer* to = buffer_of(destination, device_of(object));
    check_range(source, source_offset, size, "copy source");
    check_range(destination, destination_offset, size, "copy destination");
    check_gpu(gpuSetDevice(from->device->ordinal), "set device");
    check_gpu(gpuMemcpyAsync(static_cast<uint8_t*>(to->pointer) + destination_offset,
                             static_cast<const uint8_t*>(from->pointer) + source_offset, size, gpuMemcpyDeviceToDevice,
                             stream_of(stream)),
              "device-to-device copy");
    finish(stream, "device-to-device copy");
  });
}

sy_status* device_stream_create(sy_device* object, sy_stream** out_stream) {
  return guard("stream_create", [&] {
    GpuDevice* device = device_of(object);
    check_gpu(gpuSetDevice(device->ordinal), "set device");
    auto stream = std::make_unique<GpuStream>();
    check_gpu(gpuStreamCreateWithFlags(&stream->stream, gpuStreamNonBlocking), "stream create");
    stream->device = device;
    stream->object = sy::sdk::make_struct<sy_stream>();
    stream->object.vtable = &kStreamVtable;
    stream->object.impl = stream.get();
    *out_stream = &stream.release()->object;
  });
}

// ---- Events ------------------------------------------------------------------------------------------------------

struct GpuEvent {
  sy_event object{};
  GpuDevice* device;
  gpuEvent_t event;
};

extern const sy_event_vtable kEventVtable;

GpuEvent* event_of(sy_event* event) {
  if (!event || event->vtable != &kEventVtable)
    throw StatusError(SY_STATUS_UNSUPPORTED, std::string(kPluginName) +
                                                 ": the event belongs to another plugin; wait for it on the host");
  return static_cast<GpuEvent*>(event->impl);
}

void event_destroy(sy_event* object) {
  auto* event = static_cast<GpuEvent*>(object->impl);
  static_cast<void>(gpuEventDestroy(event->event));
  delete event;
}

sy_status* event_synchronize(sy_event* object) {
  return guard("event synchronize", [&] { check_gpu(gpuEventSynchronize(event_of(object)->event), "event synchronize"); });
}

const sy_event_vtable kEventVtable = {
    .struct_size = sizeof(sy_event_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = event_destroy,
    .synchronize = event_synchronize,
};

sy_status* device_event_create(sy_device* object, sy_event** out_event) {
  return guard("event_create", [&] {
    GpuDevice* device = device_of(object);
    check_gpu(gpuSetDevice(device->ordinal), "set device");
    auto event = std::make_unique<GpuEvent>();
    check_gpu(gpuEventCreateWithFlags(&event->event, gpuEventDisableTiming), "event create");
    event->device = device;
    event->object = sy::sdk::make_struct<sy_event>();
    event->object.vtable = &kEventVtable;
    event->object.impl = event.get();
    *out_event = &event.release()->object;
  });
}

sy_status* device_event_record(sy_device* object, sy_event* target, sy_stream* stream) {
  return guard("event_record", [&] {
    GpuEvent* event = event_of(target);
    if (event->device != device_of(object))
      throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string(kPluginName) + ": event_record on another device's event");
    check_gpu(gpuSetDevice(event->device->ordinal), "set device");
    check_gpu(gpuEventRecord(event->event, stream_of(stream)), "event record");
  });
}

// The driver orders the waiting stream behind the event, across devices too: the host does not block.
sy_status* device_stream_wait_event(sy_device* object, sy_stream* stream, sy_event* target) {
  return guard("stream_wait_event", [&] {
    GpuEvent* event = event_of(target);
    if (!stream) throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string(kPluginName) + ": stream_wait_event needs a stream");
    check_gpu(gpuSetDevice(device_of(object)->ordinal), "set device");
    check_gpu(gpuStreamWaitEvent(stream_of(stream), event->event, 0), "stream wait event");
  });
}

sy_status* device_synchronize(sy_device* object) {
  return guard("synchronize", [&] {
    check_gpu(gpuSetDevice(device_of(object)->ordinal), "set device");
    check_gpu(gpuDeviceSynchronize(), "synchronize");
  });
}

// What the kernels accept beyond the reference's own shape rules; `uses` are the op's tensors (describe_op_tensors).
std::string gpu_limits(const sy_op& op, const std::vector<sy::kernels::TensorUse>& uses) {
  if (op.kind == SY_OP_ATTENTION) {
    // With per-step values the scores are sized for the whole cache (gpu_kernels.h).
    const bool step_values = (op.flags & SY_OP_FLAG_STEP_VALUES) != 0;
    const int64_t positions = step_values ? op.params.attention.kv_capacity : op.params.attention.n_kv;
    if (positions > sy::gpu::kMaxAttentionPositions)
      return "attention over more than " + std::to_string(sy::gpu::kMaxAttentionPositions) + " positions" +
             (step_values ? " of cache (with per-step values the whole kv_capacity counts)" : "");
  }
  if ((op.kind == SY_OP_ROPE || op.kind == SY_OP_ROPE_NEOX) && op.params.rope.head_dim % 2 != 0)
    return "rope over an odd head size " + std::to_string(op.params.rope.head_dim);
  if (op.kind == SY_OP_MATMUL && op.params.matmul.n_tokens > sy::gpu::kMaxMatmulTokens)
    return "matmul of more than " + std::to_string(sy::gpu::kMaxMatmulTokens) + " tokens; split the batch";
  // The kernels read 32-bit floats and ids and 16-bit block scales and halves in place, which a GPU requires to be
  // naturally aligned. Device buffers are, so only an offset can break it.
  for (const auto& use : uses) {
    const uint64_t alignment = use.ref->type == SY_TYPE_F32 || use.ref->type == SY_TYPE_I32 ? 4 : 2;
    if (use.ref->offset % alignment != 0)
      return std::string(sy::kernels::op_kind_name(op.kind)) + ": " + use.role + " at byte offset " +
             std::to_string(use.ref->offset) + " is not a multiple of " + std::to_string(alignment) +
             "; place the tensor at an aligned offset";
  }
  return {};
}

sy_status* device_supports(sy_device*, const sy_op* op, uint32_t* out_supported) {
  return guard("supports", [&] {
    std::vector<sy::kernels::TensorUse> uses;
    *out_supported =
        sy::kernels::describe_op_tensors(*op, kGpuWeightRows, uses).empty() && gpu_limits(*op, uses).empty() ? 1 : 0;
  });
}

sy_status* device_execute(sy_device* object, const sy_op* ops, uint32_t op_count, sy_stream* stream) {
  return guard("execute", [&] {
    GpuDevice* device = device_of(object);
    std::vector<sy::kernels::TensorUse> uses;
    for (uint32_t i = 0; i < op_count; ++i) {
      std::string why = sy::kernels::describe_op_tensors(ops[i], kGpuWeightRows, uses);
      if (why.empty()) why = gpu_limits(ops[i], uses);
      if (!why.empty()) throw StatusError(SY_STATUS_UNSUPPORTED, std::string(kPluginName) + ": op " + std::to_string(i) + ": " + why);
      if (std::string bounds = sy::kernels::check_op(ops[i], kGpuWeightRows); !bounds.empty())
        throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string(kPluginName) + ": op " + std::to_string(i) + ": " + bounds);
      for (const auto& use : uses)
        if (use.ref->buffer) buffer_of(use.ref->buffer, device);
    }
    check_gpu(gpuSetDevice(device->ordinal), "set device");
    const auto address = [](const sy_tensor_ref& ref) -> void* {
      if (!ref.buffer) return nullptr;
      return static_cast<uint8_t*>(static_cast<GpuBuffer*>(ref.buffer->impl)->pointer) + ref.offset;
    };
    for (uint32_t i = 0; i < op_count; ++i) {
      const sy_op& op = ops[i];
      const sy::gpu::OpAddresses addresses = {
          {address(op.src[0]), address(op.src[1]), address(op.src[2]), address(op.src[3])}, address(op.dst)};
#if !defined(SY_GPU_HIP)
      if (sy::gpu::BlasMatmul::takes(op, device->blas_min_tokens)) {
        if (std::string failure = device->blas.run(op, addresses, stream_of(stream)); !failure.empty())
          throw StatusError(SY_STATUS_DEVICE_ERROR, std::string(kPluginName) + ": op " + std::to_string(i) +
                                                        " (matmul through cuBLAS): " + failure);
        continue;
      }
#endif
      check_gpu(sy::gpu::launch_op(op, addresses, stream_of(stream)),
                std::string("launching ") + sy::kernels::op_kind_name(op.kind));
    }
    finish(stream, "execute");
  });
}

const sy_device_vtable kDeviceVtable = {
    .struct_size = sizeof(sy_device_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = device_destroy,
    .get_info = device_get_info,
    .memory_free = device_memory_free,
    .buffer_allocate = device_buffer_allocate,
    .buffer_adopt_host = nullptr,  // device memory is separate; the host uploads
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

// ---- Plugin ------------------------------------------------------------------------------------------------------

void plugin_destroy(sy_plugin* object) { delete plugin_of(object); }

sy_status* plugin_probe(sy_plugin* object, sy_probe_result* out) {
  const GpuPlugin* plugin = plugin_of(object);
  // A machine without a GPU still loads this plugin (score 1, zero devices), so `switchyard devices` can say why.
  out->score = plugin->device_count > 0 ? 100 : 1;
  sy::sdk::copy_text(out->reason, plugin->device_count > 0
                                      ? std::to_string(plugin->device_count) + " " SY_GPU_RUNTIME_NAME +
                                            (plugin->device_count == 1 ? " device" : " devices")
                                      : plugin->no_device_reason);
  return nullptr;
}

sy_status* plugin_device_count(sy_plugin* object, uint32_t* out_count) {
  *out_count = static_cast<uint32_t>(plugin_of(object)->device_count);
  return nullptr;
}

sy_status* plugin_device_open(sy_plugin* object, uint32_t index, sy_device** out_device) {
  return guard("device_open", [&] {
    const GpuPlugin* plugin = plugin_of(object);
    if (static_cast<int>(index) >= plugin->device_count)
      throw StatusError(SY_STATUS_NOT_FOUND, std::string(kPluginName) + ": no device " + std::to_string(index));
    auto device = std::make_unique<GpuDevice>();
    device->ordinal = static_cast<int>(index);
    check_gpu(gpuSetDevice(device->ordinal), "set device");
    int major = 0, minor = 0, multiprocessors = 0, memory_clock_khz = 0, bus_width_bits = 0;
    check_gpu(gpuDeviceGetAttribute(&major, gpuDevAttrComputeCapabilityMajor, device->ordinal), "device attributes");
    check_gpu(gpuDeviceGetAttribute(&minor, gpuDevAttrComputeCapabilityMinor, device->ordinal), "device attributes");
    check_gpu(gpuDeviceGetAttribute(&multiprocessors, gpuDevAttrMultiProcessorCount, device->ordinal), "device attributes");
    // Bandwidth estimate: two transfers per clock (DDR) over the bus; 0 (unknown) where the runtime does not say.
    if (gpuDeviceGetAttribute(&memory_clock_khz, gpuDevAttrMemoryClockRate, device->ordinal) != gpuSuccess)
      memory_clock_khz = 0;
    if (gpuDeviceGetAttribute(&bus_width_bits, gpuDevAttrGlobalMemoryBusWidth, device->ordinal) != gpuSuccess)
      bus_width_bits = 0;
    static_cast<void>(gpuGetLastError());  // clear a sticky "unsupported attribute"
    size_t free_bytes = 0, total_bytes = 0;
    check_gpu(gpuMemGetInfo(&free_bytes, &total_bytes), "memory info");
#if defined(SY_GPU_HIP)
    hipDeviceProp_t properties{};
    check_gpu(hipGetDeviceProperties(&properties, device->ordinal), "device properties");
    device->arch = properties.gcnArchName;
    device->arch = device->arch.substr(0, device->arch.find(':'));  // "gfx90a:sramecc+:xnack-" -> "gfx90a"
#else
    cudaDeviceProp properties{};
    check_gpu(cudaGetDeviceProperties(&properties, device->ordinal), "device properties");
    device->arch = "sm_" + std::to_string(major) + std::to_string(minor);
#endif
    device->name = properties.name;
    device->total_memory = total_bytes;
    device->bandwidth = static_cast<uint64_t>(memory_clock_khz) * 1000ull * 2ull * static_cast<uint64_t>(bus_width_bits) / 8ull;
    device->multiprocessors = static_cast<uint32_t>(multiprocessors);
    device->blas_min_tokens = plugin->blas_min_tokens;
    device->object = sy::sdk::make_struct<sy_device>();
    device->object.vtable = &kDeviceVtable;
    device->object.impl = device.get();
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

}  // namespace

extern "C" SY_PLUGIN_EXPORT sy_status* sy_plugin_negotiate(const sy_negotiation_request* request,
                                                            sy_plugin** out_plugin) {
  return guard("sy_plugin_negotiate", [&] {
    const uint32_t version = sy::sdk::negotiate_version(request, SY_GPU_PLUGIN_NAME " plugin");
    auto plugin = std::make_unique<GpuPlugin>();
    plugin->log.attach(request->host);
    plugin->blas_min_tokens = blas_min_tokens_from_environment();
    const gpuError_t error = gpuGetDeviceCount(&plugin->device_count);
    if (error != gpuSuccess) {
      plugin->device_count = 0;
      plugin->no_device_reason = no_device_reason(error);
      static_cast<void>(gpuGetLastError());  // clear the error, so later calls do not report it again
    } else if (plugin->device_count == 0) {
      plugin->no_device_reason = SY_GPU_RUNTIME_NAME " runtime found no GPU on this machine";
    }
    plugin->object = sy::sdk::make_struct<sy_plugin>();
    plugin->object.abi_version = version;
    plugin->object.vtable = &kPluginVtable;
    plugin->object.impl = plugin.get();
    plugin->object.name = SY_GPU_PLUGIN_NAME;
    plugin->object.version = "0.1.0";
    plugin->object.vendor = "Switchyard project";
    *out_plugin = &plugin.release()->object;
  });
}
