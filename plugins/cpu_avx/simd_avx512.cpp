// AVX-512 (F, BW, VL) inner loops of the CPU plugin (compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c;
// see simd_kernels.h). Float tails use masked loads, so no scalar loop is needed.
// This file is compiled twice: once as is, once with -mavx512vnni, which turns the byte products of the quantized
// dot products into vpdpbusd and names them *_avx512_vnni; the float kernels exist only in the first build.
#include <immintrin.h>

#include <cstdint>

#include "core/quant/k_scales.h"  // static: compiled here with this unit's flags
#include "plugins/cpu_avx/simd_kernels.h"
#include "plugins/cpu_avx/ternary_tile.h"  // internal linkage: compiled here with this unit's flags

#ifdef __AVX512VNNI__
#define SY_AVX512_KERNEL(name) name##_avx512_vnni
#else
#define SY_AVX512_KERNEL(name) name##_avx512
#endif

namespace sy::cpu::simd {

namespace {
[[maybe_unused]] __mmask16 tail_mask(int64_t remaining) {
  return static_cast<__mmask16>(remaining >= 16 ? 0xffff : (1u << remaining) - 1u);
}

// Scalars of a block; memcpy because blocks are packed at any byte offset.
float half_at(const uint8_t* p) {
  uint16_t bits;
  __builtin_memcpy(&bits, p, sizeof bits);
  return _cvtsh_ss(bits);
}
float float_at(const uint8_t* p) {
  float value;
  __builtin_memcpy(&value, p, sizeof value);
  return value;
}
__m256i load256(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
__m512i load512(const uint8_t* p) { return _mm512_loadu_si512(p); }
__m512i join(__m256i low, __m256i high) { return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1); }

int horizontal_sum(__m256i v) {
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0x4e));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0xb1));
  return _mm_cvtsi128_si32(sum);
}

float horizontal_sum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  return _mm_cvtss_f32(_mm_add_ss(sum, _mm_movehdup_ps(sum)));
}

// Tile<R, T>::run(args) for the runtime rows (1..kTileRows) and tokens (1..kTileTokens): one instantiation per
// shape, so that every shape's accumulators are registers.
template <template <int, int> class Tile, int R = kTileRows, int T = kTileTokens>
void run_tile(const QuantTileArgs& args, int rows, int tokens) {
  if constexpr (R > 1)
    if (rows < R) return run_tile<Tile, R - 1, T>(args, rows, tokens);
  if constexpr (T > 1)
    if (tokens < T) return run_tile<Tile, R, T - 1>(args, rows, tokens);
  Tile<R, T>::run(args);
}

// acc + sixteen int32 sums of four byte products each, unsigned u times signed s. Without VNNI through
// vpmaddubsw, whose int16 pair sums never saturate here: every caller's u is at most 128 and |s| at most 127.
__m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) {
#ifdef __AVX512VNNI__
  return _mm512_dpbusd_epi32(acc, u, s);
#else
  return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}


}  // namespace

#ifndef __AVX512VNNI__

float dot_f32_avx512(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float dot_f16_avx512(const uint16_t* w, const float* x, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i)));
    const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 16)));
    acc0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 mask = tail_mask(n - i);
    const __m512 w0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, w + i));
    acc0 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(mask, x + i), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

#endif  // !__AVX512VNNI__

// ---- Quantized dot products (see simd_kernels.h) ----------------------------------------------------------------
// Two 32-element blocks per 512-bit vector for Q8_0, four for Q4_0; 64 elements at a time for the 256-element blocks.
// Q4_0, Q8_0, Q4_K and Q6_K come as tiles (several rows and tokens per call), TQ2_0 as a dot product.

