// ARMv8.6 NEON + int8 matrix multiply kernels (Neoverse V1/N2, Cortex-A510,
// A710, X2 and later). SMMLA multiplies a 2x8 int8 matrix by an 8x2 one into
// a 2x2 int32 tile: two rows of an interleaved record against two tokens'
// 8-byte chunk does four 8-element dots, twice the work of an SDOT. That
// needs at least two tokens, so prefill runs on SMMLA and a single-token
// decode on the SDOT kernel shared with neon_dotprod.cpp.
#include <cstddef>

#include "neon_common.h"

namespace edge {
namespace {

constexpr int kTilePairs = 4;  // token pairs per pass over a group's records

// The activations as SMMLA takes them, two tokens at a time, made once per
// activation version (q, k and v share one) by each thread that uses them:
// for block b and pair P, chunk c of token 2P then chunk c of token 2P+1
// (c = 0..3, 64 bytes), and [d, d', d, d'] and [s, s', s, s'] of the two
// tokens' block scales and sums, in the lane order of the tiles below. Block
// major, so that the pairs a tile reads for one block are neighbours.
struct TokenPairs {
  uint64_t version = 0;
  int pairs = 0, blocks = 0;
  Scratch<int8_t> q;     // [nb][pairs][64]
  Scratch<float> d;      // [nb][pairs][4]
  Scratch<int32_t> sum;  // [nb][pairs][4]

  void prepare(const ActBlocks& x) {
    if (x.version != 0 && x.version == version) return;
    pairs = x.rows / 2;
    blocks = x.blocks();
    const size_t records = size_t(pairs) * blocks;
    int8_t* qs = q.at_least(records * 2 * kBlock);
    float* ds = d.at_least(records * 4);
    int32_t* ss = sum.at_least(records * 4);
    for (int b = 0; b < blocks; ++b)
      for (int p = 0; p < pairs; ++p) {
        const size_t r = size_t(b) * pairs + p;
        const int8_t* a0 = x.row_q(2 * p) + size_t(b) * kBlock;
        const int8_t* a1 = x.row_q(2 * p + 1) + size_t(b) * kBlock;
        for (int h = 0; h < 2; ++h) {
          const int64x2_t t0 = vreinterpretq_s64_s8(vld1q_s8(a0 + 16 * h));
          const int64x2_t t1 = vreinterpretq_s64_s8(vld1q_s8(a1 + 16 * h));
          vst1q_s8(qs + r * 64 + 32 * h, vreinterpretq_s8_s64(vzip1q_s64(t0, t1)));
          vst1q_s8(qs + r * 64 + 32 * h + 16, vreinterpretq_s8_s64(vzip2q_s64(t0, t1)));
        }
        const float d0 = x.row_d(2 * p)[b], d1 = x.row_d(2 * p + 1)[b];
        const int32_t s0 = x.row_sum(2 * p)[b], s1 = x.row_sum(2 * p + 1)[b];
        const float dd[4] = {d0, d1, d0, d1};
        const int32_t pair_sums[4] = {s0, s1, s0, s1};
        vst1q_f32(ds + r * 4, vld1q_f32(dd));
        vst1q_s32(ss + r * 4, vld1q_s32(pair_sums));
      }
    version = x.version;
  }
};

__attribute__((noinline)) TokenPairs& thread_token_pairs() {
  thread_local TokenPairs pairs;
  return pairs;
}

// SMMLA's 2x8 row matrices from a record's vectors: zipping groups 2c and
// 2c+1 by 4-byte lanes gives rows 0-1 and rows 2-3 over activations 8c..8c+7.
struct RowPairs {
  int8x16_t rows01[4], rows23[4];
};

inline RowPairs row_pairs(const int8x16_t v[8]) {
  RowPairs r;
  for (int c = 0; c < 4; ++c) {
    const int32x4_t a = vreinterpretq_s32_s8(v[2 * c]), b = vreinterpretq_s32_s8(v[2 * c + 1]);
    r.rows01[c] = vreinterpretq_s8_s32(vzip1q_s32(a, b));
    r.rows23[c] = vreinterpretq_s8_s32(vzip2q_s32(a, b));
  }
  return r;
}

// Group g against token pairs [p0, p0 + PAIRS). A row pair against a token
// pair's chunk accumulates [row . t, row . t', next row . t, next row . t'];
// the row scales and zero points are spread to that order once per record.
template <int PAIRS, bool Q4, bool ZP>
void mmla_tile(const WeightMatrix& w, const TokenPairs& x, int g, int p0, int n0, int n1,
               float* out, int ldo) {
  const int nb = w.blocks();
  const Record<Q4>* rec = static_cast<const Record<Q4>*>(w.interleaved) + size_t(g) * nb;
  const int8_t* zps = ZP ? w.interleaved_zero_points + size_t(g) * nb * kGroupRows : nullptr;
  const int8_t* q = x.q.data() + size_t(p0) * 64;
  const float* d = x.d.data() + size_t(p0) * 4;
  const int32_t* sums = x.sum.data() + size_t(p0) * 4;
  const size_t q_step = size_t(x.pairs) * 64, d_step = size_t(x.pairs) * 4;
  float32x4_t acc[2 * PAIRS];  // pair p: rows 0-1 in acc[2p], rows 2-3 in acc[2p + 1]
  for (int i = 0; i < 2 * PAIRS; ++i) acc[i] = vdupq_n_f32(0.0f);
  for (int b = 0; b < nb; ++b, q += q_step, d += d_step, sums += d_step) {
    int8x16_t v[8];
    load_codes<Q4>(rec[b], v);
    const RowPairs rows = row_pairs(v);
    const float32x4_t wscale = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(rec[b].d)));
    const float32x4_t wscales[2] = {vzip1q_f32(wscale, wscale), vzip2q_f32(wscale, wscale)};
    int32x4_t zp[2];
    if (ZP) {
      const int32x4_t z = zero_point_terms(zps + size_t(b) * kGroupRows);
      zp[0] = vzip1q_s32(z, z);  // rows 0, 0, 1, 1
      zp[1] = vzip2q_s32(z, z);
    }
    for (int p = 0; p < PAIRS; ++p) {
      int32x4_t dots[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int c = 0; c < 4; ++c) {
        const int8x16_t tokens = vld1q_s8(q + 64 * p + 16 * c);
        dots[0] = vmmlaq_s32(dots[0], rows.rows01[c], tokens);
        dots[1] = vmmlaq_s32(dots[1], rows.rows23[c], tokens);
      }
      const float32x4_t dp = vld1q_f32(d + 4 * p);
      for (int h = 0; h < 2; ++h) {
        if (ZP) dots[h] = vmlsq_s32(dots[h], zp[h], vld1q_s32(sums + 4 * p));
        acc[2 * p + h] =
            vfmaq_f32(acc[2 * p + h], dots_to_float<Q4>(dots[h]), vmulq_f32(wscales[h], dp));
      }
    }
  }
  // Lanes 0 and 2 of a pair's accumulators are token 2p's four rows, 1 and 3 token 2p+1's.
  for (int p = 0; p < PAIRS; ++p) {
    const size_t t = size_t(2 * (p0 + p));
    store_rows(vuzp1q_f32(acc[2 * p], acc[2 * p + 1]), g, n0, n1, out + t * ldo);
    store_rows(vuzp2q_f32(acc[2 * p], acc[2 * p + 1]), g, n0, n1, out + (t + 1) * ldo);
  }
}

