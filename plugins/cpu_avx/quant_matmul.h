// The CPU plugin's weight-times-activation products for the types it multiplies natively (Q4_0, Q8_0, Q4_K, Q6_K,
// TQ2_0, TQ1_0, I2_S, F16): activations are quantized on the fly with core/quant's reference quantizers (Q8_0
// rows for Q4_0/Q8_0, Q8_K rows for the k-quants and the ternary types), then the outputs are computed by tiles of
// a few weight rows against a few tokens (simd_kernels.h; one dot product per output for the types without
// tiles), spread over oneTBB threads by output rows. cpu_kernels.cpp routes MATMUL here; the tests and benches call
// it directly.
#pragma once

#include <cstdint>
#include <vector>

#include "plugins/cpu_avx/cpu_features.h"

namespace sy::cpu {

// One set of inner loops. Ordered like IsaLevel, with AVX-512 split by VNNI (vpdpbusd) for the quantized dots, and
// amx: avx512_vnni's kernels plus AMX tiles for Q4_0, Q4_K and Q6_K prompts, where the CPU has AMX-INT8 and the OS
// grants the tiles.
enum class KernelSet { scalar, avx2, avx512, avx512_vnni, amx };

const char* to_string(KernelSet set);

// Whether the amx set can run: the CPU has AMX tiles with INT8 and the OS grants this process the tile state.
bool amx_usable(const CpuFeatures& features);

// The set the plugin runs at `level` on a CPU with `features` (avx512 becomes avx512_vnni where CPUID says so, amx
// where it also has AMX-INT8 and the OS grants the tile state).
KernelSet kernel_set_for(IsaLevel level, const CpuFeatures& features);

// Every set this CPU can run, scalar first: what the tests and the benchmark sweep.
std::vector<KernelSet> runnable_kernel_sets(const CpuFeatures& features);

// Type mask (SY_TYPE_BIT of GGUF type ids) of the weight types with a native product here.
uint64_t native_matmul_types();

// dst[t * n_out + o] = sum_i w[o][i] * x[t * n_in + i] for t < n_tokens, o < n_out; `weight` holds n_out rows of
// `type` (native_matmul_types() only), n_in a whole number of its blocks; for I2_S the whole tensor, its rows and
// then the 32-byte tail with its scale (sdk/include/switchyard/plugin.h, SY_OP_MATMUL). All pointers are borrowed for
// the call; x is not modified. Runs in the calling thread's oneTBB arena (the plugin's, sized by its thread count). The
// result differs from the float reference by the activation quantization (tolerance:
// tests/cpu_avx/quant_matmul_test.cpp).
void native_matmul(KernelSet set, uint32_t type, const uint8_t* weight, int64_t n_out, int64_t n_in, const float* x,
                   int64_t n_tokens, float* dst);

}  // namespace sy::cpu
