// The key/value cache: every layer's keys and values for positions
// [0, capacity), allocated once at load. Layout [layer][kv_head][pos][dim] keeps
// one head's history contiguous, which is the order attention reads it in.
// Storage is f32, or f16 to halve its memory on small boards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edge {

enum class CacheType : int { F32 = 0, F16 = 1 };

class KVCache {
 public:
  KVCache(int layers, int kv_heads, int head_dim, int capacity, CacheType type);

  int capacity() const { return capacity_; }
  CacheType type() const { return type_; }
  size_t bytes() const;

  // Store one position's key and value for a head.
  void store(int layer, int head, int pos, const float* key, const float* value);
  // Read positions [p0, p1) of a head as f32. With an f32 cache the returned
  // pointer aliases the cache; with f16 the rows are converted into scratch,
  // which must hold (p1 - p0) * head_dim floats.
  const float* keys(int layer, int head, int p0, int p1, float* scratch) const;
  const float* values(int layer, int head, int p0, int p1, float* scratch) const;

 private:
  size_t offset(int layer, int head, int pos) const {
    return ((size_t(layer) * kv_heads_ + head) * capacity_ + pos) * head_dim_;
  }
  const float* read(const std::vector<float>& f32, const std::vector<uint16_t>& f16, size_t off,
                    size_t count, float* scratch) const;

  int layers_, kv_heads_, head_dim_, capacity_;
  CacheType type_;
  std::vector<float> k32_, v32_;
  std::vector<uint16_t> k16_, v16_;
};

}  // namespace edge
