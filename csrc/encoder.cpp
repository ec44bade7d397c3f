#include "encoder.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "config_bounds.h"
#include "ops.h"

namespace edge {

void check_encoder_config(const EncoderConfig& c) {
  auto bounded = [](const char* name, int64_t value, int64_t lo, int64_t hi) {
    check_bounded("encoder config", name, value, lo, hi);
  };
  bounded("dim", c.dim, 1, 1 << 16);
  bounded("ffn_dim", c.ffn_dim, 1, 1 << 18);
  bounded("layers", c.layers, 1, 1024);
  bounded("heads", c.heads, 1, c.dim);
  bounded("vocab", c.vocab, 1, 1 << 22);
  bounded("type_vocab", c.type_vocab, 1, 1 << 10);
  bounded("max_positions", c.max_positions, 1, 1 << 20);
  bounded("max_tokens", c.max_tokens, c.max_positions, 1 << 20);
  if (c.dim % c.heads)
    throw std::invalid_argument("encoder config: dim (" + std::to_string(c.dim) +
                                ") must be a multiple of heads (" + std::to_string(c.heads) + ")");
  if (!(std::isfinite(c.norm_eps) && c.norm_eps > 0.0f))
    throw std::invalid_argument("encoder config: norm_eps must be finite and positive");
  const int64_t widest = std::max(c.dim, c.ffn_dim);
  bounded("max_positions x dim", int64_t(c.max_positions) * c.dim, 1, INT32_MAX);
  bounded("max_tokens x the widest row", int64_t(c.max_tokens) * widest, 1, INT32_MAX);
}

Encoder::Encoder(const EncoderConfig& config, const EncoderWeights& weights,
                 const KernelTable& kernels, ThreadPool& pool)
    : config_((check_encoder_config(config), config)),
      weights_(weights),
      kernels_(kernels),
      pool_(pool),
      matmul_(kernels, pool, config.max_tokens, std::max(config.dim, config.ffn_dim)) {
  if (int(weights_.layers.size()) != config_.layers)
    throw std::invalid_argument("encoder: expected " + std::to_string(config_.layers) +
                                " layers of weights, got " + std::to_string(weights_.layers.size()));
  for (EncoderLayerWeights& l : weights_.layers)
    for (WeightMatrix* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_up, &l.w_down})
      MatrixProducts::prepare(kernels, *w, interleaved_);
  const size_t T = size_t(config_.max_tokens), D = size_t(config_.dim);
  for (std::vector<float>* b : {&x_, &o_, &q_, &k_, &v_, &kh_, &vh_, &att_}) b->assign(T * D, 0.0f);
  h_.assign(T * config_.ffn_dim, 0.0f);
  scores_.assign(size_t(config_.max_positions) * pool.size(), 0.0f);
  begin_.assign(T, 0);
  end_.assign(T, 0);
}

size_t Encoder::matrix_bytes() const {
  auto bytes = [](const WeightMatrix& w) {
    const size_t scales =
        w.format == WeightFormat::F32 ? 0 : size_t(w.rows) * w.blocks() * sizeof(uint16_t);
    return size_t(w.rows) * w.row_bytes() + scales;
  };
  size_t total = 0;
  for (const EncoderLayerWeights& l : weights_.layers)
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo) + bytes(l.w_up) +
             bytes(l.w_down);
  return total;
}

template <class Fn>
void Encoder::each_token(int T, Fn&& fn) {
  parallel_ranges(pool_, T, 1, [&](int, int t0, int t1) {
    for (int t = t0; t < t1; ++t) fn(t);
  });
}

void Encoder::embed(const int32_t* tokens, const int32_t* types, const int32_t* lengths,
                    int count, float* out) {
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (!lock.owns_lock())
    throw std::runtime_error(
        "this encoder is running on another thread; use one per thread or serialise calls");
  const EncoderConfig& c = config_;
  if (count <= 0) throw std::invalid_argument("no texts to embed");
  int64_t total = 0;
  for (int i = 0; i < count; ++i) {
    if (lengths[i] < 1 || lengths[i] > c.max_positions)
      throw std::length_error("text " + std::to_string(i) + " has " + std::to_string(lengths[i]) +
                              " tokens; it must have 1 to " + std::to_string(c.max_positions) +
                              " (the position table)");
    total += lengths[i];
  }
  for (int64_t t = 0; t < total; ++t) {
    if (tokens[t] < 0 || tokens[t] >= c.vocab)
      throw std::out_of_range("token id " + std::to_string(tokens[t]) + " at index " +
                              std::to_string(t) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab) + ")");
    if (types[t] < 0 || types[t] >= c.type_vocab)
      throw std::out_of_range("token type " + std::to_string(types[t]) + " at index " +
                              std::to_string(t) + " is outside [0, " +
                              std::to_string(c.type_vocab) + ")");
  }
  // Consecutive texts in passes of up to max_tokens tokens (a text fits one:
  // max_positions <= max_tokens).
  int first = 0;
  while (first < count) {
    int end = first, tokens_in_pass = 0;
    while (end < count && tokens_in_pass + lengths[end] <= c.max_tokens)
      tokens_in_pass += lengths[end++];
    forward(tokens, types, lengths + first, end - first, out + size_t(first) * c.dim);
    tokens += tokens_in_pass;
    types += tokens_in_pass;
    tokens_evaluated_ += tokens_in_pass;
    first = end;
  }
}

