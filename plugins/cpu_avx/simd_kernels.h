// The CPU plugin's vectorised inner loops, one translation unit per ISA level (simd_avx2.cpp, simd_avx512.cpp,
// each compiled with its own -m flags). Only the dispatchers (cpu_kernels.cpp, quant_matmul.cpp) call them, and
// only after the CPU was checked.
// The ISA units include nothing but <immintrin.h>, <cstdint>, this header, ternary_tile.h, simd_bytes.h and
// core/quant/k_scales.h (whose functions have internal linkage): an inline function from a shared header
// (core/quant/blocks.h included) compiled there with -mavx512f could be picked by the linker for the whole plugin
// and crash older CPUs. So the block layouts reach them as the offsets below, which quant_matmul.cpp static_asserts
// against core/quant/blocks.h, the one definition.
#pragma once

#include <cstdint>

namespace sy::cpu::simd {

// sum_i a[i] * b[i]
float dot_f32_avx2(const float* a, const float* b, int64_t n);
float dot_f32_avx512(const float* a, const float* b, int64_t n);

// sum_i half_to_float(w[i]) * x[i]; w holds IEEE half bits.
float dot_f16_avx2(const uint16_t* w, const float* x, int64_t n);
float dot_f16_avx512(const uint16_t* w, const float* x, int64_t n);

// sum_i x[i]^2

// ---- Quantized dot products: one weight row against one activation row quantized on the fly --------------------
// `w` is a row of n / block weight blocks, `a` the activation row in the matching format (Q8_0 blocks for
// Q4_0 and Q8_0 weights, Q8_K blocks for Q4_K, Q6_K and TQ2_0), n a whole number of blocks. Neither
// pointer needs any alignment. Returns sum_i w_i * a_i in float; products of quants are summed exactly in
// integers, then scaled.

// Byte offsets of the fields the kernels read (GGUF layouts; checked against core/quant/blocks.h).
constexpr int kQ4_0Bytes = 18, kQ4_0Quants = 2;                                   // fp16 d, 16 bytes of nibbles
constexpr int kQ8_0Bytes = 34, kQ8_0Quants = 2;                                   // fp16 d, 32 int8
constexpr int kQ4_KBytes = 144, kQ4_KDmin = 2, kQ4_KScales = 4, kQ4_KQuants = 16;  // fp16 d at 0
constexpr int kQ6_KBytes = 210, kQ6_KHigh = 128, kQ6_KScales = 192, kQ6_KD = 208;  // low nibbles at 0
constexpr int kQ8_KBytes = 292, kQ8_KQuants = 4, kQ8_KSums = 260;                  // float d at 0, 16 int16 sums
constexpr int kTQ2_0Bytes = 66, kTQ2_0D = 64;                                      // 2-bit codes at 0

using QuantDot = float (*)(const void* w, const void* a, int64_t n);

// simd_avx512.cpp is compiled twice: without VNNI (byte products through vpmaddubsw, as AVX2 does) and with it
// (vpdpbusd); the _vnni set runs only where CPUID reports AVX512_VNNI. It holds the ternary tiles below and the wide
// row tiles (Q4_0's at both, Q8_0's with VNNI); the other integer types run the AVX2 row tiles at the AVX-512 levels
// too (their sums are exact, so the instructions do not change the bits).

// ---- Tiles: a few weight rows against a few tokens' activation rows ---------------------------------------------
// The same products for a tile of outputs: out[t * out_stride + r] = sum_i w_r[i] * a_t[i] for r < rows and
// t < tokens, where w_r = w + r * w_stride and a_t = a + t * a_stride (bytes; rows in the formats above). rows is
// 1..kTileRows, tokens 1..kTileTokens. Each weight block is unpacked once and meets every token of the tile from
// registers, each activation block is loaded once for every row: a prompt's matrix product does that work once per
// tile instead of once per output. An output's arithmetic is the same whatever the tile's shape, so results do not
// depend on how rows and tokens are tiled.
constexpr int kTileRows = 4, kTileTokens = 4;

// How far ahead of the block being multiplied a kernel asks for its weight rows (software prefetch into L1): one
// stream per row moves too few bytes per instruction for the hardware prefetcher alone to keep DRAM busy
// (bench/README.md, "Software prefetch of the weight streams").
constexpr int kPrefetchBytes = 2048;

// The same for the tiles of several rows side by side, whose rows are each too short a stream (a 2048-wide Q4_0
// row is 1152 bytes) for the hardware prefetcher to ramp up on: while a tile reads its rows, it asks (into L2) for
// the same bytes of the rows two tiles on (one tile ahead was slower for Q4_K, farther gained nothing). Call
// through(n) before reading the first n bytes of each row; an address past the tensor is harmless (a prefetch
// never faults).
template <int kRows>
struct NextTilePrefetch {
  const uint8_t* next;  // the first row two tiles on
  int64_t stride;
  int64_t fetched = 0;
  NextTilePrefetch(const uint8_t* w, int64_t w_stride) : next(w + 2 * kRows * w_stride), stride(w_stride) {}
  [[gnu::always_inline]] void through(int64_t bytes) {
    for (; fetched < bytes; fetched += 64)
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) __builtin_prefetch(next + r * stride + fetched, 0, 2);
  }
};

