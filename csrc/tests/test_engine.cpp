// The engine on a tiny random model: incremental decode equals a full
// recomputation, threads do not change results, every kernel variant gives
// the same logits as the scalar one, and bad input is refused.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "check.h"
#include "engine.h"
#include "model_builder.h"
#include "quantize.h"

using namespace edge;
using edge_test::throws;

namespace {

// Owns the memory of a random model with odd sizes (K not a multiple of 32).
// With `gemma`, Gemma 3's features: GELU-tanh, scaled embeddings and attention,
// post-norms, and a first layer that slides a window of 5 with its own RoPE table.
struct TinyModel : RandomWeights {
  ModelConfig config;
  ModelWeights weights;

  TinyModel(WeightFormat format, bool gemma) : RandomWeights(42) {
    config.dim = 72;
    config.ffn_dim = 100;
    config.layers = 2;
    config.heads = 4;
    config.kv_heads = 2;
    config.head_dim = 18;
    config.vocab = 97;
    config.max_context = 40;
    config.max_batch = 8;
    weights.embedding.format = WeightFormat::F32;
    weights.embedding.data = random(size_t(config.vocab) * config.dim, 1.0f);
    if (gemma) {
      config.activation = Activation::GeluTanh;
      config.embedding_scale = std::sqrt(float(config.dim));
      config.attention_scale = 0.3f;
    }
    const auto global = rope_table(config, 10000.0f, floats);
    const auto local = rope_table(config, 100.0f, floats);
    const int q = config.heads * config.head_dim, kv = config.kv_heads * config.head_dim;
    for (int l = 0; l < config.layers; ++l) {
      LayerWeights lw;
      lw.attn_norm = random(config.dim, 0.1f, 1.0f);
      lw.ffn_norm = random(config.dim, 0.1f, 1.0f);
      make_layer_matrices(config, lw, [&](int rows, int cols) { return matrix(format, rows, cols); });
      lw.bq = random(q, 0.1f);
      lw.bk = random(kv, 0.1f);
      lw.bv = random(kv, 0.1f);
      lw.q_norm = random(config.head_dim, 0.1f, 1.0f);
      lw.k_norm = random(config.head_dim, 0.1f, 1.0f);
      const bool sliding = gemma && l == 0;
      lw.window = sliding ? 5 : 0;
      std::tie(lw.rope_cos, lw.rope_sin) = sliding ? local : global;
      if (gemma) {
        lw.attn_post_norm = random(config.dim, 0.1f, 1.0f);
        lw.ffn_post_norm = random(config.dim, 0.1f, 1.0f);
      }
      weights.layers.push_back(lw);
    }
    weights.final_norm = random(config.dim, 0.1f, 1.0f);
    weights.lm_head = matrix(format, config.vocab, config.dim);
  }
};

const std::vector<int32_t> kPrompt = {3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26, 43};

// How far two runs of the same quantized model may differ when they sum
// floats in different orders (decode and prefill kernels, or two kernel
// variants). The order alone moves logits by about 1e-6; but where that
// last-bit difference puts an activation on an int8 rounding boundary, its
// code flips by one step (max|x|/127 of its block), which moves the logits of
// that token and of the later ones attending to it by up to a few percent of
// their spread: the tiny models' logits have a spread (std) of about 1, and
// one such flip at Q8 measured 0.039. An f32 model quantizes no activations.
float order_tolerance(WeightFormat format, float f32_tolerance) {
  return format == WeightFormat::F32 ? f32_tolerance : 5e-2f;
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST(incremental_decode_equals_full_recompute) {
  for (bool gemma : {false, true}) {
    for (WeightFormat format : {WeightFormat::F32, WeightFormat::Q8, WeightFormat::Q4}) {
      TinyModel m(format, gemma);
      Engine engine(m.config, m.weights, 1, select_kernels(), CacheType::F32);
      const int n = int(kPrompt.size()), V = m.config.vocab;
      std::vector<float> all(size_t(n) * V);
      engine.logits_all(kPrompt.data(), n, all.data());  // chunks of max_batch = 8
      engine.logits_all(kPrompt.data(), 1, all.data());   // reset to one token
      for (int i = 1; i < n; ++i) {
        engine.append(&kPrompt[i], 1);
        const float diff = max_abs_diff(engine.last_logits(), &all[size_t(i) * V], V);
        CHECK_MSG(diff < order_tolerance(format, 1e-4f),
                  "gemma %d format %d token %d: decode differs from full pass by %g", int(gemma),
                  int(format), i, diff);
      }
    }
  }
}

TEST(threads_and_kernels_agree) {
  for (bool gemma : {false, true}) {
    for (WeightFormat format : {WeightFormat::F32, WeightFormat::Q8, WeightFormat::Q4}) {
      TinyModel m(format, gemma);
      const int n = int(kPrompt.size()), V = m.config.vocab;
      std::vector<float> ref(size_t(n) * V), got(size_t(n) * V);
      Engine scalar(m.config, m.weights, 1, scalar_kernels(), CacheType::F32);
      scalar.logits_all(kPrompt.data(), n, ref.data());
      for (const KernelVariant& v : kernel_variants()) {
        if (!v.supported) continue;
        for (int threads : {1, 2, 3}) {
          Engine e(m.config, m.weights, threads, *v.table, CacheType::F32);
          e.logits_all(kPrompt.data(), n, got.data());
          const float diff = max_abs_diff(ref.data(), got.data(), ref.size());
          // Kernels differ from scalar only in float summation order.
          CHECK_MSG(diff < order_tolerance(format, 1e-2f),
                    "%s threads=%d format=%d gemma=%d: logits differ by %g", v.table->name, threads,
                    int(format), int(gemma), diff);
        }
      }
    }
  }
}

TEST(f16_and_q8_caches_are_close_to_f32) {
  TinyModel m(WeightFormat::F32, false);
  const int n = int(kPrompt.size()), V = m.config.vocab;
  std::vector<float> a(size_t(n) * V), b(size_t(n) * V), c(size_t(n) * V);
  Engine e32(m.config, m.weights, 1, select_kernels(), CacheType::F32);
  Engine e16(m.config, m.weights, 1, select_kernels(), CacheType::F16);
  Engine e8(m.config, m.weights, 1, select_kernels(), CacheType::Q8);
  e32.logits_all(kPrompt.data(), n, a.data());
  e16.logits_all(kPrompt.data(), n, b.data());
  e8.logits_all(kPrompt.data(), n, c.data());
  CHECK(max_abs_diff(a.data(), b.data(), a.size()) < 2e-2f);
  // int8 codes move each cached value by up to 1/254 of its block's largest
  CHECK_MSG(max_abs_diff(a.data(), c.data(), a.size()) < 1e-1f, "q8 cache: %g",
            max_abs_diff(a.data(), c.data(), a.size()));
  CHECK(e16.cache_bytes() * 2 == e32.cache_bytes());
  // head_dim 18: 18 codes and one 4-byte scale per row, against 72 bytes of f32
  CHECK(e8.cache_bytes() * 72 == e32.cache_bytes() * 22);
}

TEST(bad_input_throws) {
  TinyModel m(WeightFormat::Q4, false);
  Engine engine(m.config, m.weights, 2, select_kernels(), CacheType::F32);
  const int32_t bad[] = {1, 97};
  CHECK(throws([&] { engine.append(bad, 2); }));
  const int32_t negative[] = {-1};
  CHECK(throws([&] { engine.append(negative, 1); }));
  CHECK(throws([&] { engine.append(bad, 0); }));
  std::vector<int32_t> long_prompt(41, 1);
  CHECK(throws([&] { engine.append(long_prompt.data(), 41); }));
  std::vector<int32_t> fits(40, 1);
  engine.append(fits.data(), 40);
  CHECK(throws([&] { engine.append(fits.data(), 1); }));  // context full
  std::vector<float> logits(m.config.vocab, 0.0f);
  CHECK(throws([&] { engine.rewind(41, logits.data()); }));
  engine.rewind(5, logits.data());
  CHECK(engine.position() == 5);
}

TEST(configs_beyond_the_bounds_throw_before_allocating) {
  // Each would overflow 32-bit sizes or ask for a huge buffer if it got that far.
  TinyModel m(WeightFormat::F32, false);
  auto refused = [&](auto change) {
    ModelConfig c = m.config;
    change(c);
    return throws([&] { Engine(c, m.weights, 1, select_kernels(), CacheType::F32); });
  };
  CHECK(refused([](ModelConfig& c) { c.heads = 67108867, c.head_dim = 64; }));
  CHECK(refused([](ModelConfig& c) { c.head_dim = 1 << 22; }));
  CHECK(refused([](ModelConfig& c) { c.max_context = 1 << 24, c.heads = c.kv_heads = 512; }));
  CHECK(refused([](ModelConfig& c) { c.max_batch = 1 << 16, c.vocab = 1 << 22; }));
  CHECK(refused([](ModelConfig& c) { c.kv_heads = 3; }));
  CHECK(refused([](ModelConfig& c) { c.head_dim = 17; }));
  CHECK(refused([](ModelConfig& c) { c.norm_eps = std::nanf(""); }));
  CHECK(refused([](ModelConfig& c) { c.layers = 0; }));
  CHECK(throws([&] { Engine(m.config, m.weights, 0, select_kernels(), CacheType::F32); }));
  CHECK(throws([&] { Engine(m.config, m.weights, 100000, select_kernels(), CacheType::F32); }));
}

TEST(sampler_survives_tiny_temperatures_and_non_finite_logits) {
  Sampler s(5);
  const float logits[] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f};
  for (float t : {1e-45f, 1e-40f, 5e-38f}) CHECK(s.sample(logits, {t, 0, 1.0f, 1.0f}, nullptr, 0) == 1);
  const float inf = INFINITY, nan = std::nanf("");
  const float odd[][5] = {{nan, 1, 2, 3, 4}, {1, inf, 2, -inf, 0}, {-inf, -inf, -inf, -inf, -inf}};
  for (const auto& row : odd) {
    const int t = s.sample(row, {0.7f, 0, 0.9f, 1.0f}, nullptr, 0);
    CHECK(t >= 0 && t < 5);
  }
}

TEST(sampler_greedy_and_seeded) {
  Sampler s(5);
  const float logits[] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f};
  SamplingParams greedy;
  CHECK(s.sample(logits, greedy, nullptr, 0) == 1);
  SamplingParams top1{1.0f, 1, 1.0f, 1.0f};
  CHECK(s.sample(logits, top1, nullptr, 0) == 1);
  const int32_t history[] = {1};
  SamplingParams penalised{0.0f, 0, 1.0f, 2.0f};  // 2.0 / 2 = 1.0 < 1.9
  CHECK(s.sample(logits, penalised, history, 1) == 3);
  SamplingParams hot{1.0f, 0, 0.9f, 1.0f};
  std::vector<int> a, b;
  s.seed(7);
  for (int i = 0; i < 50; ++i) a.push_back(s.sample(logits, hot, nullptr, 0));
  s.seed(7);
  for (int i = 0; i < 50; ++i) b.push_back(s.sample(logits, hot, nullptr, 0));
  CHECK(a == b);
  bool varied = false;
  for (int x : a) varied |= x != a[0];
  CHECK(varied);
  for (int x : a) CHECK(x == 1 || x == 3 || x == 0);  // top-p 0.9 keeps three tokens
}

