// Q4_0, Q8_0, Q4_K and Q6_K weights against Q8_0 / Q8_K activations with AMX tiles (compiled with -mamx-tile
// -mamx-int8 and the AVX-512 flags; simd_kernels.h, "AMX"). Per weight block, one tile multiply gives the exact
// integer block sums of sixteen rows against sixteen tokens; each is then fused into its (row, token) accumulator in
// block order, as every other level does (core/quant/integer_dot.h), so the bits are the same.
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/quant/k_scales.h"  // static: compiled here with this unit's flags
#include "plugins/cpu_avx/simd_bytes.h"  // static: compiled here with this unit's flags
#include "plugins/cpu_avx/simd_kernels.h"

namespace sy::cpu::simd {

namespace {

// The tile palette: tile 0 the 16 x 16 int32 sums, tile 1 sixteen rows' 32 codes, tile 2 the activations' 8 rows of
// sixteen tokens' 4 bytes (the layout tdpbssd pairs with rows of 32 bytes); tiles 3 and 4 the same for 16 codes.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

constexpr TileConfig tile_config() {
  TileConfig config;
  config.rows[0] = kAmxRows;
  config.bytes_per_row[0] = kAmxTokens * 4;
  config.rows[1] = kAmxRows;
  config.bytes_per_row[1] = 32;
  config.rows[2] = 8;
  config.bytes_per_row[2] = kAmxTokens * 4;
  config.rows[3] = kAmxRows;  // Q6_K: sixteen rows' codes of one 16-element group
  config.bytes_per_row[3] = 16;
  config.rows[4] = 4;  // and the tokens' 16 quants of that group
  config.bytes_per_row[4] = kAmxTokens * 4;
  return config;
}

// A constant in memory: GCC 12 drops stores into a local configuration that only ldtilecfg reads.
constexpr TileConfig kTileConfig = tile_config();

void configure_tiles() { _tile_loadconfig(&kTileConfig); }

// The token tiles of a row tile, one after the other: per tile sixteen accumulators (one per row, a lane per token),
// add_block(tile, b, acc) adding block b of every row against that tile's tokens, block after block; then the
// rows' outputs. The last tile holds last_tokens tokens.
template <class AddBlock>
void for_each_token_tile(int token_tiles, int last_tokens, int rows, int64_t blocks, float* out, int64_t out_stride,
                         const AddBlock& add_block) {
  configure_tiles();
  for (int tile = 0; tile < token_tiles; ++tile) {
    __m512 acc[kAmxRows];
#pragma GCC unroll 16
    for (auto& row : acc) row = _mm512_setzero_ps();
    for (int64_t b = 0; b < blocks; ++b) add_block(tile, b, acc);
    const int tokens = tile + 1 < token_tiles ? kAmxTokens : last_tokens;
    for (int r = 0; r < rows; ++r) {
      alignas(64) float lanes[kAmxTokens];
      _mm512_store_ps(lanes, acc[r]);
      for (int t = 0; t < tokens; ++t) out[(tile * kAmxTokens + t) * out_stride + r] = lanes[t];
    }
  }
  _tile_release();
}

}  // namespace

bool amx_permitted() {
  // Linux hands a process the AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM, XTILEDATA).
  constexpr int kRequestPermission = 0x1023, kTileData = 18;
  static const bool permitted = syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
  return permitted;
}

void pack_q8_0_tokens_amx(const uint8_t* a, int64_t a_stride, int64_t blocks, int tokens, uint8_t* packed,
                          float* scales) {
  for (int64_t b = 0; b < blocks; ++b) {
    uint8_t* tile = packed + b * kAmxPackedBytes;
    float* d = scales + b * kAmxTokens;
    for (int t = 0; t < kAmxTokens; ++t) {
      if (t < tokens) {
        const uint8_t* block = a + t * a_stride + b * kQ8_0Bytes;
        d[t] = half_at(block);
        for (int k = 0; k < 8; ++k) std::memcpy(tile + k * kAmxTokens * 4 + t * 4, block + kQ8_0Quants + 4 * k, 4);
      } else {
        d[t] = 0;
        for (int k = 0; k < 8; ++k) std::memset(tile + k * kAmxTokens * 4 + t * 4, 0, 4);
      }
    }
  }
}

namespace {

// Sixteen rows' signed codes (blocks x kAmxRows x 32 bytes, row after row within a block) and scales (blocks x
// kAmxRows) against the token tiles: one tdpbssd per block gives the 16 x 16 exact block sums, each fused into its
// (row, token) accumulator in block order.
void multiply_signed_blocks(const int8_t* row_codes, const float* row_scales, int rows, int64_t blocks,
                            const uint8_t* packed, const float* scales, int token_tiles, int last_tokens, float* out,
                            int64_t out_stride) {
  alignas(64) int32_t sums[kAmxRows * kAmxTokens];
  for_each_token_tile(token_tiles, last_tokens, rows, blocks, out, out_stride, [&](int tile, int64_t b, __m512* acc) {
    _tile_zero(0);
    _tile_loadd(1, row_codes + b * kAmxRows * 32, 32);
    _tile_loadd(2, packed + (tile * blocks + b) * kAmxPackedBytes, kAmxTokens * 4);
    _tile_dpbssd(0, 1, 2);
    _tile_stored(0, sums, kAmxTokens * 4);
    const __m512 x_scale = _mm512_loadu_ps(scales + (tile * blocks + b) * kAmxTokens);
    const float* w_scale = row_scales + b * kAmxRows;
#pragma GCC unroll 16
    for (int r = 0; r < kAmxRows; ++r)  // accumulate_block for sixteen tokens: acc + sum * (w_scale * x_scale)
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums + r * kAmxTokens)),
                               _mm512_mul_ps(_mm512_set1_ps(w_scale[r]), x_scale), acc[r]);
  });
}

