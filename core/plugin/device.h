// C++ handles over the plugin ABI's device, buffer and stream objects: what the rest of the core (placement,
// loader, runtime) uses instead of raw vtables. Every failure arrives as sy::Error naming the device and the call.
#pragma once

#include <switchyard/plugin.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/common/device_kind.h"

namespace sy::plugin {

// A copy of sy_device_info in C++ types.
struct DeviceInfo {
  uint32_t index = 0;
  DeviceKind kind = DeviceKind::cpu;
  std::string name;  // marketing name
  std::string arch;  // "sm_90", "avx512_vnni", ...
  uint64_t total_memory = 0;
  uint64_t max_allocation = 0;
  uint64_t bandwidth_bytes_per_second = 0;
  uint32_t flags = 0;  // SY_DEVICE_FLAG_*
  uint32_t compute_units = 0;
  uint64_t storable_types = 0;     // GGUF type-id mask
  uint64_t multipliable_types = 0; // GGUF type-id mask
  // ABI 1.3 limits (0 from a 1.2 plugin: none).
  uint64_t max_attention_context = 0;  // longest KV cache its attention takes, in positions; 0 = any
  uint32_t buffer_alignment = 0;       // every tensor offset a multiple of this many bytes; 0 = no requirement
  // ABI 1.5 (0 from an older plugin): weight types it multiplies faster re-encoded (core/quant/reencode.h).
  uint64_t reencoded_types = 0;
};

class Device;
class Stream;

// Device memory. Destroying the handle frees the memory; it must not outlive its Device.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept : device_(other.device_), raw_(std::exchange(other.raw_, nullptr)) {}
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  uint64_t size() const { return raw_ ? raw_->size : 0; }
  sy_buffer* raw() const { return raw_; }
  explicit operator bool() const { return raw_ != nullptr; }

  // Synchronous copies between host memory and this buffer.
  void upload(uint64_t offset, const void* source, uint64_t size);
  // Enqueues the copy on `stream`: `source` must stay valid and unchanged until the stream is synchronized.
  void upload(uint64_t offset, const void* source, uint64_t size, const Stream& stream);
  void download(uint64_t offset, void* destination, uint64_t size) const;
  // Enqueues the copy on `stream`: `destination` is written by the time the stream (or an event recorded after
  // this on it) completes.
  void download(uint64_t offset, void* destination, uint64_t size, const Stream& stream) const;
  // The host address of the bytes when the device exposes it (CPU, unified memory), else nullptr.
  void* map() const;

 private:
  friend class Device;
  Buffer(const Device* device, sy_buffer* raw) : device_(device), raw_(raw) {}
  const Device* device_ = nullptr;
  sy_buffer* raw_ = nullptr;
};

// An in-order queue of work on one device. Destroying it waits for the work enqueued on it.
class Stream {
 public:
  Stream() = default;
  Stream(Stream&& other) noexcept : device_(other.device_), raw_(std::exchange(other.raw_, nullptr)) {}
  Stream& operator=(Stream&& other) noexcept {
    Stream doomed(std::move(*this));  // the old stream (if any) is destroyed at the end of this scope
    device_ = other.device_;
    raw_ = std::exchange(other.raw_, nullptr);
    return *this;
  }
  Stream(const Stream&) = delete;
  ~Stream();
  void synchronize() const;
  sy_stream* raw() const { return raw_; }

 private:
  friend class Device;
  Stream(const Device* device, sy_stream* raw) : device_(device), raw_(raw) {}
  const Device* device_ = nullptr;
  sy_stream* raw_ = nullptr;
};

// A point in one device's work (ABI 1.3 events): recorded on a stream, waited for by the host or by another stream
// of the same plugin. Destroying it does not wait.
class Event {
 public:
  Event() = default;
  Event(Event&& other) noexcept : device_(other.device_), raw_(std::exchange(other.raw_, nullptr)) {}
  Event& operator=(Event&& other) noexcept {
    Event doomed(std::move(*this));
    device_ = other.device_;
    raw_ = std::exchange(other.raw_, nullptr);
    return *this;
  }
  Event(const Event&) = delete;
  ~Event();
  // Blocks until the event has completed.
  void synchronize() const;
  sy_event* raw() const { return raw_; }
  const Device* device() const { return device_; }

