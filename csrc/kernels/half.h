// IEEE binary16 ("half", fp16) <-> float32 by bit manipulation: the same
// results on every compiler and board, with no need for _Float16 or a
// conversion instruction. The SIMD kernels convert with their instructions
// (F16C, FCVT) instead, which give exactly the floats half_to_float gives.
#pragma once

#include <cstdint>
#include <cstring>

namespace edge {

// Round to nearest, ties to even. Subnormal halves are produced; a float of
// magnitude 65520 or more (beyond the largest half, 65504, by half an ulp or
// more) becomes infinity, as IEEE rounding says: see half_is_finite. The
// common case, a normal half, is three integer operations: the engine
// converts every block scale of a model at load.
inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  x &= 0x7FFFFFFF;
  if (x >= 0x47800000u) return uint16_t(sign | (x > 0x7F800000u ? 0x7E00 : 0x7C00));  // >= 2^16, nan
  if (x < 0x38800000u) {  // below 2^-14: a subnormal half or zero
    const uint32_t exp = x >> 23;
    if (exp < 102) return uint16_t(sign);  // below 2^-25: rounds to zero
    const uint32_t mant = (x & 0x7FFFFF) | 0x800000, shift = 126 - exp;
    const uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    return uint16_t(sign | (h + (rem > half || (rem == half && (h & 1)))));
  }
  // Rebias the exponent from 127 to 15 and round away the 13 low mantissa
  // bits, ties to even; a carry out of the mantissa moves the exponent up, to
  // infinity from 65520 on.
  x += 0xC8000FFFu + ((x >> 13) & 1);
  return uint16_t(sign | (x >> 13));
}

// Exact: every half, subnormals included, is a float.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      x = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7F800000 | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// False for infinity and NaN (all exponent bits set).
inline bool half_is_finite(uint16_t h) { return (h & 0x7C00) != 0x7C00; }

}  // namespace edge
