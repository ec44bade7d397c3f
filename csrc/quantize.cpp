#include "quantize.h"

#include <cmath>

#include "kernels/formats.h"

namespace edge {

void quantize_rows_q8(const float* w, int rows, int cols, uint8_t* data, uint16_t* scales) {
  const int nb = num_blocks(cols);
  for (int n = 0; n < rows; ++n) {
    const float* row = w + size_t(n) * cols;
    for (int b = 0; b < nb; ++b) {
      const int k0 = b * kBlock, len = cols - k0 < kBlock ? cols - k0 : kBlock;
      float amax = 0.0f;
      for (int j = 0; j < len; ++j) amax = std::fabs(row[k0 + j]) > amax ? std::fabs(row[k0 + j]) : amax;
      // Codes against the fp16 scale the kernels apply (not amax / 127): its
      // rounding moves the grid by up to 2^-11 of a value, enough to flip the
      // code of a value near a rounding boundary. export/quantize.py repeats
      // these float operations one for one.
      const uint16_t h = float_to_half(amax / 127.0f);
      const float d = half_to_float(h), inv = d > 0.0f ? 1.0f / d : 0.0f;
      uint8_t* q = data + (size_t(n) * nb + b) * kBlock;
      for (int j = 0; j < kBlock; ++j) {
        const int v = j < len ? int(std::lrint(row[k0 + j] * inv)) : 0;
        q[j] = uint8_t(128 + (v > 127 ? 127 : v < -127 ? -127 : v));
      }
      scales[size_t(n) * nb + b] = h;
    }
  }
}

void quantize_rows_q4(const float* w, int rows, int cols, uint8_t* data, uint16_t* scales) {
  const int nb = num_blocks(cols);
  for (int n = 0; n < rows; ++n) {
    const float* row = w + size_t(n) * cols;
    for (int b = 0; b < nb; ++b) {
      const int k0 = b * kBlock, len = cols - k0 < kBlock ? cols - k0 : kBlock;
      float extreme = 0.0f;  // signed value of largest magnitude
      for (int j = 0; j < len; ++j)
        if (std::fabs(row[k0 + j]) > std::fabs(extreme)) extreme = row[k0 + j];
      const uint16_t h = float_to_half(extreme / -8.0f);
      const float d = half_to_float(h), inv = d != 0.0f ? 1.0f / d : 0.0f;
      uint8_t* q = data + (size_t(n) * nb + b) * (kBlock / 2);
      for (int j = 0; j < kBlock; j += 2) {
        auto code = [&](int i) {
          const int v = i < len ? int(std::lrint(row[k0 + i] * inv)) + 8 : 8;
          return uint8_t(v < 0 ? 0 : v > 15 ? 15 : v);
        };
        q[j / 2] = uint8_t(code(j) | (code(j + 1) << 4));
      }
      scales[size_t(n) * nb + b] = h;
    }
  }
}

}  // namespace edge
