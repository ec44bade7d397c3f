#include "ops.h"

#include <cmath>

namespace edge {

void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  double ss = 0.0;
  for (int i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  const float inv = 1.0f / std::sqrt(float(ss / n) + eps);
  for (int i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv);
}

void rope(float* x, const float* cos, const float* sin, int n) {
  const int half = n / 2;
  for (int i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i] + a * sin[i];
  }
}

void gelu_tanh_gate(float* gate, const float* up, int n) {
  const float sqrt_2_over_pi = 0.7978845608028654f;
  for (int i = 0; i < n; ++i) {
    const float x = gate[i];
    const float gelu = 0.5f * x * (1.0f + std::tanh(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
    gate[i] = gelu * up[i];
  }
}

}  // namespace edge
