// Round-to-nearest weight quantization into the Q8 and Q4 formats of
// kernels/formats.h. Calibration-aware methods (export/) produce the same
// bytes with better-chosen codes and scales.
#pragma once

#include <cstdint>

namespace edge {

// w: [rows][cols] f32. data: rows * nb * 32 bytes, scales: rows * nb fp16.
// Symmetric; the padded tail of the last block gets the code for 0. Each
// block's scale is rounded to fp16 first and the codes are chosen against that
// rounded scale, the one the kernels apply. A scale beyond fp16's range comes
// out as infinity (half_is_finite): the caller must refuse the matrix.
void quantize_rows_q8(const float* w, int rows, int cols, uint8_t* data, uint16_t* scales);
// data: rows * nb * 16 bytes. The scale maps the block's value of largest
// magnitude to code 0 (value -8 * scale), so all 16 codes are usable.
void quantize_rows_q4(const float* w, int rows, int cols, uint8_t* data, uint16_t* scales);

}  // namespace edge
