// What the native tests and benchmark drivers share when they build a model in
// memory: the shapes of a layer's matrices come from its config, and RoPE tables.
#pragma once

#include <cmath>
#include <utility>
#include <vector>

#include "model.h"

namespace edge {

// cos and sin, [max_context][head_dim / 2] each, for RoPE base `theta`; `store`
// owns them.
inline std::pair<const float*, const float*> rope_table(const ModelConfig& config, float theta,
                                                        std::vector<std::vector<float>>& store) {
  const int half = config.head_dim / 2;
  std::vector<float>& cos = store.emplace_back(size_t(config.max_context) * half);
  std::vector<float>& sin = store.emplace_back(size_t(config.max_context) * half);
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