namespace {
// Q4_0 against a Q8_0Group, eight blocks (144 bytes) per step. Block k's scale is word 9k of the group and its 16
// nibble bytes words 9k + 1 .. 9k + 8, so word permutes (AVX512BW's vpermt2w; byte permutes would need VBMI) pick
// them out of the group's bytes 0..127 (the nibbles of activation slots 0..3, and the eight scales) and 16..143
// (slots 4..7).
struct Q4_0Permutes {
  uint16_t nibbles[2][32];  // [slot / 4]: word j of slot s's nibbles at 8 * (s % 4) + j
  uint16_t scales[32];      // block k's scale at word k; the rest unused
  int32_t fold_first[16], fold_second[16];  // see q4_0_accumulate
};
constexpr Q4_0Permutes make_q4_0_permutes() {
  static_assert(kQ4_0Bytes == 18 && kQ4_0Quants == 2, "the permutes below assume the GGUF Q4_0 layout");
  Q4_0Permutes p{};
  constexpr int kWords = kQ4_0Bytes / 2, kSecondBase = 8;  // words per block; bytes 16..143 start at word 8
  for (int k = 0; k < kQ8_0GroupBlocks; ++k) {
    const int slot = kQ8_0GroupSlot[k], half = slot / 4;
    for (int j = 0; j < 8; ++j)
      p.nibbles[half][8 * (slot % 4) + j] = static_cast<uint16_t>(kWords * k + 1 + j - kSecondBase * half);
    p.scales[k] = static_cast<uint16_t>(kWords * k);
    // Slot s's four int32 sums are lanes 4 (s % 4) .. 4 (s % 4) + 3 of vector s / 4 (vpermt2d: index bit 4 picks
    // the second vector).
    const int lane = 4 * (slot % 4) + 16 * half;
    p.fold_first[k] = lane, p.fold_second[k] = lane + 1;
    p.fold_first[8 + k] = lane + 2, p.fold_second[8 + k] = lane + 3;
  }
  return p;
}
alignas(64) constexpr Q4_0Permutes kQ4_0Permutes = make_q4_0_permutes();
constexpr bool q4_0_permutes_in_range() {
  for (int h = 0; h < 2; ++h)
    for (const uint16_t index : kQ4_0Permutes.nibbles[h])
      if (index >= 64) return false;
  return kQ4_0Permutes.scales[kQ8_0GroupBlocks - 1] < 64;
}
static_assert(q4_0_permutes_in_range(), "every word a permute picks must lie in its two 64-byte loads");

// Software prefetch of the weight stream, kPrefetchBytes ahead of `p`, kLines cache lines (enough for one step:
// three for a Q4_0 group's 144 bytes, two for a Q8_0 pair's 68), non-temporal: with it one thread reads a weight
// from DRAM faster than the hardware prefetchers alone manage, and faster than with a temporal hint (bench/README.md,
// Q4_0 and Q8_0 sections). Only in a tile of one token: a tile of several is followed by the next tokens' tiles over
// the same rows, which must find them in cache.
constexpr int kPrefetchBytes = 256;
template <int T, int kLines>
[[gnu::always_inline]] inline void prefetch_weights(const uint8_t* p) {
  if constexpr (T == 1) {
    for (int line = 0; line < kLines; ++line)
      _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes + 64 * line), _MM_HINT_NTA);
  }
}

// One group of one weight row, unpacked: the codes of activation slots 0..3 ([0]) and 4..7 ([1]), low and high
// nibbles apart, and the eight scales in block order.
struct Q4_0Codes {
  __m512i low[2], high[2];
  __m256 scales;
};

