/* The Switchyard plugin ABI: the only thing a backend plugin and the Switchyard core share. Plain C11, so a plugin
 * can be written in any language and built against this header alone; the core (core/plugin) loads plugins at run
 * time and reaches devices, buffers and kernels only through the tables below.
 *
 * Rules that hold for everything in this file:
 *  - A plugin exports exactly one symbol, sy_plugin_negotiate (see the end of the file).
 *  - Every struct begins with { uint32_t struct_size; uint32_t abi_version; }. The writer of a struct fills both;
 *    the reader never touches a field that lies beyond struct_size, so a minor version may append fields.
 *  - Versions are SY_ABI_MAKE_VERSION(major, minor). A different major means "nothing else here is compatible":
 *    the host then calls nothing but the plugin's destroy.
 *  - Every call returns a sy_status* (NULL = ok). Nothing throws across this boundary: a C++ plugin catches
 *    everything inside each entry point (switchyard/plugin_helpers.hpp does it for you).
 *  - Vtables begin with the header, then destroy. A slot marked (optional) may be NULL; its default is spelled out.
 *  - Each pointer parameter says in one sentence whether it is borrowed (valid for the call only unless said
 *    otherwise), copied, or handed over (the receiver now owns it and must destroy it).
 *  - Tensor element types are GGUF tensor type ids (ggml's enum ggml_type): 0 = F32, 1 = F16, 2 = Q4_0,
 *    8 = Q8_0, 30 = BF16, ... Type sets are 64-bit masks with bit `id` set for type id `id` (ids 0..63).
 */
#ifndef SWITCHYARD_PLUGIN_H
#define SWITCHYARD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------------------
 * Versions and export
 * ------------------------------------------------------------------------------------------------------------- */

#define SY_ABI_MAKE_VERSION(major, minor) ((uint32_t)(((uint32_t)(major) << 16) | ((uint32_t)(minor) & 0xffffu)))
#define SY_ABI_VERSION_MAJOR_OF(version) ((uint32_t)(version) >> 16)
#define SY_ABI_VERSION_MINOR_OF(version) ((uint32_t)(version) & 0xffffu)

/* The version this header describes. Bump the minor when appending fields or slots, the major for anything else. */
#define SY_ABI_VERSION_MAJOR 1
#define SY_ABI_VERSION_MINOR 5
#define SY_ABI_VERSION SY_ABI_MAKE_VERSION(SY_ABI_VERSION_MAJOR, SY_ABI_VERSION_MINOR)

#if defined(_WIN32)
#define SY_PLUGIN_EXPORT __declspec(dllexport)
#else
#define SY_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Fills the two header fields of any ABI struct `s` (an lvalue) for this header's version. */
#define SY_STRUCT_INIT(s)                        \
  do {                                           \
    (s).struct_size = (uint32_t)sizeof(s);       \
    (s).abi_version = SY_ABI_VERSION;            \
  } while (0)

/* GGUF tensor type ids the ops below name directly. Any other id (quantized types) may appear where a op says so. */
#define SY_TYPE_F32 0u
#define SY_TYPE_F16 1u
#define SY_TYPE_I32 26u
#define SY_TYPE_I64 27u
#define SY_TYPE_BF16 30u
#define SY_TYPE_BIT(type_id) ((uint64_t)1 << (type_id))

/* ---------------------------------------------------------------------------------------------------------------
 * Status: how every call reports failure
 * ------------------------------------------------------------------------------------------------------------- */

typedef enum sy_status_code {
  SY_STATUS_INVALID_ARGUMENT = 1, /* the caller passed something impossible (bad size, offset, shape) */
  SY_STATUS_NOT_FOUND = 2,        /* no such device, option or entry */
  SY_STATUS_UNSUPPORTED = 3,      /* well-formed, but this plugin or device cannot do it (op, type, feature) */
  SY_STATUS_OUT_OF_MEMORY = 4,    /* the device (or the plugin's host memory) is exhausted */
  SY_STATUS_ABI_MISMATCH = 5,     /* negotiation: no common ABI version */
  SY_STATUS_DEVICE_ERROR = 6,     /* the driver or hardware failed (lost device, launch failure) */
  SY_STATUS_INTERNAL = 7          /* a bug or an unexpected exception inside the plugin */
} sy_status_code;