// The 32-element weight types' per-thread buffers of multiply_signed_blocks (reused; prompts only), rows past the
// matrix zeroed (their outputs are not stored).
struct SignedBlocks {
  std::vector<int8_t> codes;
  std::vector<float> scales;
  void prepare(int rows, int64_t blocks) {
    codes.resize(static_cast<size_t>(blocks * kAmxRows * 32));
    scales.resize(static_cast<size_t>(blocks * kAmxRows));
    if (rows < kAmxRows) {
      std::fill(codes.begin(), codes.end(), int8_t{0});
      std::fill(scales.begin(), scales.end(), 0.0f);
    }
  }
};

}  // namespace

namespace {

// The 32-element weight types' row tiles: each block of the sixteen rows unpacked once for every token tile into
// signed codes 32 bytes a row (unpack_row(block, codes), block its weight block) beside its fp16 scale at the
// block's start, then multiply_signed_blocks. The buffers are thread-local, reused (prompts only).
template <int kBlockBytes, class UnpackRow>
void unpack_and_multiply(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                         const float* scales, int token_tiles, int last_tokens, float* out, int64_t out_stride,
                         const UnpackRow& unpack_row) {
  thread_local SignedBlocks unpacked;
  unpacked.prepare(rows, blocks);
  // Locals, not the thread_local, in the loops: each use of that would look it up.
  int8_t* codes = unpacked.codes.data();
  float* w_scales = unpacked.scales.data();
  NextTilePrefetch<kAmxRows> prefetch(w, w_stride);
  for (int64_t b = 0; b < blocks; ++b) {
    prefetch.through((b + 1) * kBlockBytes);
    for (int r = 0; r < rows; ++r) {
      const uint8_t* block = w + r * w_stride + b * kBlockBytes;
      w_scales[b * kAmxRows + r] = half_at(block);
      unpack_row(block, codes + (b * kAmxRows + r) * 32);
    }
  }
  multiply_signed_blocks(codes, w_scales, rows, blocks, packed, scales, token_tiles, last_tokens, out, out_stride);
}

}  // namespace

