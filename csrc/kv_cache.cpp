#include "kv_cache.h"

#include <cstring>

#include "kernels/half.h"

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

}  // namespace edge