/* A failure. Created by the plugin, read by the host, then released exactly once by the host with `release`. */
typedef struct sy_status {
  uint32_t struct_size;
  uint32_t abi_version;
  int32_t code;        /* a sy_status_code */
  const char* message; /* one sentence naming what failed and what to do; owned by the status, valid until release */
  /* Frees the status and its message. `status` is handed over: it must not be used afterwards. */
  void (*release)(struct sy_status* status);
} sy_status;

/* ---------------------------------------------------------------------------------------------------------------
 * Host services: what the core lends a plugin
 * ------------------------------------------------------------------------------------------------------------- */

typedef enum sy_log_level {
  SY_LOG_DEBUG = 0,
  SY_LOG_INFO = 1,
  SY_LOG_WARN = 2,
  SY_LOG_ERROR = 3
} sy_log_level;

typedef struct sy_host_services {
  uint32_t struct_size;
  uint32_t abi_version;
  void* context; /* opaque to the plugin; passed back as the first argument of every service */
  /* Writes one log line through the host's logger. `message` is borrowed for the call. Thread-safe. */
  void (*log)(void* context, sy_log_level level, const char* message);
} sy_host_services;

/* A key=value setting from the run config, e.g. ("threads", "8") or ("isa", "avx2"). */
typedef struct sy_option {
  uint32_t struct_size;
  uint32_t abi_version;
  const char* key;   /* borrowed for the negotiation call: copy what you keep */
  const char* value; /* borrowed for the negotiation call: copy what you keep */
} sy_option;

/* ---------------------------------------------------------------------------------------------------------------
 * Objects. Every object is { header, vtable, impl }: the host calls object->vtable->slot(object, ...), the plugin
 * keeps its own state behind `impl`. Objects handed to the host are destroyed by the host with vtable->destroy.
 * ------------------------------------------------------------------------------------------------------------- */

typedef struct sy_plugin sy_plugin;
typedef struct sy_device sy_device;
typedef struct sy_buffer sy_buffer;
typedef struct sy_stream sy_stream;
typedef struct sy_op sy_op;
typedef struct sy_event sy_event;

/* ---------------------------------------------------------------------------------------------------------------
 * Plugin
 * ------------------------------------------------------------------------------------------------------------- */

/* What a probe found: can this plugin run on this machine at all, and how well. */
typedef struct sy_probe_result {
  uint32_t struct_size;
  uint32_t abi_version;
  uint32_t score;   /* 0 = cannot run here; otherwise higher is better (CPU baseline 10, GPUs 100) */
  char reason[256]; /* NUL-terminated; when score is 0, the one sentence saying why (e.g. the driver's error text) */
} sy_probe_result;

typedef struct sy_plugin_vtable {
  uint32_t struct_size;
  uint32_t abi_version;
  /* Releases the plugin. Called once, after every object obtained from it has been destroyed. `plugin` is handed
   * over. Cannot fail. */
  void (*destroy)(sy_plugin* plugin);
  /* Looks at the machine (CPU features, driver, devices). `out` is borrowed; the host set its header. */
  sy_status* (*probe)(sy_plugin* plugin, sy_probe_result* out);
  /* Number of devices this plugin can open on this machine (0 is a valid answer). `out_count` is borrowed. */
  sy_status* (*device_count)(sy_plugin* plugin, uint32_t* out_count);
  /* Opens device `index` (< device_count). `*out_device` is handed over to the host. */
  sy_status* (*device_open)(sy_plugin* plugin, uint32_t index, sy_device** out_device);
} sy_plugin_vtable;

