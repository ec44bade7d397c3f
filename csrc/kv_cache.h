// The key/value cache: pages of kPagePositions positions, each holding every
// layer's keys and values for those positions. A sequence is a list of pages
// (sequence_table.h), so sequences that share a prompt share its pages instead
// of copying them, and the pool grows page by page as sequences need it.
// Within a page the layout is [layer][kv_head][position][dim], so attention
// reads one head's positions contiguously. Storage is f32, or f16 to halve its
// memory on small boards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace edge {

enum class CacheType : int { F32 = 0, F16 = 1 };

// Positions per page: attention makes one call per page and head, and a
// sequence forked mid-page copies at most this many positions.
constexpr int kPagePositions = 32;

class KVCache {
 public:
  // Allocates `initial_pages` pages up front; never holds more than
  // `max_pages` (0: no bound).
  KVCache(int layers, int kv_heads, int head_dim, int initial_pages, int max_pages,
          CacheType type);

  CacheType type() const { return type_; }
  size_t page_bytes() const { return page_elems_ * 2 * (type_ == CacheType::F32 ? 4 : 2); }
  size_t bytes() const { return page_bytes() * pages_.size(); }
  // Pages a caller could take now: free ones plus those the bound lets it allocate.
  int available() const;

  // A page for one user (its reference count 1), reusing a free one before
  // allocating. Throws std::length_error when the bound is reached.
  int take();
  void retain(int page) { ++refs_[size_t(page)]; }
  void release(int page);
  bool shared(int page) const { return refs_[size_t(page)] > 1; }
  // A new page holding the first `positions` positions of `page`.
  int copy(int page, int positions);

  // Store one position's key and value for a head.
  void store(int layer, int head, int page, int slot, const float* key, const float* value);
  // Read slots [s0, s1) of a page for a head as f32. With an f32 cache the
  // returned pointer aliases the cache; with f16 the rows are converted into
  // scratch, which must hold (s1 - s0) * head_dim floats.
  const float* keys(int layer, int head, int page, int s0, int s1, float* scratch) const;
  const float* values(int layer, int head, int page, int s0, int s1, float* scratch) const;

 private:
  // Elements of one page's keys (its values take as many).
  size_t offset(int layer, int head, int slot) const {
    return ((size_t(layer) * kv_heads_ + head) * kPagePositions + slot) * head_dim_;
  }
  const float* read(const void* base, size_t off, size_t count, float* scratch) const;
  void* keys_of(int page) const { return pages_[size_t(page)].get(); }
  void* values_of(int page) const {
    return static_cast<char*>(keys_of(page)) + page_bytes() / 2;
  }

  int layers_, kv_heads_, head_dim_, max_pages_;
  CacheType type_;
  size_t page_elems_;
  std::vector<std::unique_ptr<char[]>> pages_;  // each: keys, then values
  std::vector<int> refs_;
  std::vector<int> free_;
};

}  // namespace edge
