// The pool's work split: every index handed out exactly once, whatever the
// number of threads and ranges, cut only at multiples of the alignment, and
// every piece run by a worker the pool has.
#include <atomic>
#include <vector>

#include "../thread_pool.h"
#include "check.h"

using edge::ThreadPool;

namespace {

// Runs `split` over [0, n) and checks that it covered every index once.
template <class Split>
void check_covers_once(int threads, int n, int align, Split split) {
  ThreadPool pool(threads);
  std::vector<std::atomic<int>> seen(size_t(n) + 1);
  std::atomic<int> misaligned{0}, bad_worker{0};
  for (int round = 0; round < 50; ++round) {
    for (auto& s : seen) s.store(0);
    split(pool, n, align, [&](int worker, int begin, int end) {
      if (begin % align != 0 || (end % align != 0 && end != n)) misaligned.fetch_add(1);
      if (worker < 0 || worker >= threads) bad_worker.fetch_add(1);
      for (int i = begin; i < end; ++i) seen[size_t(i)].fetch_add(1);
    });
    int wrong = 0;
    for (int i = 0; i < n; ++i) wrong += seen[size_t(i)].load() != 1;
    CHECK(wrong == 0);
    CHECK(seen[size_t(n)].load() == 0);
  }
  CHECK(misaligned.load() == 0);
  CHECK(bad_worker.load() == 0);
}

}  // namespace

TEST(ranges_cover_every_index_once) {
  for (int per_thread : {1, 4}) {
    auto ranges = [per_thread](ThreadPool& pool, int n, int align, auto fn) {
      edge::parallel_ranges(pool, n, align, fn, per_thread);
    };
    for (int threads : {1, 2, 3, 4, 7})
      for (int n : {0, 1, 5, 16, 17, 1000, 4864})
        for (int align : {1, 16}) check_covers_once(threads, n, align, ranges);
  }
}

int main() { return edge_test::run_all(); }