void tile_q4_0_amx(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                   const float* scales, int token_tiles, int last_tokens, float* out, int64_t out_stride) {
  // The codes minus 8: the signed weights, so no bias term is needed. The unpacking is most of a tile's work.
  const __m128i low_nibbles = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  const auto unpack_row = [&](const uint8_t* block, int8_t* row) {
    const __m128i codes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kQ4_0Quants));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row), _mm_sub_epi8(_mm_and_si128(codes, low_nibbles), eight));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row + 16),
                     _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(codes, 4), low_nibbles), eight));
  };
  unpack_and_multiply<kQ4_0Bytes>(w, w_stride, rows, blocks, packed, scales, token_tiles, last_tokens, out, out_stride,
                                  unpack_row);
}

void tile_q8_0_amx(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                   const float* scales, int token_tiles, int last_tokens, float* out, int64_t out_stride) {
  // The quants are the signed weights already: gathered so that a tile load reads one block of the sixteen rows
  // 32 bytes apart.
  const auto copy_row = [](const uint8_t* block, int8_t* row) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(row),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kQ8_0Quants)));
  };
  unpack_and_multiply<kQ8_0Bytes>(w, w_stride, rows, blocks, packed, scales, token_tiles, last_tokens, out, out_stride,
                                  copy_row);
}

void pack_q8_k_tokens_amx(const uint8_t* a, int64_t a_stride, int64_t blocks, int tokens, uint8_t* packed,
                          float* scales, int32_t* sub_sums, int32_t* group_sums) {
  for (int64_t b = 0; b < blocks; ++b) {
    for (int sub = 0; sub < 8; ++sub) {
      uint8_t* tile = packed + (b * 8 + sub) * kAmxPackedBytes;
      for (int t = 0; t < kAmxTokens; ++t)
        for (int k = 0; k < 8; ++k) {
          uint8_t* quad = tile + k * kAmxTokens * 4 + t * 4;
          if (t < tokens) std::memcpy(quad, a + t * a_stride + b * kQ8_KBytes + kQ8_KQuants + 32 * sub + 4 * k, 4);
          else std::memset(quad, 0, 4);
        }
    }
    for (int t = 0; t < kAmxTokens; ++t) {
      const uint8_t* block = a + t * a_stride + b * kQ8_KBytes;
      scales[b * kAmxTokens + t] = t < tokens ? float_at(block) : 0.0f;
      for (int sub = 0; sub < 8; ++sub) {
        int16_t pair[2] = {0, 0};
        if (t < tokens) std::memcpy(pair, block + kQ8_KSums + 4 * sub, 4);
        if (sub_sums) sub_sums[(b * 8 + sub) * kAmxTokens + t] = pair[0] + pair[1];
        if (group_sums) {
          group_sums[(b * 16 + 2 * sub) * kAmxTokens + t] = pair[0];
          group_sums[(b * 16 + 2 * sub + 1) * kAmxTokens + t] = pair[1];
        }
      }
    }
  }
}

