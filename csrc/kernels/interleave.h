// Makes the interleaved records of formats.h from a row-major Q8 or Q4
// matrix: once per matrix at load, for kernel tables that read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats.h"

namespace edge {

// Interleaved copies of weight matrices, owned together. `interleave` fills
// w.interleaved (and w.interleaved_zero_points) with pointers into this
// storage, which lives as long as the InterleavedWeights.
class InterleavedWeights {
 public:
  // Bytes the records of w take (0 for F32): what interleave() will allocate.
  static size_t bytes_for(const WeightMatrix& w);
  // Interleaves w (Q8 or Q4; F32 is left alone) and points it at the copy.
  void interleave(WeightMatrix& w);
  size_t bytes() const { return bytes_; }

 private:
  std::vector<std::vector<uint8_t>> records_;
  std::vector<std::vector<int8_t>> zero_points_;
  size_t bytes_ = 0;
};

}  // namespace edge
