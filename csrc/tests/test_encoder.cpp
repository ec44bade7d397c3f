// The encoder on a tiny random BERT: equal to a plain reference written here
// (naive loops in double, the whole of BERT's forward pass and the pooling),
// a text's embedding independent of the texts beside it and of the passes
// they are cut into, every kernel variant and thread count agreeing, and bad
// input and configs refused.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.h"
#include "encoder.h"
#include "model_builder.h"
#include "quantize.h"

using namespace edge;
using edge_test::throws;

namespace {

// Owns the memory of a random encoder with odd sizes (K not a multiple of 32),
// and keeps the float weights of every matrix for the reference.
struct TinyEncoder : RandomWeights {
  EncoderConfig config;
  EncoderWeights weights;

  struct Dense {  // one layer's float matrices, for the reference
    const float *wq, *wk, *wv, *wo, *w_up, *w_down;
  };
  const float* word_floats = nullptr;
  std::vector<Dense> dense;

  TinyEncoder(WeightFormat format, Pooling pooling = Pooling::Mean, bool normalize = true)
      : RandomWeights(7) {
    config.dim = 40;
    config.ffn_dim = 70;
    config.layers = 2;
    config.heads = 4;
    config.vocab = 53;
    config.type_vocab = 2;
    config.max_positions = 24;
    config.max_tokens = 30;
    config.norm_eps = 1e-12f;
    config.pooling = pooling;
    config.normalize = normalize;
    const int D = config.dim, F = config.ffn_dim;
    word_floats = random(size_t(config.vocab) * D, 1.0f);
    weights.words.format = WeightFormat::F32;
    weights.words.data = word_floats;
    weights.positions = random(size_t(config.max_positions) * D, 0.5f);
    weights.types = random(size_t(config.type_vocab) * D, 0.5f);
    weights.embed_norm = random(D, 0.1f, 1.0f);
    weights.embed_norm_bias = random(D, 0.1f);
    for (int l = 0; l < config.layers; ++l) {
      EncoderLayerWeights w;
      Dense d{};
      w.wq = matrix(format, D, D, &d.wq);
      w.wk = matrix(format, D, D, &d.wk);
      w.wv = matrix(format, D, D, &d.wv);
      w.wo = matrix(format, D, D, &d.wo);
      w.w_up = matrix(format, F, D, &d.w_up);
      w.w_down = matrix(format, D, F, &d.w_down);
      w.bq = random(D, 0.1f);
      w.bk = random(D, 0.1f);
      w.bv = random(D, 0.1f);
      w.bo = random(D, 0.1f);
      w.b_up = random(F, 0.1f);
      w.b_down = random(D, 0.1f);
      w.attn_norm = random(D, 0.1f, 1.0f);
      w.attn_norm_bias = random(D, 0.1f);
      w.ffn_norm = random(D, 0.1f, 1.0f);
      w.ffn_norm_bias = random(D, 0.1f);
      weights.layers.push_back(w);
      dense.push_back(d);
    }
  }
};

using Rows = std::vector<std::vector<double>>;

Rows linear(const Rows& x, const float* w, const float* b, int rows, int cols) {
  Rows out(x.size(), std::vector<double>(size_t(rows)));
  for (size_t t = 0; t < x.size(); ++t)
    for (int n = 0; n < rows; ++n) {
      double s = b[n];
      for (int k = 0; k < cols; ++k) s += double(w[size_t(n) * cols + k]) * x[t][size_t(k)];
      out[t][size_t(n)] = s;
    }
  return out;
}

void layer_norm(std::vector<double>& x, const float* w, const float* b, double eps) {
  const double n = double(x.size());
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / n;
  double var = 0.0;
  for (double v : x) var += (v - mean) * (v - mean);
  const double inv = 1.0 / std::sqrt(var / n + eps);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (x[i] - mean) * inv * w[i] + b[i];
}

// BERT and the pooling of one text, in double, from the float weights.
std::vector<double> reference(const TinyEncoder& m, const std::vector<int32_t>& tokens,
                              const std::vector<int32_t>& types) {
  const EncoderConfig& c = m.config;
  const EncoderWeights& ew = m.weights;
  const int D = c.dim, F = c.ffn_dim, H = c.heads, hd = D / H, n = int(tokens.size());
  Rows x(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(D)));
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < D; ++i)
      x[t][i] = double(m.word_floats[size_t(tokens[t]) * D + i]) +
                ew.types[size_t(types[t]) * D + i] + ew.positions[size_t(t) * D + i];
    layer_norm(x[t], ew.embed_norm, ew.embed_norm_bias, c.norm_eps);
  }
  for (int l = 0; l < c.layers; ++l) {
    const EncoderLayerWeights& w = ew.layers[l];
    const TinyEncoder::Dense& d = m.dense[l];
    const Rows q = linear(x, d.wq, w.bq, D, D), k = linear(x, d.wk, w.bk, D, D);
    const Rows v = linear(x, d.wv, w.bv, D, D);
    Rows att(size_t(n), std::vector<double>(size_t(D), 0.0));
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < H; ++h) {
        std::vector<double> p(static_cast<size_t>(n));
        double top = -1e300, sum = 0.0;
        for (int s = 0; s < n; ++s) {
          double dot = 0.0;
          for (int i = 0; i < hd; ++i) dot += q[t][h * hd + i] * k[s][h * hd + i];
          p[s] = dot / std::sqrt(double(hd));
          top = std::max(top, p[s]);
        }
        for (int s = 0; s < n; ++s) sum += p[s] = std::exp(p[s] - top);
        for (int s = 0; s < n; ++s)
          for (int i = 0; i < hd; ++i) att[t][h * hd + i] += p[s] / sum * v[s][h * hd + i];
      }
    const Rows o = linear(att, d.wo, w.bo, D, D);
    for (int t = 0; t < n; ++t) {
      for (int i = 0; i < D; ++i) x[t][i] += o[t][i];
      layer_norm(x[t], w.attn_norm, w.attn_norm_bias, c.norm_eps);
    }
    Rows up = linear(x, d.w_up, w.b_up, F, D);
    for (auto& row : up)
      for (double& u : row) u = 0.5 * u * (1.0 + std::erf(u / std::sqrt(2.0)));
    const Rows down = linear(up, d.w_down, w.b_down, D, F);
    for (int t = 0; t < n; ++t) {
      for (int i = 0; i < D; ++i) x[t][i] += down[t][i];
      layer_norm(x[t], w.ffn_norm, w.ffn_norm_bias, c.norm_eps);
    }
  }
  std::vector<double> e(size_t(D), 0.0);
  const int pooled = c.pooling == Pooling::Cls ? 1 : n;
  for (int t = 0; t < pooled; ++t)
    for (int i = 0; i < D; ++i) e[i] += x[t][i] / pooled;
  if (c.normalize) {
    double norm = 0.0;
    for (double v : e) norm += v * v;
    for (double& v : e) v /= std::sqrt(norm);
  }
  return e;
}