struct sy_plugin {
  uint32_t struct_size;
  uint32_t abi_version; /* the version the plugin speaks in this session: within the host's range */
  const sy_plugin_vtable* vtable; /* owned by the plugin; valid until destroy */
  void* impl;                     /* the plugin's own state; never touched by the host */
  const char* name;    /* short lowercase id used in device names, e.g. "cpu", "cuda"; owned by the plugin */
  const char* version; /* the plugin's own version, e.g. "0.1.0"; owned by the plugin */
  const char* vendor;  /* who built it, e.g. "Switchyard project"; owned by the plugin */
};

/* ---------------------------------------------------------------------------------------------------------------
 * Device
 * ------------------------------------------------------------------------------------------------------------- */

typedef enum sy_device_kind {
  SY_DEVICE_CPU = 0,
  SY_DEVICE_GPU = 1,
  SY_DEVICE_ACCELERATOR = 2
} sy_device_kind;

#define SY_DEVICE_FLAG_HOST_VISIBLE 0x1u /* the host can read the device's buffers directly (see buffer map) */
#define SY_DEVICE_FLAG_UNIFIED_MEMORY 0x2u /* device and host share one physical memory */
#define SY_DEVICE_FLAG_ADOPTS_HOST_MEMORY 0x4u /* buffer_adopt_host works without copying */

typedef struct sy_device_info {
  uint32_t struct_size;
  uint32_t abi_version;
  uint32_t index;               /* the index it was opened with */
  uint32_t kind;                /* a sy_device_kind */
  char name[128];               /* NUL-terminated marketing name, e.g. "NVIDIA H100 80GB HBM3" */
  char arch[64];                /* NUL-terminated architecture, e.g. "sm_90", "gfx942", "avx512_vnni" */
  uint64_t total_memory;        /* bytes the device can hold in all */
  uint64_t max_allocation;      /* largest single buffer_allocate that can succeed, in bytes */
  uint64_t bandwidth_bytes_per_second; /* memory bandwidth estimate for placement decisions; 0 = unknown */
  uint32_t flags;               /* SY_DEVICE_FLAG_* */
  uint32_t compute_units;       /* threads, SMs or CUs the kernels use */
  uint64_t storable_types;      /* type mask: tensors of these types can live in this device's buffers */
  uint64_t multipliable_types;  /* type mask: weight types SY_OP_MATMUL and SY_OP_GET_ROWS accept */
  /* --- ABI 1.3 (a 1.2 plugin leaves these zero: no limit, no alignment beyond the elements' own) --- */
  /* Longest KV cache SY_OP_ATTENTION takes (its kv_capacity), in positions; 0 = no limit. The planner puts no
   * layer's attention on a device whose limit is below the run's context length, and says so in the plan. */
  uint64_t max_attention_context;
  /* Bytes (a power of two, or 0 = none) that every sy_tensor_ref.offset the host passes must be a multiple of,
   * e.g. for vector loads. The host lays its activations out accordingly; a device needing more than the host
   * can give (256 in this release) is left out of placement, with a plan note. */
  uint32_t buffer_alignment;
  uint32_t reserved; /* zero */
  /* --- ABI 1.5 (a 1.4 plugin's struct ends before this: zero, every weight kept in its file's type) --- */
  /* Type mask: weight types this device multiplies faster once the host re-encodes them, without changing a value,
   * into the type it pairs with each. This release pairs one: TQ1_0 as TQ2_0 (the same ternary codes and block
   * scales, 2 bits per element instead of 1.6875, so 22% more bytes). The paired type must be in
   * multipliable_types; its results must equal the file type's bit for bit. The planner then stores such weights
   * re-encoded and counts the paired type's bytes, unless the run config's placement.reencode is false or the model
   * fits only in the file's types, and says so in the plan. */
  uint64_t reencoded_types;
} sy_device_info;

