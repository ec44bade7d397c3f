// AVX-512 VNNI products for few tokens: decode (one token), and up to 16
// tokens (a batch of decodes, a draft to verify, a short prefill chunk), each
// of which gets exactly the sums it gets alone. Part of avx512_vnni.cpp,
// included by it alone, under its flags.
//
// Two algorithms, each with the activation re-layout it reads:
//   quads   four blocks per register, for Q8 and for Q4 without zero points
//           (the formats of the int8 and int4 models);
//   pairs   two Q4 blocks per register, spread to a code per byte, for Q4
//           with per-block zero points, whose term is taken per row apart.
// VPDPBUSD multiplies unsigned weight codes by signed activations and sums
// groups of four into 16 int32 lanes; the lanes of a block get its scale from
// a register spread at preparation, so one float multiply-add per register
// applies all of them. The zero point is taken out afterwards from the
// activation block sums (sum((c - z) q) = sum(c q) - z sum(q)).
//
// The float operations of a token are the same whatever tile it falls in, so
// a token's result does not depend on how many others come with it.
#pragma once

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "x86_common.h"

namespace edge {
namespace {

// Runs tile(std::integral_constant<int, n>(), t), a tile of n tokens from
// token t, over tokens [0, T): tiles of TT, then one of the T % TT left.
// Every token's sums are the same whatever tile it falls in.
template <int TT, class Tile>
inline void for_token_tiles(int T, Tile&& tile) {
  static_assert(TT >= 1 && TT <= 4, "a rest of up to 3 tokens");
  int t = 0;
  for (; t + TT <= T; t += TT) tile(std::integral_constant<int, TT>(), t);
  const int rest = T - t;
  if constexpr (TT > 3) {
    if (rest == 3) tile(std::integral_constant<int, 3>(), t);
  }
  if constexpr (TT > 2) {
    if (rest == 2) tile(std::integral_constant<int, 2>(), t);
  }
  if constexpr (TT > 1) {
    if (rest == 1) tile(std::integral_constant<int, 1>(), t);
  }
}

// ---- Q4 with zero points: two blocks per register ------------------------------

// Per-call preparation of the activations, so the inner loop only loads: for
// each pair of blocks the two block scales d, spread over the 16 lanes they
// apply to. The zero points differ per row and block, so their term
// sum_b z_b * d_w * d * sum is taken per row apart, from d_sum; with several
// tokens from d_sum_lanes, the same values with the tokens in lanes, so that
// one pass over a row's blocks takes the term for all of them.
struct PreparedActs {
  Scratch<float> pair_scales;  // [T][nb / 2][16]
  Scratch<float> d_sum;        // [T][nb]: d * sum
  Scratch<float> d_sum_lanes;  // [nb][16], token t in lane t, 0 past T; only if T > 1
  uint64_t version = 0;            // of the activations prepared (0: none)
  // The terms of the rows in hand, here rather than on the stack: an array
  // there would give the sanitizer build an unwinding landing pad, whose
  // personality reference the kernel file must not export.
  float zeros[4][kExactBatchTokens];