// Texts of lengths 1 to 24 (the position table), token types mixed.
struct Texts {
  std::vector<int32_t> tokens, types, lengths;
  std::vector<std::vector<int32_t>> each_tokens, each_types;
  Texts(const std::vector<int32_t>& tok, const std::vector<int32_t>& typ)
      : tokens(tok), types(typ), lengths{int32_t(tok.size())}, each_tokens{tok}, each_types{typ} {}
  Texts(const std::vector<int>& sizes, int vocab) {
    std::mt19937 rng(3);
    for (int n : sizes) {
      std::vector<int32_t> tok(static_cast<size_t>(n)), typ(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        tok[i] = int32_t(rng() % unsigned(vocab));
        typ[i] = i >= n / 2 ? 1 : 0;
      }
      tokens.insert(tokens.end(), tok.begin(), tok.end());
      types.insert(types.end(), typ.begin(), typ.end());
      lengths.push_back(n);
      each_tokens.push_back(tok);
      each_types.push_back(typ);
    }
  }
  int count() const { return int(lengths.size()); }
};

const std::vector<int> kSizes = {5, 1, 24, 9, 13, 2, 17};

std::vector<float> run(const TinyEncoder& m, const KernelTable& kernels, int threads,
                       const Texts& texts) {
  ThreadPool pool(threads);
  Encoder encoder(m.config, m.weights, kernels, pool);
  std::vector<float> out(size_t(texts.count()) * m.config.dim);
  encoder.embed(texts.tokens.data(), texts.types.data(), texts.lengths.data(), texts.count(),
                out.data());
  return out;
}

