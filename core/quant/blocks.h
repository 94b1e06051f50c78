// Block layouts of the GGUF weight types and the decode of one block, each written once. The scalar reference
// (dequantize.cpp), the SIMD paths' tails and, through SY_HOST_DEVICE, the CUDA and HIP kernels all call these
// functions, so one block means the same floats everywhere. Layouts are facts of the GGUF format (ggml-common.h).
//
// Bit-exactness with the reference: every expression below multiplies and adds in the same order and precision as
// ggml's reference decoders, which are compiled without FMA contraction. Compile code that calls these functions
// with -ffp-contract=off (nvcc: --fmad=false) where the bytes of the result matter.
//
// Plain C++ only in this header (no std:: containers, no exceptions): it must compile as device code. The SDK
// installs it (switchyard/quant/), so it includes its neighbours by relative path.
#pragma once

#include <cstdint>

// The 16-bit float conversions every block scale passes through, and SY_HOST_DEVICE: core/kernels/half.h, which the
// installed SDK keeps in switchyard/reference/ (this header then lies in switchyard/quant/).
#if __has_include("../reference/half.h")
#include "../reference/half.h"
#else
#include "../kernels/half.h"
#endif
#include "k_scales.h"  // scale_min_k4, in a header of its own that the CPU plugin's ISA units include too

// A whole super-block decodes as its chunks with constant indices: fully unrolled (and the chunk functions
// inlined), each chunk's shifts become constants, which lets host compilers vectorise it. The chunk functions
// themselves take the chunk at run time without branching on it: lanes of a GPU warp hold different chunks, and
// a branch on the chunk would run its cases one after another.
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define SY_UNROLL_CHUNKS _Pragma("unroll")
#elif defined(__CUDACC__)  // nvcc's host pass: its front end and the host compiler disagree on loop pragmas
#define SY_UNROLL_CHUNKS
#elif defined(__clang__)
#define SY_UNROLL_CHUNKS _Pragma("unroll")
#elif defined(__GNUC__)
#define SY_UNROLL_CHUNKS _Pragma("GCC unroll 8")
#else
#define SY_UNROLL_CHUNKS
#endif
#if defined(__CUDACC__) || defined(__HIPCC__)
#define SY_CHUNK_INLINE __forceinline__
#else
#define SY_CHUNK_INLINE inline __attribute__((always_inline))
#endif

namespace sy::quant {

// Elements per block: the "legacy" types use 32, the k-quants and ternary types super-blocks of 256 (QK_K).
constexpr int kBlockElements = 32;
constexpr int kSuperBlockElements = 256;
constexpr int kI2SBlockElements = 128;  // I2_S packing unit over the flattened tensor (shared/formats/I2_S.md)
constexpr int kI2STailBytes = 32;       // one float scale, then 28 bytes of undefined padding

// ---- Scalar conversions: defined once in core/kernels/half.h (which the SDK ships), named here too ------------

using kernels::bf16_to_fp32;
using kernels::float_bits;
using kernels::float_from_bits;
using kernels::fp16_to_fp32;
using kernels::fp32_to_bf16;
using kernels::fp32_to_fp16;

// ---- Block layouts (ggml-common.h); `d` is the scale and `dmin`/`m` the offset, fp16 unless noted ----------------

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kBlockElements / 2];  // element j in the low nibble of qs[j], element j+16 in the high nibble
};
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;  // the block minimum: x = q * d + m
  uint8_t qs[kBlockElements / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // fifth bit of element j at bit j of this little-endian 32-bit word
  uint8_t qs[kBlockElements / 2];
};
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kBlockElements / 2];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kBlockElements];
};
struct BlockQ8_1 {  // activations only: s = d * sum(qs) saves the dot product a pass for Q4_1/Q5_1 weights
  uint16_t d;
  uint16_t s;
  int8_t qs[kBlockElements];
};
struct BlockQ2_K {
  uint8_t scales[kSuperBlockElements / 16];  // per 16 elements: scale in the low nibble, min in the high nibble
  uint8_t qs[kSuperBlockElements / 4];
  uint16_t d;     // super-block scale of the 4-bit scales
  uint16_t dmin;  // super-block scale of the 4-bit mins
};
struct BlockQ3_K {
  uint8_t hmask[kSuperBlockElements / 8];  // third bit of each element, set meaning "no -4 offset"
  uint8_t qs[kSuperBlockElements / 4];     // low two bits
  uint8_t scales[12];                      // sixteen 6-bit scales, biased by 32
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];  // eight 6-bit scales and eight 6-bit mins (see scale_min_k4)
  uint8_t qs[kSuperBlockElements / 2];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kSuperBlockElements / 8];
  uint8_t qs[kSuperBlockElements / 2];
};
struct BlockQ6_K {
  uint8_t ql[kSuperBlockElements / 2];  // low four bits
  uint8_t qh[kSuperBlockElements / 4];  // high two bits
  int8_t scales[kSuperBlockElements / 16];
  uint16_t d;
};
struct BlockQ8_K {  // activations only; the scale is a float32, bsums the sums of each 16 quants
  float d;
  int8_t qs[kSuperBlockElements];
  int16_t bsums[kSuperBlockElements / 16];
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kBlockElements / 2];  // nibbles index kIQ4NLValues, ordered like Q4_0
};
struct BlockTQ1_0 {
  uint8_t qs[(kSuperBlockElements - 4 * kSuperBlockElements / 64) / 5];  // 240 elements, five trits per byte
  uint8_t qh[kSuperBlockElements / 64];                                  // 16 elements, four trits per byte
  uint16_t d;
};
struct BlockTQ2_0 {
  uint8_t qs[kSuperBlockElements / 4];  // 2-bit codes 0,1,2 meaning -1,0,+1
  uint16_t d;
};

