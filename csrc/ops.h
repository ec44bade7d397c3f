// Element-wise and per-row operations of the forward pass. They are a small
// share of the time next to the matrix products, so they are plain C++.
#pragma once

namespace edge {

// out = x / sqrt(mean(x^2) + eps) * weight
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps);
// Rotary embedding in the "rotate half" convention of Hugging Face Llama:
// element i pairs with element i + n/2, both turned by the angle of frequency i.
void rope(float* x, const float* cos, const float* sin, int n);
// gate = gelu(gate) * up with GELU's tanh approximation (PyTorch's
// approximate="tanh"), the gated MLP of Gemma.
void gelu_tanh_gate(float* gate, const float* up, int n);

}  // namespace edge
