#include "matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace edge {

MatrixProducts::MatrixProducts(const KernelTable& kernels, ThreadPool& pool, int max_rows,
                               int widest_cols)
    : kernels_(kernels), pool_(pool) {
  const size_t blocks = size_t(max_rows) * num_blocks(widest_cols);
  act_q_.assign(blocks * kBlock, 0);
  act_d_.assign(blocks, 0.0f);
  act_sum_.assign(blocks, 0);
}

void MatrixProducts::prepare(const KernelTable& kernels, WeightMatrix& w,
                             InterleavedWeights& store) {
  if (kernels.weight_layout != WeightLayout::Interleaved4 || w.format == WeightFormat::F32) return;
  store.interleave(w);
  w.data = nullptr;
  w.scales_f16 = nullptr;
  w.zero_points = nullptr;
}

// Quantizes x (`rows` rows of w.cols floats) into acts_ in the order w's kernel reads.
void MatrixProducts::quantize_input(const WeightMatrix& w, const float* x, int rows) {
  // Versions are unique in the process, so no kernel mistakes another
  // engine's buffers for these.
  static std::atomic<uint64_t> versions{0};
  acts_.rows = rows;
  acts_.cols = w.cols;
  acts_.order = w.format == WeightFormat::Q4 ? ActOrder::Nibble : ActOrder::Natural;
  acts_.q = act_q_.data();
  acts_.d = act_d_.data();
  acts_.sum = act_sum_.data();
  acts_.version = ++versions;
  if (rows < 4) {
    kernels_.quantize_acts(x, w.cols, 0, rows, &acts_);
  } else {
    parallel_ranges(pool_, rows, 1, [&](int, int t0, int t1) {
      kernels_.quantize_acts(x, w.cols, t0, t1, &acts_);
    });
  }
}

void MatrixProducts::operator()(std::initializer_list<Product> products, const float* x,
                                int rows) {
  // Row groups of 16 keep every worker's range a whole number of SIMD tiles.
  constexpr int kRowAlign = 16;
  constexpr int kF32TokenBlock = 32;
  const WeightMatrix& first = products.begin()->w;
  for (const Product& p : products) {
    // One quantized input serves all only if every matrix reads it alike.
    if (p.w.format != first.format) {
      for (const Product& one : products) (*this)({one}, x, rows);
      return;
    }
  }
  if (first.format != WeightFormat::F32) quantize_input(first, x, rows);
  const auto kernel = first.format == WeightFormat::Q4 ? kernels_.matmul_q4 : kernels_.matmul_q8;
  // The products' row groups laid end to end: a worker's range of groups may
  // span the end of one matrix and the start of the next.
  auto groups_of = [](const Product& p) { return (p.w.rows + kRowAlign - 1) / kRowAlign; };
  int groups = 0;
  for (const Product& p : products) groups += groups_of(p);
  // Decode (one token per sequence of a batch) streams the weights and is
  // bound by memory: one range per thread (measured on the Qwen2.5-0.5B bench
  // model at 2 threads: int4 decode 10-16% faster than 4 ranges per thread).
  // Prefill computes more per byte and gains from the finer balance of 4 (4%).
  const int per_thread = rows <= kExactBatchTokens ? 1 : 4;
  parallel_ranges(pool_, groups, 1, [&](int, int g0, int g1) {
    int start = 0;  // first group of the current product
    for (const Product& p : products) {
      const int n0 = std::max(g0 - start, 0) * kRowAlign;
      const int n1 = std::min((g1 - start) * kRowAlign, p.w.rows);
      if (n0 < n1) {
        if (p.w.format == WeightFormat::F32) {
          // Tokens in blocks that stay in L1 while every row of the range reads them.
          for (int t0 = 0; t0 < rows; t0 += kF32TokenBlock) {
            const int t1 = std::min(rows, t0 + kF32TokenBlock);
            kernels_.matmul_f32(p.w, x + size_t(t0) * p.w.cols, p.w.cols, t1 - t0, n0, n1,
                                p.out + size_t(t0) * p.ldo, p.ldo);
          }
        } else
          kernel(p.w, acts_, n0, n1, p.out, p.ldo);
      }
      start += groups_of(p);
    }
  }, per_thread);
}

}  // namespace edge
