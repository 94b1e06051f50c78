/* Compiles <switchyard/plugin.h> as C11 with pedantic warnings: the ABI must stay plain C so a plugin can be
 * written in any language. Also a minimal C plugin object, to show the header is usable from C, not just parsable. */
#include <switchyard/plugin.h>

#include <stdio.h>
#include <string.h>

static sy_status* probe(sy_plugin* plugin, sy_probe_result* out) {
  (void)plugin;
  out->score = 1;
  strcpy(out->reason, "c plugin");
  return NULL;
}

static sy_status* device_count(sy_plugin* plugin, uint32_t* out_count) {
  (void)plugin;
  *out_count = 0;
  return NULL;
}

static void destroy(sy_plugin* plugin) { (void)plugin; }

int main(void) {
  sy_plugin_vtable vtable;
  sy_plugin plugin;
  sy_probe_result result;
  sy_op op;
  memset(&vtable, 0, sizeof vtable);
  memset(&plugin, 0, sizeof plugin);
  memset(&result, 0, sizeof result);
  memset(&op, 0, sizeof op);
  SY_STRUCT_INIT(vtable);
  SY_STRUCT_INIT(plugin);
  SY_STRUCT_INIT(result);
  SY_STRUCT_INIT(op);
  vtable.destroy = destroy;
  vtable.probe = probe;
  vtable.device_count = device_count;
  plugin.vtable = &vtable;
  op.kind = SY_OP_MATMUL;
  op.params.matmul.n_out = 2;
  op.src[0].type = SY_TYPE_F16;
  {
    /* ABI 1.3 from C: a per-step values block named by an op's flags, and an event's vtable. */
    sy_step_values step;
    sy_event_vtable event_vtable;
    memset(&event_vtable, 0, sizeof event_vtable);
    SY_STRUCT_INIT(event_vtable);
    step.first_position = 3;
    step.n_kv = 4;
    op.flags = SY_OP_FLAG_STEP_VALUES;
    op.src[3].type = SY_TYPE_I64;
    if (step.n_kv - step.first_position != 1 || event_vtable.struct_size != sizeof(sy_event_vtable)) return 1;
    op.flags = 0;
  }
  if (plugin.vtable->probe(&plugin, &result) != NULL || result.score != 1) return 1;
  if (SY_ABI_VERSION_MAJOR_OF(SY_ABI_VERSION) != SY_ABI_VERSION_MAJOR) return 1;
  if (SY_TYPE_BIT(SY_TYPE_BF16) != ((uint64_t)1 << 30)) return 1;
  if (op.struct_size != sizeof(sy_op) || op.abi_version != SY_ABI_VERSION) return 1;
  plugin.vtable->destroy(&plugin);
  printf("plugin.h compiles and works as C\n");
  return 0;
}