double max_abs_diff(const float* a, const double* b, int n) {
  double m = 0.0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

// How far two runs may differ that sum in different orders: f32 by rounding;
// quantized, where a last-bit difference puts an activation on an int8
// rounding boundary, its code flips by one step (see test_engine.cpp).
float order_tolerance(WeightFormat format) { return format == WeightFormat::F32 ? 1e-6f : 2e-2f; }

}  // namespace

TEST(f32_equals_the_reference) {
  for (Pooling pooling : {Pooling::Mean, Pooling::Cls}) {
    for (bool normalize : {true, false}) {
      TinyEncoder m(WeightFormat::F32, pooling, normalize);
      const Texts texts(kSizes, m.config.vocab);
      const std::vector<float> got = run(m, select_kernels(), 2, texts);
      for (int i = 0; i < texts.count(); ++i) {
        const std::vector<double> want = reference(m, texts.each_tokens[i], texts.each_types[i]);
        const double diff = max_abs_diff(&got[size_t(i) * m.config.dim], want.data(), m.config.dim);
        CHECK_MSG(diff < 2e-6, "pooling %d normalize %d text %d: differs by %g", int(pooling),
                  int(normalize), i, diff);
      }
    }
  }
}

TEST(quantized_is_close_to_the_reference) {
  // Quantized weights and activations: cosine to the float reference.
  for (WeightFormat format : {WeightFormat::Q8, WeightFormat::Q4}) {
    TinyEncoder m(format);
    const Texts texts(kSizes, m.config.vocab);
    const std::vector<float> got = run(m, select_kernels(), 2, texts);
    for (int i = 0; i < texts.count(); ++i) {
      const std::vector<double> want = reference(m, texts.each_tokens[i], texts.each_types[i]);
      double dot = 0.0;
      for (int d = 0; d < m.config.dim; ++d) dot += got[size_t(i) * m.config.dim + d] * want[d];
      const double floor = format == WeightFormat::Q8 ? 0.999 : 0.98;
      CHECK_MSG(dot > floor, "format %d text %d: cosine %g", int(format), i, dot);
    }
  }
}

TEST(a_text_does_not_depend_on_its_neighbours) {
  // max_tokens is 30: the seven texts (71 tokens) run in several passes,
  // and each alone in one. Passes of other sizes sum in other orders (the
  // kernels tile tokens), so only to rounding; for the quantized formats a
  // last-bit difference may flip an int8 activation code (see test_engine.cpp).
  for (WeightFormat format : {WeightFormat::F32, WeightFormat::Q8, WeightFormat::Q4}) {
    TinyEncoder m(format);
    const Texts texts(kSizes, m.config.vocab);
    const std::vector<float> together = run(m, select_kernels(), 2, texts);
    for (int i = 0; i < texts.count(); ++i) {
      const Texts alone(texts.each_tokens[i], texts.each_types[i]);
      const std::vector<float> single = run(m, select_kernels(), 1, alone);
      float diff = 0.0f;
      for (int d = 0; d < m.config.dim; ++d)
        diff = std::max(diff, std::fabs(single[d] - together[size_t(i) * m.config.dim + d]));
      CHECK_MSG(diff < order_tolerance(format), "format %d text %d: alone and together differ by %g", int(format),
                i, diff);
    }
  }
}

TEST(threads_and_kernels_agree) {
  for (WeightFormat format : {WeightFormat::F32, WeightFormat::Q8, WeightFormat::Q4}) {
    TinyEncoder m(format);
    const Texts texts(kSizes, m.config.vocab);
    const std::vector<float> ref = run(m, scalar_kernels(), 1, texts);
    for (const KernelVariant& v : kernel_variants()) {
      if (!v.supported) continue;
      for (int threads : {1, 2, 3}) {
        const std::vector<float> got = run(m, *v.table, threads, texts);
        float diff = 0.0f;
        for (size_t i = 0; i < ref.size(); ++i) diff = std::max(diff, std::fabs(ref[i] - got[i]));
        CHECK_MSG(diff < order_tolerance(format), "%s threads=%d format=%d: embeddings differ by %g",
                  v.table->name, threads, int(format), diff);
      }
    }
  }
}

