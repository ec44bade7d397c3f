// AVX-512 + VNNI kernels (Ice Lake, Sapphire Rapids, Zen 4 and later).
//
// A zmm register holds 16 floats, or 64 int8 codes that VPDPBUSD multiplies
// by activations in groups of four. The quantized products take one of three
// algorithms by the number of tokens, each in its own section with the
// activation re-layout it reads:
//   avx512_vnni_decode.h   up to 16 tokens: four blocks per register, or
//                          block pairs for Q4 with zero points; each token's
//                          result is bit for bit the one it gets alone;
//   avx512_vnni_prefill.h  17 tokens or more: one register lane per token.
// This file: activation quantization, the choice between those, the float
// paths and attention. The headers are part of this file (its flags, its
// anonymous namespace); nothing else includes them.

// GCC 12's AVX-512 headers pass an uninitialised "undefined" vector into
// their own builtins and then warn about it (GCC bug 105593, fixed in 13).
// The warning is about the header, not this file, and -Werror would fail on it.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>

#include "x86_common.h"
#include "avx512_vnni_decode.h"
#include "avx512_vnni_prefill.h"

namespace edge {
namespace {

// ---- activation quantization ------------------------------------------------

void quantize_acts(const float* x, int ldx, int t0, int t1, ActBlocks* out) {
  const int K = out->cols, nb = out->blocks();
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int t = t0; t < t1; ++t) {
    const float* xr = x + size_t(t) * ldx;
    for (int b = 0; b < nb; ++b) {
      const int k0 = b * kBlock, len = std::min(kBlock, K - k0);
      const __mmask16 m0 = lanes16(len), m1 = lanes16(len - 16);
      const __m512 v0 = _mm512_maskz_loadu_ps(m0, xr + k0);
      const __m512 v1 = _mm512_maskz_loadu_ps(m1, xr + k0 + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      const __m512 s = _mm512_set1_ps(inv);
      // The default MXCSR rounding is to nearest even, as std::lrint in scalar.cpp.
      __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, s));
      __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, s));
      const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
      if (out->order == ActOrder::Nibble) {
        const __m512i e = _mm512_permutex2var_epi32(i0, even, i1);
        i1 = _mm512_permutex2var_epi32(i0, odd, i1);
        i0 = e;
      }
      int8_t* q = out->q + (size_t(t) * nb + b) * kBlock;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(i0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(i1));
      out->d[size_t(t) * nb + b] = amax / 127.0f;
      out->sum[size_t(t) * nb + b] = sum;
    }
  }
}

// ---- quantized matrix products -----------------------------------------------

// Each thread's scratch: the activations re-laid out for the path in use, kept
// while their version stays (q, k and v share one input), and a Q4 row group
// unpacked for prefill. One call fetches all of it: in a shared library every
// access to a thread_local calls __tls_get_addr.
struct ThreadScratch {
  PreparedActs pairs;
  QuadActs quads;
  TokenLanes lanes;
  Scratch<uint8_t> unpacked;
};

__attribute__((noinline)) ThreadScratch& thread_scratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

template <bool Q4>
void matmul_quantized(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  ThreadScratch& scratch = thread_scratch();
  if (x.rows >= kMinTokensForLanes)
    return matmul_token_lanes<Q4>(w, x, scratch.lanes, scratch.unpacked, n0, n1, out, ldo);
  if (Q4 && w.zero_points) return matmul_q4_pairs(w, x, scratch.pairs, n0, n1, out, ldo);
  matmul_quads<Q4>(w, x, scratch.quads, n0, n1, out, ldo);
}

void matmul_q8(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<false>(w, x, n0, n1, out, ldo);
}

void matmul_q4(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<true>(w, x, n0, n1, out, ldo);
}

// ---- float paths -----------------------------------------------------------------

using Float = FloatPaths<F32RowTile<Zmm>, kTile>;

