// The kernels the three aarch64 variants share, as inline templates.
//
// neon.cpp, neon_dotprod.cpp and neon_i8mm.cpp each include this header and
// compile it with their own -march flags. Everything here lives in an
// anonymous namespace, so each file gets a private copy: the linker can never
// merge the dotprod build of a function into the plain-NEON table, which would
// run an SDOT on a Cortex-A72.
//
// All three read the interleaved weight records of formats.h: four rows per
// record, so each activation chunk is loaded once for four rows, the four
// rows' fp16 scales are widened by one FCVTL, and the four dots are scaled
// and summed in one vector. The plain and dotprod variants differ only in how
// the int8 products are summed (the Product policy below). The i8mm variant
// adds its own two-token SMMLA tile for prefill and uses the SDOT path here
// for the rest.
#pragma once

#include <arm_neon.h>

#include <cstring>
#include <type_traits>

#include "exp_approx.h"
#include "kernels.h"
#include "tiling.h"

namespace edge {
namespace {

constexpr size_t kNeonPrefetchBytes = 8192;  // how far ahead decode prefetches weights
constexpr int kNeonTile = 8;  // tokens per pass over a weight row in prefill

// ---- a block of four rows against one token ------------------------------------
//
// The kernels read the interleaved records of formats.h. A record's codes sit
// in eight int8 vectors v[j] (Q8 as stored, Q4 after splitting nibbles): v[j]
// is the four rows' bytes of activation group j, the 4-byte lane j % 4 of
// a[j / 4], where a[0] and a[1] are the block's 32 activations. A Product
// turns them into the four rows' integer dots [r0, r1, r2, r3].

// Plain ARMv8-A: group j repeated in every lane, then SMULL/SMLAL into int16
// lanes, two products per lane (a Q4 code is 16 * (code - 8) here, so |w| <=
// 128 either way and |a| <= 127 keep a pair below 32767), then SADALP: rows
// 0-1 come from the low halves, rows 2-3 from the high ones.
struct WideningProduct {
  template <int J>
  static int8x16_t group(const int8x16_t a[2]) {
    return vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a[J / 4]), J % 4));
  }
  template <int J>
  static void two_groups(const int8x16_t v[8], const int8x16_t a[2], int32x4_t& rows01,
                         int32x4_t& rows23) {
    const int8x16_t g0 = group<J>(a), g1 = group<J + 1>(a);
    const int16x8_t low = vmlal_s8(vmull_s8(vget_low_s8(v[J]), vget_low_s8(g0)),
                                   vget_low_s8(v[J + 1]), vget_low_s8(g1));
    rows01 = vpadalq_s16(rows01, low);
    rows23 = vpadalq_s16(rows23, vmlal_high_s8(vmull_high_s8(v[J], g0), v[J + 1], g1));
  }
  static int32x4_t rows4(const int8x16_t v[8], const int8x16_t a[2]) {
    int32x4_t rows01 = vdupq_n_s32(0), rows23 = vdupq_n_s32(0);  // [r0 r0 r1 r1], [r2 r2 r3 r3]
    two_groups<0>(v, a, rows01, rows23);
    two_groups<2>(v, a, rows01, rows23);
    two_groups<4>(v, a, rows01, rows23);
    two_groups<6>(v, a, rows01, rows23);
    return vpaddq_s32(rows01, rows23);
  }
};

#if defined(__ARM_FEATURE_DOTPROD)
// ARMv8.2 SDOT by element: v[j] against lane j % 4 of a[j / 4] adds each
// row's four products to its own lane.
struct SdotProduct {
  static int32x4_t rows4(const int8x16_t v[8], const int8x16_t a[2]) {
    int32x4_t dots = vdotq_laneq_s32(vdupq_n_s32(0), v[0], a[0], 0);
    dots = vdotq_laneq_s32(dots, v[1], a[0], 1);
    dots = vdotq_laneq_s32(dots, v[2], a[0], 2);
    dots = vdotq_laneq_s32(dots, v[3], a[0], 3);
    dots = vdotq_laneq_s32(dots, v[4], a[1], 0);
    dots = vdotq_laneq_s32(dots, v[5], a[1], 1);
    dots = vdotq_laneq_s32(dots, v[6], a[1], 2);
    return vdotq_laneq_s32(dots, v[7], a[1], 3);
  }
};
#endif

// ---- activation quantization ------------------------------------------------

