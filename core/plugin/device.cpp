#include "core/plugin/device.h"

#include <utility>

#include "core/common/error.h"
#include "core/plugin/status.h"

namespace sy::plugin {

namespace {

// A slot called through the ABI boundary: whatever a buggy plugin lets escape (a C++ exception of any type; the
// C ABI allows none) becomes sy::Error(plugin) naming the plugin and the call, instead of terminating the host.
template <class Slot>
struct GuardedSlot {
  Slot slot;
  const std::string* owner;
  const char* name;

  explicit operator bool() const { return slot != nullptr; }
  template <class... Args>
  sy_status* operator()(Args&&... args) const {
    try {
      return slot(std::forward<Args>(args)...);
    } catch (const std::exception& error) {
      throw Error(ErrorCode::plugin, *owner + ": " + name + " threw a C++ exception across the C ABI (a plugin bug): " +
                                         error.what());
    } catch (...) {
      throw Error(ErrorCode::plugin, *owner + ": " + name + " threw an exception of unknown type across the C ABI "
                                                            "(a plugin bug)");
    }
  }
};

// A required device slot: a plugin whose vtable lacks it fails the call with a message naming the slot.
template <class Slot>
GuardedSlot<Slot> require_slot(Slot slot, const std::string& owner, const char* name) {
  if (!slot) throw Error(ErrorCode::plugin, owner + ": its device vtable has no '" + name + "' entry; the plugin is "
                                                    "broken or built for another ABI, rebuild it against this SDK");
  return {slot, &owner, name};
}

// An optional slot (nullptr when absent), guarded the same way when present.
template <class Slot>
GuardedSlot<Slot> optional_slot(Slot slot, const std::string& owner, const char* name) {
  return {slot, &owner, name};
}

// The one mapping from the ABI's kinds to the core's. A value this host does not know (a newer ABI's) is neither
// a CPU nor a GPU it could describe better: an accelerator.
DeviceKind device_kind_of(uint32_t abi_kind) {
  switch (abi_kind) {
    case SY_DEVICE_CPU: return DeviceKind::cpu;
    case SY_DEVICE_GPU: return DeviceKind::gpu;
    default: return DeviceKind::accelerator;
  }
}

}  // namespace

// ---- Buffer ------------------------------------------------------------------------------------------------------

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    Buffer doomed(std::move(*this));
    device_ = other.device_;
    raw_ = std::exchange(other.raw_, nullptr);
  }
  return *this;
}

Buffer::~Buffer() {
  if (raw_ && raw_->vtable && raw_->vtable->destroy) raw_->vtable->destroy(raw_);
}

void Buffer::upload(uint64_t offset, const void* source, uint64_t size) {
  const auto* vt = device_->raw_->vtable;
  auto slot = require_slot(SY_VTABLE_SLOT(vt, buffer_upload), device_->owner_, "buffer_upload");
  throw_if_failed(slot(device_->raw_, raw_, offset, source, size, nullptr), device_->owner_, "buffer_upload");
}

void Buffer::upload(uint64_t offset, const void* source, uint64_t size, const Stream& stream) {
  const auto* vt = device_->raw_->vtable;
  auto slot = require_slot(SY_VTABLE_SLOT(vt, buffer_upload), device_->owner_, "buffer_upload");
  throw_if_failed(slot(device_->raw_, raw_, offset, source, size, stream.raw()), device_->owner_, "buffer_upload");
}

void Buffer::download(uint64_t offset, void* destination, uint64_t size) const {
  const auto* vt = device_->raw_->vtable;
  auto slot = require_slot(SY_VTABLE_SLOT(vt, buffer_download), device_->owner_, "buffer_download");
  throw_if_failed(slot(device_->raw_, raw_, offset, destination, size, nullptr), device_->owner_, "buffer_download");
}

void Buffer::download(uint64_t offset, void* destination, uint64_t size, const Stream& stream) const {
  const auto* vt = device_->raw_->vtable;
  auto slot = require_slot(SY_VTABLE_SLOT(vt, buffer_download), device_->owner_, "buffer_download");
  if (sy_status* status = slot(device_->raw_, raw_, offset, destination, size, stream.raw()))
    throw_if_failed(status, device_->owner_, "buffer_download");
}

void* Buffer::map() const {
  auto slot = optional_slot(SY_VTABLE_SLOT(raw_->vtable, map), device_->owner_, "buffer map");
  if (!slot) return nullptr;
  void* pointer = nullptr;
  throw_if_failed(slot(raw_, &pointer), device_->owner_, "buffer map");
  return pointer;
}

