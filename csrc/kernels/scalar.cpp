// The reference kernels: plain C++, one obvious loop each. They define the
// formats in formats.h; every SIMD variant is tested against them.
#include <cmath>
#include <cstring>

#include "exp_approx.h"
#include "kernels.h"

namespace edge {
namespace {

void quantize_acts(const float* x, int ldx, int t0, int t1, ActBlocks* out) {
  const int K = out->cols, nb = out->blocks();
  for (int t = t0; t < t1; ++t) {
    const float* xr = x + size_t(t) * ldx;
    for (int b = 0; b < nb; ++b) {
      const int k0 = b * kBlock, len = (K - k0 < kBlock) ? K - k0 : kBlock;
      float amax = 0.0f;
      for (int j = 0; j < len; ++j) amax = std::fabs(xr[k0 + j]) > amax ? std::fabs(xr[k0 + j]) : amax;
      const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      int8_t* q = out->q + (size_t(t) * nb + b) * kBlock;
      int32_t sum = 0;
      for (int j = 0; j < kBlock; ++j) {
        const int v = j < len ? int(std::lrint(xr[k0 + j] * inv)) : 0;
        // element j goes to position j (natural) or to its nibble position
        const int pos = out->order == ActOrder::Natural ? j : (j >> 1) + (j & 1) * (kBlock / 2);
        q[pos] = int8_t(v);
        sum += v;
      }
      out->d[size_t(t) * nb + b] = amax / 127.0f;
      out->sum[size_t(t) * nb + b] = sum;
    }
  }
}

// Integer part of one block dot: sum((code - zero_point) * q).
int32_t block_dot_q8(const uint8_t* w, const int8_t* q) {
  int32_t s = 0;
  for (int j = 0; j < kBlock; ++j) s += (int32_t(w[j]) - 128) * q[j];
  return s;
}

int32_t block_dot_q4(const uint8_t* w, const int8_t* q, int zero_point) {
  // q is in nibble order: low nibbles meet q[0..15], high nibbles q[16..31]
  int32_t s = 0;
  for (int j = 0; j < kBlock / 2; ++j) {
    s += (int32_t(w[j] & 0x0F) - zero_point) * q[j];
    s += (int32_t(w[j] >> 4) - zero_point) * q[j + kBlock / 2];
  }
  return s;
}

template <bool Q4>
void matmul_quantized(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out,
                      int ldo) {
  const int nb = w.blocks();
  const size_t block_bytes = Q4 ? kBlock / 2 : kBlock;
  const auto* wq = static_cast<const uint8_t*>(w.data);
  for (int t = 0; t < x.rows; ++t) {
    for (int n = n0; n < n1; ++n) {
      float acc = 0.0f;
      for (int b = 0; b < nb; ++b) {
        const uint8_t* wb = wq + (size_t(n) * nb + b) * block_bytes;
        const int8_t* q = x.row_q(t) + size_t(b) * kBlock;
        const int32_t isum = Q4 ? block_dot_q4(wb, q, q4_zero_point(w, n, b)) : block_dot_q8(wb, q);
        acc += (half_to_float(w.scales_f16[size_t(n) * nb + b]) * x.row_d(t)[b]) * float(isum);
      }
      out[size_t(t) * ldo + n] = acc;
    }
  }
}

void matmul_q8(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<false>(w, x, n0, n1, out, ldo);
}

void matmul_q4(const WeightMatrix& w, const ActBlocks& x, int n0, int n1, float* out, int ldo) {
  matmul_quantized<true>(w, x, n0, n1, out, ldo);
}

float dot_f32(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void attn_scores(const float* q, const float* keys, int n, int head_dim, float scale, float* scores) {
  for (int p = 0; p < n; ++p) scores[p] = dot_f32(q, keys + size_t(p) * head_dim, head_dim) * scale;
}

void attn_values(const float* weights, const float* values, int n, int head_dim, float* out) {
  for (int i = 0; i < head_dim; ++i) out[i] = 0.0f;
  for (int p = 0; p < n; ++p)
    for (int i = 0; i < head_dim; ++i) out[i] += weights[p] * values[size_t(p) * head_dim + i];
}

void softmax(float* x, int n) {
  float mx = x[0];
  for (int i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = exp_approx(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(float* gate, const float* up, int n) {
  for (int i = 0; i < n; ++i) gate[i] = swiglu_one(gate[i], up[i]);
}

void matmul_f32(const WeightMatrix& w, const float* x, int ldx, int rows, int n0, int n1,
                float* out, int ldo) {
  const auto* wf = static_cast<const float*>(w.data);
  for (int t = 0; t < rows; ++t)
    for (int n = n0; n < n1; ++n)
      out[size_t(t) * ldo + n] = dot_f32(wf + size_t(n) * w.cols, x + size_t(t) * ldx, w.cols);
}

constexpr KernelTable kTable = {
    "scalar", WeightLayout::RowMajor, quantize_acts, matmul_q8, matmul_q4, matmul_f32, attn_scores, attn_values, softmax, swiglu,
};

}  // namespace

const KernelTable& scalar_kernels() { return kTable; }

}  // namespace edge