// The sixteen horizontal sums of v[0..15] in one register, by halving the width
// four times, each step folding two registers into one: lane 4k + m of the
// result is the sum of v[4m + k] (callers put their sixteen sums in that order).
// About 3 instructions per sum, where a reduction of each register takes 8.
inline __m512 sum16(const __m512 v[16]) {
  __m512 halves[8], quarters[4], pairs[2];
  for (int i = 0; i < 8; ++i)  // [v 8 sums | v' 8 sums]
    halves[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                              _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
  for (int i = 0; i < 4; ++i)  // 128-bit lane j: 4 sums of v[4i + j]
    quarters[i] = _mm512_add_ps(_mm512_shuffle_f32x4(halves[2 * i], halves[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                _mm512_shuffle_f32x4(halves[2 * i], halves[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  for (int i = 0; i < 2; ++i)  // lane j: 2 sums each of v[8i + j], v[8i + 4 + j]
    pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(quarters[2 * i], quarters[2 * i + 1]),
                             _mm512_unpackhi_ps(quarters[2 * i], quarters[2 * i + 1]));
  return _mm512_add_ps(_mm512_shuffle_ps(pairs[0], pairs[1], _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_ps(pairs[0], pairs[1], _MM_SHUFFLE(3, 2, 3, 2)));
}

// scores[p] = scale * (q . keys[p]). Where the head is whole registers, sixteen
// positions at a time share one reduction (sum16); the rest one at a time.
void attn_scores(const float* q, const float* keys, int n, int head_dim, float scale, float* scores) {
  int p = 0;
  if (head_dim % 16 == 0) {
    for (; p + 16 <= n; p += 16) {
      __m512 dots[16];
      for (int j = 0; j < 16; ++j) {
        const float* key = keys + size_t(p + 4 * (j % 4) + j / 4) * head_dim;  // sum16's order
        __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(key));
        for (int i = 16; i < head_dim; i += 16)
          acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(key + i), acc);
        dots[j] = acc;
      }
      _mm512_storeu_ps(scores + p, _mm512_mul_ps(sum16(dots), _mm512_set1_ps(scale)));
    }
  }
  Float::attn_scores(q, keys + size_t(p) * head_dim, n - p, head_dim, scale, scores + p);
}

// The output row lives in registers, 64 floats at a time, across all positions;
// even and odd positions add into separate registers, so that two chains of
// fused multiply-adds run at once instead of waiting on one another.
void attn_values(const float* weights, const float* values, int n, int head_dim, float* out) {
  for (int i0 = 0; i0 < head_dim; i0 += 64) {
    __mmask16 m[4];
    __m512 even[4], odd[4];
    for (int j = 0; j < 4; ++j) {
      m[j] = lanes16(head_dim - i0 - 16 * j);
      even[j] = odd[j] = _mm512_setzero_ps();
    }
    auto add = [&](__m512* acc, int p) {
      const __m512 wp = _mm512_set1_ps(weights[p]);
      const float* v = values + size_t(p) * head_dim + i0;
      for (int j = 0; j < 4; ++j) acc[j] = _mm512_fmadd_ps(wp, _mm512_maskz_loadu_ps(m[j], v + 16 * j), acc[j]);
    };
    int p = 0;
    for (; p + 2 <= n; p += 2) {
      add(even, p);
      add(odd, p + 1);
    }
    if (p < n) add(even, p);
    for (int j = 0; j < 4; ++j) _mm512_mask_storeu_ps(out + i0 + 16 * j, m[j], _mm512_add_ps(even[j], odd[j]));
  }
}

// exp_approx.h, 16 lanes at a time (the same operations in the same order).
inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(kExpMin)), _mm512_set1_ps(kExpMax));
  const __m512 magic = _mm512_set1_ps(kRoundMagic);
  const __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)), magic), magic);
  const __m512 r = _mm512_sub_ps(_mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(kLn2Hi))),
                                 _mm512_mul_ps(n, _mm512_set1_ps(kLn2Lo)));
  __m512 p = _mm512_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 7; ++i) p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(kExpPoly[i]));
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

void softmax(float* x, int n) {
  auto tail = [&](int i) { return lanes16(n - i); };
  __m512 mx = _mm512_set1_ps(x[0]);
  for (int i = 0; i < n; i += 16) mx = _mm512_mask_max_ps(mx, tail(i), mx, _mm512_maskz_loadu_ps(tail(i), x + i));
  const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail(i), x + i), top));
    _mm512_mask_storeu_ps(x + i, tail(i), e);
    sum = _mm512_mask_add_ps(sum, tail(i), sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / hsum(sum));
  for (int i = 0; i < n; i += 16)
    _mm512_mask_storeu_ps(x + i, tail(i), _mm512_mul_ps(_mm512_maskz_loadu_ps(tail(i), x + i), inv));
}

void swiglu(float* gate, const float* up, int n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = lanes16(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
    _mm512_mask_storeu_ps(gate + i, m,
                          _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

constexpr KernelTable kTable = {
    "avx512_vnni", WeightLayout::RowMajor, quantize_acts, matmul_q8, matmul_q4, Float::matmul_f32, attn_scores, attn_values, softmax, swiglu,
};

}  // namespace

const KernelTable& avx512_vnni_kernels() { return kTable; }

}  // namespace edge
