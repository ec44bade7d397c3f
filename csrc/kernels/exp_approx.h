// exp(x) in float without a library call, in the form every kernel file
// repeats with its own vector instructions (same operations in the same
// order, so the results agree bit for bit):
// x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for accuracy), e^r from a
// degree-6 Taylor polynomial (error below 2.5e-7 relative on that range), then
// 2^n put into the exponent bits. Inputs are clamped to where e^x is a finite
// normal float.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace edge {

constexpr float kExpMin = -87.0f, kExpMax = 88.0f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: x + m - m rounds x to an integer
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kExpPoly[7] = {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f,
                               0.5f,          1.0f,          1.0f};

inline float exp_approx(float x) {
  x = std::fmin(std::fmax(x, kExpMin), kExpMax);
  const float n = (x * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (x - n * kLn2Hi) - n * kLn2Lo;
  float p = kExpPoly[0];
  for (int i = 1; i < 7; ++i) p = p * r + kExpPoly[i];
  const int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// The SwiGLU activation of one element: silu(g) * u.
inline float swiglu_one(float g, float u) { return g / (1.0f + exp_approx(-g)) * u; }

}  // namespace edge
