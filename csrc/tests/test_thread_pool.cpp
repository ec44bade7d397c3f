// The pool's work split: every index handed out exactly once, whatever the
// number of threads and ranges, cut only at multiples of the alignment, and
// every piece run by a worker the pool has. And its hand-off: jobs back to
// back (workers spinning, slots reused while a worker may be late) and jobs
// after a pause (workers asleep) all run every chunk once.
#include <atomic>
#include <chrono>
#include <thread>
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

namespace {

// Runs `jobs` jobs of `chunks` chunks each, calling pause() before each, and
// checks that every chunk of every job ran exactly once before run() returned.
template <class Pause>
void check_jobs(int threads, int jobs, int chunks, Pause pause) {
  ThreadPool pool(threads);
  std::vector<std::atomic<int>> ran(static_cast<size_t>(chunks));
  int wrong = 0;
  for (int j = 0; j < jobs; ++j) {
    for (auto& r : ran) r.store(0, std::memory_order_relaxed);
    pause();
    auto job = [&](int, int c) { ran[size_t(c)].fetch_add(1, std::memory_order_relaxed); };
    pool.run(chunks, job);
    for (auto& r : ran) wrong += r.load(std::memory_order_relaxed) != 1;
  }
  CHECK(wrong == 0);
}

}  // namespace

TEST(jobs_back_to_back_run_every_chunk_once) {
  for (int threads : {2, 3, 5}) check_jobs(threads, 20000, 3, [] {});
}

TEST(jobs_after_the_workers_sleep_run_every_chunk_once) {
  // Longer than the workers' spin before they sleep (about 0.1 ms).
  auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); };
  for (int threads : {2, 4}) check_jobs(threads, 30, 8, pause);
}

int main() { return edge_test::run_all(); }
