// ARMv8.6 NEON + int8 matrix multiply kernels (Neoverse V1/N2, Cortex-A510,
// A710, X2 and later). SMMLA multiplies a 2x8 int8 matrix by an 8x2 one into
// a 2x2 int32 tile: a code vector of an interleaved record (two rows' chunk)
// against two tokens' chunk does four 8-element dots, twice the work of an
// SDOT. That needs at least two tokens, so prefill runs on SMMLA and a
// single-token decode on the SDOT kernel shared with neon_dotprod.cpp.
#include "neon_common.h"

namespace edge {
namespace {

constexpr int kTokenPairs = 2;  // token pairs per pass over a group's records

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

// Group g against tokens [t0, t0 + 2 * PAIRS). For a token pair, a row pair
// against [chunk c of token t, chunk c of token t+1] accumulates
// [row . t, row . t+1, next row . t, next row . t+1]; the row scales and
// zero points are spread to that order once per record.
template <int PAIRS, bool Q4>
void mmla_tile(const WeightMatrix& w, const ActBlocks& x, int g, int t0, int n0, int n1,
               float* out, int ldo) {
  const int nb = w.blocks();
  const Record<Q4>* rec = static_cast<const Record<Q4>*>(w.interleaved) + size_t(g) * nb;
  const int8_t* zps = w.interleaved_zero_points
                          ? w.interleaved_zero_points + size_t(g) * nb * kGroupRows
                          : nullptr;
  float32x4_t acc[PAIRS][2];
  for (int p = 0; p < PAIRS; ++p) acc[p][0] = acc[p][1] = vdupq_n_f32(0.0f);
  for (int b = 0; b < nb; ++b) {
    int8x16_t v[8];
    load_codes<Q4>(rec[b], v);
    const RowPairs rows = row_pairs(v);
    const float32x4_t wscale = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(rec[b].d)));
    const float32x4_t wscales[2] = {vzip1q_f32(wscale, wscale), vzip2q_f32(wscale, wscale)};
    int32x4_t zp[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
    if (Q4 && zps) {
      const int32x4_t z = zero_point_terms(zps + size_t(b) * kGroupRows);
      zp[0] = vzip1q_s32(z, z);  // rows 0, 0, 1, 1
      zp[1] = vzip2q_s32(z, z);
    }
    for (int p = 0; p < PAIRS; ++p) {
      const int t = t0 + 2 * p;
      const int8_t* q0 = x.row_q(t) + size_t(b) * kBlock;
      const int8_t* q1 = x.row_q(t + 1) + size_t(b) * kBlock;
      int32x4_t dots[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int c = 0; c < 4; ++c) {
        const int8x16_t tokens = vcombine_s8(vld1_s8(q0 + 8 * c), vld1_s8(q1 + 8 * c));
        dots[0] = vmmlaq_s32(dots[0], rows.rows01[c], tokens);
        dots[1] = vmmlaq_s32(dots[1], rows.rows23[c], tokens);
      }
      const int32x2_t sums = {x.row_sum(t)[b], x.row_sum(t + 1)[b]};
      const float32x2_t d = {x.row_d(t)[b], x.row_d(t + 1)[b]};
      for (int h = 0; h < 2; ++h) {
        if (Q4 && zps) dots[h] = vmlsq_s32(dots[h], zp[h], vcombine_s32(sums, sums));
        acc[p][h] = vfmaq_f32(acc[p][h], dots_to_float<Q4>(dots[h]),
                              vmulq_f32(wscales[h], vcombine_f32(d, d)));
      }
    }
  }
  // Lanes 0 and 2 of both accumulators are token t's four rows, 1 and 3 token t+1's.
  for (int p = 0; p < PAIRS; ++p) {
    const size_t t = size_t(t0 + 2 * p);
    store_rows(vuzp1q_f32(acc[p][0], acc[p][1]), g, n0, n1, out + t * ldo);
    store_rows(vuzp2q_f32(acc[p][0], acc[p][1]), g, n0, n1, out + (t + 1) * ldo);
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
  const int pairs_end = T / 2 * 2;
  for (int g = n0 / kGroupRows; g * kGroupRows < n1; ++g) {
    int t = 0;
    for (; t + 2 * kTokenPairs <= pairs_end; t += 2 * kTokenPairs)
      mmla_tile<kTokenPairs, Q4>(w, x, g, t, n0, n1, out, ldo);
    for (; t < pairs_end; t += 2) mmla_tile<1, Q4>(w, x, g, t, n0, n1, out, ldo);
  }
  // An odd last token has no partner for SMMLA.
  if (pairs_end < T) neon_matmul_tokens<SdotProduct, Q4>(w, x, n0, n1, pairs_end, T, out, ldo);
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
