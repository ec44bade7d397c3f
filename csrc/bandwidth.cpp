#include "bandwidth.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "thread_pool.h"

namespace edge {

constexpr size_t kLineWords = 64 / sizeof(uint64_t);      // one cache line
constexpr size_t kAheadWords = 8192 / sizeof(uint64_t);    // the prefetch distance

double read_bandwidth(size_t bytes, int threads, int repeats) {
  const size_t words = bytes / sizeof(uint64_t);
  // 2 MB aligned and advised onto huge pages where the kernel allows: the
  // measured ceiling should not be lowered by TLB misses that a well-placed
  // weight mapping avoids.
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t alloc = (words * sizeof(uint64_t) + kHuge - 1) / kHuge * kHuge;
  std::unique_ptr<uint64_t, decltype(&std::free)> owned(
      static_cast<uint64_t*>(std::aligned_alloc(kHuge, alloc)), &std::free);
  if (!owned) return 0.0;
  uint64_t* buffer = owned.get();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(buffer, alloc, MADV_HUGEPAGE);
#endif
  for (size_t i = 0; i < words; ++i) buffer[i] = i;  // touch every page before timing
  ThreadPool pool(threads);
  std::vector<uint64_t> sinks(size_t(threads) * 8, 0);  // a cache line apart per worker
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    parallel_ranges(pool, int(words / 1024), 1, [&](int worker, int b0, int b1) {
      // Four independent sums so the loop is bound by loads, not by one add chain.
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const size_t end = size_t(b1) * 1024;
      for (size_t i = size_t(b0) * 1024; i < end; i += kLineWords) {
        // Ask for the line 8 KB ahead, as the decode kernels do: without it a
        // core reads slower than the kernels, and a decode could beat its own
        // roofline (on this project's VM, 1 GiB: 46-49 GB/s without, 50-53 with).
        if (i + kAheadWords < end) __builtin_prefetch(buffer + i + kAheadWords, 0, 0);
        s0 += buffer[i] + buffer[i + 4];
        s1 += buffer[i + 1] + buffer[i + 5];
        s2 += buffer[i + 2] + buffer[i + 6];
        s3 += buffer[i + 3] + buffer[i + 7];
      }
      sinks[size_t(worker) * 8] += s0 + s1 + s2 + s3;
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = double(words / 1024 * 1024 * sizeof(uint64_t)) / seconds;
    if (rate > best) best = rate;
  }
  volatile uint64_t keep = 0;
  for (uint64_t s : sinks) keep = keep + s;  // the sums are used, so the loads stay
  return best;
}

}  // namespace edge
