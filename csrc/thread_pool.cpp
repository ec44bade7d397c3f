#include "thread_pool.h"

#include <sched.h>

#include <stdexcept>
#include <string>
#include <system_error>

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
  if (threads < 1 || threads > kMaxThreads)
    throw std::invalid_argument("threads must be between 1 and " + std::to_string(kMaxThreads) +
                                ", got " + std::to_string(threads));
  workers_.reserve(size_t(threads - 1));
  try {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  } catch (const std::system_error& e) {
    // A destructor does not run for a half-built object: stop the started ones here.
    stop_workers();
    throw std::runtime_error("cannot start worker thread " + std::to_string(workers_.size() + 1) +
                             " of " + std::to_string(threads) + ": " + e.what());
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::work_on(Slot& slot, int worker) {
  for (int c = slot.next_chunk.fetch_add(1, std::memory_order_relaxed); c < slot.chunks;
       c = slot.next_chunk.fetch_add(1, std::memory_order_relaxed)) {
    slot.fn(slot.ctx, worker, c);
    slot.done_chunks.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::run_impl(int chunks, void (*fn)(void*, int, int), void* ctx) {
  if (chunks <= 0) return;
  const uint64_t g = generation_.load(std::memory_order_relaxed) + 1;
  Slot& slot = slots_[g % 2];
  // A late worker may still be inside job g - 2 (finding no chunk left).
  for (int spins = 0; slot.active.load() != 0; ++spins) wait_step(spins);
  slot.chunks = chunks;
  slot.fn = fn;
  slot.ctx = ctx;
  slot.next_chunk.store(0, std::memory_order_relaxed);
  slot.done_chunks.store(0, std::memory_order_relaxed);
  generation_.store(g);  // sequentially consistent: publishes the slot, and orders the
                         // sleepers_ check below against a worker going to sleep
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  work_on(slot, 0);
  for (int spins = 0; slot.done_chunks.load(std::memory_order_acquire) != chunks; ++spins)
    wait_step(spins);
}

void ThreadPool::worker_loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spins = 0; g == seen && spins < kSpinIterations; ++spins) {
      cpu_relax();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
      sleepers_.fetch_sub(1);
      if (stop_.load()) return;
      continue;
    }
    seen = g;
    // Join job g: count ourselves in its slot, then check that the caller has
    // not moved on (it reuses the slot for g + 2 only with no one inside).
    Slot& slot = slots_[g % 2];
    slot.active.fetch_add(1);
    if (generation_.load() == g) work_on(slot, worker);
    slot.active.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace edge