typedef struct sy_device_vtable {
  uint32_t struct_size;
  uint32_t abi_version;
  /* Closes the device. Every buffer and stream of it must have been destroyed. `device` is handed over. */
  void (*destroy)(sy_device* device);
  /* Static facts. `out` is borrowed; the host set its header. */
  sy_status* (*get_info)(sy_device* device, sy_device_info* out);
  /* Live free memory in bytes, asked again each time the host plans. `out_free_bytes` is borrowed. */
  sy_status* (*memory_free)(sy_device* device, uint64_t* out_free_bytes);

  /* Allocates `size` bytes of device memory (uninitialised). Too large => SY_STATUS_OUT_OF_MEMORY, never a crash.
   * `*out_buffer` is handed over to the host. */
  sy_status* (*buffer_allocate)(sy_device* device, uint64_t size, sy_buffer** out_buffer);
  /* (optional; NULL = not possible, the host allocates and uploads instead) Wraps `size` bytes of host memory at
   * `host_pointer` as a buffer without copying. `host_pointer` is borrowed for the buffer's whole life: the host
   * keeps that memory (e.g. a memory-mapped model) valid and unchanged until the buffer is destroyed. A device
   * that cannot read that memory returns SY_STATUS_UNSUPPORTED. `*out_buffer` is handed over to the host. */
  sy_status* (*buffer_adopt_host)(sy_device* device, void* host_pointer, uint64_t size, sy_buffer** out_buffer);
  /* Copies `size` bytes from host memory `source` into `buffer` at `offset`. `source` is borrowed until the copy
   * completes: the end of the call when `stream` is NULL, else the next synchronize of `stream`. */
  sy_status* (*buffer_upload)(sy_device* device, sy_buffer* buffer, uint64_t offset, const void* source,
                              uint64_t size, sy_stream* stream);
  /* Copies `size` bytes from `buffer` at `offset` into host memory `destination`. `destination` is borrowed until
   * the copy completes (as for upload). */
  sy_status* (*buffer_download)(sy_device* device, sy_buffer* buffer, uint64_t offset, void* destination,
                                uint64_t size, sy_stream* stream);
  /* Copies between two buffers of this device; the ranges must not overlap. Both buffers are borrowed. */
  sy_status* (*buffer_copy)(sy_device* device, sy_buffer* source, uint64_t source_offset, sy_buffer* destination,
                            uint64_t destination_offset, uint64_t size, sy_stream* stream);

  /* (optional; NULL = the device is synchronous and the host passes NULL streams) Creates an in-order queue of
   * work. `*out_stream` is handed over to the host. */
  sy_status* (*stream_create)(sy_device* device, sy_stream** out_stream);
  /* Waits until everything enqueued on every stream of this device has completed. */
  sy_status* (*synchronize)(sy_device* device);

  /* Whether `execute` would accept `op` (its kind, its tensors' types and, where given, its shapes; buffers may be
   * NULL). Sets *out_supported to 1 or 0. `op` is borrowed for the call. */
  sy_status* (*supports)(sy_device* device, const sy_op* op, uint32_t* out_supported);
  /* Runs `op_count` ops in order on `stream` (NULL = run now and return when done). A GPU plugin may fuse or
   * capture the sequence; results must be as if run one by one. `ops` and the buffers they name are borrowed until
   * completion. Fails with SY_STATUS_UNSUPPORTED, without running any op, if `supports` would reject one. */
  sy_status* (*execute)(sy_device* device, const sy_op* ops, uint32_t op_count, sy_stream* stream);

  /* --- ABI 1.1 --- */
  /* (optional; NULL = the host stages uploads in ordinary pageable memory) Allocates `size` bytes of host memory
   * this device copies from fastest (page-locked, "pinned"), for the host's upload staging buffers.
   * `*out_host_pointer` is handed over to the host, which gives it back through host_memory_free. */
  sy_status* (*host_memory_allocate)(sy_device* device, uint64_t size, void** out_host_pointer);
  /* (optional; set exactly when host_memory_allocate is) Frees memory from host_memory_allocate; work reading it
   * must have completed. `host_pointer` is handed over. */
  void (*host_memory_free)(sy_device* device, void* host_pointer);

  /* --- ABI 1.3: hand-offs between devices without a full synchronisation ---
   * An activation made on device A and read on device B crosses through host memory. With events, A's download is
   * enqueued on A's stream and an event recorded after it; B's stream waits for that event on the device
   * (stream_wait_event, between devices of one plugin) or the host waits for that event alone (event synchronize,
   * across plugins), and B's upload follows on B's stream: nothing else on A or B is waited for.
   * Without these slots (optional, all NULL together) the host stages the copy instead: download on A's stream,
   * synchronize that stream only, upload on B's stream. */
  /* (optional; NULL = no events, the staged copy above) Creates an event, initially complete. `*out_event` is
   * handed over to the host. */
  sy_status* (*event_create)(sy_device* device, sy_event** out_event);
  /* (optional; set exactly when event_create is) Marks `event` (of this device) as completing when everything
   * enqueued on `stream` so far has completed; a NULL stream (synchronous work) completes it at once. Both are
   * borrowed. Re-recording an event moves it to the new point. */
  sy_status* (*event_record)(sy_device* device, sy_event* event, sy_stream* stream);
  /* (optional; set exactly when event_create is) Work enqueued on `stream` (of this device) after this call starts
   * only once `event` has completed, without blocking the host. `event` may belong to another device of the same
   * plugin; an event of another plugin is refused with SY_STATUS_UNSUPPORTED (the host then waits on the host).
   * Both are borrowed. */
  sy_status* (*stream_wait_event)(sy_device* device, sy_stream* stream, sy_event* event);
} sy_device_vtable;

