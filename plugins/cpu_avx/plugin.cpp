// libswitchyard-cpu.so: the CPU backend as a plugin like any other, reached by the core only through
// <switchyard/plugin.h>. One device ("cpu") whose memory is host memory, so weights memory-mapped by the core are
// adopted without copying. Kernels: cpu_kernels.cpp, at the ISA level chosen by cpu_features.cpp.
#include <switchyard/plugin.h>
#include <switchyard/plugin_helpers.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/common/huge_pages.h"
#include "core/gguf/tensor_type.h"
#include "core/quant/row_decoder.h"
#include "plugins/cpu_avx/cpu_features.h"
#include "plugins/cpu_avx/cpu_kernels.h"
#include "plugins/cpu_avx/system_memory.h"

namespace sy::cpu {
namespace {

using sdk::guard;
using sdk::StatusError;

constexpr const char* kPluginName = "cpu";
constexpr const char* kPluginVersion = "0.1.0";
constexpr const char* kVendor = "Switchyard project";
constexpr uint64_t kAlignment = 64;  // a cache line, and the widest vector load

// ---- Plugin state ------------------------------------------------------------------------------------------------

struct CpuPlugin {
  sy_plugin object{};
  sdk::HostLog log;
  std::string requested_isa;  // the "isa" option (the host maps SWITCHYARD_CPU_ISA to it)
  int threads = 0;            // the "threads" option (runtime.threads); 0 = all
  CpuFeatures features;
};

struct CpuDevice {
  sy_device object{};
  CpuPlugin* plugin;
  IsaLevel level;
  std::unique_ptr<CpuKernels> kernels;
  SystemMemory memory_at_open;
  std::atomic<uint64_t> allocated_bytes{0};
};

struct CpuBuffer {
  CpuBufferView view;  // first: cpu_kernels.h reads tensors through it
  sy_buffer object{};
  CpuDevice* device;
  bool adopted;             // host memory lent by the core: never freed here
  bool mapped = false;      // memory straight from the kernel (map_huge_aligned): unmapped, not freed
};

CpuPlugin* plugin_of(sy_plugin* plugin) { return static_cast<CpuPlugin*>(plugin->impl); }
CpuDevice* device_of(sy_device* device) { return static_cast<CpuDevice*>(device->impl); }

extern const sy_buffer_vtable kBufferVtable;

CpuBuffer* buffer_of(sy_buffer* buffer, const char* role) {
  if (!buffer) throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string("cpu: ") + role + " buffer is NULL");
  if (buffer->vtable != &kBufferVtable)
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string("cpu: the ") + role +
                                                      " buffer belongs to another plugin; copy it through the host");
  return reinterpret_cast<CpuBuffer*>(static_cast<uint8_t*>(buffer->impl) - offsetof(CpuBuffer, view));
}

void check_range(const sy_buffer* buffer, uint64_t offset, uint64_t size, const char* what) {
  if (offset > buffer->size || size > buffer->size - offset)
    throw StatusError(SY_STATUS_INVALID_ARGUMENT, std::string("cpu: ") + what + " of " + std::to_string(size) +
                                                      " bytes at offset " + std::to_string(offset) +
                                                      " runs past the buffer's " + std::to_string(buffer->size) +
                                                      " bytes");
}

// ---- Buffer ------------------------------------------------------------------------------------------------------

void buffer_destroy(sy_buffer* object) {
  auto* buffer = reinterpret_cast<CpuBuffer*>(static_cast<uint8_t*>(object->impl) - offsetof(CpuBuffer, view));
  if (!buffer->adopted) {
    if (buffer->mapped) munmap(buffer->view.data, object->size);  // munmap rounds the length up to whole pages
    else std::free(buffer->view.data);
    buffer->device->allocated_bytes -= object->size;
  }
  delete buffer;
}

sy_status* buffer_map(sy_buffer* object, void** out_host_pointer) {
  return guard("map", [&] { *out_host_pointer = static_cast<CpuBufferView*>(object->impl)->data; });
}

