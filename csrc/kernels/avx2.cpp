// AVX2 + FMA kernels (Haswell, Zen 1 and later).
//
// AVX2 has no 8-bit dot product instruction; VPMADDUBSW multiplies unsigned
// by signed bytes into saturating int16 pairs, then VPMADDWD with ones widens
// to int32. Saturation is impossible here: Q4 codes are at most 15 (15 * 127 *
// 2 < 32767), and Q8 codes are first re-centred to signed values and the
// product taken as |w| * (a with w's sign) (128 * 127 * 2 < 32767). A ymm
// register holds one block, so the int32 lanes of a block get one scale.
#include <algorithm>

#include "x86_common.h"

namespace edge {
namespace {

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- activation quantization ------------------------------------------------

void quantize_acts(const float* x, int ldx, int t0, int t1, ActBlocks* out) {
  const int K = out->cols, nb = out->blocks();
  const __m256 sign = _mm256_set1_ps(-0.0f);
  // Bytes from packs come as 32-bit groups 0 2 4 6 1 3 5 7 of the block.
  const __m256i regroup = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  // Within each 128-bit lane: even elements to the low 8 bytes, odd to the high.
  const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                         0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  for (int t = t0; t < t1; ++t) {
    const float* xr = x + size_t(t) * ldx;
    for (int b = 0; b < nb; ++b) {
      const int k0 = b * kBlock, len = std::min(kBlock, K - k0);
      __m256 v[4];
      for (int i = 0; i < 4; ++i) v[i] = _mm256_maskload_ps(xr + k0 + 8 * i, lanes(len - 8 * i));
      __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                               _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      const float amax = _mm_cvtss_f32(m4);
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      const __m256 s = _mm256_set1_ps(inv);
      // The default MXCSR rounding is to nearest even, as std::lrint in scalar.cpp.
      __m256i i[4];
      for (int j = 0; j < 4; ++j) i[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], s));
      const int32_t sum =
          hsum(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3])));
      __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
      q = _mm256_permutevar8x32_epi32(q, regroup);
      if (out->order == ActOrder::Nibble)
        q = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(q, split), _MM_SHUFFLE(3, 1, 2, 0));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out->q + (size_t(t) * nb + b) * kBlock), q);
      out->d[size_t(t) * nb + b] = amax / 127.0f;
      out->sum[size_t(t) * nb + b] = sum;
    }
  }
}

// ---- quantized matrix products -----------------------------------------------

// Integer part of a block dot for the given codes against activations a, as
// 8 int32 lanes whose total is sum((code - zero_point) * q).
inline __m256i block_dot_q4(__m256i codes, __m256i a, int zero_point, int32_t act_sum) {
  const __m256i pairs = _mm256_maddubs_epi16(codes, a);
  const __m256i dot = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
  return _mm256_sub_epi32(dot, _mm256_setr_epi32(zero_point * act_sum, 0, 0, 0, 0, 0, 0, 0));
}

inline __m256i block_dot_q8(__m256i centred, __m256i a) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(centred), _mm256_sign_epi8(a, centred));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

template <int TILE, bool Q4>
void row_tile(const WeightMatrix& w, const ActBlocks& x, int n, int t0, float* out, int ldo) {
  const int nb = w.blocks();
  const size_t block_bytes = Q4 ? kBlock / 2 : kBlock;
  const uint8_t* wrow = static_cast<const uint8_t*>(w.data) + size_t(n) * nb * block_bytes;
  const uint16_t* sw = w.scales_f16 + size_t(n) * nb;
  __m256 acc[TILE];
  for (int i = 0; i < TILE; ++i) acc[i] = _mm256_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const uint8_t* wb = wrow + size_t(b) * block_bytes;
    // Ask for the bytes this stream reaches a few rows later: the hardware
    // prefetcher alone leaves a core well below the memory's rate.
    _mm_prefetch(reinterpret_cast<const char*>(wb + kPrefetchBytes), _MM_HINT_T0);
    const __m256i codes =
        Q4 ? unpack_q4_block(wb)
           : _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb)), _mm256_set1_epi8(char(0x80)));
    const int zp = Q4 ? q4_zero_point(w, n, b) : 0;
    const float wscale = _cvtsh_ss(sw[b]);  // F16C: exactly half_to_float
    for (int i = 0; i < TILE; ++i) {
      const int t = t0 + i;
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.row_q(t) + size_t(b) * kBlock));
      const __m256i dot = Q4 ? block_dot_q4(codes, a, zp, x.row_sum(t)[b]) : block_dot_q8(codes, a);
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(wscale * x.row_d(t)[b]), acc[i]);
    }
  }
  for (int i = 0; i < TILE; ++i) out[size_t(t0 + i) * ldo + n] = hsum(acc[i]);
}

