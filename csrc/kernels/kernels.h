// The kernel table: every hot loop of the engine, one implementation per
// instruction set. scalar.cpp is the reference; each SIMD file must give the
// same integers bit for bit and the same floats within rounding.
#pragma once

#include <string>
#include <vector>

#include "formats.h"

namespace edge {

// The most token rows a quantized or float product computes each exactly as
// a call with that row alone (see KernelTable): batched decode and the check
// of a speculative draft stay within it to give one-at-a-time decoding's tokens.
constexpr int kExactBatchTokens = 16;

struct KernelTable {
  const char* name;
  // What matmul_q8/q4 read: the row-major codes, or w.interleaved (which the
  // model makes at load for such a table, see interleave.h).
  WeightLayout weight_layout;

  // Quantize rows [t0, t1) of x (row stride ldx floats) into out, in out's
  // order. out->rows / cols / order and its storage are set by the caller.
  void (*quantize_acts)(const float* x, int ldx, int t0, int t1, ActBlocks* out);

  // out[t * ldo + n] = sum_k W[n, k] * x[t, k]  for every row t of x and
  // n0 <= n < n1. With one row of x this is the decode matrix-vector product;
  // with many it is the prefill matrix-matrix product (implementations tile
  // over tokens so each weight block is read once per tile). For up to
  // kExactBatchTokens rows, row t's outputs are bit for bit those of a call
  // with row t alone; past that only within rounding.
  void (*matmul_q8)(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out,
                    int ldo);
  void (*matmul_q4)(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out,
                    int ldo);
  void (*matmul_f32)(const WeightMatrix& w, const float* x, int ldx, int rows, int n0, int n1,
                     float* out, int ldo);

  // Attention over n cached positions of one head (keys and values are
  // [n][head_dim] rows): scores[p] = scale * (q . keys[p]), then
  // out = sum_p weights[p] * values[p] (out overwritten).
  void (*attn_scores)(const float* q, const float* keys, int n, int head_dim, float scale,
                      float* scores);
  void (*attn_values)(const float* weights, const float* values, int n, int head_dim, float* out);
  // The attention weights from the scores, in place: x[p] = exp(x[p] - max) / sum, with
  // exp as in exp_approx.h (so the exponentials agree bit for bit; only the order of
  // the sum differs between variants). n >= 1: a position always attends to itself.
  void (*softmax)(float* x, int n);

  // The feed-forward activation, in place: gate[i] = silu(gate[i]) * up[i],
  // with exp as in exp_approx.h.
  void (*swiglu)(float* gate, const float* up, int n);
};

// The tables compiled into this binary, one per variant of isa_table.def for
// the target architecture, each defined in its own file that is built with
// its own instruction-set flags.
#if defined(__x86_64__) || defined(_M_X64)
#define EDGE_ON_X86_64(...) __VA_ARGS__
#else
#define EDGE_ON_X86_64(...)
#endif
#if defined(__aarch64__)
#define EDGE_ON_AARCH64(...) __VA_ARGS__
#else
#define EDGE_ON_AARCH64(...)
#endif
#define EDGE_ON_ANY(...) __VA_ARGS__
#define EDGE_CPU_FEATURE(name, arch)
#define EDGE_KERNEL_VARIANT(name, arch, needs, flags) EDGE_ON_##arch(const KernelTable& name##_kernels();)
#include "isa_table.def"
#undef EDGE_CPU_FEATURE
#undef EDGE_KERNEL_VARIANT

// Variants compiled in, best first, each with whether this CPU can run it.
struct KernelVariant {
  const KernelTable* table;
  bool supported;
};
std::vector<KernelVariant> kernel_variants();

// The table to run: EDGE_REASON_KERNEL=<name> if set (throws
// std::runtime_error when unknown or unsupported by this CPU), otherwise the
// best variant this CPU supports.
const KernelTable& select_kernels();
const KernelTable& kernels_by_name(const std::string& name);

}  // namespace edge