 private:
  friend class Device;
  Event(const Device* device, sy_event* raw) : device_(device), raw_(raw) {}
  const Device* device_ = nullptr;
  sy_event* raw_ = nullptr;
};

// Host memory for staging uploads to one device: page-locked when the device offers it (faster copies), else
// ordinary heap memory. Freed with the object, which must not outlive its Device.
class StagingMemory {
 public:
  StagingMemory() = default;
  StagingMemory(StagingMemory&& other) noexcept
      : device_(other.device_), data_(std::exchange(other.data_, nullptr)), size_(other.size_), pinned_(other.pinned_) {}
  StagingMemory& operator=(StagingMemory&& other) noexcept {
    StagingMemory doomed(std::move(*this));
    device_ = other.device_;
    data_ = std::exchange(other.data_, nullptr);
    size_ = other.size_;
    pinned_ = other.pinned_;
    return *this;
  }
  StagingMemory(const StagingMemory&) = delete;
  ~StagingMemory();
  std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }
  bool pinned() const { return pinned_; }

 private:
  friend class Device;
  const Device* device_ = nullptr;
  std::byte* data_ = nullptr;
  uint64_t size_ = 0;
  bool pinned_ = false;
};

// One device of one loaded plugin, under its stable inventory name ("cpu", "cuda:0", "simdev:1").
class Device {
 public:
  // `raw` is handed over; `abi_version` is what its plugin negotiated (slots and ops of later minors are not used).
  Device(std::string name, std::string owner, sy_device* raw, uint32_t abi_version = SY_ABI_VERSION);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const std::string& name() const { return name_; }
  // "<plugin name> plugin (<file>)": how error messages name where a failure came from.
  const std::string& owner() const { return owner_; }
  const DeviceInfo& info() const { return info_; }
  sy_device* raw() const { return raw_; }
  uint32_t abi_version() const { return abi_version_; }
  // Whether the plugin negotiated at least ABI major.minor.
  bool speaks(uint32_t major, uint32_t minor) const { return abi_version_ >= SY_ABI_MAKE_VERSION(major, minor); }

  // Live free memory, asked from the plugin each time.
  uint64_t free_memory() const;

  // Throws sy::Error(out_of_memory) when the device cannot hold `size` bytes.
  Buffer allocate(uint64_t size) const;
  // Wraps host memory without copying; nullopt when this device cannot (then allocate and upload). `host_pointer`
  // must stay valid and unchanged for the buffer's life.
  std::optional<Buffer> adopt_host(void* host_pointer, uint64_t size) const;
  void copy(const Buffer& source, uint64_t source_offset, const Buffer& destination, uint64_t destination_offset,
            uint64_t size) const;

  // A stream for asynchronous work; nullopt when the device has none (every call is then synchronous).
  std::optional<Stream> create_stream() const;
  // `size` bytes of staging memory, pinned where the plugin offers it (host_memory_allocate, ABI 1.1).
  StagingMemory allocate_staging(uint64_t size) const;

  // An event (ABI 1.3); nullopt when the plugin has none: hand-offs are then staged (synchronize the stream).
  std::optional<Event> create_event() const;
  // Moves `event` (of this device) to the end of the work enqueued so far on `stream` (nullptr: synchronous work).
  void record(const Event& event, const Stream* stream) const;
  // Makes later work on `stream` (of this device) wait for `event` without blocking the host. False when the
  // plugin cannot wait for that event (one of another plugin): the caller then waits on the host.
  bool wait(const Stream& stream, const Event& event) const;

  // Whether execute would take `op`. An op using a later ABI minor than the plugin negotiated (flags) is refused
  // here without asking it.
  bool supports(const sy_op& op) const;
  // Runs `ops` in order and waits for them.
  void execute(std::span<const sy_op> ops) const;
  // Enqueues `ops` on `stream`: they and the buffers they name are borrowed until the stream has run them.
  void execute(std::span<const sy_op> ops, const Stream& stream) const;
  void synchronize() const;

 private:
  friend class Buffer;
  friend class Stream;
  friend class StagingMemory;
  friend class Event;
  std::string name_;
  std::string owner_;
  sy_device* raw_;
  uint32_t abi_version_;
  DeviceInfo info_;
};

}  // namespace sy::plugin