[[gnu::always_inline]] inline Q4_0Codes q4_0_codes(const uint8_t* w) {
  const Q4_0Permutes& p = kQ4_0Permutes;
  // The 144 bytes as 32-byte loads and one of 16: 64-byte loads, which straddle cache lines at three of a row's four
  // group offsets, read memory slower (bench/README.md, Q4_0 section). Bytes 16..79 and 80..143 are shifts of them.
  const __m512i w0 = join(load256(w), load256(w + 32)), w64 = join(load256(w + 64), load256(w + 96));
  const __m512i w128 = _mm512_zextsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 128)));
  const __m512i w16 = _mm512_alignr_epi32(w64, w0, 4), w80 = _mm512_alignr_epi32(w128, w64, 4);
  const __m512i packed[2] = {_mm512_permutex2var_epi16(w0, _mm512_load_si512(p.nibbles[0]), w64),
                             _mm512_permutex2var_epi16(w16, _mm512_load_si512(p.nibbles[1]), w80)};
  const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
  Q4_0Codes codes;
  for (int h = 0; h < 2; ++h) {
    codes.low[h] = _mm512_and_si512(packed[h], low_nibbles);
    codes.high[h] = _mm512_and_si512(_mm512_srli_epi16(packed[h], 4), low_nibbles);
  }
  const __m512i scales = _mm512_permutex2var_epi16(w0, _mm512_load_si512(p.scales), w64);
  codes.scales = _mm256_cvtph_ps(_mm512_castsi512_si128(scales));
  return codes;
}

// Sixteen int32 sums: four blocks' low and high codes against their activations' low and high halves.
__m512i q4_0_quad(__m512i low, const int8_t* x_low, __m512i high, const int8_t* x_high) {
  const __m512i xl = _mm512_loadu_si512(x_low), xh = _mm512_loadu_si512(x_high);
#ifdef __AVX512VNNI__
  return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), low, xl), high, xh);
#else
  // Both halves' pair sums added in int16 before one vpmaddwd: at most 2 * 2 * 15 * 127 = 7620.
  const __m512i pairs = _mm512_add_epi16(_mm512_maddubs_epi16(low, xl), _mm512_maddubs_epi16(high, xh));
  return _mm512_madd_epi16(pairs, _mm512_set1_epi16(1));
#endif
}

// acc + one unpacked group against one token's activation group.
[[gnu::always_inline]] inline __m256 q4_0_accumulate(__m256 acc, const Q4_0Codes& codes, const Q8_0Group* a) {
  const Q4_0Permutes& p = kQ4_0Permutes;
  const __m512i sums0 = q4_0_quad(codes.low[0], a->low, codes.high[0], a->high);
  const __m512i sums1 = q4_0_quad(codes.low[1], a->low + 64, codes.high[1], a->high + 64);
  // Each block's four int32 sums into one lane, block k in lane k: two permutes gather the pairs (k in lanes k and
  // 8 + k), and the halves are added. At most 32 * 15 * 127 per block, exact.
  const __m512i pairs = _mm512_add_epi32(_mm512_permutex2var_epi32(sums0, _mm512_load_si512(p.fold_first), sums1),
                                         _mm512_permutex2var_epi32(sums0, _mm512_load_si512(p.fold_second), sums1));
  const __m256i sums = _mm256_add_epi32(_mm512_castsi512_si256(pairs), _mm512_extracti64x4_epi64(pairs, 1));
  // Codes are the value plus 8: sum(code * x) - 8 * sum(x), exactly.
  const __m256i exact = _mm256_sub_epi32(sums, load256(reinterpret_cast<const uint8_t*>(a->bias)));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), _mm256_mul_ps(codes.scales, _mm256_loadu_ps(a->scale)), acc);
}

// R Q4_0 rows against T tokens' Q8_0Group rows.
template <int R, int T>
struct Q4_0Tile {
  static void run(const QuantTileArgs& args) {
    constexpr int64_t kGroupBytes = int64_t{kQ8_0GroupBlocks} * kQ4_0Bytes;
    const auto activations = [&](int t) { return reinterpret_cast<const Q8_0Group*>(args.a + t * args.a_stride); };
    __m256 acc[R][T];
    for (auto& row : acc)
      for (auto& sum : row) sum = _mm256_setzero_ps();
    const int64_t groups = args.n / (32 * kQ8_0GroupBlocks);
    for (int64_t g = 0; g < groups; ++g) {
      Q4_0Codes codes[R];
      for (int r = 0; r < R; ++r) {
        const uint8_t* group = args.w + r * args.w_stride + g * kGroupBytes;
        prefetch_weights<T, 3>(group);
        codes[r] = q4_0_codes(group);
      }
      for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r) acc[r][t] = q4_0_accumulate(acc[r][t], codes[r], activations(t) + g);
    }
    // 1..7 blocks left: copied into a zeroed group (zero codes and scale: the missing activation blocks are zero
    // too), so that nothing past the row is read.
    if (const int64_t rest = args.n / 32 % kQ8_0GroupBlocks; rest > 0) {
      for (int r = 0; r < R; ++r) {
        uint8_t tail[kGroupBytes] = {};
        const uint8_t* last = args.w + r * args.w_stride + groups * kGroupBytes;
        __builtin_memcpy(tail, last, static_cast<size_t>(rest * kQ4_0Bytes));
        const Q4_0Codes codes = q4_0_codes(tail);
        for (int t = 0; t < T; ++t) acc[r][t] = q4_0_accumulate(acc[r][t], codes, activations(t) + groups);
      }
    }
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r) args.out[t * args.out_stride + r] = horizontal_sum(acc[r][t]);
  }
};

