// Measures how fast this machine streams memory into the cores: the ceiling
// of a bandwidth-bound decode step (its "roofline").
#pragma once

#include <cstddef>

namespace edge {

// Best-of-`repeats` read bandwidth in bytes per second, with `threads`
// threads each summing its own contiguous part of a `bytes` buffer. The
// buffer should be several times the last-level cache.
double read_bandwidth(size_t bytes, int threads, int repeats);

}  // namespace edge