void neon_quantize_acts(const float* x, int ldx, int t0, int t1, ActBlocks* out) {
  const int K = out->cols, nb = out->blocks();
  for (int t = t0; t < t1; ++t) {
    const float* xr = x + size_t(t) * ldx;
    for (int b = 0; b < nb; ++b) {
      const int k0 = b * kBlock, len = K - k0 < kBlock ? K - k0 : kBlock;
      // The last block of a row may be short: read it through a zeroed copy.
      float padded[kBlock];
      const float* src = xr + k0;
      if (len < kBlock) {
        for (int j = 0; j < kBlock; ++j) padded[j] = j < len ? src[j] : 0.0f;
        src = padded;
      }
      float32x4_t v[8];
      float32x4_t m = vdupq_n_f32(0.0f);
      for (int i = 0; i < 8; ++i) {
        v[i] = vld1q_f32(src + 4 * i);
        m = vmaxq_f32(m, vabsq_f32(v[i]));
      }
      const float amax = vmaxvq_f32(m);
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      // FCVTNS rounds to nearest, ties to even: std::lrint in scalar.cpp.
      int32x4_t i32[8];
      int32x4_t sum = vdupq_n_s32(0);
      for (int i = 0; i < 8; ++i) {
        i32[i] = vcvtnq_s32_f32(vmulq_n_f32(v[i], inv));
        sum = vaddq_s32(sum, i32[i]);
      }
      int8x16_t half[2];
      for (int h = 0; h < 2; ++h) {
        const int32x4_t* s = i32 + 4 * h;
        const int16x8_t lo = vcombine_s16(vqmovn_s32(s[0]), vqmovn_s32(s[1]));
        const int16x8_t hi = vcombine_s16(vqmovn_s32(s[2]), vqmovn_s32(s[3]));
        half[h] = vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
      }
      int8_t* q = out->q + (size_t(t) * nb + b) * kBlock;
      if (out->order == ActOrder::Nibble) {
        // Even elements first, then odd: exactly what UZP1/UZP2 produce.
        vst1q_s8(q, vuzp1q_s8(half[0], half[1]));
        vst1q_s8(q + 16, vuzp2q_s8(half[0], half[1]));
      } else {
        vst1q_s8(q, half[0]);
        vst1q_s8(q + 16, half[1]);
      }
      out->d[size_t(t) * nb + b] = amax / 127.0f;
      out->sum[size_t(t) * nb + b] = vaddvq_s32(sum);
    }
  }
}

// ---- quantized matrix products -----------------------------------------------

template <bool Q4>
using Record = typename std::conditional<Q4, BlockQ4x4, BlockQ8x4>::type;

// A record's codes as the eight vectors v[j] (see above). Q4 nibbles become
// 16 * (code - 8): shift left by 4 for the low ones (groups 0-3), mask for
// the high ones (groups 4-7).
template <bool Q4>
void load_codes(const Record<Q4>& r, int8x16_t v[8]) {
  // LD1 of four registers: one instruction per 64 bytes.
  const int8_t* codes = reinterpret_cast<const int8_t*>(r.codes);
  const int8x16x4_t first = vld1q_s8_x4(codes);
  if (Q4) {
    for (int i = 0; i < 4; ++i) {
      v[i] = vshlq_n_s8(first.val[i], 4);
      v[i + 4] = vandq_s8(first.val[i], vdupq_n_s8(int8_t(0xF0)));
    }
  } else {
    const int8x16x4_t second = vld1q_s8_x4(codes + 64);
    v[0] = first.val[0];
    v[1] = first.val[1];
    v[2] = first.val[2];
    v[3] = first.val[3];
    v[4] = second.val[0];
    v[5] = second.val[1];
    v[6] = second.val[2];
    v[7] = second.val[3];
  }
}

// Integer dots to float: Q4's carry the factor 16 of their codes, which the
// fixed-point conversion divides out exactly (the dot is a multiple of 16).
template <bool Q4>
float32x4_t dots_to_float(int32x4_t dots) {
  return Q4 ? vcvtq_n_f32_s32(dots, 4) : vcvtq_f32_s32(dots);
}

// 16 * (z - 8) of a record's four rows, from their int8 z - 8: what a Q4
// zero point other than 8 takes off a row's dot per unit of sum(q).
inline int32x4_t zero_point_terms(const int8_t* z) {
  int32_t z4;
  std::memcpy(&z4, z, 4);
  const int16x8_t z16 = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(z4)));
  return vshlq_n_s32(vmovl_s16(vget_low_s16(z16)), 4);
}

// Stores a group's four outputs of one token, those of rows in [n0, n1).
inline void store_rows(float32x4_t v, int g, int n0, int n1, float* out) {
  const int first = g * kGroupRows;
  if (first >= n0 && first + kGroupRows <= n1) {
    vst1q_f32(out + first, v);
    return;
  }
  float lanes[kGroupRows];
  vst1q_f32(lanes, v);
  for (int i = 0; i < kGroupRows; ++i)
    if (first + i >= n0 && first + i < n1) out[first + i] = lanes[i];
}