  void prepare(const ActBlocks& x) {
    if (holds(version, x)) return;
    const int nb = x.blocks(), pairs = nb / 2;
    pair_scales.at_least(size_t(x.rows) * pairs * 16);
    d_sum.at_least(size_t(x.rows) * nb);
    if (x.rows > 1) std::fill_n(d_sum_lanes.at_least(size_t(nb) * 16), size_t(nb) * 16, 0.0f);
    for (int t = 0; t < x.rows; ++t) {
      const float* d = x.row_d(t);
      for (int b = 0; b < nb; ++b) {
        d_sum[size_t(t) * nb + b] = d[b] * float(x.row_sum(t)[b]);
        if (x.rows > 1) d_sum_lanes[size_t(b) * 16 + t] = d_sum[size_t(t) * nb + b];
      }
      for (int p = 0; p < pairs; ++p)
        for (int half = 0; half < 2; ++half) {
          float* scale = &pair_scales[(size_t(t) * pairs + p) * 16 + 8 * half];
          std::fill(scale, scale + 8, d[2 * p + half]);
        }
    }
  }
};

// Two Q4 blocks (32 bytes) as one code per byte, in the nibble order of the
// activations: [low nibbles of block 0, high of 0, low of 1, high of 1].
inline __m512i unpack_q4_pair(const uint8_t* w) {
  const __m512i both = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
  const __m512i dup = _mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(1, 1, 0, 0));
  const __m512i shifted = _mm512_srli_epi16(dup, 4);
  return _mm512_and_si512(_mm512_mask_blend_epi64(0xCC, dup, shifted), _mm512_set1_epi8(0x0F));
}

// Zero-point terms of rows [n0, n0 + R), over the blocks taken in pairs (an
// odd last block applies its own): z[r][t] = sum_b sw[b] * z_b * (d[b] *
// sum[b]), added in block order. One token in scalars; several in lanes, the
// same operations for each token.
template <int R>
void zero_point_terms(const WeightMatrix& w, const PreparedActs& prep, int n0, int tokens,
                      float z[][kExactBatchTokens]) {
  static_assert(kExactBatchTokens == 16, "the tokens fill one register");
  const int nb = w.blocks();
  for (int r = 0; r < R; ++r) {
    const uint16_t* sw = w.scales_f16 + size_t(n0 + r) * nb;
    if (tokens == 1) {  // decode: d_sum is a sixteenth of the lanes' bytes to keep in L1
      float sum = 0.0f;
      for (int b = 0; b < nb - (nb & 1); ++b)
        sum += _cvtsh_ss(sw[b]) * float(q4_zero_point(w, n0 + r, b)) * prep.d_sum[b];
      z[r][0] = sum;
      continue;
    }
    __m512 sum = _mm512_setzero_ps();
    for (int b = 0; b < nb - (nb & 1); ++b) {
      const float scale = _cvtsh_ss(sw[b]) * float(q4_zero_point(w, n0 + r, b));
      sum = _mm512_add_ps(sum, _mm512_mul_ps(_mm512_set1_ps(scale), _mm512_loadu_ps(&prep.d_sum_lanes[size_t(b) * 16])));
    }
    _mm512_storeu_ps(z[r], sum);
  }
}

// Rows [n0, n0 + R) against tokens [t0, t0 + TT), with their zero-point
// terms: each weight pair is unpacked once for TT tokens and each activation
// pair loaded once for R rows, and the R * TT accumulators are independent
// chains.
template <int R, int TT>
void pair_tile(const WeightMatrix& w, const ActBlocks& x, const PreparedActs& prep, int n0, int t0,
               const float zeros[][kExactBatchTokens], float* out, int ldo) {
  const int nb = w.blocks(), pairs = nb / 2;
  constexpr size_t block_bytes = kBlock / 2;
  const size_t row_bytes = size_t(nb) * block_bytes;
  const uint8_t* wbase = static_cast<const uint8_t*>(w.data) + size_t(n0) * row_bytes;
  const uint16_t* sbase = w.scales_f16 + size_t(n0) * nb;
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);

  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < TT; ++i) acc[r][i] = _mm512_setzero_ps();
  for (int p = 0; p < pairs; ++p) {
    __m512i codes[R];
    __m512 wscale[R];
    for (int r = 0; r < R; ++r) {
      const uint8_t* wp = wbase + r * row_bytes + size_t(2 * p) * block_bytes;
      // Decode sweeps its R rows' span linearly, as quad_tile does; a tile of
      // several tokens, which computes far more per byte, asks for each row's
      // next bytes.
      const uint8_t* ahead = TT == 1 ? wbase + (size_t(p) * R + r) * 2 * block_bytes : wp;
      _mm_prefetch(reinterpret_cast<const char*>(ahead + kPrefetchBytes), _MM_HINT_T0);
      codes[r] = unpack_q4_pair(wp);
      // The pair's two fp16 scales (4 bytes), widened by F16C: exactly half_to_float.
      const __m128 pair_scale = _mm_cvtph_ps(_mm_loadu_si32(sbase + size_t(r) * nb + 2 * p));
      wscale[r] = _mm512_permutexvar_ps(spread, _mm512_zextps128_ps512(pair_scale));
    }
    for (int i = 0; i < TT; ++i) {
      const int t = t0 + i;
      const __m512i a = _mm512_loadu_si512(x.row_q(t) + size_t(2 * p) * kBlock);
      const __m512 ascale = _mm512_loadu_ps(&prep.pair_scales[(size_t(t) * pairs + p) * 16]);
      for (int r = 0; r < R; ++r) {
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), codes[r], a);
        acc[r][i] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(dot), ascale), wscale[r], acc[r][i]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    const int n = n0 + r;
    const uint8_t* wrow = wbase + r * row_bytes;
    const uint16_t* sw = sbase + size_t(r) * nb;
    for (int i = 0; i < TT; ++i) {
      const int t = t0 + i;
      float tail = 0.0f;
      if (nb & 1) {  // the odd last block, in a ymm, zero point included
        const int b = nb - 1;
        const __m256i codes = unpack_q4_block(wrow + size_t(b) * block_bytes);
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.row_q(t) + size_t(b) * kBlock));
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, a);
        tail = float(hsum(dot) - q4_zero_point(w, n, b) * x.row_sum(t)[b]) * (_cvtsh_ss(sw[b]) * x.row_d(t)[b]);
      }
      out[size_t(t) * ldo + n] = hsum(acc[r][i]) + tail - zeros[r][t];
    }
  }
}