struct sy_device {
  uint32_t struct_size;
  uint32_t abi_version;
  const sy_device_vtable* vtable; /* owned by the plugin; valid until destroy */
  void* impl;
};

/* ---------------------------------------------------------------------------------------------------------------
 * Buffer and stream
 * ------------------------------------------------------------------------------------------------------------- */

typedef struct sy_buffer_vtable {
  uint32_t struct_size;
  uint32_t abi_version;
  /* Frees the device memory (an adopted host range is left alone). Work using it must have completed. `buffer` is
   * handed over. */
  void (*destroy)(sy_buffer* buffer);
  /* (optional; NULL = never host-visible) Sets *out_host_pointer to a host address for the buffer's bytes, or to
   * NULL when this buffer is not host-visible. The address is owned by the buffer and valid until destroy. */
  sy_status* (*map)(sy_buffer* buffer, void** out_host_pointer);
} sy_buffer_vtable;

struct sy_buffer {
  uint32_t struct_size;
  uint32_t abi_version;
  const sy_buffer_vtable* vtable; /* owned by the plugin */
  void* impl;
  uint64_t size; /* bytes; set by the plugin, read-only for the host */
};

typedef struct sy_stream_vtable {
  uint32_t struct_size;
  uint32_t abi_version;
  /* Waits for the stream's work, then releases it. `stream` is handed over. */
  void (*destroy)(sy_stream* stream);
  /* Blocks until everything enqueued on this stream has completed; reports the first failure of that work. */
  sy_status* (*synchronize)(sy_stream* stream);
} sy_stream_vtable;

struct sy_stream {
  uint32_t struct_size;
  uint32_t abi_version;
  const sy_stream_vtable* vtable; /* owned by the plugin */
  void* impl;
};

/* ABI 1.3: a point in a stream's work (see event_record). */
typedef struct sy_event_vtable {
  uint32_t struct_size;
  uint32_t abi_version;
  /* Releases the event; work still to complete it is not waited for. `event` is handed over. */
  void (*destroy)(sy_event* event);
  /* Blocks the host until the event has completed; reports the first failure of the work before it. */
  sy_status* (*synchronize)(sy_event* event);
} sy_event_vtable;

