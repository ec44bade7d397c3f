// ARMv8.6 NEON + int8 matrix multiply kernels (Neoverse V1/N2, Cortex-A510,
// A710, X2 and later). SMMLA multiplies a 2x8 int8 matrix by an 8x2 one into
// a 2x2 int32 tile: with two weight rows in one operand and two tokens in the
// other, one instruction does four 8-element dots, twice the work of an SDOT.
// That needs at least two tokens, so prefill runs on SMMLA and a single-token
// decode on the SDOT kernel shared with neon_dotprod.cpp.
#include "neon_common.h"

namespace edge {
namespace {

constexpr int kTokenPairs = 2;  // token pairs per pass over two weight rows

// The two 2x8 matrices SMMLA reads from 16 bytes of each of two rows:
// [a[0:8], b[0:8]] and [a[8:16], b[8:16]].
struct RowPairChunks {
  int8x16_t lo, hi;
};

RowPairChunks interleave_rows(int8x16_t a, int8x16_t b) {
  const int64x2_t a64 = vreinterpretq_s64_s8(a), b64 = vreinterpretq_s64_s8(b);
  return {vreinterpretq_s8_s64(vzip1q_s64(a64, b64)), vreinterpretq_s8_s64(vzip2q_s64(a64, b64))};
}

// Weight rows n and n + 1 against tokens [t0, t0 + 2 * PAIRS). Each token
// pair's integer tile comes out as [n.t, n.t+1, n+1.t, n+1.t+1], so its float
// accumulator holds the four outputs directly, with no horizontal sum. The Q4
// zero-point term zero_point(row) * sum(token) is taken off the same layout.
template <int PAIRS, bool Q4>
void mmla_tile(const WeightMatrix& w, const ActBlocks& x, int n, int t0, float* out, int ldo) {
  const int nb = w.blocks();
  const size_t block_bytes = Q4 ? kBlock / 2 : kBlock;
  const uint8_t* wrow0 = static_cast<const uint8_t*>(w.data) + size_t(n) * nb * block_bytes;
  const uint8_t* wrow1 = wrow0 + size_t(nb) * block_bytes;
  const uint16_t* sw0 = w.scales_f16 + size_t(n) * nb;
  const uint16_t* sw1 = sw0 + nb;
  float32x4_t acc[PAIRS];
  for (int p = 0; p < PAIRS; ++p) acc[p] = vdupq_n_f32(0.0f);
  for (int b = 0; b < nb; ++b) {
    const BlockCodes c0 = load_block_codes<Q4>(wrow0 + size_t(b) * block_bytes);
    const BlockCodes c1 = load_block_codes<Q4>(wrow1 + size_t(b) * block_bytes);
    const RowPairChunks wfirst = interleave_rows(c0.first, c1.first);
    const RowPairChunks wsecond = interleave_rows(c0.second, c1.second);
    // Both rows' fp16 scales, each on its two lanes, widened by one FCVTL.
    const uint16x4_t wscale16 = {sw0[b], sw0[b], sw1[b], sw1[b]};
    const float32x4_t wscale = vcvt_f32_f16(vreinterpret_f16_u16(wscale16));
    const int32x4_t zero_points =
        Q4 ? vcombine_s32(vdup_n_s32(q4_zero_point(w, n, b)), vdup_n_s32(q4_zero_point(w, n + 1, b)))
           : vdupq_n_s32(0);
    for (int p = 0; p < PAIRS; ++p) {
      const int t = t0 + 2 * p;
      const int8_t* a0 = x.row_q(t) + size_t(b) * kBlock;
      const int8_t* a1 = x.row_q(t + 1) + size_t(b) * kBlock;
      const RowPairChunks afirst = interleave_rows(vld1q_s8(a0), vld1q_s8(a1));
      const RowPairChunks asecond = interleave_rows(vld1q_s8(a0 + 16), vld1q_s8(a1 + 16));
      int32x4_t dot = vmmlaq_s32(vdupq_n_s32(0), wfirst.lo, afirst.lo);
      dot = vmmlaq_s32(dot, wfirst.hi, afirst.hi);
      dot = vmmlaq_s32(dot, wsecond.lo, asecond.lo);
      dot = vmmlaq_s32(dot, wsecond.hi, asecond.hi);
      if (Q4) {
        const int32x2_t sums = {x.row_sum(t)[b], x.row_sum(t + 1)[b]};
        dot = vmlsq_s32(dot, zero_points, vcombine_s32(sums, sums));
      }
      const float32x2_t d = {x.row_d(t)[b], x.row_d(t + 1)[b]};
      acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(dot), vmulq_f32(wscale, vcombine_f32(d, d)));
    }
  }
  for (int p = 0; p < PAIRS; ++p) {
    const size_t t = size_t(t0 + 2 * p);
    out[t * ldo + n] = vgetq_lane_f32(acc[p], 0);
    out[(t + 1) * ldo + n] = vgetq_lane_f32(acc[p], 1);
    out[t * ldo + n + 1] = vgetq_lane_f32(acc[p], 2);
    out[(t + 1) * ldo + n + 1] = vgetq_lane_f32(acc[p], 3);
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
  int n = n0;
  for (; n + 2 <= n1; n += 2) {
    int t = 0;
    for (; t + 2 * kTokenPairs <= T; t += 2 * kTokenPairs)
      mmla_tile<kTokenPairs, Q4>(w, x, n, t, out, ldo);
    for (; t + 2 <= T; t += 2) mmla_tile<1, Q4>(w, x, n, t, out, ldo);
    // An odd last token has no partner for SMMLA.
    neon_matmul_rows<SdotProduct, Q4>(w, x, n, n + 2, t, T, out, ldo);
  }
  // So has an odd last row.
  neon_matmul_rows<SdotProduct, Q4>(w, x, n, n1, 0, T, out, ldo);
}

void matmul_q8(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<false>(w, x, n0, n1, out, ldo);
}

void matmul_q4(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<true>(w, x, n0, n1, out, ldo);
}

constexpr KernelTable kTable = {
    "neon_i8mm",     neon_quantize_acts, matmul_q8,     matmul_q4,
    NeonFloat::matmul_f32, NeonFloat::attn_scores,       neon_attn_values, neon_softmax, neon_swiglu,
};

}  // namespace

const KernelTable& neon_i8mm_kernels() { return kTable; }

}  // namespace edge