// Two Q8_0 blocks per 512-bit vector (the int32 sums of block b in lanes 0..7, of b + 1 in lanes 8..15). The
// weights unpacked for the signed-times-signed product: |w|, w's signs (which move onto x), the two scales.
struct Q8_0Codes {
  __m512i magnitude;
  __mmask64 negative;
  __m128 scales;  // the two blocks' scales in lanes 0 and 1
};

// The fp16 scales of two Q8_0 blocks (at p and p + kQ8_0Bytes) in lanes 0 and 1, converted by one instruction.
[[gnu::always_inline]] inline __m128 q8_0_scales(const uint8_t* p) {
  uint16_t first, second;
  __builtin_memcpy(&first, p, sizeof first);
  __builtin_memcpy(&second, p + kQ8_0Bytes, sizeof second);
  return _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(first), second, 1));
}

[[gnu::always_inline]] inline Q8_0Codes q8_0_codes(const uint8_t* w) {
  const __m512i weights = join(load256(w + kQ8_0Quants), load256(w + kQ8_0Bytes + kQ8_0Quants));
  return {_mm512_abs_epi8(weights), _mm512_movepi8_mask(weights), q8_0_scales(w)};
}

// The last block of an odd count, in 256 bits, as an int32 sum.
int q8_0_last_block(const uint8_t* w, const uint8_t* a) {
  const __m256i weights = load256(w + kQ8_0Quants), x = load256(a + kQ8_0Quants);
  return horizontal_sum(_mm256_madd_epi16(
      _mm256_maddubs_epi16(_mm256_sign_epi8(weights, weights), _mm256_sign_epi8(x, weights)), _mm256_set1_epi16(1)));
}

// R Q8_0 rows against T tokens' Q8_0 rows.
template <int R, int T>
struct Q8_0Tile {
  static void run(const QuantTileArgs& args) {
    const int64_t blocks = args.n / 32;
    const __m512i pair_lanes = join(_mm256_setzero_si256(), _mm256_set1_epi32(1));  // lane 0 to 0..7, 1 to 8..15
    __m512 acc[R][T];
    for (auto& row : acc)
      for (auto& sum : row) sum = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
      Q8_0Codes codes[R];
      for (int r = 0; r < R; ++r) {
        const uint8_t* pair = args.w + r * args.w_stride + b * kQ8_0Bytes;
        prefetch_weights<T, 2>(pair);
        codes[r] = q8_0_codes(pair);
      }
      for (int t = 0; t < T; ++t) {
        const uint8_t* a = args.a + t * args.a_stride + b * kQ8_0Bytes;
        const __m512i x = join(load256(a + kQ8_0Quants), load256(a + kQ8_0Bytes + kQ8_0Quants));
        const __m128 x_scales = q8_0_scales(a);
        for (int r = 0; r < R; ++r) {
          // Signed times signed: |w| times x with w's sign moved onto it (AVX-512 has no vpsignb).
          const __m512i signed_x = _mm512_mask_sub_epi8(x, codes[r].negative, _mm512_setzero_si512(), x);
          const __m512i sums = dot_u8s8(_mm512_setzero_si512(), codes[r].magnitude, signed_x);
          // The two products of scales, spread over their blocks' lanes.
          const __m512 scales = _mm512_permutexvar_ps(
              pair_lanes, _mm512_castps128_ps512(_mm_mul_ps(codes[r].scales, x_scales)));
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scales, acc[r][t]);
        }
      }
    }
    for (int t = 0; t < T; ++t) {
      for (int r = 0; r < R; ++r) {
        float sum = _mm512_reduce_add_ps(acc[r][t]);
        if (b < blocks) {
          const uint8_t* w = args.w + r * args.w_stride + b * kQ8_0Bytes;
          const uint8_t* a = args.a + t * args.a_stride + b * kQ8_0Bytes;
          sum += static_cast<float>(q8_0_last_block(w, a)) * (half_at(w) * half_at(a));
        }
        args.out[t * args.out_stride + r] = sum;
      }
    }
  }
};
}  // namespace

