// AVX-512 + VNNI kernels (Ice Lake, Sapphire Rapids, Zen 4 and later).
//
// A zmm register holds two quantization blocks: 64 weight bytes of Q8, or
// the 32 bytes of two Q4 blocks spread to one code per byte. VPDPBUSD
// multiplies unsigned weight codes by signed activations and sums groups of
// four into 16 int32 lanes: lanes 0-7 belong to the first block and 8-15 to
// the second, so one float multiply-add per register applies both blocks'
// scales. The zero point is taken out afterwards, once per row, from the
// activation block sums (sum((c - z) q) = sum(c q) - z sum(q)).
#include <immintrin.h>

// GCC 12's AVX-512 headers pass an uninitialised "undefined" vector into
// their own builtins and then warn about it (GCC bug 105593, fixed in 13).
// The warning is about the header, not this file, and -Werror would fail on it.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "exp_approx.h"
#include "kernels.h"
#include "tiling.h"

namespace edge {
namespace {

constexpr int kTile = 4;  // tokens per pass over a weight row in prefill
constexpr size_t kPrefetchBytes = 8192;  // how far ahead decode prefetches weights

inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }
inline int32_t hsum(__m256i v) { return _mm512_reduce_add_epi32(_mm512_zextsi256_si512(v)); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- activation quantization ------------------------------------------------

void quantize_acts(const float* x, int ldx, int t0, int t1, ActBlocks* out) {
  const int K = out->cols, nb = out->blocks();
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int t = t0; t < t1; ++t) {
    const float* xr = x + size_t(t) * ldx;
    for (int b = 0; b < nb; ++b) {
      const int k0 = b * kBlock, len = std::min(kBlock, K - k0);
      const __mmask16 m0 = len >= 16 ? 0xFFFF : __mmask16((1u << len) - 1);
      const __mmask16 m1 = len >= 32 ? 0xFFFF : len > 16 ? __mmask16((1u << (len - 16)) - 1) : 0;
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

// Whether buffers last prepared from activations of version `prepared` hold
// x's already (then they are kept); otherwise records x's version. Version 0
// is never kept: it marks activations nobody numbered.
inline bool holds(uint64_t& prepared, const ActBlocks& x) {
  if (x.version != 0 && x.version == prepared) return true;
  prepared = x.version;
  return false;
}

// Per-call preparation of the activations, so the inner loop only loads.
// For each pair of blocks, spread over the 16 lanes they apply to: the two
// block scales d, and the zero-point term z * d * sum / 8 (the 8 lanes of a
// block add up to z * d * sum), so that one fused multiply-subtract per
// register applies both: (dot * d - z * d * sum) summed over the block. With
// per-block zero points (z differs per row) the term is left out here and
// taken per row from d_sum.
struct PreparedActs {
  std::vector<float> pair_scales;  // [T][nb / 2][16]
  std::vector<float> pair_zero;    // [T][nb / 2][16]
  std::vector<float> d_sum;        // [T][nb]
  uint64_t version = 0;            // of the activations prepared (0: none)
  int zero_point = 0;

  void prepare(const ActBlocks& x, int zp) {
    if (holds(version, x) && zp == zero_point) return;
    zero_point = zp;
    const int nb = x.blocks(), pairs = nb / 2;
    pair_scales.resize(size_t(x.rows) * pairs * 16);
    pair_zero.resize(size_t(x.rows) * pairs * 16);
    d_sum.resize(size_t(x.rows) * nb);
    for (int t = 0; t < x.rows; ++t) {
      const float* d = x.row_d(t);
      for (int b = 0; b < nb; ++b) d_sum[size_t(t) * nb + b] = d[b] * float(x.row_sum(t)[b]);
      for (int p = 0; p < pairs; ++p) {
        float* scale = &pair_scales[(size_t(t) * pairs + p) * 16];
        float* zero = &pair_zero[(size_t(t) * pairs + p) * 16];
        for (int half = 0; half < 2; ++half) {
          const int b = 2 * p + half;
          std::fill(scale + 8 * half, scale + 8 * half + 8, d[b]);
          std::fill(zero + 8 * half, zero + 8 * half + 8, float(zp) * d_sum[size_t(t) * nb + b] / 8.0f);
        }
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

// One Q4 block (16 bytes) as codes in a ymm: [low nibbles, high nibbles].
inline __m256i unpack_q4_block(const uint8_t* w) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), mask), _mm_and_si128(v, mask));
}

inline __m512i load_q8_pair(const uint8_t* w) { return _mm512_loadu_si512(w); }
inline __m256i load_q8_block(const uint8_t* w) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
}

// Zero-point term of row n and token t with per-block zero points, over the
// blocks taken in pairs (an odd last block applies its own):
// sum_b sw[b] * z_b * d[b] * sum[b].
float zero_point_term(const WeightMatrix& w, const PreparedActs& prep, int n, int t) {
  const int nb = w.blocks();
  const uint16_t* sw = w.scales_f16 + size_t(n) * nb;
  const float* ds = &prep.d_sum[size_t(t) * nb];
  float z = 0.0f;
  for (int b = 0; b < nb - (nb & 1); ++b) z += _cvtsh_ss(sw[b]) * float(q4_zero_point(w, n, b)) * ds[b];
  return z;
}

// Rows [n0, n0 + R) against tokens [t0, t0 + TT): each weight pair is
// unpacked once for TT tokens and each activation pair loaded once for R
// rows, and the R * TT accumulators are independent chains.
template <int R, int TT, bool Q4>
void tile(const WeightMatrix& w, const ActBlocks& x, const PreparedActs& prep, int n0, int t0,
          float* out, int ldo) {
  const int nb = w.blocks(), pairs = nb / 2;
  const size_t block_bytes = Q4 ? kBlock / 2 : kBlock;
  const size_t row_bytes = size_t(nb) * block_bytes;
  const uint8_t* wbase = static_cast<const uint8_t*>(w.data) + size_t(n0) * row_bytes;
  const uint16_t* sbase = w.scales_f16 + size_t(n0) * nb;
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const bool zero_in_pairs = !(Q4 && w.zero_points);

  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < TT; ++i) acc[r][i] = _mm512_setzero_ps();
  for (int p = 0; p < pairs; ++p) {
    __m512i codes[R];
    __m512 wscale[R];
    for (int r = 0; r < R; ++r) {
      const uint8_t* wp = wbase + r * row_bytes + size_t(2 * p) * block_bytes;
      // Decode's R rows lie end to end and are eaten R pairs per step, so its
      // prefetches sweep their span linearly, as in quad_tile; a prefill tile,
      // which computes far more per byte, asks for each row's own next bytes.
      const uint8_t* ahead = TT == 1 ? wbase + (size_t(p) * R + r) * 2 * block_bytes : wp;
      _mm_prefetch(reinterpret_cast<const char*>(ahead + kPrefetchBytes), _MM_HINT_T0);
      codes[r] = Q4 ? unpack_q4_pair(wp) : load_q8_pair(wp);
      // The pair's two fp16 scales (4 bytes), widened by F16C: exactly half_to_float.
      const __m128 pair_scale = _mm_cvtph_ps(_mm_loadu_si32(sbase + size_t(r) * nb + 2 * p));
      wscale[r] = _mm512_permutexvar_ps(spread, _mm512_zextps128_ps512(pair_scale));
    }
    for (int i = 0; i < TT; ++i) {
      const int t = t0 + i;
      const __m512i a = _mm512_loadu_si512(x.row_q(t) + size_t(2 * p) * kBlock);
      const __m512 ascale = _mm512_loadu_ps(&prep.pair_scales[(size_t(t) * pairs + p) * 16]);
      const __m512 azero = zero_in_pairs ? _mm512_loadu_ps(&prep.pair_zero[(size_t(t) * pairs + p) * 16])
                                         : _mm512_setzero_ps();
      for (int r = 0; r < R; ++r) {
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), codes[r], a);
        acc[r][i] = _mm512_fmadd_ps(_mm512_fmsub_ps(_mm512_cvtepi32_ps(dot), ascale, azero), wscale[r], acc[r][i]);
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
        const uint8_t* wp = wrow + size_t(b) * block_bytes;
        const __m256i codes = Q4 ? unpack_q4_block(wp) : load_q8_block(wp);
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.row_q(t) + size_t(b) * kBlock));
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, a);
        const int zp = Q4 ? q4_zero_point(w, n, b) : 128;
        tail = float(hsum(dot) - zp * x.row_sum(t)[b]) * (_cvtsh_ss(sw[b]) * x.row_d(t)[b]);
      }
      const float zero = zero_in_pairs ? 0.0f : zero_point_term(w, prep, n, t);
      out[size_t(t) * ldo + n] = hsum(acc[r][i]) + tail - zero;
    }
  }
}