void tile_q4_k_amx(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                   const float* scales, const int32_t* sub_sums, int token_tiles, int last_tokens, float* out,
                   int64_t out_stride) {
  // Per super-block: the eight sub-blocks' codes of the sixteen rows, their scales and mins, d and dmin, unpacked
  // once for every token tile (thread-local, reused; prompts only).
  struct Unpacked {
    alignas(64) uint8_t codes[8][kAmxRows * 32];
    int32_t scale[8][kAmxRows];  // [sub-block][row]
    int32_t min[8][kAmxRows];
    float d[kAmxRows], dmin[kAmxRows];
  };
  thread_local std::vector<Unpacked> unpacked;
  unpacked.resize(static_cast<size_t>(blocks));
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  NextTilePrefetch<kAmxRows> prefetch(w, w_stride);
  for (int64_t b = 0; b < blocks; ++b) {
    prefetch.through((b + 1) * kQ4_KBytes);
    Unpacked& u = unpacked[static_cast<size_t>(b)];
    if (rows < kAmxRows) std::memset(&u, 0, sizeof u);  // the rows past the matrix: zeros (outputs not stored)
    for (int r = 0; r < rows; ++r) {
      const uint8_t* block = w + r * w_stride + b * kQ4_KBytes;
      u.d[r] = half_at(block);
      u.dmin[r] = half_at(block + kQ4_KDmin);
      uint64_t packed_scales, packed_mins;
      quant::scales_mins_k4(block + kQ4_KScales, &packed_scales, &packed_mins);
      for (int sub = 0; sub < 8; ++sub) {
        u.scale[sub][r] = static_cast<int32_t>(packed_scales >> (8 * sub) & 0xFF);
        u.min[sub][r] = static_cast<int32_t>(packed_mins >> (8 * sub) & 0xFF);
      }
      for (int pair = 0; pair < 4; ++pair) {  // 32 bytes: sub-block 2 pair in the low nibbles, 2 pair + 1 in the high
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kQ4_KQuants + 32 * pair));
        _mm256_store_si256(reinterpret_cast<__m256i*>(u.codes[2 * pair] + 32 * r), _mm256_and_si256(q, low_nibbles));
        _mm256_store_si256(reinterpret_cast<__m256i*>(u.codes[2 * pair + 1] + 32 * r),
                           _mm256_and_si256(_mm256_srli_epi16(q, 4), low_nibbles));
      }
    }
  }
  const Unpacked* unpacked_blocks = unpacked.data();  // a local in the loop below, as in tile_q4_0_amx
  alignas(64) int32_t sums[kAmxRows * kAmxTokens];
  for_each_token_tile(token_tiles, last_tokens, rows, blocks, out, out_stride, [&](int tile, int64_t b, __m512* acc) {
    const Unpacked& u = unpacked_blocks[b];
    // scaled[r][t] = sum over sub-blocks of scale * (codes . quants): one tile product per sub-block.
    __m512i scaled[kAmxRows];
#pragma GCC unroll 16
    for (auto& v : scaled) v = _mm512_setzero_si512();
    for (int sub = 0; sub < 8; ++sub) {
      _tile_zero(0);
      _tile_loadd(1, u.codes[sub], 32);
      _tile_loadd(2, packed + ((tile * blocks + b) * 8 + sub) * kAmxPackedBytes, kAmxTokens * 4);
      _tile_dpbusd(0, 1, 2);
      _tile_stored(0, sums, kAmxTokens * 4);
#pragma GCC unroll 16
      for (int r = 0; r < kAmxRows; ++r)
        scaled[r] = _mm512_add_epi32(scaled[r], _mm512_mullo_epi32(_mm512_load_si512(sums + r * kAmxTokens),
                                                                    _mm512_set1_epi32(u.scale[sub][r])));
    }
    const __m512 x_scale = _mm512_loadu_ps(scales + (tile * blocks + b) * kAmxTokens);
    const int32_t* sub_sum = sub_sums + (tile * blocks + b) * 8 * kAmxTokens;
#pragma GCC unroll 16
    for (int r = 0; r < kAmxRows; ++r) {
      __m512i mins = _mm512_setzero_si512();
      for (int sub = 0; sub < 8; ++sub)
        mins = _mm512_add_epi32(mins, _mm512_mullo_epi32(_mm512_loadu_si512(sub_sum + sub * kAmxTokens),
                                                         _mm512_set1_epi32(u.min[sub][r])));
      // accumulate_block_with_mins for sixteen tokens: the scaled part fused, then the min part subtracted, fused.
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(scaled[r]), _mm512_mul_ps(_mm512_set1_ps(u.d[r]), x_scale), acc[r]);
      acc[r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(_mm512_set1_ps(u.dmin[r]), x_scale), acc[r]);
    }
  });
}

