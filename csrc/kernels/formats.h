// Block formats of weights and activations. Every kernel in this folder reads
// exactly these layouts; the scalar reference (scalar.cpp) is their definition.
//
// All quantized formats cut a row of K values into nb = ceil(K / 32) blocks of
// 32 along K. The last block is padded: padded weight values are arbitrary,
// padded activation values are 0, so padding never contributes to a dot.
//
// Weights, one row per output feature n (N rows, row-major):
//
//   F32   float    [N][K]
//
//   Q8    uint8    [N][nb][32]   q = round(w / d) + 128, in 1..255
//         uint16   [N][nb]       d (scale), IEEE fp16 bits
//         value  = (q - 128) * half_to_float(d)
//         The codes are onnxruntime's 8-bit MatMulNBits with its implied zero
//         point.
//
//   Q4    uint8    [N][nb][16]   two 4-bit codes per byte: element 2j of the
//                                block in the low nibble of byte j, element
//                                2j+1 in the high nibble; codes 0..15
//         uint16   [N][nb]       d (scale), IEEE fp16 bits
//         uint8    [N][ceil(nb/2)] optional zero points, two per byte, block
//                                2i in the low nibble of byte i (onnxruntime's
//                                MatMulNBits layout); absent means 8
//         value  = (code - zero_point) * half_to_float(d)
//
//   Why fp16 scales (as llama.cpp's Q4_0 and Q8_0): decode streams every
//   weight once per token and is bound by memory bandwidth, and a float32
//   scale is 4 of the 20 bytes of a Q4 block (4 of 36 of a Q8 one); fp16 cuts
//   the bytes per token by 10% (Q4) and 5.5% (Q8). onnxruntime's MatMulNBits
//   takes float32 scales, so bundles store them so; the engine rounds them to
//   fp16 (nearest, ties to even) once at load, into memory it owns, and maps
//   only the codes in place. Widening fp16 to float is exact, so a kernel
//   computes with a float scale just as before: the scalar reference through
//   half_to_float (half.h), the SIMD kernels with their conversion
//   instruction (F16C, FCVT), which gives the same float bit for bit.
//
// Activations are quantized per call, one row per token (T rows):
//
//   ActBlocks  int8  q[T][nb][32]  q = round(x * (127 / max|x|)), round half
//                                  even, |q| <= 127 (all 0 when max|x| is 0)
//              float d[T][nb]      d = max|x| / 127 over the block
//              int32 sum[T][nb]    sum of q over the block
//
//   Two element orders exist inside an activation block:
//     natural:  x0 x1 ... x31                     (for Q8 weights)
//     nibble:   x0 x2 ... x30  x1 x3 ... x31      (for Q4 weights)
//   The nibble order puts the activations in the order a SIMD unit gets the
//   weights when it splits 16 packed bytes into low and high nibbles, so a Q4
//   block dot needs no shuffle at all. Integer dots do not depend on order, so
//   both orders give the same sums.
//
// Interleaved weights (the aarch64 kernels' layout, made once at load from the
// row-major matrix above; see interleave.h). Four consecutive rows 4g..4g+3
// and one block b become one record, and the records follow each other in
// the order [ceil(N/4)][nb], so a kernel walks one pointer through a group:
//
//   Q8x4  int8   codes[128]  code - 128
//         uint16 d[4]        fp16 scales of rows 4g..4g+3 (zero for padding rows)
//   Q4x4  uint8  codes[64]   code XOR 0x88: each nibble, read as a signed
//                            4-bit number, is code - 8
//         uint16 d[4]
//   (Codes first: at offset 0 of a record they load as pairs of vectors.)
//
//   The codes are 16-byte vectors in group order: vector j holds bytes
//   4j..4j+3 of the block of rows 4g, 4g+1, 4g+2, 4g+3, in that order. Q8
//   has 8 such vectors, vector j meeting activations 4j..4j+3; Q4 has 4,
//   whose low nibbles meet activations 4j..4j+3 and high nibbles
//   16+4j..16+4j+3 in nibble order. So a vector is four rows against one
//   4-byte group of activations: SDOT by element puts the four rows' dots in
//   four lanes, and two vectors zipped by 4-byte lanes are the two 2x8 row
//   matrices SMMLA takes.
//   The signed nibbles need no zero-point subtraction: a shift left by 4
//   (low) or a mask of 0xF0 (high) makes 16 * (code - 8) as an int8, and the
//   kernels divide the factor 16 out in the conversion to float, exactly.
//   Q4 zero points other than 8 come as int8 z - 8, [ceil(N/4)][nb][4].
//   Rows past N in the last group are zeros and never stored.

// A block dot then is   (d_w * d_a) * (sum(code * q) - zero_point * sum)
// where the integer part is exact in int32 (32 * 255 * 127 fits easily) and
// only the two scales are float (d_w widened from fp16). Kernels may split the
// integer part however suits their instructions (u8 x s8 products, then the
// zero-point term from the block sum), but its value is fixed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "half.h"

