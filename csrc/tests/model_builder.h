// What the native tests and benchmark drivers share when they build a model in
// memory: random weights, the shapes of a layer's matrices from its config, and
// RoPE tables.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "model.h"
#include "quantize.h"

namespace edge {

// Owns the random weights of a model built in memory: float arrays, and
// matrices quantized to a weight format. Pointers handed out stay valid as
// more are made (each array is a vector of its own).
struct RandomWeights {
  std::vector<std::vector<float>> floats;
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<std::vector<uint16_t>> scales;  // fp16
  std::mt19937 rng;

  explicit RandomWeights(unsigned seed) : rng(seed) {}

  const float* random(size_t n, float scale, float offset = 0.0f) {
    std::normal_distribution<float> dist(offset, scale);
    floats.emplace_back(n);
    for (float& x : floats.back()) x = dist(rng);
    return floats.back().data();
  }

  // A random [rows][cols] matrix in `format`; `dense`, if given, receives its
  // float weights (a reference computes with them).
  WeightMatrix matrix(WeightFormat format, int rows, int cols, const float** dense = nullptr) {
    const float* w = random(size_t(rows) * cols, 1.0f / std::sqrt(float(cols)));
    if (dense != nullptr) *dense = w;
    WeightMatrix m;
    m.format = format;
    m.rows = rows;
    m.cols = cols;
    if (format == WeightFormat::F32) {
      m.data = w;
      return m;
    }
    const int nb = num_blocks(cols);
    bytes.emplace_back(size_t(rows) * nb * (format == WeightFormat::Q8 ? kBlock : kBlock / 2));
    scales.emplace_back(size_t(rows) * nb);
    if (format == WeightFormat::Q8)
      quantize_rows_q8(w, rows, cols, bytes.back().data(), scales.back().data());
    else
      quantize_rows_q4(w, rows, cols, bytes.back().data(), scales.back().data());
    m.data = bytes.back().data();
    m.scales_f16 = scales.back().data();
    return m;
  }
};

// cos and sin, [max_context][head_dim / 2] each, for RoPE base `theta`; `store`
// owns them.
inline std::pair<const float*, const float*> rope_table(const ModelConfig& config, float theta,
                                                        std::vector<std::vector<float>>& store) {
  const int half = config.head_dim / 2;
  // both made before either is referenced: a second emplace_back may move the first
  store.emplace_back(size_t(config.max_context) * half);
  store.emplace_back(size_t(config.max_context) * half);
  std::vector<float>& cos = store[store.size() - 2];
  std::vector<float>& sin = store.back();
  for (int p = 0; p < config.max_context; ++p)
    for (int i = 0; i < half; ++i) {
      const float angle = float(p) * std::pow(theta, -2.0f * i / config.head_dim);
      cos[size_t(p) * half + i] = std::cos(angle);
      sin[size_t(p) * half + i] = std::sin(angle);
    }
  return {cos.data(), sin.data()};
}

// A layer's seven matrices, each made by make_matrix(rows, cols).
template <class MakeMatrix>
void make_layer_matrices(const ModelConfig& config, LayerWeights& lw, MakeMatrix make_matrix) {
  const int q = config.heads * config.head_dim, kv = config.kv_heads * config.head_dim;
  lw.wq = make_matrix(q, config.dim);
  lw.wk = make_matrix(kv, config.dim);
  lw.wv = make_matrix(kv, config.dim);
  lw.wo = make_matrix(config.dim, q);
  lw.w_gate = make_matrix(config.ffn_dim, config.dim);
  lw.w_up = make_matrix(config.ffn_dim, config.dim);
  lw.w_down = make_matrix(config.dim, config.ffn_dim);
}

}  // namespace edge
