#include "ops.h"

#include <algorithm>
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

void layernorm(float* out, const float* x, const float* weight, const float* bias, int n,
               float eps) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += x[i];
  const float mean = float(sum / n);
  double ss = 0.0;
  for (int i = 0; i < n; ++i) ss += double(x[i] - mean) * (x[i] - mean);
  const float inv = 1.0f / std::sqrt(float(ss / n) + eps);
  for (int i = 0; i < n; ++i) out[i] = (x[i] - mean) * inv * weight[i] + bias[i];
}

// erf(x) as a rational function of x (odd over even polynomials), on x clamped to
// [-4, 4], beyond which erf is +-1 in float: within 5e-7 of the true erf, and with
// no branch or libm call, so that the loop below vectorizes (std::erf took a quarter
// of an encoder's time). The coefficients are XLA's and Eigen's for float.
static inline float erf_rational(float x) {
  x = x < 4.0f ? x : 4.0f;
  x = x > -4.0f ? x : -4.0f;
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return x * p / q;
}

void bias_gelu(float* x, const float* bias, int n) {
  const float inv_sqrt2 = 0.7071067811865476f;
  for (int i = 0; i < n; ++i) {
    const float v = x[i] + bias[i];
    x[i] = 0.5f * v * (1.0f + erf_rational(v * inv_sqrt2));
  }
}

}  // namespace edge