void SY_AVX512_KERNEL(tile_q4_0_q8_0)(const QuantTileArgs& args, int rows, int tokens) {
  run_tile<Q4_0Tile>(args, rows, tokens);
}
void SY_AVX512_KERNEL(tile_q8_0_q8_0)(const QuantTileArgs& args, int rows, int tokens) {
  run_tile<Q8_0Tile>(args, rows, tokens);
}

namespace {
// One Q4_K super-block of one weight row, unpacked: the codes of each quarter (sub-blocks 2k in the low 256 bits,
// 2k + 1 in the high), each quarter's sub-block scales spread over its int16 lanes, the mins paired against the
// activation's sums of 16 (each min twice), and the two fp16 factors.
struct Q4_KCodes {
  __m512i codes[4], scales[4];
  __m256i min_pairs;
  float d, dmin;
};

[[gnu::always_inline]] inline Q4_KCodes q4_k_codes(const uint8_t* w) {
  const __m512i low_nibbles = _mm512_set1_epi8(0x0F);
  // Int16 lanes 0..15 of a 64-element product are sub-block 2k (low nibbles), lanes 16..31 sub-block 2k + 1.
  const __m512i first_pair = _mm512_mask_set1_epi16(_mm512_setzero_si512(), 0xFFFF0000, 1);
  uint64_t scales, mins;
  quant::scales_mins_k4(w + kQ4_KScales, &scales, &mins);  // one byte per sub-block
  const __m128i mins8 = _mm_cvtsi64_si128(static_cast<long long>(mins));
  const __m512i scales16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(scales))));
  Q4_KCodes c;
  c.min_pairs = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
  c.d = half_at(w);
  c.dmin = half_at(w + kQ4_KDmin);
  for (int k = 0; k < 4; ++k) {  // sub-blocks 2k (low nibbles) and 2k + 1 (high): 64 consecutive elements
    const __m512i packed = _mm512_broadcast_i64x4(load256(w + kQ4_KQuants + 32 * k));
    c.codes[k] = _mm512_and_si512(_mm512_mask_srli_epi16(packed, 0xFFFF0000, packed, 4), low_nibbles);
    c.scales[k] = _mm512_permutexvar_epi16(_mm512_add_epi16(first_pair, _mm512_set1_epi16(static_cast<int16_t>(2 * k))),
                                           scales16);
  }
  return c;
}

// One unpacked super-block against one token's Q8_K block: acc += d * sum(scale * q * x), offsets += dmin * min
// terms (x = d * scale * q - dmin * min over each sub-block of 32; the min term needs only the activation's sums).
[[gnu::always_inline]] inline void q4_k_accumulate(__m512& acc, __m256& offsets, const Q4_KCodes& c, const uint8_t* a) {
  const float x_scale = float_at(a);
  const __m256i min_terms = _mm256_madd_epi16(c.min_pairs, load256(a + kQ8_KSums));
  offsets = _mm256_fmadd_ps(_mm256_cvtepi32_ps(min_terms), _mm256_set1_ps(c.dmin * x_scale), offsets);
  __m512i sumi = _mm512_setzero_si512();
  for (int k = 0; k < 4; ++k) {
    // Pair sums of at most 2 * 15 * 127, then times the sub-block scale and summed in int32. vpmaddwd then an add
    // rather than VNNI's vpdpwssd: four of those would be one chain of long latency.
    const __m512i pairs = _mm512_maddubs_epi16(c.codes[k], load512(a + kQ8_KQuants + 64 * k));
    sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(pairs, c.scales[k]));
  }
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(c.d * x_scale), acc);
}

