// One persistent pool of worker threads. The caller of run() is worker 0, so
// a pool of N threads starts N - 1 OS threads. Workers spin briefly before
// they sleep: a decode step hands out a few hundred small jobs per token, and
// waking a sleeping thread each time would cost more than the jobs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace edge {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Calls fn(worker) once on every worker and returns when all have finished.
  // fn is taken by reference: no allocation per call.
  template <class Fn>
  void run(Fn& fn) {
    run_impl([](void* ctx, int worker) { (*static_cast<Fn*>(ctx))(worker); }, &fn);
  }

 private:
  void run_impl(void (*fn)(void*, int), void* ctx);
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};  // bumped once per run()
  std::atomic<int> pending_{0};          // workers still busy with this run
  std::atomic<bool> stop_{false};
  void (*job_fn_)(void*, int) = nullptr;
  void* job_ctx_ = nullptr;
};

// Splits [0, n) into one contiguous range per worker, with range boundaries at
// multiples of `align` (so SIMD kernels see whole row groups), and runs
// fn(worker, begin, end) on each non-empty range.
template <class Fn>
void parallel_ranges(ThreadPool& pool, int n, int align, Fn&& fn) {
  const int workers = pool.size();
  const int units = (n + align - 1) / align;
  auto job = [&](int w) {
    const int u0 = int(int64_t(units) * w / workers), u1 = int(int64_t(units) * (w + 1) / workers);
    const int begin = u0 * align, end = u1 * align < n ? u1 * align : n;
    if (begin < end) fn(w, begin, end);
  };
  if (workers == 1) {
    job(0);
    return;
  }
  pool.run(job);
}

}  // namespace edge