namespace edge {

constexpr int kBlock = 32;  // elements per quantization block
// The SIMD kernels hold one block of int8 codes or activations in a 256-bit
// register and split it into 4-byte groups (VPDPBUSD, SDOT, SMMLA).
static_assert(kBlock == 32, "the kernels assume blocks of 32 elements");

inline int num_blocks(int k) { return (k + kBlock - 1) / kBlock; }

enum class WeightFormat : int { F32 = 0, Q8 = 1, Q4 = 2 };

// Bytes of one block of a row-major quantized row: its codes (the fp16 scales
// are an array of their own, 2 bytes per block).
constexpr size_t kQ8BlockBytes = kBlock;      // one uint8 code per element
constexpr size_t kQ4BlockBytes = kBlock / 2;  // two 4-bit codes per byte
static_assert(kQ8BlockBytes + sizeof(uint16_t) == 34, "Q8: 32 codes and an fp16 scale per block");
static_assert(kQ4BlockBytes + sizeof(uint16_t) == 18, "Q4: 16 bytes of codes and an fp16 scale per block");
// The integer part of a block dot, sum(code * q) with codes up to 255 and
// |q| <= 127, is exact in int32 (and so is its zero-point term, z * sum(q)).
static_assert(int64_t(kBlock) * 255 * 127 <= INT32_MAX, "a block dot overflows int32");

enum class ActOrder : int { Natural = 0, Nibble = 1 };

// How a kernel table's quantized products read weights: the row-major
// matrix itself, or the interleaved records made from it at load.
enum class WeightLayout : int { RowMajor = 0, Interleaved4 = 1 };

constexpr int kGroupRows = 4;  // rows per interleaved record

struct BlockQ8x4 {
  int8_t codes[kGroupRows * kBlock];
  uint16_t d[kGroupRows];
};
struct BlockQ4x4 {
  uint8_t codes[kGroupRows * kBlock / 2];
  uint16_t d[kGroupRows];
};
// No padding: a record is exactly its scales and codes, so a group streams
// the same bytes per weight as the row-major matrix.
static_assert(sizeof(BlockQ8x4) == kGroupRows * (sizeof(uint16_t) + kQ8BlockBytes), "Q8x4 record has padding");
static_assert(sizeof(BlockQ4x4) == kGroupRows * (sizeof(uint16_t) + kQ4BlockBytes), "Q4x4 record has padding");
static_assert(offsetof(BlockQ4x4, codes) == 0 && offsetof(BlockQ8x4, codes) == 0,
              "codes lead a record");
static_assert(offsetof(BlockQ8x4, d) == kGroupRows * kQ8BlockBytes, "Q8x4 scales follow the codes");
static_assert(offsetof(BlockQ4x4, d) == kGroupRows * kQ4BlockBytes, "Q4x4 scales follow the codes");
// Records follow each other in an array with no gap, and a record's codes
// start 16-byte vectors: a kernel steps sizeof(record) bytes per block.
static_assert(alignof(BlockQ8x4) == alignof(uint16_t) && alignof(BlockQ4x4) == alignof(uint16_t),
              "records align as their scales");
static_assert(sizeof(BlockQ8x4::codes) % 16 == 0 && sizeof(BlockQ4x4::codes) % 16 == 0,
              "a record's codes are whole 16-byte vectors");

// A weight matrix [N, K] viewed in place; the kernels never own memory.
struct WeightMatrix {
  WeightFormat format = WeightFormat::F32;
  int rows = 0;                           // N, output features
  int cols = 0;                           // K, input features
  const void* data = nullptr;             // F32: float*, Q8/Q4: uint8_t*
  const uint16_t* scales_f16 = nullptr;   // [N][nb] fp16 bits, quantized formats only
  const uint8_t* zero_points = nullptr;   // Q4 only, may be null (means 8)
  // The same matrix interleaved, for tables whose layout is Interleaved4:
  // BlockQ8x4 or BlockQ4x4 [ceil(N/4)][nb], and with zero points, their
  // int8 z - 8 [ceil(N/4)][nb][4]. Null for row-major tables.
  const void* interleaved = nullptr;
  const int8_t* interleaved_zero_points = nullptr;

  int blocks() const { return num_blocks(cols); }
  // Bytes of one row of data: the unit that a kernel streams per output.
  size_t row_bytes() const {
    switch (format) {
      case WeightFormat::F32: return size_t(cols) * sizeof(float);
      case WeightFormat::Q8: return size_t(blocks()) * kQ8BlockBytes;
      case WeightFormat::Q4: return size_t(blocks()) * kQ4BlockBytes;
    }
    return 0;
  }
};

// T rows of quantized activations, viewing storage the caller owns (the
// model's buffers, sized for max_batch rows of its widest input).
struct ActBlocks {
  int rows = 0;      // T
  int cols = 0;      // K
  ActOrder order = ActOrder::Natural;
  int8_t* q = nullptr;   // [T][nb][32]
  float* d = nullptr;    // [T][nb]
  int32_t* sum = nullptr;  // [T][nb]
  // Names this content: the same nonzero version means the same activations,
  // so a kernel may keep what it derived from them (a re-laid-out copy) for
  // the next matrix with the same input. 0: no promise.
  uint64_t version = 0;

  int blocks() const { return num_blocks(cols); }
  const int8_t* row_q(int t) const { return q + size_t(t) * blocks() * kBlock; }
  const float* row_d(int t) const { return d + size_t(t) * blocks(); }
  const int32_t* row_sum(int t) const { return sum + size_t(t) * blocks(); }
};

// Zero point of Q4 block b of row n.
inline int q4_zero_point(const WeightMatrix& w, int n, int b) {
  if (!w.zero_points) return 8;
  const uint8_t byte = w.zero_points[size_t(n) * ((w.blocks() + 1) / 2) + b / 2];
  return (b & 1) ? (byte >> 4) : (byte & 0x0F);
}

}  // namespace edge
