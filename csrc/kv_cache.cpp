#include "kv_cache.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/half.h"

namespace edge {

KVCache::KVCache(int layers, int kv_heads, int head_dim, int initial_pages, int max_pages,
                 CacheType type)
    : layers_(layers),
      kv_heads_(kv_heads),
      head_dim_(head_dim),
      max_pages_(max_pages),
      type_(type),
      page_elems_(size_t(layers) * kv_heads * kPagePositions * head_dim) {
  for (int i = 0; i < initial_pages; ++i) {
    pages_.emplace_back(new char[page_bytes()]());
    refs_.push_back(0);
    free_.push_back(initial_pages - 1 - i);  // taken lowest first
  }
}

int KVCache::available() const {
  if (max_pages_ <= 0) return INT32_MAX;
  return int(free_.size()) + max_pages_ - int(pages_.size());
}

int KVCache::take() {
  if (!free_.empty()) {
    const int page = free_.back();
    free_.pop_back();
    refs_[size_t(page)] = 1;
    return page;
  }
  if (max_pages_ > 0 && int(pages_.size()) >= max_pages_)
    throw std::length_error("the KV cache is full: all " + std::to_string(max_pages_) +
                            " pages of " + std::to_string(kPagePositions) +
                            " positions are in use");
  // Value-initialised: a position is never read before it is written, but a
  // page's bytes then never depend on what the allocator handed out.
  pages_.emplace_back(new char[page_bytes()]());
  refs_.push_back(1);
  return int(pages_.size()) - 1;
}

void KVCache::release(int page) {
  if (--refs_[size_t(page)] == 0) free_.push_back(page);
}

int KVCache::copy(int page, int positions) {
  const int out = take();
  const size_t elem = type_ == CacheType::F32 ? 4 : 2;
  for (void* (KVCache::*part)(int) const : {&KVCache::keys_of, &KVCache::values_of})
    for (int l = 0; l < layers_; ++l)
      for (int h = 0; h < kv_heads_; ++h)
        std::memcpy(static_cast<char*>((this->*part)(out)) + offset(l, h, 0) * elem,
                    static_cast<const char*>((this->*part)(page)) + offset(l, h, 0) * elem,
                    size_t(positions) * head_dim_ * elem);
  return out;
}

void KVCache::store(int layer, int head, int page, int slot, const float* key,
                    const float* value) {
  const size_t off = offset(layer, head, slot);
  if (type_ == CacheType::F32) {
    std::memcpy(static_cast<float*>(keys_of(page)) + off, key, head_dim_ * sizeof(float));
    std::memcpy(static_cast<float*>(values_of(page)) + off, value, head_dim_ * sizeof(float));
    return;
  }
  uint16_t* k = static_cast<uint16_t*>(keys_of(page)) + off;
  uint16_t* v = static_cast<uint16_t*>(values_of(page)) + off;
  for (int i = 0; i < head_dim_; ++i) {
    k[i] = float_to_half(key[i]);
    v[i] = float_to_half(value[i]);
  }
}

const float* KVCache::read(const void* base, size_t off, size_t count, float* scratch) const {
  if (type_ == CacheType::F32) return static_cast<const float*>(base) + off;
  const uint16_t* src = static_cast<const uint16_t*>(base) + off;
  for (size_t i = 0; i < count; ++i) scratch[i] = half_to_float(src[i]);
  return scratch;
}

const float* KVCache::keys(int layer, int head, int page, int s0, int s1, float* scratch) const {
  return read(keys_of(page), offset(layer, head, s0), size_t(s1 - s0) * head_dim_, scratch);
}

const float* KVCache::values(int layer, int head, int page, int s0, int s1,
                             float* scratch) const {
  return read(values_of(page), offset(layer, head, s0), size_t(s1 - s0) * head_dim_, scratch);
}

}  // namespace edge