TEST(sampler_draws_from_its_distribution) {
  Sampler s(6);
  const float logits[] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f, 1.0f};
  const int32_t history[] = {3};
  float probs[6];
  s.distribution(logits, {0.0f, 0, 1.0f, 1.0f}, nullptr, 0, probs);
  CHECK(probs[1] == 1.0f && probs[0] == 0.0f);
  SamplingParams p{0.8f, 4, 0.9f, 1.3f};
  s.distribution(logits, p, history, 1, probs);
  float total = 0.0f;
  for (float x : probs) total += x;
  CHECK(std::fabs(total - 1.0f) < 1e-5f);
  CHECK(probs[2] == 0.0f);  // outside the top 4
  std::vector<int> counts(6, 0);
  s.seed(3);
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ++counts[size_t(s.sample(logits, p, history, 1))];
  for (int t = 0; t < 6; ++t)
    CHECK_MSG(std::fabs(float(counts[size_t(t)]) / draws - probs[t]) < 0.015f,
              "token %d: drawn %g, distribution %g", t, float(counts[size_t(t)]) / draws, probs[t]);
}

TEST(sampler_greedy_is_the_first_largest_logit) {
  // Greedy picks what std::max_element picks, on a vocabulary long enough for
  // the vectorized path, with ties, a tail shorter than a lane group, and NaN.
  const int vocab = 1000 + 7;
  Sampler s(vocab);
  SamplingParams greedy;
  std::vector<float> logits(vocab);
  for (int i = 0; i < vocab; ++i) logits[i] = float((i * 7919) % 613) * 0.01f;
  auto expect = [&] { return int(std::max_element(logits.begin(), logits.end()) - logits.begin()); };
  CHECK(s.sample(logits.data(), greedy, nullptr, 0) == expect());
  logits[vocab - 1] = 100.0f;  // the largest in the tail
  CHECK(s.sample(logits.data(), greedy, nullptr, 0) == vocab - 1);
  logits[37] = 100.0f;  // a tie: the first one wins
  CHECK(s.sample(logits.data(), greedy, nullptr, 0) == 37);
  logits[5] = std::nanf("");  // NaN early in a lane: later values still count
  CHECK(s.sample(logits.data(), greedy, nullptr, 0) == expect());
  logits[0] = std::nanf("");
  CHECK(s.sample(logits.data(), greedy, nullptr, 0) == expect());
}

