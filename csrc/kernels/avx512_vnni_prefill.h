// AVX-512 VNNI products for more than 16 tokens (prefill): one lane per
// token. Part of avx512_vnni.cpp, included by it alone, under its flags.
//
// With many tokens the kernel turns around: the 16 lanes of a register hold
// 16 tokens, and each VPDPBUSD multiplies 4 weight bytes of one row
// (broadcast) by the matching 4 activation bytes of all 16 tokens. After the
// 8 steps of a block, lane t holds that block's integer dot for token t, so
// the scales cost one convert and two float ops per row and block for 16
// tokens at once, instead of per token. The activations are re-laid out once
// per call for this: [tile of 16 tokens][block][4-byte group][token][4 bytes].
#pragma once

#include <algorithm>
#include <cstring>

#include "x86_common.h"

namespace edge {
namespace {

constexpr int kLanes = 16;  // tokens per register
// Fewer go to avx512_vnni_decode.h, whose sums for each token are the ones it
// gets alone (kernels.h, kExactBatchTokens): lane sums add the blocks in
// another order, so a token's result would depend on how many came with it.
constexpr int kMinTokensForLanes = kExactBatchTokens + 1;

struct TokenLanes {
  Scratch<int8_t> q;    // [tiles][nb][8][16][4]
  Scratch<float> d;     // [tiles][nb][16], 0 for padding tokens
  Scratch<int32_t> sum; // [tiles][nb][16]
  uint64_t version = 0;     // of the activations prepared (0: none)

  void prepare(const ActBlocks& x) {
    if (holds(version, x)) return;
    const int nb = x.blocks(), tiles = (x.rows + kLanes - 1) / kLanes;
    const size_t lanes = size_t(tiles) * nb * kLanes;
    std::fill_n(q.at_least(lanes * kBlock), lanes * kBlock, int8_t(0));
    std::fill_n(d.at_least(lanes), lanes, 0.0f);
    std::fill_n(sum.at_least(lanes), lanes, 0);
    for (int t = 0; t < x.rows; ++t) {
      const int tile = t / kLanes, lane = t % kLanes;
      for (int b = 0; b < nb; ++b) {
        const size_t tb = size_t(tile) * nb + b;
        const int8_t* src = x.row_q(t) + size_t(b) * kBlock;
        int8_t* dst = &q[tb * kBlock * kLanes + lane * 4];
        for (int g = 0; g < kBlock / 4; ++g)
          std::memcpy(dst + g * kLanes * 4, src + g * 4, 4);
        d[tb * kLanes + lane] = x.row_d(t)[b];
        sum[tb * kLanes + lane] = x.row_sum(t)[b];
      }
    }
  }
};

// Rows [n0, n0 + R) for the 16 * TILES tokens of tiles [tile0, tile0 + TILES);
// writes the valid tokens. `codes` holds the R rows as 8-bit codes,
// [R][nb][32]: a Q8 matrix in place, a Q4 one unpacked by the caller. Each
// broadcast weight group serves TILES tiles and each activation load R rows.
template <int R, int TILES, bool Q4>
void lanes_tile(const WeightMatrix& w, const uint8_t* codes, const TokenLanes& lanes, int tokens,
                int n0, int tile0, float* out, int ldo) {
  const int nb = w.blocks();
  __m512 acc[R][TILES];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < TILES; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    __m512i dot[R][TILES];
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < TILES; ++j) dot[r][j] = _mm512_setzero_si512();
    for (int g = 0; g < kBlock / 4; ++g) {
      __m512i av[TILES];
      for (int j = 0; j < TILES; ++j)
        av[j] = _mm512_loadu_si512(&lanes.q[((size_t(tile0 + j) * nb + b) * 8 + g) * kLanes * 4]);
      for (int r = 0; r < R; ++r) {
        int32_t four;
        std::memcpy(&four, codes + (size_t(r) * nb + b) * kBlock + 4 * g, 4);
        const __m512i wv = _mm512_set1_epi32(four);
        for (int j = 0; j < TILES; ++j) dot[r][j] = _mm512_dpbusd_epi32(dot[r][j], wv, av[j]);
      }
    }
    for (int r = 0; r < R; ++r) {
      const int n = n0 + r;
      const __m512i zp = _mm512_set1_epi32(Q4 ? q4_zero_point(w, n, b) : 128);
      const __m512 wscale = _mm512_set1_ps(_cvtsh_ss(w.scales_f16[size_t(n) * nb + b]));
      for (int j = 0; j < TILES; ++j) {
        const size_t tb = size_t(tile0 + j) * nb + b;
        const __m512i sums = _mm512_loadu_si512(&lanes.sum[tb * kLanes]);
        const __m512 dact = _mm512_loadu_ps(&lanes.d[tb * kLanes]);
        const __m512i exact = _mm512_sub_epi32(dot[r][j], _mm512_mullo_epi32(sums, zp));
        acc[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact), _mm512_mul_ps(dact, wscale), acc[r][j]);
      }
    }
  }
  for (int j = 0; j < TILES; ++j) {
    const int tile = tile0 + j, valid = std::min(kLanes, tokens - tile * kLanes);
    for (int r = 0; r < R; ++r) {
      alignas(64) float result[kLanes];
      _mm512_store_ps(result, acc[r][j]);
      for (int i = 0; i < valid; ++i) out[size_t(tile * kLanes + i) * ldo + n0 + r] = result[i];
    }
  }
}

// All token tiles for rows [n, n + R): two tiles per pass, then the odd one.
template <int R, bool Q4>
void lanes_rows(const WeightMatrix& w, const uint8_t* codes, const TokenLanes& lanes, int tokens,
                int n, float* out, int ldo) {
  const int tiles = (tokens + kLanes - 1) / kLanes;
  int tile = 0;
  for (; tile + 2 <= tiles; tile += 2) lanes_tile<R, 2, Q4>(w, codes, lanes, tokens, n, tile, out, ldo);
  if (tile < tiles) lanes_tile<R, 1, Q4>(w, codes, lanes, tokens, n, tile, out, ldo);
}

// Rows [n, n + R) of w as 8-bit codes, [R][nb][32]: in place for Q8; for Q4
// unpacked into `unpacked` once, for all the token tiles that follow.
template <int R, bool Q4>
const uint8_t* row_codes(const WeightMatrix& w, int n, Scratch<uint8_t>& unpacked) {
  const int nb = w.blocks();
  if (!Q4) return static_cast<const uint8_t*>(w.data) + size_t(n) * nb * kBlock;
  unpacked.at_least(size_t(R) * nb * kBlock);
  const uint8_t* packed = static_cast<const uint8_t*>(w.data) + size_t(n) * nb * (kBlock / 2);
  for (size_t b = 0; b < size_t(R) * nb; ++b)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&unpacked[b * kBlock]),
                        unpack_q4_block(packed + b * (kBlock / 2)));
  return unpacked.data();
}

template <bool Q4>
void matmul_token_lanes(const WeightMatrix& w, const ActBlocks& x, TokenLanes& lanes,
                        Scratch<uint8_t>& unpacked, int n0, int n1, float* out, int ldo) {
  lanes.prepare(x);
  constexpr int kRows = 4;
  int n = n0;
  for (; n + kRows <= n1; n += kRows)
    lanes_rows<kRows, Q4>(w, row_codes<kRows, Q4>(w, n, unpacked), lanes, x.rows, n, out, ldo);
  for (; n < n1; ++n) lanes_rows<1, Q4>(w, row_codes<1, Q4>(w, n, unpacked), lanes, x.rows, n, out, ldo);
}

}  // namespace
}  // namespace edge
