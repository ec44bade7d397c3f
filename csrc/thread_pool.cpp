#include "thread_pool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define EDGE_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define EDGE_CPU_RELAX() __asm__ volatile("yield")
#else
#define EDGE_CPU_RELAX() ((void)0)
#endif

namespace edge {

namespace {
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

void ThreadPool::run_impl(void (*fn)(void*, int), void* ctx) {
  if (workers_.empty()) {
    fn(ctx, 0);
    return;
  }
  job_fn_ = fn;
  job_ctx_ = ctx;
  pending_.store(int(workers_.size()), std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  fn(ctx, 0);
  while (pending_.load(std::memory_order_acquire) != 0) EDGE_CPU_RELAX();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && !stop_.load() &&
           spins < kSpinIterations) {
      EDGE_CPU_RELAX();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    job_fn_(job_ctx_, index);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace edge