TEST(q8_word_embeddings_are_close) {
  TinyEncoder m(WeightFormat::F32);
  const Texts texts(kSizes, m.config.vocab);
  const std::vector<float> f32 = run(m, select_kernels(), 1, texts);
  const int D = m.config.dim, nb = num_blocks(D);
  std::vector<uint8_t> codes(size_t(m.config.vocab) * nb * kBlock);
  std::vector<uint16_t> sc(size_t(m.config.vocab) * nb);
  quantize_rows_q8(m.word_floats, m.config.vocab, D, codes.data(), sc.data());
  m.weights.words = {WeightFormat::Q8, codes.data(), sc.data()};
  const std::vector<float> q8 = run(m, select_kernels(), 1, texts);
  for (int i = 0; i < texts.count(); ++i) {
    double dot = 0.0;
    for (int d = 0; d < D; ++d) dot += double(f32[size_t(i) * D + d]) * q8[size_t(i) * D + d];
    CHECK_MSG(dot > 0.999, "text %d: cosine %g", i, dot);
  }
}

TEST(bad_input_throws) {
  TinyEncoder m(WeightFormat::Q8);
  ThreadPool pool(2);
  Encoder encoder(m.config, m.weights, select_kernels(), pool);
  std::vector<float> out(size_t(4) * m.config.dim);
  auto embeds = [&](std::vector<int32_t> tokens, std::vector<int32_t> types,
                    std::vector<int32_t> lengths) {
    return !throws([&] {
      encoder.embed(tokens.data(), types.data(), lengths.data(), int(lengths.size()), out.data());
    });
  };
  CHECK(embeds({1, 2, 3}, {0, 0, 1}, {2, 1}));
  CHECK(!embeds({}, {}, {}));                   // no texts
  CHECK(!embeds({1, 2}, {0, 0}, {2, 0}));       // an empty text
  CHECK(!embeds({1, 53}, {0, 0}, {2}));         // a token beyond the vocabulary
  CHECK(!embeds({-1}, {0}, {1}));
  CHECK(!embeds({1, 2}, {0, 2}, {2}));          // a type beyond type_vocab
  CHECK(!embeds(std::vector<int32_t>(25, 1), std::vector<int32_t>(25, 0), {25}));  // > positions
  CHECK(embeds(std::vector<int32_t>(24, 1), std::vector<int32_t>(24, 0), {24}));
  CHECK(encoder.tokens_evaluated() == 27);
}

TEST(configs_beyond_the_bounds_throw_before_allocating) {
  TinyEncoder m(WeightFormat::F32);
  ThreadPool pool(1);
  auto refused = [&](auto change) {
    EncoderConfig c = m.config;
    change(c);
    return throws([&] { Encoder(c, m.weights, select_kernels(), pool); });
  };
  CHECK(!refused([](EncoderConfig&) {}));
  CHECK(refused([](EncoderConfig& c) { c.heads = 3; }));  // 40 is not a multiple of 3
  CHECK(refused([](EncoderConfig& c) { c.heads = 0; }));
  CHECK(refused([](EncoderConfig& c) { c.max_tokens = 23; }));  // below max_positions
  CHECK(refused([](EncoderConfig& c) { c.max_tokens = 1 << 20, c.ffn_dim = 1 << 18; }));
  CHECK(refused([](EncoderConfig& c) { c.max_positions = 1 << 20, c.dim = 1 << 16, c.heads = 1; }));
  CHECK(refused([](EncoderConfig& c) { c.norm_eps = std::nanf(""); }));
  CHECK(refused([](EncoderConfig& c) { c.layers = 3; }));  // the weights have 2
  CHECK(refused([](EncoderConfig& c) { c.type_vocab = 0; }));
}

int main() { return edge_test::run_all(); }