// ---- Q4 decode: four blocks per register --------------------------------------
//
// 64 bytes of a Q4 row are four blocks. Masking the low nibbles gives the even
// elements of all four, shifting gives the odd ones, so the activations are
// re-laid out once per call to match: [even halves of the 4 blocks][odd
// halves]. Two VPDPBUSD then leave each block's integer dot in its own 4 lanes,
// and one convert and two fused float ops apply the four blocks' scales and
// zero points: about half the instructions of the pair loop per weight.
struct QuadActs {
  std::vector<int8_t> q;     // [T][nb / 4][2][64]
  std::vector<float> scale;  // [T][nb / 4][16]: d of each block, on its 4 lanes
  std::vector<float> zero;   // [T][nb / 4][16]: 8 * d * sum / 4 on each lane
  uint64_t version = 0;      // of the activations prepared (0: none)

  void prepare(const ActBlocks& x) {
    if (holds(version, x)) return;
    const int nb = x.blocks(), quads = nb / 4;
    q.resize(size_t(x.rows) * quads * 128);
    scale.resize(size_t(x.rows) * quads * 16);
    zero.resize(size_t(x.rows) * quads * 16);
    for (int t = 0; t < x.rows; ++t)
      for (int k = 0; k < quads; ++k) {
        const size_t tq = size_t(t) * quads + k;
        for (int j = 0; j < 4; ++j) {
          const int b = 4 * k + j;
          const int8_t* src = x.row_q(t) + size_t(b) * kBlock;  // [even 16][odd 16]
          std::memcpy(&q[tq * 128 + 16 * j], src, 16);
          std::memcpy(&q[tq * 128 + 64 + 16 * j], src + 16, 16);
          const float d = x.row_d(t)[b];
          std::fill(&scale[tq * 16 + 4 * j], &scale[tq * 16 + 4 * j + 4], d);
          std::fill(&zero[tq * 16 + 4 * j], &zero[tq * 16 + 4 * j + 4],
                    8.0f * (d * float(x.row_sum(t)[b])) / 4.0f);
        }
      }
  }
};

