// The token sequences in the KV cache: each is a length and the pages that hold
// its positions (position p lives in page p / kPagePositions, slot p %
// kPagePositions). A sequence opened from another shares the pages of their
// common prefix; a shared page is copied only when a sequence is about to write
// into it, so a prompt prefilled once serves any number of continuations.
#pragma once

#include <cstdint>
#include <vector>

#include "kv_cache.h"

namespace edge {

class SequenceTable {
 public:
  explicit SequenceTable(KVCache& cache) : cache_(cache) {}
  ~SequenceTable();
  SequenceTable(const SequenceTable&) = delete;
  SequenceTable& operator=(const SequenceTable&) = delete;

  // A new sequence: empty (from < 0), or the first `keep` positions of `from`.
  int open(int from, int keep);
  void close(int id);
  // Throws std::out_of_range unless `id` is an open sequence.
  void check(int id) const;
  int length(int id) const { return seqs_[size_t(id)].length; }
  const int32_t* pages(int id) const { return seqs_[size_t(id)].pages.data(); }
  int open_count() const;

  // Sequence `id` becomes the first `keep` positions of `from` (sharing their pages).
  void assign(int id, int from, int keep);
  // Forget positions from `length` on (length <= the current length).
  void truncate(int id, int length);
  // Make positions [length, length + count) of each sequence writable: pages
  // appended, shared ones copied. Throws std::length_error, changing nothing,
  // when the cache cannot supply the pages.
  void reserve(const int32_t* ids, const int32_t* counts, int n);
  // The sequence now holds `count` more positions (written after reserve).
  void extend(int id, int count) { seqs_[size_t(id)].length += count; }

 private:
  struct Sequence {
    bool open = false;
    int length = 0;
    std::vector<int32_t> pages;
  };
  KVCache& cache_;
  std::vector<Sequence> seqs_;
};

}  // namespace edge