void Encoder::embed_tokens(const int32_t* tokens, const int32_t* types, int T) {
  const EncoderConfig& c = config_;
  const int D = c.dim;
  each_token(T, [&](int t) {
    float* x = &x_[size_t(t) * D];
    embedding_row(weights_.words, D, size_t(tokens[t]), x);
    const float* pos = weights_.positions + size_t(t - begin_[t]) * D;
    const float* type = weights_.types + size_t(types[t]) * D;
    for (int i = 0; i < D; ++i) x[i] = x[i] + type[i] + pos[i];
    layernorm(x, x, weights_.embed_norm, weights_.embed_norm_bias, D, c.norm_eps);
  });
}

// att_[t] = softmax(q_t . K / sqrt(hd)) V over the tokens of t's text, per head.
void Encoder::attention(int T) {
  const EncoderConfig& c = config_;
  const int hd = c.head_dim(), H = c.heads;
  const float scale = 1.0f / std::sqrt(float(hd));
  parallel_ranges(pool_, T * H, 1, [&](int worker, int j0, int j1) {
    float* scores = &scores_[size_t(c.max_positions) * worker];
    for (int j = j0; j < j1; ++j) {
      const int t = j / H, h = j % H;
      const int begin = begin_[t], n = end_[t] - begin;
      const size_t rows = (size_t(h) * T + begin) * hd;  // this head's rows of t's text
      kernels_.attn_scores(&q_[size_t(t) * c.dim + h * hd], &kh_[rows], n, hd, scale, scores);
      kernels_.softmax(scores, n);
      kernels_.attn_values(scores, &vh_[rows], n, hd, &att_[size_t(t) * c.dim + h * hd]);
    }
  });
}

void Encoder::pool_texts(const int32_t* lengths, int count, float* out) {
  const int D = config_.dim;
  int begin = 0;
  for (int i = 0; i < count; ++i) {
    float* e = out + size_t(i) * D;
    const int n = config_.pooling == Pooling::Cls ? 1 : lengths[i];
    for (int d = 0; d < D; ++d) {
      float sum = 0.0f;
      for (int t = begin; t < begin + n; ++t) sum += x_[size_t(t) * D + d];
      e[d] = sum / float(n);
    }
    begin += lengths[i];
    if (!config_.normalize) continue;
    double ss = 0.0;
    for (int d = 0; d < D; ++d) ss += double(e[d]) * e[d];
    const float inv = 1.0f / std::max(float(std::sqrt(ss)), 1e-12f);
    for (int d = 0; d < D; ++d) e[d] *= inv;
  }
}

void Encoder::forward(const int32_t* tokens, const int32_t* types, const int32_t* lengths,
                      int count, float* out) {
  const EncoderConfig& c = config_;
  const int D = c.dim, F = c.ffn_dim, H = c.heads, hd = c.head_dim();
  int T = 0;
  for (int i = 0; i < count; ++i) {
    for (int t = T; t < T + lengths[i]; ++t) begin_[t] = T, end_[t] = T + lengths[i];
    T += lengths[i];
  }
  embed_tokens(tokens, types, T);

  for (const EncoderLayerWeights& w : weights_.layers) {
    // Self-attention: every token of a text attends to every token of it.
    matmul_({{w.wq, q_.data(), D}, {w.wk, k_.data(), D}, {w.wv, v_.data(), D}}, x_.data(), T);
    each_token(T, [&](int t) {
      float* q = &q_[size_t(t) * D];
      const float* k = &k_[size_t(t) * D];
      const float* v = &v_[size_t(t) * D];
      for (int i = 0; i < D; ++i) q[i] += w.bq[i];
      for (int h = 0; h < H; ++h) {
        float* kh = &kh_[(size_t(h) * T + t) * hd];
        float* vh = &vh_[(size_t(h) * T + t) * hd];
        for (int i = 0; i < hd; ++i) {
          kh[i] = k[h * hd + i] + w.bk[h * hd + i];
          vh[i] = v[h * hd + i] + w.bv[h * hd + i];
        }
      }
    });
    attention(T);
    matmul_({{w.wo, o_.data(), D}}, att_.data(), T);
    each_token(T, [&](int t) {
      float* x = &x_[size_t(t) * D];
      const float* o = &o_[size_t(t) * D];
      for (int i = 0; i < D; ++i) x[i] += o[i] + w.bo[i];
      layernorm(x, x, w.attn_norm, w.attn_norm_bias, D, c.norm_eps);
    });

    // MLP: x = LN(x + W_down gelu(W_up x + b_up) + b_down).
    matmul_({{w.w_up, h_.data(), F}}, x_.data(), T);
    each_token(T, [&](int t) { bias_gelu(&h_[size_t(t) * F], w.b_up, F); });
    matmul_({{w.w_down, o_.data(), D}}, h_.data(), T);
    each_token(T, [&](int t) {
      float* x = &x_[size_t(t) * D];
      const float* o = &o_[size_t(t) * D];
      for (int i = 0; i < D; ++i) x[i] += o[i] + w.b_down[i];
      layernorm(x, x, w.ffn_norm, w.ffn_norm_bias, D, c.norm_eps);
    });
  }
  pool_texts(lengths, count, out);
}

}  // namespace edge
