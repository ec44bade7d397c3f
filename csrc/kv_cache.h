// The key/value cache: pages of kPagePositions positions, each holding every
// layer's keys and values for those positions. A sequence is a list of pages
// (sequence_table.h), so sequences that share a prompt share its pages instead
// of copying them, and the pool grows page by page as sequences need it.
// Within a page the layout is [layer][kv_head][position][dim], so attention
// reads one head's positions contiguously. Storage is f32, f16 (half the
// memory), or q8: int8 codes with one f32 scale per block of 32 values of a
// head's row (about a quarter of f32's memory at head_dim 64), for batches of
// many sequences on small boards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace edge {

enum class CacheType : int { F32 = 0, F16 = 1, Q8 = 2 };

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
  size_t page_bytes() const { return 2 * rows_per_page_ * row_bytes_; }
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
  // returned pointer aliases the cache; otherwise the rows are converted into
  // scratch, which must hold (s1 - s0) * head_dim floats.
  const float* keys(int layer, int head, int page, int s0, int s1, float* scratch) const;
  const float* values(int layer, int head, int page, int s0, int s1, float* scratch) const;

 private:
  // The byte offset of a row (one head at one position) in a page's keys (or values).
  size_t offset(int layer, int head, int slot) const {
    return ((size_t(layer) * kv_heads_ + head) * kPagePositions + slot) * row_bytes_;
  }
  void write_row(char* dst, const float* src) const;
  const float* read(const char* base, int rows, float* scratch) const;
  char* keys_of(int page) const { return pages_[size_t(page)].get(); }
  char* values_of(int page) const { return keys_of(page) + rows_per_page_ * row_bytes_; }

  int layers_, kv_heads_, head_dim_, max_pages_;
  CacheType type_;
  size_t row_bytes_, rows_per_page_;
  std::vector<std::unique_ptr<char[]>> pages_;  // each: keys, then values
  std::vector<int> refs_;
  std::vector<int> free_;
};

}  // namespace edge