// Sizes must match the type-traits table in core/gguf/tensor_type.cpp, which reader and writer trust.
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockTQ1_0) == 54);
static_assert(sizeof(BlockTQ2_0) == 66);

// IQ4_NL's non-linear codebook: denser near zero, where trained weights concentrate.
SY_HOST_DEVICE inline int8_t iq4_nl_value(int index) {
  constexpr int8_t kValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  return kValues[index];
}

// Q3_K's sixteen 6-bit scales: low nibbles in bytes 0..7 (two per byte), high two bits in bytes 8..11.
SY_HOST_DEVICE inline int q3_k_scale(int sub_block, const uint8_t* packed) {
  const int low = sub_block < 8 ? (packed[sub_block] & 0xF) : (packed[sub_block - 8] >> 4);
  const int high = (packed[8 + sub_block % 4] >> (2 * (sub_block / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// ---- Per-block decode: 32 or 256 floats out ----------------------------------------------------------------

SY_HOST_DEVICE inline void dequantize_block_q4_0(const BlockQ4_0* block, float* out) {
  const float d = fp16_to_fp32(block->d);
  for (int j = 0; j < kBlockElements / 2; ++j) {
    out[j] = static_cast<float>((block->qs[j] & 0x0F) - 8) * d;
    out[j + kBlockElements / 2] = static_cast<float>((block->qs[j] >> 4) - 8) * d;
  }
}

SY_HOST_DEVICE inline void dequantize_block_q4_1(const BlockQ4_1* block, float* out) {
  const float d = fp16_to_fp32(block->d);
  const float m = fp16_to_fp32(block->m);
  for (int j = 0; j < kBlockElements / 2; ++j) {
    out[j] = static_cast<float>(block->qs[j] & 0x0F) * d + m;
    out[j + kBlockElements / 2] = static_cast<float>(block->qs[j] >> 4) * d + m;
  }
}

SY_HOST_DEVICE inline uint32_t load_u32_le(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | (static_cast<uint32_t>(bytes[1]) << 8) |
         (static_cast<uint32_t>(bytes[2]) << 16) | (static_cast<uint32_t>(bytes[3]) << 24);
}

SY_HOST_DEVICE inline void dequantize_block_q5_0(const BlockQ5_0* block, float* out) {
  const float d = fp16_to_fp32(block->d);
  const uint32_t high_bits = load_u32_le(block->qh);
  for (int j = 0; j < kBlockElements / 2; ++j) {
    const int high0 = static_cast<int>((high_bits >> j) & 1u) << 4;
    const int high1 = static_cast<int>((high_bits >> (j + 16)) & 1u) << 4;
    out[j] = static_cast<float>(((block->qs[j] & 0x0F) | high0) - 16) * d;
    out[j + kBlockElements / 2] = static_cast<float>(((block->qs[j] >> 4) | high1) - 16) * d;
  }
}

SY_HOST_DEVICE inline void dequantize_block_q5_1(const BlockQ5_1* block, float* out) {
  const float d = fp16_to_fp32(block->d);
  const float m = fp16_to_fp32(block->m);
  const uint32_t high_bits = load_u32_le(block->qh);
  for (int j = 0; j < kBlockElements / 2; ++j) {
    const int high0 = static_cast<int>((high_bits >> j) & 1u) << 4;
    const int high1 = static_cast<int>((high_bits >> (j + 16)) & 1u) << 4;
    out[j] = static_cast<float>((block->qs[j] & 0x0F) | high0) * d + m;
    out[j + kBlockElements / 2] = static_cast<float>((block->qs[j] >> 4) | high1) * d + m;
  }
}

SY_HOST_DEVICE inline void dequantize_block_q8_0(const BlockQ8_0* block, float* out) {
  const float d = fp16_to_fp32(block->d);
  for (int j = 0; j < kBlockElements; ++j) out[j] = static_cast<float>(block->qs[j]) * d;
}

SY_HOST_DEVICE inline void dequantize_block_q8_1(const BlockQ8_1* block, float* out) {
  const float d = fp16_to_fp32(block->d);
  for (int j = 0; j < kBlockElements; ++j) out[j] = static_cast<float>(block->qs[j]) * d;
}

// The super-block types (256 elements) also decode by chunk: elements 32c .. 32c + 31 of the super-block, c < 8.
// A GPU thread holds one chunk in registers where a whole super-block would spill; the whole-block decoders below
// are the chunks in order, so both mean the same floats.
constexpr int kChunkElements = 32;
constexpr int kChunksPerSuperBlock = kSuperBlockElements / kChunkElements;

// Q2_K: 16 groups of 16; each 32-byte half of qs holds four 2-bit planes for 128 elements. Chunk c is bit plane
// c % 4 of half c / 4: groups 2c and 2c + 1.
SY_HOST_DEVICE SY_CHUNK_INLINE void dequantize_chunk_q2_k(const BlockQ2_K* block, int chunk, float* out) {
  const float d = fp16_to_fp32(block->d);
  const float dmin = fp16_to_fp32(block->dmin);
  const uint8_t* q = block->qs + 32 * (chunk / 4);
  const int shift = 2 * (chunk % 4);
  for (int part = 0; part < 2; ++part) {  // two groups of 16 per bit plane: q[0..15] and q[16..31]
    const uint8_t packed = block->scales[2 * chunk + part];
    const float scale = d * static_cast<float>(packed & 0xF);
    const float offset = dmin * static_cast<float>(packed >> 4);
    for (int l = 0; l < 16; ++l) *out++ = scale * static_cast<float>((q[l + 16 * part] >> shift) & 3) - offset;
  }
}

SY_HOST_DEVICE inline void dequantize_block_q2_k(const BlockQ2_K* block, float* out) {
  SY_UNROLL_CHUNKS
  for (int chunk = 0; chunk < kChunksPerSuperBlock; ++chunk) dequantize_chunk_q2_k(block, chunk, out + kChunkElements * chunk);
}

// Q3_K: like Q2_K's planes plus a third bit from hmask (bit c of hmask[l] for chunk c); a clear bit subtracts 4.
SY_HOST_DEVICE SY_CHUNK_INLINE void dequantize_chunk_q3_k(const BlockQ3_K* block, int chunk, float* out) {
  const float d = fp16_to_fp32(block->d);
  const uint8_t* q = block->qs + 32 * (chunk / 4);
  const int shift = 2 * (chunk % 4);
  const uint8_t mask = static_cast<uint8_t>(1u << chunk);
  for (int part = 0; part < 2; ++part) {
    const float scale = d * static_cast<float>(q3_k_scale(2 * chunk + part, block->scales));
    for (int l = 0; l < 16; ++l) {
      const int low = (q[l + 16 * part] >> shift) & 3;
      const int high_offset = (block->hmask[l + 16 * part] & mask) ? 0 : 4;
      *out++ = scale * static_cast<float>(low - high_offset);
    }
  }
}

SY_HOST_DEVICE inline void dequantize_block_q3_k(const BlockQ3_K* block, float* out) {
  SY_UNROLL_CHUNKS
  for (int chunk = 0; chunk < kChunksPerSuperBlock; ++chunk) dequantize_chunk_q3_k(block, chunk, out + kChunkElements * chunk);
}

// Sub-block `j` of a Q4_K/Q5_K super-block: its scale (d × 6-bit scale) and its offset (dmin × 6-bit min), so that
// element = scale × level − offset. One place for the decoders and the quantizer's level search.
SY_HOST_DEVICE inline void k4_scale_offset(int j, const uint8_t* scales, float d, float dmin, float* scale,
                                           float* offset) {
  uint8_t scale_code, min_code;
  scale_min_k4(j, scales, &scale_code, &min_code);
  *scale = d * static_cast<float>(scale_code);
  *offset = dmin * static_cast<float>(min_code);
}

// Q4_K: eight sub-blocks of 32 (a chunk is one) with a 6-bit scale and min each; 32 bytes of qs hold two
// sub-blocks as nibbles, the even one in the low nibbles.
SY_HOST_DEVICE SY_CHUNK_INLINE void dequantize_chunk_q4_k(const BlockQ4_K* block, int chunk, float* out) {
  float scale, offset;
  k4_scale_offset(chunk, block->scales, fp16_to_fp32(block->d), fp16_to_fp32(block->dmin), &scale, &offset);
  const uint8_t* q = block->qs + 32 * (chunk / 2);
  const int shift = 4 * (chunk % 2);
  for (int l = 0; l < 32; ++l) out[l] = scale * static_cast<float>((q[l] >> shift) & 0xF) - offset;
}

SY_HOST_DEVICE inline void dequantize_block_q4_k(const BlockQ4_K* block, float* out) {
  SY_UNROLL_CHUNKS
  for (int chunk = 0; chunk < kChunksPerSuperBlock; ++chunk) dequantize_chunk_q4_k(block, chunk, out + kChunkElements * chunk);
}

// Q5_K: Q4_K plus a fifth bit per element: bit c of qh[l] for sub-block c.
SY_HOST_DEVICE SY_CHUNK_INLINE void dequantize_chunk_q5_k(const BlockQ5_K* block, int chunk, float* out) {
  float scale, offset;
  k4_scale_offset(chunk, block->scales, fp16_to_fp32(block->d), fp16_to_fp32(block->dmin), &scale, &offset);
  const uint8_t* ql = block->qs + 32 * (chunk / 2);
  const int shift = 4 * (chunk % 2);
  const uint8_t mask = static_cast<uint8_t>(1u << chunk);
  for (int l = 0; l < 32; ++l) {
    const int value = ((ql[l] >> shift) & 0xF) + ((block->qh[l] & mask) ? 16 : 0);
    out[l] = scale * static_cast<float>(value) - offset;
  }
}

SY_HOST_DEVICE inline void dequantize_block_q5_k(const BlockQ5_K* block, float* out) {
  SY_UNROLL_CHUNKS
  for (int chunk = 0; chunk < kChunksPerSuperBlock; ++chunk) dequantize_chunk_q5_k(block, chunk, out + kChunkElements * chunk);
}

// Q6_K: per 128 elements (half = chunk / 4), 64 bytes of low nibbles and 32 bytes of 2-bit highs; values biased
// by 32. Quarter k = chunk % 4 takes the low nibbles of ql[0..31] (k 0), of ql[32..63] (k 1), their high nibbles
// (k 2, 3), and bits 2k, 2k + 1 of qh. The product is (d * scale) * q, in that order, as the reference computes it.
// Element l of quarter `quarter` of a 128-element half; ql, qh and scales already point at that half.
SY_HOST_DEVICE SY_CHUNK_INLINE float q6_k_element(float d, const uint8_t* ql, const uint8_t* qh, const int8_t* scales,
                                                  int quarter, int l) {
  const int low = 32 * (quarter % 2), low_shift = 4 * (quarter / 2), high_shift = 2 * quarter;
  const int q = (((ql[low + l] >> low_shift) & 0xF) | (((qh[l] >> high_shift) & 3) << 4)) - 32;
  return d * static_cast<float>(scales[l / 16 + 2 * quarter]) * static_cast<float>(q);
}

SY_HOST_DEVICE SY_CHUNK_INLINE void dequantize_chunk_q6_k(const BlockQ6_K* block, int chunk, float* out) {
  const float d = fp16_to_fp32(block->d);
  const int half = chunk / 4;
  for (int l = 0; l < 32; ++l)
    out[l] = q6_k_element(d, block->ql + 64 * half, block->qh + 32 * half, block->scales + 8 * half, chunk % 4, l);
}

// The whole block takes the four quarters of a half in one pass over its bytes: each byte of ql and qh is read
// once for two or four outputs.
SY_HOST_DEVICE inline void dequantize_block_q6_k(const BlockQ6_K* block, float* out) {
  const float d = fp16_to_fp32(block->d);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = block->ql + 64 * half;
    const uint8_t* qh = block->qh + 32 * half;
    const int8_t* scales = block->scales + 8 * half;
    float* o = out + 128 * half;
    for (int l = 0; l < 32; ++l) {
      o[l] = q6_k_element(d, ql, qh, scales, 0, l);
      o[l + 32] = q6_k_element(d, ql, qh, scales, 1, l);
      o[l + 64] = q6_k_element(d, ql, qh, scales, 2, l);
      o[l + 96] = q6_k_element(d, ql, qh, scales, 3, l);
    }
  }
}

SY_HOST_DEVICE inline void dequantize_block_q8_k(const BlockQ8_K* block, float* out) {
  for (int j = 0; j < kSuperBlockElements; ++j) out[j] = block->d * static_cast<float>(block->qs[j]);
}

SY_HOST_DEVICE inline void dequantize_block_iq4_nl(const BlockIQ4_NL* block, float* out) {
  const float d = fp16_to_fp32(block->d);
  for (int j = 0; j < kBlockElements / 2; ++j) {
    out[j] = d * static_cast<float>(iq4_nl_value(block->qs[j] & 0xF));
    out[j + kBlockElements / 2] = d * static_cast<float>(iq4_nl_value(block->qs[j] >> 4));
  }
}

// One trit out of a TQ1_0 byte. The quantizer stores ceil(t * 256 / 243) for the base-3 number t, so multiplying
// by 3^n (mod 256) moves trit n to the top and (byte * 3) >> 8 reads it without a division.
SY_HOST_DEVICE inline int tq1_0_trit(uint8_t packed, int n) {
  // 3^n by selection rather than from a table: a GPU would put a table indexed at run time in local memory.
  const int pow3 = n == 0 ? 1 : n == 1 ? 3 : n == 2 ? 9 : n == 3 ? 27 : 81;
  const uint8_t rotated = static_cast<uint8_t>(packed * pow3);
  return (static_cast<int>(rotated) * 3) >> 8;
}

// TQ1_0: qs[0..31] carry elements 0..159 (byte m, trit n -> element 32n + m), qs[32..47] elements 160..239
// (16n + m), qh[0..3] elements 240..255 (4n + j). So chunk c < 5 is trit c of qs[0..31]; chunks 5 and 6 are trits
// 2(c - 5) and 2(c - 5) + 1 of qs[32..47]; chunk 7 is trit 4 of qs[32..47], then all of qh.
SY_HOST_DEVICE SY_CHUNK_INLINE void dequantize_chunk_tq1_0(const BlockTQ1_0* block, int chunk, float* out) {
  const float d = fp16_to_fp32(block->d);
  if (chunk < 5) {
    for (int m = 0; m < 32; ++m) out[m] = static_cast<float>(tq1_0_trit(block->qs[m], chunk) - 1) * d;
    return;
  }
  const int n = 2 * (chunk - 5);
  for (int m = 0; m < 16; ++m) out[m] = static_cast<float>(tq1_0_trit(block->qs[32 + m], n) - 1) * d;
  if (chunk < 7) {
    for (int m = 0; m < 16; ++m) out[16 + m] = static_cast<float>(tq1_0_trit(block->qs[32 + m], n + 1) - 1) * d;
  } else {
    for (int k = 0; k < 16; ++k) out[16 + k] = static_cast<float>(tq1_0_trit(block->qh[k % 4], k / 4) - 1) * d;
  }
}

SY_HOST_DEVICE inline void dequantize_block_tq1_0(const BlockTQ1_0* block, float* out) {
  SY_UNROLL_CHUNKS
  for (int chunk = 0; chunk < kChunksPerSuperBlock; ++chunk) dequantize_chunk_tq1_0(block, chunk, out + kChunkElements * chunk);
}

// TQ2_0: each 32 bytes hold 128 elements, bit pair n of byte m being element 32n + m: chunk c is bit pair c % 4
// of bytes 32 (c / 4) .. 32 (c / 4) + 31.
SY_HOST_DEVICE SY_CHUNK_INLINE void dequantize_chunk_tq2_0(const BlockTQ2_0* block, int chunk, float* out) {
  const float d = fp16_to_fp32(block->d);
  const uint8_t* q = block->qs + 32 * (chunk / 4);
  const int shift = 2 * (chunk % 4);
  for (int m = 0; m < 32; ++m) out[m] = static_cast<float>(((q[m] >> shift) & 3) - 1) * d;
}

SY_HOST_DEVICE inline void dequantize_block_tq2_0(const BlockTQ2_0* block, float* out) {
  SY_UNROLL_CHUNKS
  for (int chunk = 0; chunk < kChunksPerSuperBlock; ++chunk) dequantize_chunk_tq2_0(block, chunk, out + kChunkElements * chunk);
}

// I2_S: 128 elements in 32 bytes; element j sits in byte j % 32 at shift 6 - 2 * (j / 32). Codes 0, 1, 2 mean
// -1, 0, +1 times the tensor's single scale.
SY_HOST_DEVICE inline void dequantize_block_i2_s(const uint8_t* packed, float scale, float* out) {
  for (int j = 0; j < kI2SBlockElements; ++j) {
    const int code = (packed[j % 32] >> (6 - 2 * (j / 32))) & 3;
    out[j] = static_cast<float>(code - 1) * scale;
  }
}

}  // namespace sy::quant