const sy_buffer_vtable kBufferVtable = {
    .struct_size = sizeof(sy_buffer_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = buffer_destroy,
    .map = buffer_map,
};

CpuBuffer* new_buffer(CpuDevice* device, uint8_t* data, uint64_t size, bool adopted) {
  auto* buffer = new CpuBuffer{{data}, sdk::make_struct<sy_buffer>(), device, adopted};
  buffer->object.vtable = &kBufferVtable;
  buffer->object.impl = &buffer->view;
  buffer->object.size = size;
  return buffer;
}

// ---- Device ------------------------------------------------------------------------------------------------------

void device_destroy(sy_device* object) { delete device_of(object); }

sy_status* device_get_info(sy_device* object, sy_device_info* out) {
  return guard("get_info", [&] {
    const CpuDevice* device = device_of(object);
    const CpuFeatures& features = device->plugin->features;
    sy_device_info info = sdk::make_struct<sy_device_info>();
    info.index = 0;
    info.kind = SY_DEVICE_CPU;
    sdk::copy_text(info.name, features.brand.empty() ? std::string("x86-64 CPU") : features.brand);
    sdk::copy_text(info.arch, architecture_name(features, device->level));
    info.total_memory = device->memory_at_open.total_bytes;
    info.max_allocation = device->memory_at_open.total_bytes;
    // A rough figure for placement: about 10 GB/s per core, saturating around 8 cores on a desktop memory bus.
    info.bandwidth_bytes_per_second = static_cast<uint64_t>(std::min(device->kernels->threads(), 8)) * 10'000'000'000ull;
    info.flags = SY_DEVICE_FLAG_HOST_VISIBLE | SY_DEVICE_FLAG_UNIFIED_MEMORY | SY_DEVICE_FLAG_ADOPTS_HOST_MEMORY;
    info.compute_units = static_cast<uint32_t>(device->kernels->threads());
    info.multipliable_types = device->kernels->weight_types();
    info.storable_types = info.multipliable_types | SY_TYPE_BIT(SY_TYPE_I32) | SY_TYPE_BIT(SY_TYPE_I64);
    info.max_attention_context = 0;  // attention walks the cache in host memory: any length
    info.buffer_alignment = 0;       // the SIMD kernels load unaligned, so any element-aligned offset runs
    // TQ1_0 as TQ2_0: the ternary tiles share their arithmetic (simd_kernels.h), so the results are the same bits,
    // and TQ2_0's codes are one shift and mask where TQ1_0's need five multiply-and-compare steps, which leave its
    // one-token product bound by arithmetic at about half the memory bandwidth (bench/README.md, "Fifth round").
    const uint64_t tq1_0 = SY_TYPE_BIT(static_cast<uint32_t>(sy::gguf::TensorType::TQ1_0));
    const uint64_t tq2_0 = SY_TYPE_BIT(static_cast<uint32_t>(sy::gguf::TensorType::TQ2_0));
    info.reencoded_types = (info.multipliable_types & tq2_0) ? info.multipliable_types & tq1_0 : 0;
    // Copy no more than the host's struct holds: an older host has a shorter struct.
    const uint32_t host_size = out->struct_size;
    std::memcpy(out, &info, std::min<size_t>(host_size, sizeof info));
    out->struct_size = host_size;
  });
}

sy_status* device_memory_free(sy_device* object, uint64_t* out_free_bytes) {
  return guard("memory_free", [&] {
    (void)object;
    *out_free_bytes = read_system_memory().available_bytes;
  });
}

sy_status* device_buffer_allocate(sy_device* object, uint64_t size, sy_buffer** out_buffer) {
  return guard("buffer_allocate", [&] {
    CpuDevice* device = device_of(object);
    const uint64_t capacity = device->memory_at_open.total_bytes;
    // Refuse before asking malloc: an absurd request must be an error, not an OOM kill or a sanitizer abort.
    if (size > capacity || device->allocated_bytes.load() + size > capacity)
      throw StatusError(SY_STATUS_OUT_OF_MEMORY,
                        "cpu: cannot allocate " + std::to_string(size) + " bytes: the CPU device holds " +
                            std::to_string(capacity) + " bytes in all (" +
                            (device->memory_at_open.limited_by.empty() ? std::string("MemTotal")
                                                                       : device->memory_at_open.limited_by) +
                            ") and " + std::to_string(device->allocated_bytes.load()) + " are allocated");
    // Buffers of a huge page or more (weights, when the loader copies them; the KV cache) come straight from the
    // kernel, aligned to 2 MiB and marked for transparent huge pages (common::map_huge_aligned): a decode streams
    // every weight once per token, fewer TLB misses help it, and it ran faster from such memory than from the file's
    // pages (bench/README.md, "Second round"). The tail past the last whole huge page stays in small pages, so
    // nothing beyond the buffer's own pages becomes resident.
    const bool mapped = size >= common::kHugePageBytes;
    uint8_t* data = nullptr;
    if (mapped) {
      void* address = common::map_huge_aligned(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
      if (address != MAP_FAILED) data = static_cast<uint8_t*>(address);
    } else {
      const uint64_t rounded = std::max<uint64_t>(kAlignment, (size + kAlignment - 1) / kAlignment * kAlignment);
      data = static_cast<uint8_t*>(std::aligned_alloc(kAlignment, rounded));
    }
    if (!data)
      throw StatusError(SY_STATUS_OUT_OF_MEMORY, "cpu: the system refused " + std::to_string(size) + " bytes");
    device->allocated_bytes += size;
    CpuBuffer* buffer = new_buffer(device, data, size, false);
    buffer->mapped = mapped;
    *out_buffer = &buffer->object;
  });
}

sy_status* device_buffer_adopt_host(sy_device* object, void* host_pointer, uint64_t size, sy_buffer** out_buffer) {
  return guard("buffer_adopt_host", [&] {
    if (!host_pointer && size > 0)
      throw StatusError(SY_STATUS_INVALID_ARGUMENT, "cpu: buffer_adopt_host was given a NULL pointer");
    *out_buffer = &new_buffer(device_of(object), static_cast<uint8_t*>(host_pointer), size, true)->object;
  });
}

sy_status* device_buffer_upload(sy_device*, sy_buffer* object, uint64_t offset, const void* source, uint64_t size,
                                sy_stream*) {
  return guard("buffer_upload", [&] {
    CpuBuffer* buffer = buffer_of(object, "destination");
    check_range(object, offset, size, "upload");
    if (size) std::memcpy(buffer->view.data + offset, source, size);
  });
}

sy_status* device_buffer_download(sy_device*, sy_buffer* object, uint64_t offset, void* destination, uint64_t size,
                                  sy_stream*) {
  return guard("buffer_download", [&] {
    CpuBuffer* buffer = buffer_of(object, "source");
    check_range(object, offset, size, "download");
    if (size) std::memcpy(destination, buffer->view.data + offset, size);
  });
}

sy_status* device_buffer_copy(sy_device*, sy_buffer* source, uint64_t source_offset, sy_buffer* destination,
                              uint64_t destination_offset, uint64_t size, sy_stream*) {
  return guard("buffer_copy", [&] {
    CpuBuffer* from = buffer_of(source, "source");
    CpuBuffer* to = buffer_of(destination, "destination");
    check_range(source, source_offset, size, "copy source");
    check_range(destination, destination_offset, size, "copy destination");
    if (size) std::memmove(to->view.data + destination_offset, from->view.data + source_offset, size);
  });
}

sy_status* device_synchronize(sy_device*) { return nullptr; }  // every call already completed when it returned

sy_status* device_supports(sy_device* object, const sy_op* op, uint32_t* out_supported) {
  return guard("supports", [&] { *out_supported = device_of(object)->kernels->check_shapes(*op).empty() ? 1 : 0; });
}

sy_status* device_execute(sy_device* object, const sy_op* ops, uint32_t op_count, sy_stream*) {
  return guard("execute", [&] {
    const CpuDevice* device = device_of(object);
    // Validate the whole sequence first: nothing runs if any op would be refused.
    for (uint32_t i = 0; i < op_count; ++i) {
      const sy_op& op = ops[i];
      if (std::string why = device->kernels->check_shapes(op); !why.empty())
        throw StatusError(SY_STATUS_UNSUPPORTED, "cpu: op " + std::to_string(i) + ": " + why);
      if (std::string why = kernels::check_op(op, device->kernels->decoder()); !why.empty())
        throw StatusError(SY_STATUS_INVALID_ARGUMENT, "cpu: op " + std::to_string(i) + ": " + why);
      for (const sy_tensor_ref* ref : {&op.src[0], &op.src[1], &op.src[2], &op.src[3], &op.dst})
        if (ref->buffer) buffer_of(ref->buffer, "op's");
    }
    for (uint32_t i = 0; i < op_count; ++i) {
      try {
        if (ops[i].flags & SY_OP_FLAG_STEP_VALUES) {
          // Execution is synchronous, so the block holds this step's values now; the kernels take them as params.
          sy_op op = ops[i];
          sy_step_values values;
          std::memcpy(&values, buffer_of(op.src[3].buffer, "step values")->view.data + op.src[3].offset, sizeof values);
          if (std::string why = kernels::apply_step_values(op, values); !why.empty())
            throw StatusError(SY_STATUS_INVALID_ARGUMENT, "cpu: op " + std::to_string(i) + ": " + why);
          device->kernels->run(op);
          continue;
        }
        device->kernels->run(ops[i]);
      } catch (const std::out_of_range& error) {  // e.g. a row id past the table: the caller's data is wrong
        throw StatusError(SY_STATUS_INVALID_ARGUMENT, "cpu: op " + std::to_string(i) + ": " + error.what());
      }
    }
  });
}

// Events: every call of this device has completed when it returns, so an event is complete from the start and
// there is nothing to wait for; the slots exist so that the host treats the CPU like any device with events.
extern const sy_event_vtable kEventVtable;

void event_destroy(sy_event* event) { delete event; }
sy_status* event_synchronize(sy_event*) { return nullptr; }

const sy_event_vtable kEventVtable = {
    .struct_size = sizeof(sy_event_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = event_destroy,
    .synchronize = event_synchronize,
};

sy_status* device_event_create(sy_device*, sy_event** out_event) {
  return guard("event_create", [&] {
    auto* event = new sy_event(sdk::make_struct<sy_event>());
    event->vtable = &kEventVtable;
    *out_event = event;
  });
}

sy_status* device_event_record(sy_device*, sy_event* event, sy_stream*) {
  return guard("event_record", [&] {
    if (!event || event->vtable != &kEventVtable)
      throw StatusError(SY_STATUS_INVALID_ARGUMENT, "cpu: event_record was given an event of another plugin");
  });
}

sy_status* device_stream_wait_event(sy_device*, sy_stream*, sy_event* event) {
  return guard("stream_wait_event", [&] {
    if (!event || event->vtable != &kEventVtable)
      throw StatusError(SY_STATUS_UNSUPPORTED, "cpu: cannot wait on an event of another plugin; wait on the host");
  });
}

const sy_device_vtable kDeviceVtable = {
    .struct_size = sizeof(sy_device_vtable),
    .abi_version = SY_ABI_VERSION,
    .destroy = device_destroy,
    .get_info = device_get_info,
    .memory_free = device_memory_free,
    .buffer_allocate = device_buffer_allocate,
    .buffer_adopt_host = device_buffer_adopt_host,
    .buffer_upload = device_buffer_upload,
    .buffer_download = device_buffer_download,
    .buffer_copy = device_buffer_copy,
    .stream_create = nullptr,  // every call is synchronous, so the host passes NULL streams
    .synchronize = device_synchronize,
    .supports = device_supports,
    .execute = device_execute,
    .host_memory_allocate = nullptr,  // nothing to stage: the CPU adopts host memory
    .host_memory_free = nullptr,
    .event_create = device_event_create,
    .event_record = device_event_record,
    .stream_wait_event = device_stream_wait_event,
};

// ---- Plugin ------------------------------------------------------------------------------------------------------

void plugin_destroy(sy_plugin* object) { delete plugin_of(object); }

sy_status* plugin_probe(sy_plugin* object, sy_probe_result* out) {
  return guard("probe", [&] {
    const CpuPlugin* plugin = plugin_of(object);
    std::string note;
    const IsaLevel level = choose_isa_level(plugin->features, plugin->requested_isa, note);
    // Scalar kernels run on any x86-64, so the CPU plugin can always run; SIMD only makes it better.
    out->score = 10 + 5 * static_cast<uint32_t>(level);
    sdk::copy_text(out->reason, "kernels at " + std::string(to_string(level)) + " level; CPU features: " +
                                    describe_features(plugin->features) + (note.empty() ? "" : "; " + note));
  });
}

sy_status* plugin_device_count(sy_plugin*, uint32_t* out_count) {
  *out_count = 1;
  return nullptr;
}

sy_status* plugin_device_open(sy_plugin* object, uint32_t index, sy_device** out_device) {
  return guard("device_open", [&] {
    if (index != 0)
      throw StatusError(SY_STATUS_NOT_FOUND, "cpu: there is one CPU device (index 0), not " + std::to_string(index));
    CpuPlugin* plugin = plugin_of(object);
    std::string note;
    const IsaLevel level = choose_isa_level(plugin->features, plugin->requested_isa, note);
    if (!note.empty()) plugin->log.warn(note);
    auto device = std::make_unique<CpuDevice>();
    device->object = sdk::make_struct<sy_device>();
    device->object.vtable = &kDeviceVtable;
    device->object.impl = device.get();
    device->plugin = plugin;
    device->level = level;
    device->kernels = std::make_unique<CpuKernels>(level, plugin->threads, quant::row_decoder());
    device->memory_at_open = read_system_memory();
    plugin->log.info(std::string("CPU device opened: ") + to_string(level) + " kernels (" +
                     to_string(device->kernels->kernel_set()) + "), " + std::to_string(device->kernels->threads()) +
                     " threads");
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

int parse_threads(const std::string& text, const char* source) {
  try {
    size_t used = 0;
    const int threads = std::stoi(text, &used);
    if (used == text.size() && threads >= 0) return threads;
  } catch (...) {
  }
  throw StatusError(SY_STATUS_INVALID_ARGUMENT,
                    std::string("cpu: ") + source + " is '" + text + "'; use a thread count such as 8 (0 = all cores)");
}

}  // namespace
}  // namespace sy::cpu

extern "C" SY_PLUGIN_EXPORT sy_status* sy_plugin_negotiate(const sy_negotiation_request* request,
                                                            sy_plugin** out_plugin) {
  using namespace sy::cpu;
  return sy::sdk::guard("sy_plugin_negotiate", [&] {
    const uint32_t version = sy::sdk::negotiate_version(request, "cpu plugin");
    auto plugin = std::make_unique<CpuPlugin>();
    plugin->log.attach(request->host);
    // Settings come only from the host (plugins.options, runtime.threads), which has already applied
    // config < environment < flags: reading SWITCHYARD_THREADS here used to override the user's --threads.
    for (uint32_t i = 0; i < request->option_count; ++i) {
      const std::string key = request->options[i].key ? request->options[i].key : "";
      const std::string value = request->options[i].value ? request->options[i].value : "";
      if (key == "isa") plugin->requested_isa = value;
      if (key == "threads") plugin->threads = parse_threads(value, "the 'threads' option");
    }
    plugin->features = detect_cpu_features();
    std::string note;
    try {
      choose_isa_level(plugin->features, plugin->requested_isa, note);  // reject an unknown name now
    } catch (const std::invalid_argument& error) {
      throw sy::sdk::StatusError(SY_STATUS_INVALID_ARGUMENT, std::string("cpu: ") + error.what() +
                                                                 " (the 'isa' option: plugins.options.isa or SWITCHYARD_CPU_ISA)");
    }
    plugin->object = sy::sdk::make_struct<sy_plugin>();
    plugin->object.abi_version = version;
    plugin->object.vtable = &kPluginVtable;
    plugin->object.impl = plugin.get();
    plugin->object.name = kPluginName;
    plugin->object.version = kPluginVersion;
    plugin->object.vendor = kVendor;
    *out_plugin = &plugin.release()->object;
  });
}
