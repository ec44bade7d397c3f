// The matrix products of a forward pass, shared by the decoder (model.h) and
// the encoder (encoder.h): rows of float activations times weight matrices on
// the thread pool, through the kernel table. A quantized matrix reads the
// activations quantized once per call (int8 blocks, in the order its kernel
// wants); an f32 matrix reads the floats.
#pragma once

#include <initializer_list>
#include <vector>

#include "kernels/interleave.h"
#include "kernels/kernels.h"
#include "thread_pool.h"

namespace edge {

class MatrixProducts {
 public:
  // Room for `max_rows` rows of activations up to `widest_cols` floats wide,
  // allocated here: a product allocates nothing.
  MatrixProducts(const KernelTable& kernels, ThreadPool& pool, int max_rows, int widest_cols);

  // One weight matrix of a product and where its outputs go.
  struct Product {
    const WeightMatrix& w;
    float* out;
    int ldo;
  };
  // out[t * ldo + n] = W x_t for `rows` rows of x (row stride W.cols), for
  // every product (they share the input x: q, k and v do; so do gate and up).
  // The products are one job for the pool: each job costs a round of
  // hand-offs between the threads, which a decode step pays a few hundred
  // times. rows <= max_rows and every W.cols <= widest_cols.
  void operator()(std::initializer_list<Product> products, const float* x, int rows);

  // For kernel tables that read interleaved records (aarch64), copies a
  // quantized w into `store` and points w at the copy, dropping its row-major
  // pointers (nothing reads them again, and the caller may free them). F32
  // matrices and row-major tables leave w as it is.
  static void prepare(const KernelTable& kernels, WeightMatrix& w, InterleavedWeights& store);

 private:
  void quantize_input(const WeightMatrix& w, const float* x, int rows);

  const KernelTable& kernels_;
  ThreadPool& pool_;
  std::vector<int8_t> act_q_;
  std::vector<float> act_d_;
  std::vector<int32_t> act_sum_;
  ActBlocks acts_;  // the last quantized input, viewing the three buffers above
};

}  // namespace edge