// ---- sequences -----------------------------------------------------------------

// The prompt of sequence i: a rotation of kPrompt, 4 + 3 * i tokens long (mod 13).
std::vector<int32_t> nth_prompt(int i) {
  std::vector<int32_t> p;
  for (int j = 0; j < 4 + (3 * i) % 10; ++j) p.push_back(kPrompt[size_t(i + j) % kPrompt.size()]);
  return p;
}

bool same_floats(const float* a, const float* b, int n) {
  return std::memcmp(a, b, size_t(n) * sizeof(float)) == 0;
}

TEST(batched_decode_equals_each_sequence_alone) {
  const int S = 10, steps = 6;  // 10 sequences: more than the tiny model's max_batch of 8
  for (bool gemma : {false, true}) {
    for (WeightFormat format : {WeightFormat::F32, WeightFormat::Q8, WeightFormat::Q4}) {
      TinyModel m(format, gemma);
      const int V = m.config.vocab;
      for (const KernelVariant& v : kernel_variants()) {
        if (!v.supported) continue;
        // Alone: each sequence in sequence 0 of its own run, a token at a time.
        Engine alone(m.config, m.weights, 2, *v.table, CacheType::F32);
        std::vector<std::vector<float>> expected(S);
        for (int i = 0; i < S; ++i) {
          const std::vector<int32_t> prompt = nth_prompt(i);
          alone.logits_all(prompt.data(), int(prompt.size()), std::vector<float>(prompt.size() * V).data());
          for (int s = 0; s < steps; ++s) {
            const int32_t token = (7 * i + 11 * s) % V;
            alone.append(&token, 1);
            expected[size_t(i)].insert(expected[size_t(i)].end(), alone.last_logits(),
                                       alone.last_logits() + V);
          }
        }
        // Together: all S sequences in one engine, one pass per step.
        Engine together(m.config, m.weights, 2, *v.table, CacheType::F32);
        std::vector<int32_t> ids;
        std::vector<float> scratch(static_cast<size_t>(V));
        for (int i = 0; i < S; ++i) {
          const std::vector<int32_t> prompt = nth_prompt(i);
          ids.push_back(together.open_sequence(-1, 0));
          together.extend(ids.back(), prompt.data(), int(prompt.size()), scratch.data(), 1);
        }
        std::vector<float> logits(size_t(S) * V);
        for (int s = 0; s < steps; ++s) {
          std::vector<int32_t> tokens;
          for (int i = 0; i < S; ++i) tokens.push_back((7 * i + 11 * s) % V);
          together.decode(ids.data(), tokens.data(), S, logits.data());
          for (int i = 0; i < S; ++i)
            CHECK_MSG(same_floats(&logits[size_t(i) * V], &expected[size_t(i)][size_t(s) * V], V),
                      "%s format=%d gemma=%d: sequence %d step %d differs from decoding alone",
                      v.table->name, int(format), int(gemma), i, s);
        }
      }
    }
  }
}