struct sy_event {
  uint32_t struct_size;
  uint32_t abi_version;
  const sy_event_vtable* vtable; /* owned by the plugin */
  void* impl;
};

/* ---------------------------------------------------------------------------------------------------------------
 * Ops: what a device computes. Tensors are dense and row-major in ggml order (the first dimension named varies
 * fastest); a row of a quantized type is whole blocks. Shapes below are written [slowest, ..., fastest].
 * Unless an op says otherwise, every tensor is F32, the destination does not overlap a source, and sizes are > 0.
 * ------------------------------------------------------------------------------------------------------------- */

/* A tensor inside a buffer. A value embedded in sy_op, versioned by the op's header, so it has none of its own. */
typedef struct sy_tensor_ref {
  sy_buffer* buffer; /* borrowed; NULL only in a `supports` query */
  uint64_t offset;   /* bytes from the start of the buffer */
  uint32_t type;     /* GGUF tensor type id */
  uint32_t reserved; /* zero */
} sy_tensor_ref;

typedef enum sy_op_kind {
  /* dst[i, :] = dequantize(table[ids[i], :]). table [n_table_rows, n_cols] of any multipliable type;
   * ids [n_ids] I32 (each < n_table_rows); dst [n_ids, n_cols] F32.
   * Quantized operands are GGUF rows of whole blocks. I2_S (type 36, the BitNet b1.58 ternary type) is the one
   * exception, for this op, SY_OP_MATMUL and SY_OP_CONVERT: its operand is the whole tensor, rows * cols / 4 bytes
   * of 2-bit codes in 128-element blocks followed by the 32-byte tail whose first 4 bytes hold the tensor's one
   * float scale; the tail is part of the operand (bounds checks cover it) and cols must be a multiple of 128. */
  SY_OP_GET_ROWS = 1,
  /* dst[t, o] = sum_i weight[o, i] * x[t, i]. weight [n_out, n_in] of any multipliable type (I2_S: the whole
   * tensor with its scale tail, n_in a multiple of 128; see SY_OP_GET_ROWS); x [n_tokens, n_in];
   * dst [n_tokens, n_out]. */
  SY_OP_MATMUL = 2,
  /* dst[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * weight[:]. x, dst [n_rows, n_cols]; weight [n_cols] or
   * buffer NULL for none. dst may equal x. */
  SY_OP_RMS_NORM = 3,
  /* dst[r, c] = a[r, c] * b[r % b_rows, c]. a, dst [n_rows, n_cols]; b [b_rows, n_cols], n_rows % b_rows == 0
   * (b_rows = 1 broadcasts one row). dst may equal a. */
  SY_OP_MUL = 4,
  /* As SY_OP_MUL with +. */
  SY_OP_ADD = 5,
  /* Rotary embedding, llama "normal" mode (adjacent pairs). x, dst [n_tokens, n_heads, head_dim]; positions
   * [n_tokens] I32. For pair k < n_rot/2: theta = positions[t] * freq_scale * freq_base^(-2k/n_rot), and
   * (x0, x1) = (x[2k], x[2k+1]) becomes (x0 cos - x1 sin, x0 sin + x1 cos); dims >= n_rot are copied. dst may
   * equal x. */
  SY_OP_ROPE = 6,
  /* Causal attention over a KV cache with grouped heads. q, dst [n_tokens, n_heads, head_dim];
   * k_cache, v_cache [kv_capacity, n_kv_heads, head_dim] of F32 or F16. Query token t sits at position
   * n_kv - n_tokens + t and attends to cache positions 0..that one; head h reads KV head h / (n_heads/n_kv_heads).
   * dst = softmax(scale * q k^T) v. */
  SY_OP_ATTENTION = 7,
  /* dst = silu(gate) * up, silu(x) = x / (1 + exp(-x)). gate, up, dst [n_rows, n_cols]. */
  SY_OP_SWIGLU = 8,
  /* cache[first_position + t, :] = convert(x[t, :]). x [n_tokens, row_size] F32; cache [kv_capacity, row_size]
   * F32 or F16, with first_position + n_tokens <= kv_capacity. */
  SY_OP_KV_WRITE = 9,
  /* dst = convert(src) for n elements; src of F32/F16/BF16 or any multipliable type (I2_S: a whole tensor of n
   * elements with its scale tail), dst F32/F16/BF16. */
  SY_OP_CONVERT = 10,
  /* --- ABI 1.2 (a plugin that negotiated 1.1 never receives these; `supports` answers 0 for kinds it lacks) --- */
  /* Rotary embedding, NEOX mode (qwen2, bitnet): as SY_OP_ROPE (same params) but pair k < n_rot/2 is
   * (x[k], x[k + n_rot/2]) instead of (x[2k], x[2k+1]). */
  SY_OP_ROPE_NEOX = 11,
  /* dst = relu(gate)^2 * up (BitNet b1.58's feed-forward gate). Params and tensors as SY_OP_SWIGLU. */
  SY_OP_SQUARED_RELU_GLU = 12
} sy_op_kind;
#define SY_OP_KIND_COUNT 13