// Groups [g0, g0 + GROUPS) (rows 4g0..) against tokens [t0, t0 + TILE): each
// record's codes are loaded once for the TILE tokens and each token's
// activations once for the GROUPS groups; each group's four row dots are
// scaled and added in one vector. Every (group, token) pair is a chain of its
// own, so two groups keep a single-token decode from waiting on one chain.
// ZP: the matrix has zero points other than 8.
template <class Product, int GROUPS, int TILE, bool Q4, bool ZP>
void group_tile(const WeightMatrix& w, const ActBlocks& x, int g0, int t0, int n0, int n1,
                float* out, int ldo) {
  const int nb = w.blocks();
  const Record<Q4>* rec[GROUPS];
  const int8_t* zps[GROUPS];
  for (int j = 0; j < GROUPS; ++j) {
    rec[j] = static_cast<const Record<Q4>*>(w.interleaved) + size_t(g0 + j) * nb;
    zps[j] = ZP ? w.interleaved_zero_points + size_t(g0 + j) * nb * kGroupRows : nullptr;
  }
  const int8_t* q[TILE];
  const float* d[TILE];
  const int32_t* sums[TILE];
  for (int i = 0; i < TILE; ++i) {
    q[i] = x.row_q(t0 + i);
    d[i] = x.row_d(t0 + i);
    sums[i] = x.row_sum(t0 + i);
  }
  float32x4_t acc[GROUPS][TILE];
  for (int j = 0; j < GROUPS; ++j)
    for (int i = 0; i < TILE; ++i) acc[j][i] = vdupq_n_f32(0.0f);
  for (int b = 0; b < nb; ++b) {
    int8x16_t v[GROUPS][8];
    float32x4_t wscale[GROUPS];
    for (int j = 0; j < GROUPS; ++j) {
      // Ask for the bytes this stream reaches a few records later: the
      // hardware prefetcher alone leaves a core well below the memory's rate.
      __builtin_prefetch(reinterpret_cast<const char*>(rec[j] + b) + kNeonPrefetchBytes);
      load_codes<Q4>(rec[j][b], v[j]);
      wscale[j] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(rec[j][b].d)));
    }
    for (int i = 0; i < TILE; ++i) {
      const int8x16_t a[2] = {vld1q_s8(q[i] + size_t(b) * kBlock),
                              vld1q_s8(q[i] + size_t(b) * kBlock + 16)};
      for (int j = 0; j < GROUPS; ++j) {
        int32x4_t dots = Product::rows4(v[j], a);
        if (ZP)
          dots = vmlsq_s32(dots, zero_point_terms(zps[j] + size_t(b) * kGroupRows),
                           vdupq_n_s32(sums[i][b]));
        acc[j][i] = vfmaq_f32(acc[j][i], dots_to_float<Q4>(dots), vmulq_n_f32(wscale[j], d[i][b]));
      }
    }
  }
  for (int j = 0; j < GROUPS; ++j)
    for (int i = 0; i < TILE; ++i)
      store_rows(acc[j][i], g0 + j, n0, n1, out + size_t(t0 + i) * ldo);
}

// Groups [n0 / 4, ceil(n1 / 4)) against tokens [t0, t1): kNeonTile tokens
// per pass over a group, then the tokens left one at a time, two groups per
// pass.
template <class Product, bool Q4, bool ZP>
void neon_matmul_groups(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, int t0, int t1,
                        float* out, int ldo) {
  const int g_begin = n0 / kGroupRows, g_end = (n1 + kGroupRows - 1) / kGroupRows;
  const int tiled_end = t0 + (t1 - t0) / kNeonTile * kNeonTile;
  for (int g = g_begin; g < g_end; ++g)
    for (int t = t0; t < tiled_end; t += kNeonTile)
      group_tile<Product, 1, kNeonTile, Q4, ZP>(w, x, g, t, n0, n1, out, ldo);
  for (int t = tiled_end; t < t1; ++t) {
    int g = g_begin;
    for (; g + 2 <= g_end; g += 2) group_tile<Product, 2, 1, Q4, ZP>(w, x, g, t, n0, n1, out, ldo);
    if (g < g_end) group_tile<Product, 1, 1, Q4, ZP>(w, x, g, t, n0, n1, out, ldo);
  }
}

// Rows [n0, n1) against tokens [t0, t1).
template <class Product, bool Q4>
void neon_matmul_tokens(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, int t0, int t1,
                        float* out, int ldo) {
  if (Q4 && w.interleaved_zero_points)
    neon_matmul_groups<Product, Q4, true>(w, x, n0, n1, t0, t1, out, ldo);
  else
    neon_matmul_groups<Product, Q4, false>(w, x, n0, n1, t0, t1, out, ldo);
}