TEST(a_verification_pass_equals_one_token_steps) {
  for (WeightFormat format : {WeightFormat::F32, WeightFormat::Q8, WeightFormat::Q4}) {
    TinyModel m(format, true);
    const int V = m.config.vocab, n = 8;  // up to max_batch tokens in one pass
    for (const KernelVariant& v : kernel_variants()) {
      if (!v.supported) continue;
      Engine e(m.config, m.weights, 2, *v.table, CacheType::F32);
      std::vector<float> steps(size_t(n) * V), pass(size_t(n) * V);
      e.append(kPrompt.data(), 5);
      for (int i = 0; i < n; ++i) {
        e.append(&kPrompt[size_t(5 + i)], 1);
        std::memcpy(&steps[size_t(i) * V], e.last_logits(), size_t(V) * sizeof(float));
      }
      e.truncate(0, 5);
      e.extend(0, &kPrompt[5], n, pass.data(), n);
      CHECK_MSG(same_floats(steps.data(), pass.data(), n * V),
                "%s format=%d: a pass of %d tokens differs from one-token steps", v.table->name,
                int(format), n);
    }
  }
}

TEST(sequences_opened_from_a_prompt_share_its_pages) {
  TinyModel m(WeightFormat::Q4, false);
  const int V = m.config.vocab, n = int(kPrompt.size());
  Engine e(m.config, m.weights, 1, select_kernels(), CacheType::F32);
  e.append(kPrompt.data(), n);
  const size_t bytes = e.cache_bytes();
  std::vector<int32_t> forks;
  for (int i = 0; i < 4; ++i) forks.push_back(e.open_sequence(0, i < 3 ? n : 9));
  CHECK(e.cache_bytes() == bytes);  // nothing copied yet
  std::vector<float> got(4 * size_t(V)), want(static_cast<size_t>(V));
  const int32_t tokens[] = {1, 2, 3, 4};
  e.decode(forks.data(), tokens, 4, got.data());
  for (int i = 0; i < 4; ++i) {
    // The same prompt prefix and token, run from scratch in another engine.
    Engine fresh(m.config, m.weights, 1, select_kernels(), CacheType::F32);
    fresh.append(kPrompt.data(), i < 3 ? n : 9);
    fresh.append(&tokens[i], 1);
    CHECK_MSG(same_floats(&got[size_t(i) * V], fresh.last_logits(), V), "fork %d", i);
  }
  // A sequence can take another's prefix in place of its own.
  const int other = e.open_sequence(-1, 0);
  e.extend(other, tokens, 3, want.data(), 1);
  e.assign(other, forks[3], 9);
  CHECK(e.sequence_length(other) == 9 && e.cache_bytes() > bytes);
  e.extend(other, &tokens[3], 1, want.data(), 1);
  CHECK(same_floats(want.data(), &got[3 * size_t(V)], V));
  e.close_sequence(other);
  // Writing into the shared page copied it: sequence 0's positions are intact.
  Engine fresh(m.config, m.weights, 1, select_kernels(), CacheType::F32);
  fresh.append(kPrompt.data(), n);
  const int32_t next = 5;
  fresh.append(&next, 1);
  e.extend(0, &next, 1, want.data(), 1);
  CHECK(same_floats(want.data(), fresh.last_logits(), V));
  for (int32_t id : forks) e.close_sequence(id);
}