template <bool Q4>
void matmul_quantized(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  const int T = x.rows;
  for (int n = n0; n < n1; ++n) {
    int t = 0;
    for (; t + kTile <= T; t += kTile) row_tile<kTile, Q4>(w, x, n, t, out, ldo);
    for (; t < T; ++t) row_tile<1, Q4>(w, x, n, t, out, ldo);
  }
}

void matmul_q8(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<false>(w, x, n0, n1, out, ldo);
}

void matmul_q4(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<true>(w, x, n0, n1, out, ldo);
}

// ---- float paths -----------------------------------------------------------------

using Float = FloatPaths<F32RowTile<Ymm>, kTile>;

// The output row lives in registers, 32 floats at a time, across all positions.
void attn_values(const float* weights, const float* values, int n, int head_dim, float* out) {
  for (int i0 = 0; i0 < head_dim; i0 += 32) {
    __m256i m[4];
    __m256 acc[4];
    for (int j = 0; j < 4; ++j) {
      m[j] = lanes(head_dim - i0 - 8 * j);
      acc[j] = _mm256_setzero_ps();
    }
    for (int p = 0; p < n; ++p) {
      const __m256 wp = _mm256_set1_ps(weights[p]);
      const float* v = values + size_t(p) * head_dim + i0;
      for (int j = 0; j < 4; ++j) acc[j] = _mm256_fmadd_ps(wp, _mm256_maskload_ps(v + 8 * j, m[j]), acc[j]);
    }
    for (int j = 0; j < 4; ++j) _mm256_maskstore_ps(out + i0 + 8 * j, m[j], acc[j]);
  }
}

// exp_approx.h, 8 lanes at a time (the same operations in the same order).
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpMin)), _mm256_set1_ps(kExpMax));
  const __m256 magic = _mm256_set1_ps(kRoundMagic);
  const __m256 n = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), magic), magic);
  const __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(kLn2Hi))),
                                 _mm256_mul_ps(n, _mm256_set1_ps(kLn2Lo)));
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 7; ++i) p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(kExpPoly[i]));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

void softmax(float* x, int n) {
  // Masked loads read 0 past n; a max over them would be wrong, so the
  // partial last register keeps the running max in its empty lanes.
  __m256 mx = _mm256_set1_ps(x[0]);
  for (int i = 0; i < n; i += 8)
    mx = _mm256_max_ps(mx, _mm256_blendv_ps(mx, _mm256_maskload_ps(x + i, lanes(n - i)),
                                            _mm256_castsi256_ps(lanes(n - i))));
  const __m256 top = _mm256_set1_ps(hmax(mx));
  __m256 sum = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) {
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, lanes(n - i)), top)),
                                   _mm256_castsi256_ps(lanes(n - i)));
    _mm256_maskstore_ps(x + i, lanes(n - i), e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
  for (int i = 0; i < n; i += 8)
    _mm256_maskstore_ps(x + i, lanes(n - i), _mm256_mul_ps(_mm256_maskload_ps(x + i, lanes(n - i)), inv));
}

void swiglu(float* gate, const float* up, int n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) gate[i] = swiglu_one(gate[i], up[i]);
}

constexpr KernelTable kTable = {
    "avx2", WeightLayout::RowMajor, quantize_acts, matmul_q8, matmul_q4, Float::matmul_f32, Float::attn_scores, attn_values, softmax, swiglu,
};

}  // namespace

const KernelTable& avx2_kernels() { return kTable; }

}  // namespace edge
