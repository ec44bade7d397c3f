#include "kv_cache.h"

#include <cstring>

namespace edge {

KVCache::KVCache(int layers, int kv_heads, int head_dim, int capacity, CacheType type)
    : layers_(layers), kv_heads_(kv_heads), head_dim_(head_dim), capacity_(capacity), type_(type) {
  const size_t n = size_t(layers) * kv_heads * capacity * head_dim;
  if (type == CacheType::F32) {
    k32_.assign(n, 0.0f);
    v32_.assign(n, 0.0f);
  } else {
    k16_.assign(n, 0);
    v16_.assign(n, 0);
  }
}

size_t KVCache::bytes() const {
  return (k32_.size() + v32_.size()) * sizeof(float) + (k16_.size() + v16_.size()) * 2;
}

void KVCache::store(int layer, int head, int pos, const float* key, const float* value) {
  const size_t off = offset(layer, head, pos);
  if (type_ == CacheType::F32) {
    std::memcpy(&k32_[off], key, head_dim_ * sizeof(float));
    std::memcpy(&v32_[off], value, head_dim_ * sizeof(float));
    return;
  }
  for (int i = 0; i < head_dim_; ++i) {
    k16_[off + i] = float_to_half(key[i]);
    v16_[off + i] = float_to_half(value[i]);
  }
}

const float* KVCache::read(const std::vector<float>& f32, const std::vector<uint16_t>& f16,
                           size_t off, size_t count, float* scratch) const {
  if (type_ == CacheType::F32) return f32.data() + off;
  for (size_t i = 0; i < count; ++i) scratch[i] = half_to_float(f16[off + i]);
  return scratch;
}

const float* KVCache::keys(int layer, int head, int p0, int p1, float* scratch) const {
  return read(k32_, k16_, offset(layer, head, p0), size_t(p1 - p0) * head_dim_, scratch);
}

const float* KVCache::values(int layer, int head, int p0, int p1, float* scratch) const {
  return read(v32_, v16_, offset(layer, head, p0), size_t(p1 - p0) * head_dim_, scratch);
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const int32_t exp = int32_t((x >> 23) & 0xFF) - 127 + 15;
  uint32_t mant = x & 0x7FFFFF;
  if (((x >> 23) & 0xFF) == 0xFF) return uint16_t(sign | 0x7C00 | (mant ? 0x200 : 0));  // inf/nan
  if (exp >= 31) return uint16_t(sign | 0x7C00);                                          // overflow
  if (exp <= 0) {                                                                         // subnormal
    if (exp < -10) return uint16_t(sign);
    mant |= 0x800000;
    const int shift = 14 - exp;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return uint16_t(sign | h);
  }
  uint32_t h = (uint32_t(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // may carry into the exponent: correct
  return uint16_t(sign | h);
}

float half_to_float(uint16_t h) {
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

}  // namespace edge