// Rows [n, n + R) against all tokens of x, in tiles of TT tokens.
template <int R, int TT>
void pair_rows(const WeightMatrix& w, const ActBlocks& x, PreparedActs& prep, int n, float* out, int ldo) {
  static_assert(R <= 4, "PreparedActs::zeros holds 4 rows");
  zero_point_terms<R>(w, prep, n, x.rows, prep.zeros);
  for_token_tiles<TT>(x.rows, [&](auto tt, int t) {
    pair_tile<R, decltype(tt)::value>(w, x, prep, n, t, prep.zeros, out, ldo);
  });
}

// Rows [n0, n1) of a Q4 matrix with zero points against the few tokens of x.
void matmul_q4_pairs(const WeightMatrix& w, const ActBlocks& x, PreparedActs& prep, int n0, int n1,
                     float* out, int ldo) {
  prep.prepare(x);
  int n = n0;
  if (x.rows == 1) {
    // Decode: two rows at a time, prefetched as one sequential stream (four
    // interleaved rows, the prefill tile, are four strided streams): two
    // accumulator chains, the activations loaded once for both.
    for (; n + 2 <= n1; n += 2) pair_rows<2, 1>(w, x, prep, n, out, ldo);
    if (n < n1) pair_rows<1, 1>(w, x, prep, n, out, ldo);
    return;
  }
  // Several tokens: four rows' pairs are loaded once per tile of four tokens,
  // and the rows stay in L1 for the tiles after, so the weights still come
  // from memory once per call.
  constexpr int kRows = 4;
  for (; n + kRows <= n1; n += kRows) pair_rows<kRows, 4>(w, x, prep, n, out, ldo);
  for (; n < n1; ++n) pair_rows<1, 4>(w, x, prep, n, out, ldo);
}

// ---- Q8 and symmetric Q4: four blocks per register -----------------------------
//
// 64 bytes of a Q4 row are four blocks. Masking the low nibbles gives the even
// elements of all four, shifting gives the odd ones. 128 bytes of a Q8 row are
// four blocks too, and two 128-bit shuffles give the first 16 codes of all
// four and the last 16. Either way two registers hold four blocks in halves,
// so the activations are re-laid out once per call to match: [first halves of
// the 4 blocks][second halves] (in nibble order for Q4: even elements, then
// odd). Two VPDPBUSD then leave each block's integer dot in its own 4 lanes,
// and one convert and two fused float ops apply the four blocks' scales and
// zero points: a register of float work per four blocks, where pairs take two.
struct QuadActs {
  Scratch<int8_t> q;     // [T][nb / 4][2][64]
  Scratch<float> scale;  // [T][nb / 4][16]: d of each block, on its 4 lanes
  Scratch<float> zero;   // [T][nb / 4][16]: z * d * sum / 4 on each lane
  uint64_t version = 0;      // of the activations prepared (0: none)
  int zero_point = 0;

  void prepare(const ActBlocks& x, int zp) {
    if (holds(version, x) && zp == zero_point) return;
    zero_point = zp;
    const int nb = x.blocks(), quads = nb / 4;
    q.at_least(size_t(x.rows) * quads * 128);
    scale.at_least(size_t(x.rows) * quads * 16);
    zero.at_least(size_t(x.rows) * quads * 16);
    for (int t = 0; t < x.rows; ++t)
      for (int k = 0; k < quads; ++k) {
        const size_t tq = size_t(t) * quads + k;
        for (int j = 0; j < 4; ++j) {
          const int b = 4 * k + j;
          const int8_t* src = x.row_q(t) + size_t(b) * kBlock;  // [first 16][second 16]
          std::memcpy(&q[tq * 128 + 16 * j], src, 16);
          std::memcpy(&q[tq * 128 + 64 + 16 * j], src + 16, 16);
          const float d = x.row_d(t)[b];
          std::fill(&scale[tq * 16 + 4 * j], &scale[tq * 16 + 4 * j + 4], d);
          std::fill(&zero[tq * 16 + 4 * j], &zero[tq * 16 + 4 * j + 4],
                    float(zp) * (d * float(x.row_sum(t)[b])) / 4.0f);
        }
      }
  }
};

inline __m256i load_q8_block(const uint8_t* w) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
}