/* ABI 1.3: per-step values. A decode step differs from the previous one only in where its token sits; with
 * SY_OP_FLAG_STEP_VALUES an op reads that from a sy_step_values block in device memory when it runs, so the host
 * builds a decode op sequence once and submits the same ops for every token, updating only the block (and the
 * positions tensor of the ropes), and a GPU plugin may capture the sequence once and replay it. */
typedef struct sy_step_values {
  int64_t first_position; /* cache position of the step's first token: the positions cached before the step */
  int64_t n_kv;           /* positions cached once the step's tokens are written: first_position + n_tokens */
} sy_step_values;

/* sy_op.flags (ABI 1.3; a plugin that negotiated 1.2 never receives a non-zero flags field). */
/* Only on SY_OP_KV_WRITE and SY_OP_ATTENTION: src[3] names a sy_step_values (type SY_TYPE_I64, 16 bytes), read
 * when the op runs. KV_WRITE takes its first_position, ATTENTION its n_kv, in place of params.kv_write.
 * first_position and params.attention.n_kv, which are then ignored. The values read must obey the rules the
 * params would (first_position + n_tokens <= kv_capacity, n_tokens <= n_kv <= kv_capacity): a plugin that reads
 * them on the host refuses others with SY_STATUS_INVALID_ARGUMENT, a kernel that reads them clamps them into
 * range. Resource limits that depend on n_kv (max_attention_context) apply to kv_capacity instead. */
#define SY_OP_FLAG_STEP_VALUES 0x1u
/* ABI 1.4, only on SY_OP_ROPE and SY_OP_ROPE_NEOX: rope scaling as YaRN and llama3-style models need it. The op
 * reads params.rope's fields after freq_scale (n_ctx_orig, ext_factor, attn_factor, beta_fast, beta_slow), and
 * src[2] names the per-frequency factors: F32 [n_rot/2], or buffer NULL for none. With theta_scale =
 * freq_base^(-2/n_rot) and, for pair k, theta_extrap = positions[t] * theta_scale^k / factors[k] (1 without
 * factors) and theta_interp = freq_scale * theta_extrap:
 *   corr_dim(b) = n_rot * log(n_ctx_orig / (b * 2 pi)) / (2 log(freq_base));
 *   low = max(0, floor(corr_dim(beta_fast))), high = min(n_rot - 1, ceil(corr_dim(beta_slow)));
 *   ramp(k) = 1 - clamp((k - low) / max(0.001, high - low), 0, 1);
 *   ext_factor != 0: mix = ramp(k) * ext_factor, theta = theta_interp * (1 - mix) + theta_extrap * mix,
 *                    mscale = attn_factor * (1 + 0.1 log(1 / freq_scale));
 *   ext_factor == 0: theta = theta_interp, mscale = attn_factor;
 * and the pair is rotated by (cos theta * mscale, sin theta * mscale). Without the flag (and before 1.4) the op is
 * the same with ext_factor 0, attn_factor 1 and no factors. n_ctx_orig > 0, freq_scale > 0, the floats finite.
 * A plugin that negotiated 1.3 or earlier never receives this flag. */