// ---- Stream and staging memory ------------------------------------------------------------------------------------

Stream::~Stream() {
  if (raw_ && raw_->vtable && raw_->vtable->destroy) raw_->vtable->destroy(raw_);
}

void Stream::synchronize() const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, synchronize), device_->owner_, "stream synchronize");
  throw_if_failed(slot(raw_), device_->owner_, "stream synchronize");
}

Event::~Event() {
  if (raw_ && raw_->vtable && raw_->vtable->destroy) raw_->vtable->destroy(raw_);
}

void Event::synchronize() const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, synchronize), device_->owner_, "event synchronize");
  if (sy_status* status = slot(raw_)) throw_if_failed(status, device_->owner_, "event synchronize");
}

StagingMemory::~StagingMemory() {
  if (!data_) return;
  if (pinned_) {
    SY_VTABLE_SLOT(device_->raw_->vtable, host_memory_free)(device_->raw_, data_);
  } else {
    delete[] data_;
  }
}

// ---- Device ------------------------------------------------------------------------------------------------------

Device::Device(std::string name, std::string owner, sy_device* raw, uint32_t abi_version)
    : name_(std::move(name)), owner_(std::move(owner)), raw_(raw), abi_version_(abi_version) {
  auto raw_info = sy_device_info{};
  raw_info.struct_size = sizeof raw_info;
  raw_info.abi_version = SY_ABI_VERSION;
  auto get_info = require_slot(SY_VTABLE_SLOT(raw_->vtable, get_info), owner_, "get_info");
  throw_if_failed(get_info(raw_, &raw_info), owner_, "get_info");
  raw_info.name[sizeof raw_info.name - 1] = '\0';  // never trust a plugin to terminate its strings
  raw_info.arch[sizeof raw_info.arch - 1] = '\0';
  info_.index = raw_info.index;
  info_.kind = device_kind_of(raw_info.kind);
  info_.name = raw_info.name;
  info_.arch = raw_info.arch;
  info_.total_memory = raw_info.total_memory;
  info_.max_allocation = raw_info.max_allocation;
  info_.bandwidth_bytes_per_second = raw_info.bandwidth_bytes_per_second;
  info_.flags = raw_info.flags;
  info_.compute_units = raw_info.compute_units;
  info_.storable_types = raw_info.storable_types;
  info_.multipliable_types = raw_info.multipliable_types;
  if (speaks(1, 3)) {  // a 1.2 plugin's struct ends before these; they stay zero (no limits)
    info_.max_attention_context = raw_info.max_attention_context;
    info_.buffer_alignment = raw_info.buffer_alignment;
  }
  if (speaks(1, 5)) info_.reencoded_types = raw_info.reencoded_types;  // a 1.4 plugin's struct ends before it
}

Device::~Device() {
  if (raw_ && raw_->vtable && raw_->vtable->destroy) raw_->vtable->destroy(raw_);
}

uint64_t Device::free_memory() const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, memory_free), owner_, "memory_free");
  uint64_t free_bytes = 0;
  throw_if_failed(slot(raw_, &free_bytes), owner_ + " device " + name_, "memory_free");
  return free_bytes;
}

Buffer Device::allocate(uint64_t size) const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, buffer_allocate), owner_, "buffer_allocate");
  sy_buffer* raw_buffer = nullptr;
  throw_if_failed(slot(raw_, size, &raw_buffer), owner_ + " device " + name_, "buffer_allocate");
  if (!raw_buffer) throw Error(ErrorCode::plugin, owner_ + ": buffer_allocate returned success but no buffer");
  return Buffer(this, raw_buffer);
}

std::optional<Stream> Device::create_stream() const {
  auto slot = optional_slot(SY_VTABLE_SLOT(raw_->vtable, stream_create), owner_, "stream_create");
  if (!slot) return std::nullopt;
  sy_stream* raw_stream = nullptr;
  throw_if_failed(slot(raw_, &raw_stream), owner_ + " device " + name_, "stream_create");
  if (!raw_stream) throw Error(ErrorCode::plugin, owner_ + ": stream_create returned success but no stream");
  return Stream(this, raw_stream);
}

