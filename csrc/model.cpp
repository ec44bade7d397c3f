#include "model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "config_bounds.h"
#include "ops.h"

namespace edge {

void check_config(const ModelConfig& c) {
  auto bounded = [](const char* name, int64_t value, int64_t lo, int64_t hi) {
    check_bounded("model config", name, value, lo, hi);
  };
  bounded("dim", c.dim, 1, 1 << 16);
  bounded("ffn_dim", c.ffn_dim, 1, 1 << 18);
  bounded("layers", c.layers, 1, 1024);
  bounded("heads", c.heads, 1, 1024);
  bounded("kv_heads", c.kv_heads, 1, c.heads);
  bounded("head_dim", c.head_dim, 2, 2048);
  bounded("vocab", c.vocab, 1, 1 << 22);
  bounded("max_context", c.max_context, 1, 1 << 24);
  bounded("max_batch", c.max_batch, 1, 1 << 16);
  bounded("max_cache_positions", c.max_cache_positions, 0, INT32_MAX);
  if (c.head_dim % 2) throw std::invalid_argument("model config: head_dim must be even for RoPE");
  if (c.heads % c.kv_heads)
    throw std::invalid_argument("model config: heads must be a multiple of kv_heads");
  if (!(std::isfinite(c.norm_eps) && c.norm_eps > 0.0f))
    throw std::invalid_argument("model config: norm_eps must be finite and positive");
  const int64_t q_dim = int64_t(c.heads) * c.head_dim;
  const int64_t widest = std::max({int64_t(c.dim), int64_t(c.ffn_dim), q_dim, int64_t(c.vocab)});
  bounded("heads x head_dim", q_dim, 1, 1 << 18);
  bounded("max_context x heads x head_dim", int64_t(c.max_context) * q_dim, 1, INT32_MAX);
  bounded("max_batch x the widest row", int64_t(c.max_batch) * widest, 1, INT32_MAX);
}

Model::Model(const ModelConfig& config, const ModelWeights& weights, const KernelTable& kernels,
             ThreadPool& pool, CacheType cache_type)
    : config_((check_config(config), config)),
      weights_(weights),
      kernels_(kernels),
      pool_(pool),
      cache_(config.layers, config.kv_heads, config.head_dim,
             (config.max_context + kPagePositions - 1) / kPagePositions,
             (config.max_cache_positions + kPagePositions - 1) / kPagePositions, cache_type),
      // the widest input of a quantized product: dim (q, k, v, gate, up, the
      // head), heads x head_dim (o) or ffn_dim (down)
      matmul_(kernels, pool, config.max_batch,
              std::max({config.dim, config.ffn_dim, config.heads * config.head_dim})) {
  for (LayerWeights& l : weights_.layers)
    for (WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      MatrixProducts::prepare(kernels, *w, interleaved_);
  MatrixProducts::prepare(kernels, weights_.lm_head, interleaved_);
  const ModelConfig& c = config_;
  const size_t B = size_t(c.max_batch);
  const int q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
  const int widest = std::max({c.dim, c.ffn_dim, q_dim});
  x_.assign(B * c.dim, 0.0f);
  xb_.assign(B * widest, 0.0f);
  q_.assign(B * q_dim, 0.0f);
  k_.assign(B * kv_dim, 0.0f);
  v_.assign(B * kv_dim, 0.0f);
  att_out_.assign(B * q_dim, 0.0f);
  gate_.assign(B * c.ffn_dim, 0.0f);
  up_.assign(B * c.ffn_dim, 0.0f);
  // Per worker: attention scores for a whole context, room for one page of a
  // head's keys or values converted from an f16 cache, and one page's values.
  const size_t per_worker = size_t(c.max_context) + size_t(kPagePositions + 1) * c.head_dim;
  scores_.assign(per_worker * pool.size(), 0.0f);
}

size_t Model::weight_bytes_per_token() const {
  auto bytes = [](const WeightMatrix& w) {
    const size_t scales =
        w.format == WeightFormat::F32 ? 0 : size_t(w.rows) * w.blocks() * sizeof(uint16_t);
    return size_t(w.rows) * w.row_bytes() + scales;
  };
  size_t total = bytes(weights_.lm_head);
  for (const LayerWeights& l : weights_.layers)
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo) + bytes(l.w_gate) +
             bytes(l.w_up) + bytes(l.w_down);
  return total;
}

void embedding_row(const EmbeddingTable& table, int dim, size_t row, float* out) {
  if (table.format == WeightFormat::F32) {
    std::memcpy(out, static_cast<const float*>(table.data) + row * dim, size_t(dim) * 4);
    return;
  }
  const size_t nb = size_t(num_blocks(dim));
  const uint8_t* q = static_cast<const uint8_t*>(table.data) + row * nb * kBlock;
  const uint16_t* d = table.scales_f16 + row * nb;
  for (int i = 0; i < dim; ++i) out[i] = float(int(q[i]) - 128) * half_to_float(d[i / kBlock]);
}

void Model::embed(const int32_t* tokens, int count) {
  const int D = config_.dim;
  for (int t = 0; t < count; ++t)
    embedding_row(weights_.embedding, D, size_t(tokens[t]), &x_[size_t(t) * D]);
  if (config_.embedding_scale == 1.0f) return;
  for (size_t i = 0; i < size_t(count) * D; ++i) x_[i] *= config_.embedding_scale;
}

void Model::attention(int layer, const TokenSlot* slots, int count) {
  const ModelConfig& c = config_;
  const int hd = c.head_dim, group = c.heads / c.kv_heads;
  const float scale =
      c.attention_scale > 0.0f ? c.attention_scale : 1.0f / std::sqrt(float(hd));
  const int window = weights_.layers[layer].window;
  const size_t per_worker = size_t(c.max_context) + size_t(kPagePositions + 1) * hd;
  parallel_ranges(pool_, count * c.heads, 1, [&](int worker, int j0, int j1) {
    float* scores = &scores_[per_worker * worker];
    float* convert = scores + c.max_context;
    float* page_out = convert + size_t(kPagePositions) * hd;
    for (int j = j0; j < j1; ++j) {
      const int t = j / c.heads, h = j % c.heads, kvh = h / group;
      const int end = slots[t].pos + 1;  // causal: this token and all before it
      const int start = window > 0 ? std::max(0, end - window) : 0;
      const int32_t* pages = slots[t].pages;
      const float* q = &q_[(size_t(t) * c.heads + h) * hd];
      float* out = &att_out_[(size_t(t) * c.heads + h) * hd];
      // Page by page: [p0, p1) is the part of page p0 / kPagePositions in [start, end).
      auto each_page = [&](auto&& fn) {
        for (int p0 = start; p0 < end;) {
          const int page = p0 / kPagePositions, base = page * kPagePositions;
          const int p1 = std::min(end, base + kPagePositions);
          fn(pages[page], p0 - base, p1 - base, p0 - start, p1 - p0);
          p0 = p1;
        }
      };
      each_page([&](int page, int s0, int s1, int at, int n) {
        kernels_.attn_scores(q, cache_.keys(layer, kvh, page, s0, s1, convert), n, hd, scale,
                             scores + at);
      });
      kernels_.softmax(scores, end - start);
      bool first = true;
      each_page([&](int page, int s0, int s1, int at, int n) {
        const float* values = cache_.values(layer, kvh, page, s0, s1, convert);
        kernels_.attn_values(scores + at, values, n, hd, first ? out : page_out);
        if (!first)
          for (int i = 0; i < hd; ++i) out[i] += page_out[i];
        first = false;
      });
    }
  });
}

void Model::gated_activation(int count) {
  const int F = config_.ffn_dim;
  for (int t = 0; t < count; ++t) {
    float* gate = &gate_[size_t(t) * F];
    const float* up = &up_[size_t(t) * F];
    if (config_.activation == Activation::SiLU)
      kernels_.swiglu(gate, up, F);
    else
      gelu_tanh_gate(gate, up, F);
  }
}

void Model::forward(const int32_t* tokens, const TokenSlot* slots, int count, float* logits,
                    int logit_rows) {
  const ModelConfig& c = config_;
  const int D = c.dim, F = c.ffn_dim, hd = c.head_dim, half = hd / 2;
  const int q_dim = c.heads * hd, kv_dim = c.kv_heads * hd;
  embed(tokens, count);

  for (int l = 0; l < c.layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    for (int t = 0; t < count; ++t)
      rmsnorm(&xb_[size_t(t) * D], &x_[size_t(t) * D], w.attn_norm, D, c.norm_eps);
    matmul_({{w.wq, q_.data(), q_dim}, {w.wk, k_.data(), kv_dim}, {w.wv, v_.data(), kv_dim}},
           xb_.data(), count);
    for (int t = 0; t < count; ++t) {
      float* q = &q_[size_t(t) * q_dim];
      float* k = &k_[size_t(t) * kv_dim];
      float* v = &v_[size_t(t) * kv_dim];
      if (w.bq) {
        for (int i = 0; i < q_dim; ++i) q[i] += w.bq[i];
        for (int i = 0; i < kv_dim; ++i) k[i] += w.bk[i];
        for (int i = 0; i < kv_dim; ++i) v[i] += w.bv[i];
      }
      const int pos = slots[t].pos;
      const float* cos = w.rope_cos + size_t(pos) * half;
      const float* sin = w.rope_sin + size_t(pos) * half;
      for (int h = 0; h < c.heads; ++h) {
        if (w.q_norm) rmsnorm(q + h * hd, q + h * hd, w.q_norm, hd, c.norm_eps);
        rope(q + h * hd, cos, sin, hd);
      }
      for (int h = 0; h < c.kv_heads; ++h) {
        if (w.k_norm) rmsnorm(k + h * hd, k + h * hd, w.k_norm, hd, c.norm_eps);
        rope(k + h * hd, cos, sin, hd);
        cache_.store(l, h, slots[t].pages[pos / kPagePositions], pos % kPagePositions,
                     k + h * hd, v + h * hd);
      }
    }
    attention(l, slots, count);
    matmul_({{w.wo, xb_.data(), D}}, att_out_.data(), count);
    for (int t = 0; t < count; ++t) {
      float* x = &x_[size_t(t) * D];
      float* o = &xb_[size_t(t) * D];
      if (w.bo)
        for (int i = 0; i < D; ++i) o[i] += w.bo[i];
      if (w.attn_post_norm) rmsnorm(o, o, w.attn_post_norm, D, c.norm_eps);
      for (int i = 0; i < D; ++i) x[i] += o[i];
      rmsnorm(o, x, w.ffn_norm, D, c.norm_eps);
    }
    matmul_({{w.w_gate, gate_.data(), F}, {w.w_up, up_.data(), F}}, xb_.data(), count);
    gated_activation(count);
    matmul_({{w.w_down, xb_.data(), D}}, gate_.data(), count);
    for (int t = 0; t < count; ++t) {
      float* x = &x_[size_t(t) * D];
      float* o = &xb_[size_t(t) * D];
      if (w.ffn_post_norm) rmsnorm(o, o, w.ffn_post_norm, D, c.norm_eps);
      for (int i = 0; i < D; ++i) x[i] += o[i];
    }
  }

  if (!logits || logit_rows <= 0) return;
  const int first = count - logit_rows;
  for (int t = first; t < count; ++t)
    rmsnorm(&xb_[size_t(t - first) * D], &x_[size_t(t) * D], weights_.final_norm, D, c.norm_eps);
  matmul_({{weights_.lm_head, logits, c.vocab}}, xb_.data(), logit_rows);
}

}  // namespace edge
