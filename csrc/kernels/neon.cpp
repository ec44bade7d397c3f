// Plain ARMv8-A NEON kernels (Cortex-A53/A57/A72: Raspberry Pi 3/4, Pi Zero 2 W,
// Jetson Nano). Without a dot-product instruction, int8 products are widened
// to int16 with SMULL/SMLAL and pairwise-accumulated into int32 with SADALP.
#include "neon_common.h"

namespace edge {
namespace {

void matmul_q8(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  neon_matmul<WideningProduct, false>(w, x, n0, n1, out, ldo);
}

void matmul_q4(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  neon_matmul<WideningProduct, true>(w, x, n0, n1, out, ldo);
}

constexpr KernelTable kTable = {
    "neon", WeightLayout::Interleaved4, neon_quantize_acts, matmul_q8, matmul_q4, NeonFloat::matmul_f32, NeonFloat::attn_scores, neon_attn_values, neon_softmax, neon_swiglu,
};

}  // namespace

const KernelTable& neon_kernels() { return kTable; }

}  // namespace edge