// Rows [n0, n0 + R) of a symmetric Q4 matrix against tokens [t0, t0 + TT).
template <int R, int TT>
void quad_tile(const WeightMatrix& w, const ActBlocks& x, const QuadActs& acts, int n0, int t0,
               float* out, int ldo) {
  const int nb = w.blocks(), quads = nb / 4;
  const size_t row_bytes = size_t(nb) * (kBlock / 2);
  const uint8_t* wbase = static_cast<const uint8_t*>(w.data) + size_t(n0) * row_bytes;
  const uint16_t* sbase = w.scales_f16 + size_t(n0) * nb;
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m512i low = _mm512_set1_epi8(0x0F);
  __m512 acc[R][TT];
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < TT; ++i) acc[r][i] = _mm512_setzero_ps();
  for (int k = 0; k < quads; ++k) {
    __m512i even[R], odd[R];
    __m512 wscale[R];
    for (int r = 0; r < R; ++r) {
      // Ask for the bytes this tile reaches a little later: the hardware
      // prefetcher alone leaves a core well below the memory's rate. The R
      // rows lie end to end and the tile eats R lines per step, so the
      // prefetches sweep that span linearly; one stream per row instead left
      // the first (distance mod row length) bytes of every row unasked for
      // (the FFN down projection's 2,432-byte rows: 37% of their bytes).
      // Non-temporal: the weights are read once per token, and keeping them
      // out of the outer caches measured up to 7% faster Q4 decode here.
      _mm_prefetch(reinterpret_cast<const char*>(wbase + (size_t(k) * R + r) * 64 + kPrefetchBytes),
                   _MM_HINT_NTA);
      const __m512i v = _mm512_loadu_si512(wbase + r * row_bytes + size_t(k) * 64);
      even[r] = _mm512_and_si512(v, low);
      odd[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
      // The quad's four fp16 scales (8 bytes), widened by F16C: exactly half_to_float.
      const __m128 quad_scale =
          _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sbase + size_t(r) * nb + 4 * k)));
      wscale[r] = _mm512_permutexvar_ps(spread, _mm512_zextps128_ps512(quad_scale));
    }
    for (int i = 0; i < TT; ++i) {
      const size_t tq = size_t(t0 + i) * quads + k;
      const __m512i ae = _mm512_loadu_si512(&acts.q[tq * 128]);
      const __m512i ao = _mm512_loadu_si512(&acts.q[tq * 128 + 64]);
      const __m512 ascale = _mm512_loadu_ps(&acts.scale[tq * 16]);
      const __m512 azero = _mm512_loadu_ps(&acts.zero[tq * 16]);
      for (int r = 0; r < R; ++r) {
        const __m512i dot =
            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), even[r], ae), odd[r], ao);
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
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack_q4_block(wrow + size_t(b) * 16), a);
        rest += float(hsum(dot) - 8 * x.row_sum(t)[b]) * (_cvtsh_ss(sw[b]) * x.row_d(t)[b]);
      }
      out[size_t(t) * ldo + n0 + r] = hsum(acc[r][i]) + rest;
    }
  }
}