// Rows [n0, n0 + R) of a symmetric Q4 or a Q8 matrix against tokens [t0, t0 + TT).
template <int R, int TT, bool Q4>
void quad_tile(const WeightMatrix& w, const ActBlocks& x, const QuadActs& acts, int n0, int t0,
               float* out, int ldo) {
  const int nb = w.blocks(), quads = nb / 4;
  constexpr size_t block_bytes = Q4 ? kBlock / 2 : kBlock, quad_bytes = 4 * block_bytes;
  const size_t row_bytes = size_t(nb) * block_bytes;
  const uint8_t* wbase = static_cast<const uint8_t*>(w.data) + size_t(n0) * row_bytes;
  const uint16_t* sbase = w.scales_f16 + size_t(n0) * nb;
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m512i low = _mm512_set1_epi8(0x0F);
  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < TT; ++i) acc[r][i] = _mm512_setzero_ps();
  for (int k = 0; k < quads; ++k) {
    __m512i first[R], second[R];  // the blocks' first and second halves
    __m512 wscale[R];
    for (int r = 0; r < R; ++r) {
      // The R rows lie end to end and the tile eats R quads per step, so the
      // prefetches sweep that span linearly; non-temporal, as the weights are
      // read once per token (docs/engine.md, "x86 kernels", says what each bought).
      for (size_t line = 0; line < quad_bytes; line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(wbase + (size_t(k) * R + r) * quad_bytes + line + kPrefetchBytes),
                     _MM_HINT_NTA);
      const uint8_t* wq = wbase + r * row_bytes + size_t(k) * quad_bytes;
      if (Q4) {
        const __m512i v = _mm512_loadu_si512(wq);
        first[r] = _mm512_and_si512(v, low);
        second[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
      } else {
        const __m512i v0 = _mm512_loadu_si512(wq), v1 = _mm512_loadu_si512(wq + 64);
        first[r] = _mm512_shuffle_i64x2(v0, v1, _MM_SHUFFLE(2, 0, 2, 0));
        second[r] = _mm512_shuffle_i64x2(v0, v1, _MM_SHUFFLE(3, 1, 3, 1));
      }
      // The quad's four fp16 scales (8 bytes), widened by F16C: exactly half_to_float.
      const __m128 quad_scale =
          _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sbase + size_t(r) * nb + 4 * k)));
      wscale[r] = _mm512_permutexvar_ps(spread, _mm512_zextps128_ps512(quad_scale));
    }
    for (int i = 0; i < TT; ++i) {
      const size_t tq = size_t(t0 + i) * quads + k;
      const __m512i a0 = _mm512_loadu_si512(&acts.q[tq * 128]);
      const __m512i a1 = _mm512_loadu_si512(&acts.q[tq * 128 + 64]);
      const __m512 ascale = _mm512_loadu_ps(&acts.scale[tq * 16]);
      const __m512 azero = _mm512_loadu_ps(&acts.zero[tq * 16]);
      for (int r = 0; r < R; ++r) {
        const __m512i dot =
            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), first[r], a0), second[r], a1);
        acc[r][i] = _mm512_fmadd_ps(_mm512_fmsub_ps(_mm512_cvtepi32_ps(dot), ascale, azero), wscale[r],
                                    acc[r][i]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    const uint8_t* wrow = wbase + r * row_bytes;
    const uint16_t* sw = sbase + size_t(r) * nb;
    for (int i = 0; i < TT; ++i) {
      const int t = t0 + i;
      float rest = 0.0f;  // the last nb % 4 blocks, one at a time
      for (int b = 4 * quads; b < nb; ++b) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.row_q(t) + size_t(b) * kBlock));
        const uint8_t* wb = wrow + size_t(b) * block_bytes;
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), Q4 ? unpack_q4_block(wb) : load_q8_block(wb), a);
        rest += float(hsum(dot) - acts.zero_point * x.row_sum(t)[b]) * (_cvtsh_ss(sw[b]) * x.row_d(t)[b]);
      }
      out[size_t(t) * ldo + n0 + r] = hsum(acc[r][i]) + rest;
    }
  }
}

template <bool Q4>
void matmul_quads(const WeightMatrix& w, const ActBlocks& x, QuadActs& acts, int n0, int n1, float* out,
                  int ldo) {
  acts.prepare(x, Q4 ? 8 : 128);
  const int T = x.rows;
  int n = n0;
  if (T == 1) {
    // Decode: two rows at a time, which the prefetchers follow better than
    // four strided streams and which has more work between loads than one.
    for (; n + 2 <= n1; n += 2) quad_tile<2, 1, Q4>(w, x, acts, n, 0, out, ldo);
    if (n < n1) quad_tile<1, 1, Q4>(w, x, acts, n, 0, out, ldo);
    return;
  }
  // Several tokens: as matmul_q4_pairs, in tiles of three tokens, which the 32
  // registers hold with four rows (faster than two at 8 and 16 tokens).
  constexpr int kRows = 4;
  for (; n + kRows <= n1; n += kRows)
    for_token_tiles<3>(T, [&](auto tt, int t) { quad_tile<kRows, decltype(tt)::value, Q4>(w, x, acts, n, t, out, ldo); });
  for (; n < n1; ++n)
    for_token_tiles<3>(T, [&](auto tt, int t) { quad_tile<1, decltype(tt)::value, Q4>(w, x, acts, n, t, out, ldo); });
}

}  // namespace
}  // namespace edge
