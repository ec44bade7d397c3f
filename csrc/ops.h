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
// out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias, the variance the
// population's (PyTorch's LayerNorm). out may be x.
void layernorm(float* out, const float* x, const float* weight, const float* bias, int n,
               float eps);
// x = gelu(x + bias) in place, with the exact GELU, x * (1 + erf(x / sqrt(2))) / 2
// (PyTorch's default, BERT's hidden_act "gelu"), erf within 5e-7.
void bias_gelu(float* x, const float* bias, int n);

}  // namespace edge
