// Loop drivers shared by the SIMD kernel files. Each file includes this and
// instantiates the templates with its own tile functions, under its own
// instruction-set flags; the anonymous namespace keeps every instantiation
// private to its file, so no linker can hand one file's code to another.
#pragma once

#include <cstddef>
#include <type_traits>

#include "formats.h"

namespace edge {
namespace {

// Float matrix product over rows [n0, n1): each weight row meets the tokens
// in tiles of TILE (then one at a time for the rest). tile(width, row,
// tokens, out) computes `width` tokens of one row; width is an
// std::integral_constant so the tile function is unrolled for it.
template <int TILE, class Tile>
inline void f32_rows_by_token_tiles(const WeightMatrix& w, const float* x, int ldx, int rows,
                                    int n0, int n1, float* out, int ldo, Tile tile) {
  const float* wf = static_cast<const float*>(w.data);
  for (int n = n0; n < n1; ++n) {
    const float* wrow = wf + size_t(n) * w.cols;
    int t = 0;
    for (; t + TILE <= rows; t += TILE)
      tile(std::integral_constant<int, TILE>{}, wrow, x + size_t(t) * ldx, out + size_t(t) * ldo + n);
    for (; t < rows; ++t)
      tile(std::integral_constant<int, 1>{}, wrow, x + size_t(t) * ldx, out + size_t(t) * ldo + n);
  }
}

// scores[p] = scale * dot(q, keys[p]) with the file's own (inlined) dot.
template <class Dot>
inline void attn_scores_with(const float* q, const float* keys, int n, int head_dim, float scale,
                             float* scores, Dot dot) {
  for (int p = 0; p < n; ++p) scores[p] = dot(q, keys + size_t(p) * head_dim, head_dim) * scale;
}

}  // namespace
}  // namespace edge