TEST(a_bounded_cache_refuses_a_sequence_without_changing_anything) {
  TinyModel m(WeightFormat::Q8, false);
  m.config.max_cache_positions = 2 * kPagePositions;
  Engine e(m.config, m.weights, 1, select_kernels(), CacheType::F32);
  std::vector<int32_t> tokens(30, 7);
  std::vector<float> logits(static_cast<size_t>(m.config.vocab));
  e.append(tokens.data(), 30);
  const int a = e.open_sequence(-1, 0), b = e.open_sequence(-1, 0);
  e.extend(a, tokens.data(), 30, logits.data(), 1);
  CHECK(throws([&] { e.extend(b, tokens.data(), 1, logits.data(), 1); }));
  CHECK(e.sequence_length(b) == 0 && e.sequence_length(a) == 30 && e.position() == 30);
  const int32_t both[] = {0, a}, two[] = {1, 2};
  std::vector<float> rows(2 * size_t(m.config.vocab));
  e.decode(both, two, 2, rows.data());  // within their pages: no new page needed
  e.close_sequence(a);
  e.extend(b, tokens.data(), 1, logits.data(), 1);
  CHECK(e.sequence_length(b) == 1);
}

TEST(bad_sequence_calls_throw) {
  TinyModel m(WeightFormat::Q4, false);
  Engine e(m.config, m.weights, 1, select_kernels(), CacheType::F32);
  std::vector<float> logits(4 * size_t(m.config.vocab));
  e.append(kPrompt.data(), 5);
  const int a = e.open_sequence(0, 5);
  CHECK(throws([&] { e.close_sequence(0); }));
  CHECK(throws([&] { e.open_sequence(0, 6); }));
  CHECK(throws([&] { e.open_sequence(7, 0); }));
  CHECK(throws([&] { e.truncate(a, 6); }));
  const int32_t twice[] = {a, a}, tokens[] = {1, 2}, unknown[] = {a, 9}, bad_token[] = {1, 97};
  CHECK(throws([&] { e.decode(twice, tokens, 2, logits.data()); }));
  CHECK(throws([&] { e.decode(unknown, tokens, 2, logits.data()); }));
  const int32_t pair[] = {0, a};
  CHECK(throws([&] { e.decode(pair, bad_token, 2, logits.data()); }));
  CHECK(e.sequence_length(a) == 5 && e.position() == 5);  // nothing ran
  e.close_sequence(a);
  CHECK(throws([&] { e.sequence_length(a); }));
  CHECK(throws([&] { e.extend(a, tokens, 1, logits.data(), 1); }));
}

int main() { return edge_test::run_all(); }
