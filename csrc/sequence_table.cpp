#include "sequence_table.h"

#include <stdexcept>
#include <string>

namespace edge {

SequenceTable::~SequenceTable() {
  for (Sequence& s : seqs_)
    for (int32_t page : s.pages) cache_.release(page);
}

void SequenceTable::check(int id) const {
  if (id < 0 || size_t(id) >= seqs_.size() || !seqs_[size_t(id)].open)
    throw std::out_of_range("no open sequence " + std::to_string(id));
}

int SequenceTable::open_count() const {
  int n = 0;
  for (const Sequence& s : seqs_) n += s.open;
  return n;
}

int SequenceTable::open(int from, int keep) {
  if (from >= 0) check(from);
  size_t id = 0;
  while (id < seqs_.size() && seqs_[id].open) ++id;
  if (id == seqs_.size()) seqs_.emplace_back();
  seqs_[id].open = true;
  if (from >= 0) {
    try {
      assign(int(id), from, keep);
    } catch (...) {
      seqs_[id].open = false;
      throw;
    }
  }
  return int(id);
}

void SequenceTable::assign(int id, int from, int keep) {
  check(id);
  check(from);
  const Sequence& src = seqs_[size_t(from)];
  if (keep < 0 || keep > src.length)
    throw std::out_of_range("cannot keep " + std::to_string(keep) + " positions of sequence " +
                            std::to_string(from) + ", which holds " + std::to_string(src.length));
  if (id == from) return truncate(id, keep);
  const size_t pages = size_t((keep + kPagePositions - 1) / kPagePositions);
  std::vector<int32_t> shared(src.pages.begin(), src.pages.begin() + pages);
  for (int32_t page : shared) cache_.retain(page);  // before the release: they may be shared
  truncate(id, 0);
  seqs_[size_t(id)].pages = std::move(shared);
  seqs_[size_t(id)].length = keep;
}

void SequenceTable::close(int id) {
  check(id);
  truncate(id, 0);
  seqs_[size_t(id)].open = false;
}

void SequenceTable::truncate(int id, int length) {
  Sequence& s = seqs_[size_t(id)];
  if (length < 0 || length > s.length)
    throw std::out_of_range("cannot rewind to position " + std::to_string(length) +
                            ": the sequence has " + std::to_string(s.length) + " tokens");
  const size_t keep = size_t((length + kPagePositions - 1) / kPagePositions);
  while (s.pages.size() > keep) {
    cache_.release(s.pages.back());
    s.pages.pop_back();
  }
  s.length = length;
}

void SequenceTable::reserve(const int32_t* ids, const int32_t* counts, int n) {
  // Count first, so that a cache too small changes nothing.
  int64_t needed = 0;
  for (int i = 0; i < n; ++i) {
    const Sequence& s = seqs_[size_t(ids[i])];
    if (counts[i] <= 0) continue;
    const int first = s.length / kPagePositions;
    const int last = (s.length + counts[i] - 1) / kPagePositions;
    for (int p = first; p <= last; ++p)
      needed += size_t(p) >= s.pages.size() || cache_.shared(s.pages[size_t(p)]);
  }
  if (needed > cache_.available())
    throw std::length_error("the KV cache is full: " + std::to_string(needed) +
                            " more pages of " + std::to_string(kPagePositions) +
                            " positions are needed and " +
                            std::to_string(cache_.available()) +
                            " are left (load with a larger kv_cache_positions)");
  for (int i = 0; i < n; ++i) {
    Sequence& s = seqs_[size_t(ids[i])];
    if (counts[i] <= 0) continue;
    const int first = s.length / kPagePositions;
    const int last = (s.length + counts[i] - 1) / kPagePositions;
    for (int p = first; p <= last; ++p) {
      if (size_t(p) >= s.pages.size()) {
        s.pages.push_back(cache_.take());
      } else if (cache_.shared(s.pages[size_t(p)])) {
        const int32_t old = s.pages[size_t(p)];
        s.pages[size_t(p)] = cache_.copy(old, s.length - p * kPagePositions);
        cache_.release(old);
      }
    }
  }
}

}  // namespace edge
