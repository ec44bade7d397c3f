#include "interleave.h"

#include <cstring>

namespace edge {
namespace {

int groups_of(const WeightMatrix& w) { return (w.rows + kGroupRows - 1) / kGroupRows; }

// Copies one block of row `row_in_group` (null: a padding row) into a
// record's codes: its bytes 4j..4j+3 go to vector j, in the row's 4-byte
// lane, per formats.h. `flip` makes stored codes signed (0x80808080 for Q8,
// 0x88888888 for Q4). Word by word: this runs over every weight at load.
void place_row(const uint8_t* block, size_t block_bytes, int row_in_group, uint32_t flip,
               uint8_t* codes) {
  for (size_t j = 0; j < block_bytes / 4; ++j) {
    uint32_t word = 0;
    if (block) {
      std::memcpy(&word, block + 4 * j, 4);
      word ^= flip;
    }
    std::memcpy(codes + 16 * j + 4 * row_in_group, &word, 4);
  }
}

template <class Record>
void interleave_records(const WeightMatrix& w, Record* out) {
  const int nb = w.blocks(), groups = groups_of(w);
  const bool q4 = w.format == WeightFormat::Q4;
  const size_t block_bytes = q4 ? kBlock / 2 : kBlock;
  const auto* data = static_cast<const uint8_t*>(w.data);
  for (int g = 0; g < groups; ++g)
    for (int b = 0; b < nb; ++b) {
      Record& r = out[size_t(g) * nb + b];
      for (int i = 0; i < kGroupRows; ++i) {
        const int n = g * kGroupRows + i;
        const bool real = n < w.rows;
        r.d[i] = real ? w.scales_f16[size_t(n) * nb + b] : 0;
        const uint8_t* block = real ? data + (size_t(n) * nb + b) * block_bytes : nullptr;
        place_row(block, block_bytes, i, q4 ? 0x88888888u : 0x80808080u, reinterpret_cast<uint8_t*>(r.codes));
      }
    }
}

}  // namespace

size_t InterleavedWeights::bytes_for(const WeightMatrix& w) {
  const size_t records = size_t(groups_of(w)) * w.blocks();
  switch (w.format) {
    case WeightFormat::F32: return 0;
    case WeightFormat::Q8: return records * sizeof(BlockQ8x4);
    case WeightFormat::Q4:
      return records * (sizeof(BlockQ4x4) + (w.zero_points ? kGroupRows : 0));
  }
  return 0;
}

void InterleavedWeights::interleave(WeightMatrix& w) {
  if (w.format == WeightFormat::F32) return;
  const size_t records = size_t(groups_of(w)) * w.blocks();
  const size_t record_bytes =
      w.format == WeightFormat::Q8 ? sizeof(BlockQ8x4) : sizeof(BlockQ4x4);
  std::vector<uint8_t>& bytes = records_.emplace_back(records * record_bytes);
  if (w.format == WeightFormat::Q8) {
    interleave_records(w, reinterpret_cast<BlockQ8x4*>(bytes.data()));
  } else {
    interleave_records(w, reinterpret_cast<BlockQ4x4*>(bytes.data()));
  }
  w.interleaved = bytes.data();
  bytes_ += bytes.size();
  if (w.format != WeightFormat::Q4 || !w.zero_points) return;
  const int nb = w.blocks();
  std::vector<int8_t>& zps = zero_points_.emplace_back(records * kGroupRows, 0);
  for (int n = 0; n < w.rows; ++n)
    for (int b = 0; b < nb; ++b)
      zps[(size_t(n / kGroupRows) * nb + b) * kGroupRows + n % kGroupRows] =
          int8_t(q4_zero_point(w, n, b) - 8);
  w.interleaved_zero_points = zps.data();
  bytes_ += zps.size();
}

}  // namespace edge