template <bool Q4, bool ZP>
void mmla_groups(const WeightMatrix& w, const TokenPairs& x, int n0, int n1, float* out,
                 int ldo) {
  for (int g = n0 / kGroupRows; g * kGroupRows < n1; ++g) {
    int p = 0;
    for (; p + kTilePairs <= x.pairs; p += kTilePairs)
      mmla_tile<kTilePairs, Q4, ZP>(w, x, g, p, n0, n1, out, ldo);
    for (; p < x.pairs; ++p) mmla_tile<1, Q4, ZP>(w, x, g, p, n0, n1, out, ldo);
  }
}

template <bool Q4>
void matmul_quantized(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out,
                      int ldo) {
  const int T = x.rows;
  if (T == 1) {
    neon_matmul<SdotProduct, Q4>(w, x, n0, n1, out, ldo);
    return;
  }
  TokenPairs& pairs = thread_token_pairs();
  pairs.prepare(x);
  if (Q4 && w.interleaved_zero_points)
    mmla_groups<Q4, true>(w, pairs, n0, n1, out, ldo);
  else
    mmla_groups<Q4, false>(w, pairs, n0, n1, out, ldo);
  // An odd last token has no partner for SMMLA.
  if (T % 2) neon_matmul_tokens<SdotProduct, Q4>(w, x, n0, n1, T - 1, T, out, ldo);
}

void matmul_q8(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<false>(w, x, n0, n1, out, ldo);
}

void matmul_q4(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<true>(w, x, n0, n1, out, ldo);
}

constexpr KernelTable kTable = {
    "neon_i8mm",     WeightLayout::Interleaved4, neon_quantize_acts, matmul_q8, matmul_q4,
    NeonFloat::matmul_f32, NeonFloat::attn_scores, neon_attn_values, neon_softmax, neon_swiglu,
};

}  // namespace

const KernelTable& neon_i8mm_kernels() { return kTable; }

}  // namespace edge
