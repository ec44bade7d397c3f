// The kernels the three aarch64 variants share, as inline templates.
//
// neon.cpp, neon_dotprod.cpp and neon_i8mm.cpp each include this header and
// compile it with their own -march flags. Everything here lives in an
// anonymous namespace, so each file gets a private copy: the linker can never
// merge the dotprod build of a function into the plain-NEON table, which would
// run an SDOT on a Cortex-A72.
//
// The plain and dotprod variants differ only in how sixteen int8 products are
// summed into int32 lanes (the Product policy below); the block walk, the
// token tiling, activation quantization and the float paths are common. The
// i8mm variant adds its own two-row, two-token SMMLA tile for prefill and
// uses the SDOT path here for the rest.
#pragma once

#include <arm_neon.h>

#include "exp_approx.h"
#include "kernels.h"
#include "tiling.h"

namespace edge {
namespace {

constexpr size_t kNeonPrefetchBytes = 8192;  // how far ahead decode prefetches weights
constexpr int kNeonTile = 4;  // tokens per pass over a weight row in prefill

// ---- int8 products ----------------------------------------------------------

// Plain ARMv8-A: widen to int16 products and pairwise-add into int32. Two
// products share an int16 lane before widening; |w| <= 128 and |a| <= 127
// keep their sum below 32767.
struct WideningProduct {
  static int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a) {
    const int16x8_t pairs = vmlal_high_s8(vmull_s8(vget_low_s8(w), vget_low_s8(a)), w, a);
    return vpadalq_s16(acc, pairs);
  }
};

#if defined(__ARM_FEATURE_DOTPROD)
// ARMv8.2 SDOT: four products per int32 lane in one instruction.
struct SdotProduct {
  static int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a) { return vdotq_s32(acc, w, a); }
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

// An fp16 block scale as float, by the conversion every aarch64 core has
// (FCVTL): exactly half_to_float.
inline float neon_half_to_float(uint16_t h) {
  return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

// One block of weight codes as two int8 vectors, each meeting 16 activations:
// Q8 re-centred to code - 128 (XOR 0x80 flips the offset binary to two's
// complement); Q4 codes 0..15 split into low nibbles (activations 0..15 in
// nibble order) and high nibbles (16..31), the zero point left for later.
struct BlockCodes {
  int8x16_t first, second;
};

template <bool Q4>
BlockCodes load_block_codes(const uint8_t* w) {
  if (Q4) {
    const uint8x16_t v = vld1q_u8(w);
    return {vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))),
            vreinterpretq_s8_u8(vshrq_n_u8(v, 4))};
  }
  const uint8x16_t bias = vdupq_n_u8(0x80);
  return {vreinterpretq_s8_u8(veorq_u8(vld1q_u8(w), bias)),
          vreinterpretq_s8_u8(veorq_u8(vld1q_u8(w + 16), bias))};
}

// Weight row n against tokens [t0, t0 + TILE): out[t][n]. Per block, the
// integer dot lands in four int32 lanes; the Q4 zero-point term
// zero_point * sum(q) comes off lane 0, and the lanes are scaled and summed in
// float, once per row at the end.
template <class Product, int TILE, bool Q4>
void neon_row_tile(const WeightMatrix& w, const ActBlocks& x, int n, int t0, float* out, int ldo) {
  const int nb = w.blocks();
  const size_t block_bytes = Q4 ? kBlock / 2 : kBlock;
  const uint8_t* wrow = static_cast<const uint8_t*>(w.data) + size_t(n) * nb * block_bytes;
  const uint16_t* sw = w.scales_f16 + size_t(n) * nb;
  float32x4_t acc[TILE];
  for (int i = 0; i < TILE; ++i) acc[i] = vdupq_n_f32(0.0f);
  for (int b = 0; b < nb; ++b) {
    // Ask for the bytes this stream reaches a few rows later: the hardware
    // prefetcher alone leaves a core well below the memory's rate.
    __builtin_prefetch(wrow + size_t(b) * block_bytes + kNeonPrefetchBytes);
    const BlockCodes codes = load_block_codes<Q4>(wrow + size_t(b) * block_bytes);
    const int zp = Q4 ? q4_zero_point(w, n, b) : 0;
    const float wscale = neon_half_to_float(sw[b]);
    for (int i = 0; i < TILE; ++i) {
      const int t = t0 + i;
      const int8_t* a = x.row_q(t) + size_t(b) * kBlock;
      int32x4_t dot = Product::dot16(vdupq_n_s32(0), codes.first, vld1q_s8(a));
      dot = Product::dot16(dot, codes.second, vld1q_s8(a + 16));
      if (Q4) dot = vsubq_s32(dot, vsetq_lane_s32(zp * x.row_sum(t)[b], vdupq_n_s32(0), 0));
      acc[i] = vfmaq_n_f32(acc[i], vcvtq_f32_s32(dot), wscale * x.row_d(t)[b]);
    }
  }
  for (int i = 0; i < TILE; ++i) out[size_t(t0 + i) * ldo + n] = vaddvq_f32(acc[i]);
}

// Rows [n0, n1) against tokens [t0, t1), kNeonTile tokens per pass.
template <class Product, bool Q4>
void neon_matmul_rows(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, int t0, int t1,
                      float* out, int ldo) {
  for (int n = n0; n < n1; ++n) {
    int t = t0;
    for (; t + kNeonTile <= t1; t += kNeonTile)
      neon_row_tile<Product, kNeonTile, Q4>(w, x, n, t, out, ldo);
    for (; t < t1; ++t) neon_row_tile<Product, 1, Q4>(w, x, n, t, out, ldo);
  }
}

template <class Product, bool Q4>
void neon_matmul(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  neon_matmul_rows<Product, Q4>(w, x, n0, n1, 0, x.rows, out, ldo);
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
