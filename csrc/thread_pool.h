// One persistent pool of worker threads. The caller of run() is worker 0, so
// a pool of N threads starts N - 1 OS threads.
//
// A job is cut into chunks, and every thread, the caller included, takes the
// next chunk until none is left. A worker the OS has not scheduled (a busy
// board, a big.LITTLE core) then does not hold the job up: the caller takes
// the chunks it has not started.
// Workers spin briefly before they sleep, because a decode step hands out a
// few hundred small jobs per token and waking a sleeping thread each time
// would cost more than the jobs.
#pragma once

#include <algorithm>
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

  // Calls fn(worker, chunk) once for every chunk in [0, chunks) and returns
  // when all have finished. fn is taken by reference: no allocation per call.
  template <class Fn>
  void run(int chunks, Fn& fn) {
    run_impl(chunks, [](void* ctx, int worker, int chunk) { (*static_cast<Fn*>(ctx))(worker, chunk); },
             &fn);
  }

 private:
  struct Job {
    int chunks = 0;
    void (*fn)(void*, int, int) = nullptr;
    void* ctx = nullptr;
  };
  void run_impl(int chunks, void (*fn)(void*, int, int), void* ctx);
  void work_on(const Job& job, int worker);
  void worker_loop(int worker);

  std::vector<std::thread> workers_;
  std::mutex mutex_;  // guards job_ and the hand-over of a job to a worker
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> generation_{0};  // bumped once per job
  Job job_;
  // A worker joins a job under the mutex (copying it and counting itself in
  // active_); the caller replaces job_ and resets the counters only when no
  // worker is still inside the previous one.
  std::atomic<int> active_{0};
  std::atomic<int> next_chunk_{0};   // next chunk to hand out
  std::atomic<int> done_chunks_{0};  // chunks finished
};

// Splits [0, n) into `per_thread` ranges per thread, with boundaries at
// multiples of `align` (so SIMD kernels see whole row groups), and runs
// fn(worker, begin, end) on each. More ranges even out threads that run at
// different speeds; one range per thread lets each stream one long stretch of
// a weight matrix, which the prefetchers follow best.
template <class Fn>
void parallel_ranges(ThreadPool& pool, int n, int align, Fn&& fn, int per_thread = 4) {
  const int units = (n + align - 1) / align;
  const int chunks = std::min(units, pool.size() * per_thread);
  if (chunks <= 1) {
    if (n > 0) fn(0, 0, n);
    return;
  }
  auto job = [&](int worker, int c) {
    const int u0 = int(int64_t(units) * c / chunks), u1 = int(int64_t(units) * (c + 1) / chunks);
    const int begin = u0 * align, end = std::min(u1 * align, n);
    if (begin < end) fn(worker, begin, end);
  };
  pool.run(chunks, job);
}

}  // namespace edge