// R Q4_K rows against T tokens' Q8_K rows.
template <int R, int T>
struct Q4_KTile {
  static void run(const QuantTileArgs& args) {
    __m512 acc[R][T];
    __m256 offsets[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps(), offsets[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < args.n / 256; ++b) {
      Q4_KCodes codes[R];
      for (int r = 0; r < R; ++r) codes[r] = q4_k_codes(args.w + r * args.w_stride + b * kQ4_KBytes);
      for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r)
          q4_k_accumulate(acc[r][t], offsets[r][t], codes[r], args.a + t * args.a_stride + b * kQ8_KBytes);
    }
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r)
        args.out[t * args.out_stride + r] =
            _mm512_reduce_add_ps(_mm512_sub_ps(acc[r][t], _mm512_zextps256_ps512(offsets[r][t])));
  }
};

// One Q6_K super-block of one weight row, unpacked: the 6-bit codes of each half (elements 0..63 and 64..127 of
// the half), each product lane's group scale, the scales for the offset, and the fp16 factor.
struct Q6_KCodes {
  __m512i codes[2][2], scales[2][2];
  __m256i scales16;
  float d;
};

[[gnu::always_inline]] inline Q6_KCodes q6_k_codes(const uint8_t* w) {
  const __m512i low_nibbles = _mm512_set1_epi8(0x0F), high_pair = _mm512_set1_epi8(0x30);
  // Lane i of a 64-element product vector covers elements 4i..4i+3, so group g of 16 is lanes 4g..4g+3.
  const __m512i group_of_lane = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + kQ6_KScales));
  const __m512i scales = _mm512_cvtepi8_epi32(scales8);
  Q6_KCodes c;
  c.scales16 = _mm256_cvtepi8_epi16(scales8);
  c.d = half_at(w + kQ6_KD);
  for (int half = 0; half < 2; ++half) {
    const __m512i low = load512(w + 64 * half);  // low nibbles of elements 0..63 (low) and 64..127 (high)
    const __m256i high = load256(w + kQ6_KHigh + 32 * half);
    const __m512i high01 = join(_mm256_slli_epi16(high, 4), _mm256_slli_epi16(high, 2));
    const __m512i high23 = join(high, _mm256_srli_epi16(high, 2));
    c.codes[half][0] = _mm512_or_si512(_mm512_and_si512(low, low_nibbles), _mm512_and_si512(high01, high_pair));
    c.codes[half][1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(low, 4), low_nibbles),
                                       _mm512_and_si512(high23, high_pair));
    for (int j = 0; j < 2; ++j)
      c.scales[half][j] =
          _mm512_permutexvar_epi32(_mm512_add_epi32(group_of_lane, _mm512_set1_epi32(8 * half + 4 * j)), scales);
  }
  return c;
}