template <class Product, bool Q4>
void neon_matmul(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  neon_matmul_tokens<Product, Q4>(w, x, n0, n1, 0, x.rows, out, ldo);
}

// ---- float paths -------------------------------------------------------------

template <int TILE>
void neon_f32_row_tile(const float* wrow, int K, const float* x, int ldx, float* out, int ldo) {
  float32x4_t acc[TILE];
  for (int i = 0; i < TILE; ++i) acc[i] = vdupq_n_f32(0.0f);
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    const float32x4_t wv = vld1q_f32(wrow + k);
    for (int i = 0; i < TILE; ++i)
      acc[i] = vfmaq_f32(acc[i], wv, vld1q_f32(x + size_t(i) * ldx + k));
  }
  for (int i = 0; i < TILE; ++i) {
    float s = vaddvq_f32(acc[i]);
    for (int j = k; j < K; ++j) s += wrow[j] * x[size_t(i) * ldx + j];
    out[size_t(i) * ldo] = s;
  }
}

struct F32RowTile {
  template <int W>
  static void run(const float* wrow, int K, const float* x, int ldx, float* out, int ldo) {
    neon_f32_row_tile<W>(wrow, K, x, ldx, out, ldo);
  }
};
using NeonFloat = FloatPaths<F32RowTile, kNeonTile>;

// The output row lives in registers, 16 floats at a time, across all positions.
void neon_attn_values(const float* weights, const float* values, int n, int head_dim, float* out) {
  int i0 = 0;
  for (; i0 + 16 <= head_dim; i0 += 16) {
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int p = 0; p < n; ++p) {
      const float* v = values + size_t(p) * head_dim + i0;
      for (int j = 0; j < 4; ++j) acc[j] = vfmaq_n_f32(acc[j], vld1q_f32(v + 4 * j), weights[p]);
    }
    for (int j = 0; j < 4; ++j) vst1q_f32(out + i0 + 4 * j, acc[j]);
  }
  for (; i0 < head_dim; ++i0) {  // a head_dim that is not a multiple of 16
    float s = 0.0f;
    for (int p = 0; p < n; ++p) s += weights[p] * values[size_t(p) * head_dim + i0];
    out[i0] = s;
  }
}

// exp_approx.h, 4 lanes at a time (the same operations in the same order).
inline float32x4_t neon_exp4(float32x4_t x) {
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(kExpMin)), vdupq_n_f32(kExpMax));
  const float32x4_t magic = vdupq_n_f32(kRoundMagic);
  const float32x4_t n = vsubq_f32(vaddq_f32(vmulq_n_f32(x, kLog2e), magic), magic);
  const float32x4_t r = vsubq_f32(vsubq_f32(x, vmulq_n_f32(n, kLn2Hi)), vmulq_n_f32(n, kLn2Lo));
  float32x4_t p = vdupq_n_f32(kExpPoly[0]);
  for (int i = 1; i < 7; ++i) p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(kExpPoly[i]));
  const int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(bits));
}

void neon_softmax(float* x, int n) {
  float32x4_t mx = vdupq_n_f32(x[0]);
  int i = 0;
  for (; i + 4 <= n; i += 4) mx = vmaxq_f32(mx, vld1q_f32(x + i));
  float top = vmaxvq_f32(mx);
  for (int j = i; j < n; ++j) top = x[j] > top ? x[j] : top;
  float32x4_t sum4 = vdupq_n_f32(0.0f);
  for (i = 0; i + 4 <= n; i += 4) {
    const float32x4_t e = neon_exp4(vsubq_f32(vld1q_f32(x + i), vdupq_n_f32(top)));
    vst1q_f32(x + i, e);
    sum4 = vaddq_f32(sum4, e);
  }
  float sum = vaddvq_f32(sum4);
  for (int j = i; j < n; ++j) {
    x[j] = exp_approx(x[j] - top);
    sum += x[j];
  }
  const float inv = 1.0f / sum;
  for (i = 0; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
  for (; i < n; ++i) x[i] *= inv;
}

void neon_swiglu(float* gate, const float* up, int n) {
  const float32x4_t one = vdupq_n_f32(1.0f);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t g = vld1q_f32(gate + i);
    const float32x4_t e = neon_exp4(vnegq_f32(g));
    vst1q_f32(gate + i, vmulq_f32(vdivq_f32(g, vaddq_f32(one, e)), vld1q_f32(up + i)));
  }
  for (; i < n; ++i) gate[i] = swiglu_one(gate[i], up[i]);
}

}  // namespace
}  // namespace edge