void tile_q6_k_amx(const uint8_t* w, int64_t w_stride, int rows, int64_t blocks, const uint8_t* packed,
                   const float* scales, const int32_t* group_sums, int token_tiles, int last_tokens, float* out,
                   int64_t out_stride) {
  // Per super-block: the sixteen groups' codes of the sixteen rows, their scales and d, unpacked once for every
  // token tile (thread-local, reused; prompts only).
  struct Unpacked {
    alignas(64) uint8_t codes[16][kAmxRows * 16];
    int32_t scale[16][kAmxRows];  // [group][row]
    float d[kAmxRows];
  };
  thread_local std::vector<Unpacked> unpacked;
  unpacked.resize(static_cast<size_t>(blocks));
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F), high_pair = _mm256_set1_epi8(0x30);
  NextTilePrefetch<kAmxRows> prefetch(w, w_stride);
  for (int64_t b = 0; b < blocks; ++b) {
    prefetch.through((b + 1) * kQ6_KBytes);
    Unpacked& u = unpacked[static_cast<size_t>(b)];
    if (rows < kAmxRows) std::memset(&u, 0, sizeof u);  // the rows past the matrix: zeros (outputs not stored)
    for (int r = 0; r < rows; ++r) {
      const uint8_t* block = w + r * w_stride + b * kQ6_KBytes;
      u.d[r] = half_at(block + kQ6_KD);
      for (int g = 0; g < 16; ++g) u.scale[g][r] = static_cast<int8_t>(block[kQ6_KScales + g]);
      for (int half = 0; half < 2; ++half) {  // as Q6_KRows: vector v holds elements 32 v .. 32 v + 31
        const __m256i low0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 64 * half));
        const __m256i low1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 64 * half + 32));
        const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kQ6_KHigh + 32 * half));
        const __m256i c[4] = {
            _mm256_or_si256(_mm256_and_si256(low0, low_nibbles), _mm256_and_si256(_mm256_slli_epi16(high, 4), high_pair)),
            _mm256_or_si256(_mm256_and_si256(low1, low_nibbles), _mm256_and_si256(_mm256_slli_epi16(high, 2), high_pair)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low0, 4), low_nibbles), _mm256_and_si256(high, high_pair)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low1, 4), low_nibbles),
                            _mm256_and_si256(_mm256_srli_epi16(high, 2), high_pair))};
        for (int i = 0; i < 4; ++i) {
          const int v = 4 * half + i;
          _mm_store_si128(reinterpret_cast<__m128i*>(u.codes[2 * v] + 16 * r), _mm256_castsi256_si128(c[i]));
          _mm_store_si128(reinterpret_cast<__m128i*>(u.codes[2 * v + 1] + 16 * r), _mm256_extracti128_si256(c[i], 1));
        }
      }
    }
  }
  const Unpacked* unpacked_blocks = unpacked.data();  // a local in the loop below, as in tile_q4_0_amx
  alignas(64) int32_t sums[kAmxRows * kAmxTokens];
  for_each_token_tile(token_tiles, last_tokens, rows, blocks, out, out_stride, [&](int tile, int64_t b, __m512* acc) {
    const Unpacked& u = unpacked_blocks[b];
    // sum[r][t] = sum over groups of scale * (codes . quants - 32 * quant sum): block_sum_q6_k_q8_k, exactly.
    __m512i sum[kAmxRows];
#pragma GCC unroll 16
    for (auto& v : sum) v = _mm512_setzero_si512();
    for (int g = 0; g < 16; ++g) {
      _tile_zero(0);
      _tile_loadd(3, u.codes[g], 16);
      _tile_loadd(4, packed + ((tile * blocks + b) * 8 + g / 2) * kAmxPackedBytes + (g % 2) * 4 * kAmxTokens * 4,
                  kAmxTokens * 4);
      _tile_dpbusd(0, 3, 4);
      _tile_stored(0, sums, kAmxTokens * 4);
      const __m512i bias =
          _mm512_slli_epi32(_mm512_loadu_si512(group_sums + ((tile * blocks + b) * 16 + g) * kAmxTokens), 5);
#pragma GCC unroll 16
      for (int r = 0; r < kAmxRows; ++r)
        sum[r] = _mm512_add_epi32(sum[r], _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_load_si512(sums + r * kAmxTokens), bias),
                                                             _mm512_set1_epi32(u.scale[g][r])));
    }
    const __m512 x_scale = _mm512_loadu_ps(scales + (tile * blocks + b) * kAmxTokens);
#pragma GCC unroll 16
    for (int r = 0; r < kAmxRows; ++r)
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[r]), _mm512_mul_ps(_mm512_set1_ps(u.d[r]), x_scale), acc[r]);
  });
}

}  // namespace sy::cpu::simd