// acc + one unpacked super-block against one token's Q8_K block.
[[gnu::always_inline]] inline __m512 q6_k_accumulate(__m512 acc, const Q6_KCodes& c, const uint8_t* a) {
  // The stored 6-bit code is the value plus 32: subtract 32 * scale * (sum of the 16 activations) per group.
  const int bias = 32 * horizontal_sum(_mm256_madd_epi16(c.scales16, load256(a + kQ8_KSums)));
  __m512i sumi = _mm512_setzero_si512();
  for (int half = 0; half < 2; ++half) {
    const uint8_t* x = a + kQ8_KQuants + 128 * half;
    const __m512i p01 = dot_u8s8(_mm512_setzero_si512(), c.codes[half][0], load512(x));
    const __m512i p23 = dot_u8s8(_mm512_setzero_si512(), c.codes[half][1], load512(x + 64));
    sumi = _mm512_add_epi32(sumi, _mm512_add_epi32(_mm512_mullo_epi32(p01, c.scales[half][0]),
                                                   _mm512_mullo_epi32(p23, c.scales[half][1])));
  }
  // The offset comes off in integers: subtracted in float after scaling, two large sums would cancel and lose
  // the low bits of a small result.
  sumi = _mm512_mask_sub_epi32(sumi, 1, sumi, _mm512_set1_epi32(bias));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(c.d * float_at(a)), acc);
}

// R Q6_K rows against T tokens' Q8_K rows.
template <int R, int T>
struct Q6_KTile {
  static void run(const QuantTileArgs& args) {
    __m512 acc[R][T];
    for (auto& row : acc)
      for (auto& sum : row) sum = _mm512_setzero_ps();
    for (int64_t b = 0; b < args.n / 256; ++b) {
      Q6_KCodes codes[R];
      for (int r = 0; r < R; ++r) codes[r] = q6_k_codes(args.w + r * args.w_stride + b * kQ6_KBytes);
      for (int t = 0; t < T; ++t)
        for (int r = 0; r < R; ++r)
          acc[r][t] = q6_k_accumulate(acc[r][t], codes[r], args.a + t * args.a_stride + b * kQ8_KBytes);
    }
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < R; ++r) args.out[t * args.out_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
};
}  // namespace

void SY_AVX512_KERNEL(tile_q4_k_q8_k)(const QuantTileArgs& args, int rows, int tokens) {
  run_tile<Q4_KTile>(args, rows, tokens);
}
void SY_AVX512_KERNEL(tile_q6_k_q8_k)(const QuantTileArgs& args, int rows, int tokens) {
  run_tile<Q6_KTile>(args, rows, tokens);
}

float SY_AVX512_KERNEL(dot_tq2_0_q8_k)(const void* w_row, const void* a_row, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(w_row);
  const auto* a = static_cast<const uint8_t*>(a_row);
  const __m512i two_bits = _mm512_set1_epi8(3);
  // 32 bytes of codes in both halves of a vector, each half shifted by its own amount: bit pairs 0 and 1 (elements
  // 0..31 and 32..63 of the chunk), then 2 and 3.
  const __m512i shifts01 = join(_mm256_setzero_si256(), _mm256_set1_epi16(2));
  const __m512i shifts23 = join(_mm256_set1_epi16(4), _mm256_set1_epi16(6));
  __m512 acc = _mm512_setzero_ps();
  for (int64_t b = 0; b < n / 256; ++b, w += kTQ2_0Bytes, a += kQ8_KBytes) {
    __m512i sumi = _mm512_setzero_si512();
    for (int chunk = 0; chunk < 2; ++chunk) {  // 32 bytes: bit pair m of byte j is element 32m + j
      const __m512i packed = _mm512_broadcast_i64x4(load256(w + 32 * chunk));
      const __m512i codes01 = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts01), two_bits);
      const __m512i codes23 = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts23), two_bits);
      const uint8_t* x = a + kQ8_KQuants + 128 * chunk;
      sumi = dot_u8s8(sumi, codes01, load512(x));
      sumi = dot_u8s8(sumi, codes23, load512(x + 64));
    }
    // Codes 0, 1, 2 mean -1, 0, +1: subtract the activation's sums, lane by lane (only the total matters) and in
    // integers, as for Q6_K.
    const __m256i sums = _mm256_madd_epi16(load256(a + kQ8_KSums), _mm256_set1_epi16(1));
    sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(sums));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(half_at(w + kTQ2_0D) * float_at(a)), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

// ---- Ternary tiles (I2_S, TQ1_0; see simd_kernels.h) ------------------------------------------------------------