StagingMemory Device::allocate_staging(uint64_t size) const {
  StagingMemory staging;
  staging.device_ = this;
  staging.size_ = size;
  auto allocate = optional_slot(SY_VTABLE_SLOT(raw_->vtable, host_memory_allocate), owner_, "host_memory_allocate");
  auto release = SY_VTABLE_SLOT(raw_->vtable, host_memory_free);
  if (allocate && release) {
    void* pointer = nullptr;
    throw_if_failed(allocate(raw_, size, &pointer), owner_ + " device " + name_, "host_memory_allocate");
    staging.data_ = static_cast<std::byte*>(pointer);
    staging.pinned_ = true;
  } else {
    staging.data_ = new std::byte[size];
  }
  return staging;
}

std::optional<Buffer> Device::adopt_host(void* host_pointer, uint64_t size) const {
  auto slot = optional_slot(SY_VTABLE_SLOT(raw_->vtable, buffer_adopt_host), owner_, "buffer_adopt_host");
  if (!slot) return std::nullopt;
  sy_buffer* raw_buffer = nullptr;
  int32_t code = 0;
  sy_status* status = slot(raw_, host_pointer, size, &raw_buffer);
  if (status) {
    const std::string message = take_status_message(status, &code);
    if (code == SY_STATUS_UNSUPPORTED) return std::nullopt;
    throw Error(error_code_of(code), owner_ + " device " + name_ + ": buffer_adopt_host failed: " + message);
  }
  if (!raw_buffer) throw Error(ErrorCode::plugin, owner_ + ": buffer_adopt_host returned success but no buffer");
  return Buffer(this, raw_buffer);
}

void Device::copy(const Buffer& source, uint64_t source_offset, const Buffer& destination,
                  uint64_t destination_offset, uint64_t size) const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, buffer_copy), owner_, "buffer_copy");
  throw_if_failed(slot(raw_, source.raw(), source_offset, destination.raw(), destination_offset, size, nullptr),
                  owner_ + " device " + name_, "buffer_copy");
}

std::optional<Event> Device::create_event() const {
  if (!speaks(1, 3)) return std::nullopt;
  auto create = optional_slot(SY_VTABLE_SLOT(raw_->vtable, event_create), owner_, "event_create");
  if (!create || !SY_VTABLE_SLOT(raw_->vtable, event_record) || !SY_VTABLE_SLOT(raw_->vtable, stream_wait_event))
    return std::nullopt;
  sy_event* raw_event = nullptr;
  throw_if_failed(create(raw_, &raw_event), owner_ + " device " + name_, "event_create");
  if (!raw_event) throw Error(ErrorCode::plugin, owner_ + ": event_create returned success but no event");
  return Event(this, raw_event);
}

void Device::record(const Event& event, const Stream* stream) const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, event_record), owner_, "event_record");
  if (sy_status* status = slot(raw_, event.raw(), stream ? stream->raw() : nullptr))
    throw_if_failed(status, owner_ + " device " + name_, "event_record");
}

bool Device::wait(const Stream& stream, const Event& event) const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, stream_wait_event), owner_, "stream_wait_event");
  sy_status* status = slot(raw_, stream.raw(), event.raw());
  if (!status) return true;
  int32_t code = 0;
  const std::string message = take_status_message(status, &code);
  if (code == SY_STATUS_UNSUPPORTED) return false;
  throw Error(error_code_of(code), owner_ + " device " + name_ + ": stream_wait_event failed: " + message);
}

bool Device::supports(const sy_op& op) const {
  if (op.flags != 0 && !speaks(1, 3)) return false;  // the field was reserved before 1.3
  if ((op.flags & SY_OP_FLAG_ROPE_SCALING) && !speaks(1, 4)) return false;
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, supports), owner_, "supports");
  uint32_t supported = 0;
  throw_if_failed(slot(raw_, &op, &supported), owner_ + " device " + name_, "supports");
  return supported != 0;
}

void Device::execute(std::span<const sy_op> ops) const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, execute), owner_, "execute");
  // The status is looked at before any message is built: a call that succeeds allocates nothing here.
  if (sy_status* status = slot(raw_, ops.data(), static_cast<uint32_t>(ops.size()), nullptr))
    throw_if_failed(status, owner_ + " device " + name_, "execute");
}

void Device::execute(std::span<const sy_op> ops, const Stream& stream) const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, execute), owner_, "execute");
  if (sy_status* status = slot(raw_, ops.data(), static_cast<uint32_t>(ops.size()), stream.raw()))
    throw_if_failed(status, owner_ + " device " + name_, "execute");
}

void Device::synchronize() const {
  auto slot = require_slot(SY_VTABLE_SLOT(raw_->vtable, synchronize), owner_, "synchronize");
  throw_if_failed(slot(raw_), owner_ + " device " + name_, "synchronize");
}

}  // namespace sy::plugin