void matmul_q4_quads(const WeightMatrix& w, const ActBlocks& x, QuadActs& acts, int n0, int n1, float* out,
                     int ldo) {
  acts.prepare(x);
  const int T = x.rows;
  int n = n0;
  if (T == 1) {
    // Decode: two rows at a time. Four interleaved rows read the weights in
    // four strided streams, which the prefetchers follow worse than two; one
    // row has too little work between loads (measured on the Qwen2.5-0.5B
    // shape, 2 threads, relative to four rows: two 1.00-1.12, one 0.88-1.20).
    for (; n + 2 <= n1; n += 2) quad_tile<2, 1>(w, x, acts, n, 0, out, ldo);
    if (n < n1) quad_tile<1, 1>(w, x, acts, n, 0, out, ldo);
    return;
  }
  constexpr int kRows = 4;
  for (; n + kRows <= n1; n += kRows) {
    int t = 0;
    for (; t + 2 <= T; t += 2) quad_tile<kRows, 2>(w, x, acts, n, t, out, ldo);
    for (; t < T; ++t) quad_tile<kRows, 1>(w, x, acts, n, t, out, ldo);
  }
  for (; n < n1; ++n)
    for (int t = 0; t < T; ++t) quad_tile<1, 1>(w, x, acts, n, t, out, ldo);
}

// ---- prefill: one lane per token ----------------------------------------------
//
// With many tokens the kernel turns around: the 16 lanes of a register hold
// 16 tokens, and each VPDPBUSD multiplies 4 weight bytes of one row
// (broadcast) by the matching 4 activation bytes of all 16 tokens. After the
// 8 steps of a block, lane t holds that block's integer dot for token t, so
// the scales cost one convert and two float ops per row and block for 16
// tokens at once, instead of per token. The activations are re-laid out once
// per call for this: [tile of 16 tokens][block][4-byte group][token][4 bytes].
constexpr int kLanes = 16;
constexpr int kMinTokensForLanes = 8;

struct TokenLanes {
  std::vector<int8_t> q;    // [tiles][nb][8][16][4]
  std::vector<float> d;     // [tiles][nb][16], 0 for padding tokens
  std::vector<int32_t> sum; // [tiles][nb][16]
  uint64_t version = 0;     // of the activations prepared (0: none)