struct QuantTileArgs {
  const uint8_t* w;    // borrowed: the first weight row
  int64_t w_stride;    // bytes from one weight row to the next
  const uint8_t* a;    // borrowed: the first token's activation row
  int64_t a_stride;    // bytes from one token's activation row to the next
  int64_t n;           // elements per row, a whole number of weight blocks
  float* out;          // borrowed: out[t * out_stride + r] is written
  int64_t out_stride;  // floats from one token's outputs to the next
  float w_scale = 1;   // I2_S: the tensor's one scale (the other types carry theirs in their blocks)
  // Q4_0 and Q8_0 weights: a_sums[t * a_sums_stride + b] is the sum of token t's Q8_0 block b quants (borrowed;
  // null for the other types), so that a bias on the weights' codes (Q4_0's 8, the 128 that makes Q8_0's unsigned
  // for vpdpbusd) is one multiply per block, not a dot product per tile.
  const int32_t* a_sums = nullptr;
  int64_t a_sums_stride = 0;
};
using QuantTile = void (*)(const QuantTileArgs& args, int rows, int tokens);

// ---- Ternary tiles (I2_S, TQ1_0) against Q8_K activations --------------------------------------------------------
// The reference's arithmetic (ggml_vec_dot_tq1_0_q8_K and _tq2_0_, AVX2), written out so that every level can do
// exactly it: per Q8_K block b (256 elements; I2_S's last may be half a block, see below), eight int32 lanes
//   lane_L = sum over e with (e mod 32) / 4 == L of code_e * q_e  -  sum over e in [32 L, 32 L + 32) of q_e,
// code_e in {0, 1, 2} the weight's ternary code (value + 1) and q_e the activation quant; then per lane
//   acc_L = fma(float(lane_L), d_b * scale_b, acc_L)
// block after block (d_b the activation block's scale, scale_b the weight's: I2_S's tensor scale in
// QuantTileArgs::w_scale, TQ1_0's block d), and the output ((acc_0 + acc_4) + (acc_2 + acc_6)) + ((acc_1 + acc_5) +
// (acc_3 + acc_7)). Integers are exact and fma is correctly rounded, so the levels give the same bits.
// I2_S rows are n / 4 bytes, n a multiple of 128: where n is 128 modulo 256 the last block is half a block, met by
// the first half of its activation block (the other half quantizes zero padding).
constexpr int kI2SBytes = 32;  // one 128-element I2_S block: element j in byte j % 32 at shift 6 - 2 (j / 32)
constexpr int kTQ1_0Bytes = 54, kTQ1_0High = 48, kTQ1_0D = 52;  // 48 bytes of five trits, 4 of four, fp16 d

void tile_i2_s_q8_k_avx2(const QuantTileArgs& args, int rows, int tokens);
void tile_tq1_0_q8_k_avx2(const QuantTileArgs& args, int rows, int tokens);
void tile_i2_s_q8_k_avx512(const QuantTileArgs& args, int rows, int tokens);
void tile_tq1_0_q8_k_avx512(const QuantTileArgs& args, int rows, int tokens);
void tile_i2_s_q8_k_avx512_vnni(const QuantTileArgs& args, int rows, int tokens);
void tile_tq1_0_q8_k_avx512_vnni(const QuantTileArgs& args, int rows, int tokens);
// TQ2_0 (its lanes are the same rule), for one token and for prompts.
void tile_tq2_0_q8_k_avx2(const QuantTileArgs& args, int rows, int tokens);
void tile_tq2_0_q8_k_avx512(const QuantTileArgs& args, int rows, int tokens);
void tile_tq2_0_q8_k_avx512_vnni(const QuantTileArgs& args, int rows, int tokens);

