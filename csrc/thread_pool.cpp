#include "thread_pool.h"

#include <sched.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace edge {

namespace {

// Tells the core we are spinning (frees resources for an SMT sibling).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

// One step of waiting for another thread: poll, and after a while give the
// core away, since the thread we wait for may need it.
inline void wait_step(int spins) {
  if (spins < 2000)
    cpu_relax();
  else
    sched_yield();
}

// About a tenth of a millisecond of polling before a worker sleeps: longer
// than the gap between two matrix products of one token, far shorter than
// the gap between two requests.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::work_on(const Job& job, int worker) {
  for (int c = next_chunk_.fetch_add(1, std::memory_order_relaxed); c < job.chunks;
       c = next_chunk_.fetch_add(1, std::memory_order_relaxed)) {
    job.fn(job.ctx, worker, c);
    done_chunks_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::run_impl(int chunks, void (*fn)(void*, int, int), void* ctx) {
  if (chunks <= 0) return;
  Job job{chunks, fn, ctx};
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // A late worker may still be inside the previous job (finding no chunk).
    for (int spins = 0; active_.load(std::memory_order_acquire) != 0; ++spins) {
      lock.unlock();
      wait_step(spins);
      lock.lock();
    }
    job_ = job;
    next_chunk_.store(0, std::memory_order_relaxed);
    done_chunks_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  work_on(job, 0);
  for (int spins = 0; done_chunks_.load(std::memory_order_acquire) != chunks; ++spins)
    wait_step(spins);
}

void ThreadPool::worker_loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    for (int spins = 0; generation_.load(std::memory_order_acquire) == seen && !stop_.load() &&
                        spins < kSpinIterations;
         ++spins)
      cpu_relax();
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
      if (stop_.load()) return;
      seen = generation_.load();
      job = job_;
      active_.fetch_add(1, std::memory_order_acq_rel);
    }
    work_on(job, worker);
    active_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace edge