  void prepare(const ActBlocks& x) {
    if (holds(version, x)) return;
    const int nb = x.blocks(), tiles = (x.rows + kLanes - 1) / kLanes;
    q.assign(size_t(tiles) * nb * kBlock * kLanes, 0);
    d.assign(size_t(tiles) * nb * kLanes, 0.0f);
    sum.assign(size_t(tiles) * nb * kLanes, 0);
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
const uint8_t* row_codes(const WeightMatrix& w, int n, std::vector<uint8_t>& unpacked) {
  const int nb = w.blocks();
  if (!Q4) return static_cast<const uint8_t*>(w.data) + size_t(n) * nb * kBlock;
  unpacked.resize(size_t(R) * nb * kBlock);
  const uint8_t* packed = static_cast<const uint8_t*>(w.data) + size_t(n) * nb * (kBlock / 2);
  for (size_t b = 0; b < size_t(R) * nb; ++b)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(&unpacked[b * kBlock]),
                        unpack_q4_block(packed + b * (kBlock / 2)));
  return unpacked.data();
}

template <bool Q4>
void matmul_token_lanes(const WeightMatrix& w, const ActBlocks& x, TokenLanes& lanes,
                        std::vector<uint8_t>& unpacked, int n0, int n1, float* out, int ldo) {
  lanes.prepare(x);
  constexpr int kRows = 4;
  int n = n0;
  for (; n + kRows <= n1; n += kRows)
    lanes_rows<kRows, Q4>(w, row_codes<kRows, Q4>(w, n, unpacked), lanes, x.rows, n, out, ldo);
  for (; n < n1; ++n) lanes_rows<1, Q4>(w, row_codes<1, Q4>(w, n, unpacked), lanes, x.rows, n, out, ldo);
}

// Each thread's scratch: the activations re-laid out for the path in use, kept
// while their version stays (q, k and v share one input), and a Q4 row group
// unpacked for prefill. In a shared library every access to a thread_local
// calls __tls_get_addr (1.4% of int8 decode samples, with one per access), so
// one call fetches all of it.
struct ThreadScratch {
  PreparedActs pairs;
  QuadActs quads;
  TokenLanes lanes;
  std::vector<uint8_t> unpacked;
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
  if (Q4 && !w.zero_points) return matmul_q4_quads(w, x, scratch.quads, n0, n1, out, ldo);
  PreparedActs& prep = scratch.pairs;
  prep.prepare(x, Q4 ? 8 : 128);
  const int T = x.rows;
  int n = n0;
  if (T == 1) {
    // Decode: two rows at a time, prefetched as one sequential stream. Four
    // interleaved rows (the prefill tile) made four strided streams and
    // decoded Q8 17-30% slower than one row at a time; two rows decode Q8
    // faster than one (20 alternated processes on the Qwen2.5-0.5B shape, 2
    // threads, a Zen 4 VM: ratios 0.95-1.42, median 1.19): two accumulator
    // chains, the activations loaded once for both, half the calls.
    for (; n + 2 <= n1; n += 2) tile<2, 1, Q4>(w, x, prep, n, 0, out, ldo);
    if (n < n1) tile<1, 1, Q4>(w, x, prep, n, 0, out, ldo);
    return;
  }
  constexpr int kRows = 4;
  for (; n + kRows <= n1; n += kRows) {
    int t = 0;
    for (; t + kTile <= T; t += kTile) tile<kRows, kTile, Q4>(w, x, prep, n, t, out, ldo);
    for (; t < T; ++t) tile<kRows, 1, Q4>(w, x, prep, n, t, out, ldo);
  }
  for (; n < n1; ++n)
    for (int t = 0; t < T; ++t) tile<1, 1, Q4>(w, x, prep, n, t, out, ldo);
}

void matmul_q8(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<false>(w, x, n0, n1, out, ldo);
}

void matmul_q4(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<true>(w, x, n0, n1, out, ldo);
}

// ---- float paths -----------------------------------------------------------------

template <int TILE>
void f32_row_tile(const float* wrow, int K, const float* x, int ldx, float* out, int ldo) {
  __m512 acc[TILE];
  for (int i = 0; i < TILE; ++i) acc[i] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m512 wv = _mm512_loadu_ps(wrow + k);
    for (int i = 0; i < TILE; ++i)
      acc[i] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + size_t(i) * ldx + k), acc[i]);
  }
  if (k < K) {
    const __mmask16 m = __mmask16((1u << (K - k)) - 1);
    const __m512 wv = _mm512_maskz_loadu_ps(m, wrow + k);
    for (int i = 0; i < TILE; ++i)
      acc[i] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + size_t(i) * ldx + k), acc[i]);
  }
  for (int i = 0; i < TILE; ++i) out[size_t(i) * ldo] = hsum(acc[i]);
}

struct F32RowTile {
  template <int W>
  static void run(const float* wrow, int K, const float* x, int ldx, float* out, int ldo) {
    f32_row_tile<W>(wrow, K, x, ldx, out, ldo);
  }
};
using Float = FloatPaths<F32RowTile, kTile>;

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
      const int left = head_dim - i0 - 16 * j;
      m[j] = left >= 16 ? __mmask16(0xFFFF) : left > 0 ? __mmask16((1u << left) - 1) : __mmask16(0);
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
  auto tail = [&](int i) { return n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1); };
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
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
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
