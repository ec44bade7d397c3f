#include "kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/formats.h"
#include "kernels/half.h"

namespace edge {

KVCache::KVCache(int layers, int kv_heads, int head_dim, int initial_pages, int max_pages,
                 CacheType type)
    : layers_(layers),
      kv_heads_(kv_heads),
      head_dim_(head_dim),
      max_pages_(max_pages),
      type_(type),
      row_bytes_(type == CacheType::F32   ? size_t(head_dim) * 4
                 : type == CacheType::F16 ? size_t(head_dim) * 2
                                          : size_t(head_dim) + size_t(num_blocks(head_dim)) * 4),
      rows_per_page_(size_t(layers) * kv_heads * kPagePositions) {
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
  for (char* (KVCache::*part)(int) const : {&KVCache::keys_of, &KVCache::values_of})
    for (int l = 0; l < layers_; ++l)
      for (int h = 0; h < kv_heads_; ++h)
        std::memcpy((this->*part)(out) + offset(l, h, 0), (this->*part)(page) + offset(l, h, 0),
                    size_t(positions) * row_bytes_);
  return out;
}

// One head's row in the cache's format: as is, as fp16, or as int8 codes
// followed by a scale per block of 32 (amax / 127, rounded to nearest even).
void KVCache::write_row(char* dst, const float* src) const {
  if (type_ == CacheType::F32) {
    std::memcpy(dst, src, size_t(head_dim_) * sizeof(float));
  } else if (type_ == CacheType::F16) {
    uint16_t* out = reinterpret_cast<uint16_t*>(dst);
    for (int i = 0; i < head_dim_; ++i) out[i] = float_to_half(src[i]);
  } else {
    int8_t* codes = reinterpret_cast<int8_t*>(dst);
    char* scales = dst + head_dim_;
    for (int b = 0; b * kBlock < head_dim_; ++b) {
      const int k0 = b * kBlock, k1 = std::min(head_dim_, k0 + kBlock);
      float amax = 0.0f;
      for (int i = k0; i < k1; ++i) amax = std::fmax(amax, std::fabs(src[i]));
      const float scale = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      for (int i = k0; i < k1; ++i) codes[i] = int8_t(std::lrint(src[i] * inv));
      std::memcpy(scales + size_t(b) * sizeof(float), &scale, sizeof(float));
    }
  }
}

void KVCache::store(int layer, int head, int page, int slot, const float* key,
                    const float* value) {
  const size_t off = offset(layer, head, slot);
  write_row(keys_of(page) + off, key);
  write_row(values_of(page) + off, value);
}

const float* KVCache::read(const char* base, int rows, float* scratch) const {
  if (type_ == CacheType::F32) return reinterpret_cast<const float*>(base);
  for (int r = 0; r < rows; ++r) {
    const char* row = base + size_t(r) * row_bytes_;
    float* out = scratch + size_t(r) * head_dim_;
    if (type_ == CacheType::F16) {
      const uint16_t* src = reinterpret_cast<const uint16_t*>(row);
      for (int i = 0; i < head_dim_; ++i) out[i] = half_to_float(src[i]);
      continue;
    }
    const int8_t* codes = reinterpret_cast<const int8_t*>(row);
    for (int b = 0; b * kBlock < head_dim_; ++b) {
      float scale;
      std::memcpy(&scale, row + head_dim_ + size_t(b) * sizeof(float), sizeof(float));
      const int k0 = b * kBlock, k1 = std::min(head_dim_, k0 + kBlock);
      for (int i = k0; i < k1; ++i) out[i] = float(codes[i]) * scale;
    }
  }
  return scratch;
}

const float* KVCache::keys(int layer, int head, int page, int s0, int s1, float* scratch) const {
  return read(keys_of(page) + offset(layer, head, s0), s1 - s0, scratch);
}

const float* KVCache::values(int layer, int head, int page, int s0, int s1,
                             float* scratch) const {
  return read(values_of(page) + offset(layer, head, s0), s1 - s0, scratch);
}

}  // namespace edge
