// ARMv8.2 NEON + dot product kernels (Cortex-A76/A78: Raspberry Pi 5, Jetson
// Orin). SDOT sums four int8 products into each int32 lane, so a 32-element
// block is two instructions against the activations.
#include "neon_common.h"

namespace edge {
namespace {

void matmul_q8(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  neon_matmul<SdotProduct, false>(w, x, n0, n1, out, ldo);
}

void matmul_q4(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  neon_matmul<SdotProduct, true>(w, x, n0, n1, out, ldo);
}

constexpr KernelTable kTable = {
    "neon_dotprod", WeightLayout::Interleaved4, neon_quantize_acts, matmul_q8,     matmul_q4,
    NeonFloat::matmul_f32, NeonFloat::attn_scores,      neon_attn_values, neon_softmax, neon_swiglu,
};

}  // namespace

const KernelTable& neon_dotprod_kernels() { return kTable; }

}  // namespace edge