#define SY_OP_FLAG_ROPE_SCALING 0x2u

struct sy_op {
  uint32_t struct_size;
  uint32_t abi_version;
  uint32_t kind;  /* a sy_op_kind */
  uint32_t flags; /* SY_OP_FLAG_* (ABI 1.3; zero before, when the field was reserved; each flag names its minor) */
  /* Sources in the order the op names them (e.g. MATMUL: weight, x; ATTENTION: q, k_cache, v_cache), then dst. */
  sy_tensor_ref src[4];
  sy_tensor_ref dst;
  union {
    struct { int64_t n_table_rows, n_cols, n_ids; } get_rows;          /* src: table, ids */
    struct { int64_t n_out, n_in, n_tokens; } matmul;                 /* src: weight, x */
    struct { int64_t n_rows, n_cols; float eps; } rms_norm;           /* src: x, weight */
    struct { int64_t n_rows, n_cols, b_rows; } binary;                /* MUL, ADD; src: a, b */
    struct {
      int64_t n_tokens, n_heads, head_dim, n_rot;
      float freq_base, freq_scale;
      /* --- ABI 1.4: read only with SY_OP_FLAG_ROPE_SCALING --- */
      int32_t n_ctx_orig; /* context length the model was trained with before scaling */
      float ext_factor, attn_factor, beta_fast, beta_slow;
    } rope; /* ROPE, ROPE_NEOX; src: x, positions (, freq factors: see flags) */
    struct { int64_t n_tokens, n_heads, n_kv_heads, head_dim, n_kv, kv_capacity; float scale; } attention;
                                                    /* src: q, k_cache, v_cache (, step values: see flags) */
    struct { int64_t n_rows, n_cols; } swiglu;                          /* SWIGLU, SQUARED_RELU_GLU; src: gate, up */
    struct { int64_t n_tokens, row_size, first_position, kv_capacity; } kv_write; /* src: x (, -, -, step values:
                                                                                      see flags); dst: the cache */
    struct { int64_t n; } convert;                                      /* src: source */
    int64_t reserved[8];
  } params;
};

/* ---------------------------------------------------------------------------------------------------------------
 * Negotiation: the one exported symbol
 * ------------------------------------------------------------------------------------------------------------- */

typedef struct sy_negotiation_request {
  uint32_t struct_size;
  uint32_t abi_version;     /* the host's own version */
  uint32_t min_abi_version; /* the oldest version the host still speaks */
  uint32_t max_abi_version; /* the newest version the host speaks */
  const sy_host_services* host; /* borrowed for the life of the process: the plugin may keep the pointer */
  const sy_option* options;     /* borrowed for the call: `option_count` settings from the run config */
  uint32_t option_count;
  uint32_t reserved;
} sy_negotiation_request;

#define SY_PLUGIN_NEGOTIATE_SYMBOL "sy_plugin_negotiate"

/* Picks an ABI version in [min_abi_version, max_abi_version] and returns the plugin object speaking it.
 * `request` is borrowed for the call (except `host`, see above). `*out_plugin` is handed over to the host.
 * No common version => SY_STATUS_ABI_MISMATCH and *out_plugin untouched. */
typedef sy_status* (*sy_plugin_negotiate_fn)(const sy_negotiation_request* request, sy_plugin** out_plugin);

SY_PLUGIN_EXPORT sy_status* sy_plugin_negotiate(const sy_negotiation_request* request, sy_plugin** out_plugin);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SWITCHYARD_PLUGIN_H */
