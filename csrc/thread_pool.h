// One persistent pool of worker threads. The caller of run() is worker 0, so
// a pool of N threads starts N - 1 OS threads.
//
// A job is cut into chunks, and every thread, the caller included, takes the
// next chunk until none is left. A worker the OS has not scheduled (a busy
// board, a big.LITTLE core) then does not hold the job up: the caller takes
// the chunks it has not started.
//
// A decode step hands out a few hundred small jobs per token, so the hand-off
// takes no lock: the caller writes the job into one of two slots and bumps a
// generation counter; a spinning worker sees the bump, joins the slot and
// starts. (With a mutex, a worker that saw the bump while the caller still
// held the lock slept in the kernel and started its half of every product
// late: the caller waited for it 7.6% of a decode's samples.) Workers spin
// briefly before they sleep on a condition variable, which the caller
// signals only when one sleeps.
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
  static constexpr int kMaxThreads = 256;

  // Throws std::invalid_argument for threads outside [1, kMaxThreads], and
  // std::runtime_error (with no thread left running) if the OS cannot start one.
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
  // One job and its progress. Two slots alternate, so a worker late for job g
  // (it saw the bump, then was descheduled) still reads g's slot while job
  // g + 1 runs in the other; the caller reuses a slot only when no worker is
  // inside it.
  struct Slot {
    int chunks = 0;
    void (*fn)(void*, int, int) = nullptr;
    void* ctx = nullptr;
    std::atomic<int> active{0};       // workers inside this slot's job
    std::atomic<int> next_chunk{0};   // next chunk to hand out
    std::atomic<int> done_chunks{0};  // chunks finished
  };
  void run_impl(int chunks, void (*fn)(void*, int, int), void* ctx);
  static void work_on(Slot& slot, int worker);
  void worker_loop(int worker);
  void stop_workers();

  std::vector<std::thread> workers_;
  Slot slots_[2];
  std::atomic<uint64_t> generation_{0};  // bumped once per job; job g is in slots_[g % 2]
  std::atomic<bool> stop_{false};
  // Sleeping workers wait on wake_; the caller notifies only if sleepers_ > 0.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
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