namespace {

// The top trits of biased TQ1_0 bytes (ternary_tile.h): [x > kTritOne] + [x > kTritTwo], from two compare masks.
SY_TERNARY_INLINE __m512i top_trits(__m512i biased) {
  const __mmask64 ones = _mm512_cmpgt_epi8_mask(biased, _mm512_set1_epi8(kTritOne));
  const __mmask64 twos = _mm512_cmpgt_epi8_mask(biased, _mm512_set1_epi8(kTritTwo));
  return _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(ones, _mm512_set1_epi8(1)), twos, _mm512_set1_epi8(2));
}

// The byte products of k code vectors (byte p of vector j is element 64 j + p) with the quants, folded into the
// reference's eight lanes (ternary_tile.h): lanes L and L + 8 of the sixteen hold the elements with
// (e mod 32) / 4 == L.
template <int kVectors>
SY_TERNARY_INLINE __m256i ternary_products(const __m512i* codes, const uint8_t* a) {
  __m512i sum = _mm512_setzero_si512();
#pragma GCC unroll 8
  for (int k = 0; k < kVectors; ++k) sum = dot_u8s8(sum, codes[k], load512(a + kQ8_KQuants + 64 * k));
  return _mm256_add_epi32(_mm512_castsi512_si256(sum), _mm512_extracti64x4_epi64(sum, 1));
}

// I2_S: 32 bytes hold 128 elements, bit pair 3 - m of byte j being element 32 m + j; the 32 bytes in both halves of
// a vector, each half shifted by its own amount.
struct I2SKernel {
  using Vector = __m512i;
  static constexpr int kVectors = 4, kBlockBytes = 2 * kI2SBytes;
  template <int k>
  SY_TERNARY_INLINE static void decode(const uint8_t* w, __m512i* codes) {
    const __m512i two_bits = _mm512_set1_epi8(3);
    const __m512i shifts01 = join(_mm256_set1_epi16(6), _mm256_set1_epi16(4));
    const __m512i shifts23 = join(_mm256_set1_epi16(2), _mm256_setzero_si256());
#pragma GCC unroll 2
    for (int half = 0; half < k / 2; ++half) {
      const __m512i packed = _mm512_broadcast_i64x4(load256(w + kI2SBytes * half));
      codes[2 * half] = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts01), two_bits);
      codes[2 * half + 1] = _mm512_and_si512(_mm512_srlv_epi16(packed, shifts23), two_bits);
    }
  }
  template <int k>
  SY_TERNARY_INLINE static __m256i products(const __m512i* codes, const uint8_t* a) {
    return ternary_products<k>(codes, a);
  }
};

// TQ1_0 (blocks.h, dequantize_chunk_tq1_0; the byte order in ternary_tile.h).
struct TQ1_0Kernel {
  using Vector = __m512i;
  static constexpr int kVectors = 4, kBlockBytes = kTQ1_0Bytes;
  template <int k>
  SY_TERNARY_INLINE static void decode(const uint8_t* w, __m512i* codes) {
    static_assert(k == kVectors);
    __m256i first[5], last[3];
    tq1_0_first_bytes(w, first);
    tq1_0_last_bytes(w, last);
    codes[0] = top_trits(join(first[0], first[1]));
    codes[1] = top_trits(join(first[2], first[3]));
    codes[2] = top_trits(join(first[4], last[0]));
    codes[3] = top_trits(join(last[1], last[2]));
  }
  template <int k>
  SY_TERNARY_INLINE static __m256i products(const __m512i* codes, const uint8_t* a) {
    return ternary_products<k>(codes, a);
  }
};

}  // namespace

void SY_AVX512_KERNEL(tile_i2_s_q8_k)(const QuantTileArgs& args, int rows, int tokens) {
  run_ternary_tile<I2SKernel>(args, rows, tokens);
}
void SY_AVX512_KERNEL(tile_tq1_0_q8_k)(const QuantTileArgs& args, int rows, int tokens) {
  run_ternary_tile<TQ1_0Kernel>(args, rows, tokens);
}

}  // namespace sy::cpu::simd
