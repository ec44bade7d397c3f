// The helpers the x86 kernel files share, as inline functions.
//
// avx2.cpp and avx512_vnni.cpp each include this header and compile it with
// their own instruction-set flags. Everything here lives in an anonymous
// namespace, so each file gets a private copy: the linker can never hand the
// AVX-512 build of a helper to the AVX2 table, which would fault on a CPU
// without AVX-512. The helpers for zmm registers appear only where the file's
// flags allow them (__AVX512F__).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "exp_approx.h"
#include "kernels.h"
#include "tiling.h"

namespace edge {
namespace {

constexpr int kTile = 4;  // tokens per pass over a weight row in prefill
constexpr size_t kPrefetchBytes = 8192;  // how far ahead decode prefetches weights

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// Mask for _mm256_maskload_ps: lanes [0, count) on.
inline __m256i lanes(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// One Q4 block (16 bytes) as one code per byte in a ymm, in the nibble order
// of the activations: [low nibbles, high nibbles].
inline __m256i unpack_q4_block(const uint8_t* w) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), mask), _mm_and_si128(v, mask));
}

#if defined(__AVX512F__)
inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

// Lanes [0, count) of 16 on; count may be negative or above 16.
inline __mmask16 lanes16(int count) {
  return count >= 16 ? __mmask16(0xFFFF) : count > 0 ? __mmask16((1u << count) - 1) : __mmask16(0);
}
#endif

// A register of floats, for the float paths below: AVX2's ymm, AVX-512's zmm.
struct Ymm {
  using V = __m256;
  using Mask = __m256i;
  static constexpr int kWidth = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static Mask first(int count) { return lanes(count); }
  static V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
};

#if defined(__AVX512F__)
struct Zmm {
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int kWidth = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static Mask first(int count) { return lanes16(count); }
  static V load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
};
#endif

// out[i * ldo] = wrow . x_i for TILE tokens x_i (rows of x, stride ldx), a
// register of Reg at a time: the one-row tile of FloatPaths (tiling.h).
template <class Reg>
struct F32RowTile {
  template <int TILE>
  static void run(const float* wrow, int K, const float* x, int ldx, float* out, int ldo) {
    typename Reg::V acc[TILE];
    for (int i = 0; i < TILE; ++i) acc[i] = Reg::zero();
    int k = 0;
    for (; k + Reg::kWidth <= K; k += Reg::kWidth) {
      const typename Reg::V wv = Reg::load(wrow + k);
      for (int i = 0; i < TILE; ++i) acc[i] = Reg::fmadd(wv, Reg::load(x + size_t(i) * ldx + k), acc[i]);
    }
    if (k < K) {
      const typename Reg::Mask m = Reg::first(K - k);
      const typename Reg::V wv = Reg::load(wrow + k, m);
      for (int i = 0; i < TILE; ++i) acc[i] = Reg::fmadd(wv, Reg::load(x + size_t(i) * ldx + k, m), acc[i]);
    }
    for (int i = 0; i < TILE; ++i) out[size_t(i) * ldo] = hsum(acc[i]);
  }
};

// Whether buffers last prepared from activations of version `prepared` hold
// x's already (then they are kept); otherwise records x's version. Version 0
// is never kept: it marks activations nobody numbered.
inline bool holds(uint64_t& prepared, const ActBlocks& x) {
  if (x.version != 0 && x.version == prepared) return true;
  prepared = x.version;
  return false;
}

}  // namespace
}  // namespace edge
