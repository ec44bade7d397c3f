// Loop drivers and scratch storage shared by the SIMD kernel files. Each file
// includes this and instantiates the templates with its own tile functions,
// under its own instruction-set flags; the anonymous namespace keeps every
// instantiation private to its file, so no linker can hand one file's code to
// another.
#pragma once

#include <cstddef>

#include "formats.h"

namespace edge {
namespace {

// Storage that only grows, for the kernels' scratch (contents are not kept
// when it grows). Not std::vector: its out-of-line members would be weak
// symbols of a kernel file, built with that file's instruction-set flags, that
// the linker could hand to the rest of the binary (the test
// kernel_files_export_only_their_tables and boards/cross-test.sh check for it).
template <class T>
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { delete[] data_; }
  T* at_least(size_t n) {
    if (n > size_) {
      delete[] data_;
      data_ = new T[n];
      size_ = n;
    }
    return data_;
  }
  T* data() const { return data_; }
  T& operator[](size_t i) const { return data_[i]; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

// The float kernels every SIMD file derives from its one-row tile:
// RowTile::run<W>(row, K, x, ldx, out, ldo) computes out[i * ldo] = row . x_i
// for W tokens x_i (rows of x, stride ldx).
template <class RowTile, int TILE>
struct FloatPaths {
  // Rows [n0, n1) against all tokens: tiles of TILE tokens, then one at a time.
  static void matmul_f32(const WeightMatrix& w, const float* x, int ldx, int rows, int n0, int n1,
                         float* out, int ldo) {
    const float* wf = static_cast<const float*>(w.data);
    for (int n = n0; n < n1; ++n) {
      const float* wrow = wf + size_t(n) * w.cols;
      int t = 0;
      for (; t + TILE <= rows; t += TILE)
        RowTile::template run<TILE>(wrow, w.cols, x + size_t(t) * ldx, ldx, out + size_t(t) * ldo + n, ldo);
      for (; t < rows; ++t)
        RowTile::template run<1>(wrow, w.cols, x + size_t(t) * ldx, ldx, out + size_t(t) * ldo + n, ldo);
    }
  }

  // scores[p] = scale * (q . keys[p]): each cached key is a one-token "row".
  static void attn_scores(const float* q, const float* keys, int n, int head_dim, float scale,
                          float* scores) {
    for (int p = 0; p < n; ++p) {
      RowTile::template run<1>(keys + size_t(p) * head_dim, head_dim, q, 0, &scores[p], 0);
      scores[p] *= scale;
    }
  }
};

}  // namespace
}  // namespace edge