// ---- Row tiles: eight weight rows in the lanes of one vector (Q4_0, Q8_0, Q4_K, Q6_K) --------------------------
// For the types that fuse one exact sum per block (core/quant/integer_dot.h; the integer sums are exact whatever the
// instructions, so the scalar level and these give the same bits): each block's sums of up to kRowTileRows rows are
// gathered into the lanes of one vector and lane r holds row r's accumulator, so one vector fused multiply-add advances
// eight rows' chains, each still in block order: per output exactly integer_dot.h's arithmetic, with eight independent
// chains where a row at a time has one (which bounds a token's product by the FMA latency). rows is 1..kRowTileRows,
// tokens 1..kTileTokens, as for the tiles above.
constexpr int kRowTileRows = 8;
void tile_q4_0_q8_0_rows_avx2(const QuantTileArgs& args, int rows, int tokens);
void tile_q8_0_q8_0_rows_avx2(const QuantTileArgs& args, int rows, int tokens);
void tile_q4_k_q8_k_rows_avx2(const QuantTileArgs& args, int rows, int tokens);
void tile_q6_k_q8_k_rows_avx2(const QuantTileArgs& args, int rows, int tokens);
// Q4_0's row tile sixteen rows wide at the AVX-512 levels, Q8_0's with VNNI (simd_avx512.cpp): rows is
// 1..kWideRowTileRows.
constexpr int kWideRowTileRows = 16;
void tile_q4_0_q8_0_rows_avx512(const QuantTileArgs& args, int rows, int tokens);
void tile_q4_0_q8_0_rows_avx512_vnni(const QuantTileArgs& args, int rows, int tokens);
void tile_q8_0_q8_0_rows_avx512_vnni(const QuantTileArgs& args, int rows, int tokens);

// ---- AMX (simd_amx.cpp): Q4_0, Q8_0, Q4_K and Q6_K prompts, sixteen weight rows against sixteen tokens per tile --
// One tdpbssd per block gives the 16 x 16 exact block sums (the signed weights against the activation quants); each
// is fused into its (row, token) accumulator in block order, integer_dot.h's arithmetic again. The activations are
// packed once per product: per block, 8 rows of sixteen tokens' 4 quants (kAmxPackedBytes) and sixteen scales.
constexpr int kAmxRows = 16, kAmxTokens = 16, kAmxPackedBytes = 8 * kAmxTokens * 4;
// Whether the OS lets this process use the tile registers (asked once; false where the CPU has no AMX).
bool amx_permitted();
// tokens (at most kAmxTokens) Q8_0 rows of `blocks` blocks, a_stride bytes apart, into blocks * kAmxPackedBytes bytes
// and blocks * kAmxTokens scales (zeros past `tokens`).
void pack_q8_0_tokens_amx(const uint8_t* a, int64_t a_stride, int64_t blocks, int tokens, uint8_t* packed,
                          float* scales);
// rows (at most kAmxRows) Q4_0 rows against token_tiles packed token tiles (each blocks * kAmxPackedBytes bytes and
// blocks * kAmxTokens scales), the last holding last_tokens tokens: out[t * out_stride + r]. The rows are unpacked
// once for all the token tiles.
void tile_q4_0_amx(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                   const float* scales, int token_tiles, int last_tokens, float* out, int64_t out_stride);
// The same for Q8_0 rows, against the same packing.
void tile_q8_0_amx(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                   const float* scales, int token_tiles, int last_tokens, float* out, int64_t out_stride);
// Q4_K against Q8_K: per super-block one packed tile per 32-element sub-block (blocks * 8 * kAmxPackedBytes),
// the tokens' scales, and each sub-block's quant sum per token (blocks * 8 * kAmxTokens) for the mins. Per
// (row, token) the super-block's two exact sums of block_sums_q4_k_q8_k, fused as accumulate_block_with_mins.
// group_sums: each 16-element group's quant sum per token (blocks * 16 * kAmxTokens), for Q6_K. Either may be
// null where the weights' type does not need it.
void pack_q8_k_tokens_amx(const uint8_t* a, int64_t a_stride, int64_t blocks, int tokens, uint8_t* packed,
                          float* scales, int32_t* sub_sums, int32_t* group_sums);
// Token tiles as for tile_q4_0_amx (each tile's packing, scales and sums one after the other).
void tile_q4_k_amx(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                   const float* scales, const int32_t* sub_sums, int token_tiles, int last_tokens, float* out,
                   int64_t out_stride);
// Q6_K against the same packing: one tdpbusd per 16-element group, block_sum_q6_k_q8_k's exact sum, then
// accumulate_block.
void tile_q6_k_amx(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                   const float* scales, const int32_t* group_sums, int token_tiles, int last_tokens, float* out,
                   int64_t out_stride);

}  // namespace sy::cpu::simd
