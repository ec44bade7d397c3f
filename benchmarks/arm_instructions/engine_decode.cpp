// Runs the engine on a random-weight model of SmolLM2-135M's shape: prefills
// P tokens as one batch, then decodes N tokens greedily, one at a time.
//
//   engine_decode FORMAT P N THREADS     FORMAT: int4 | int8
//
// Built for aarch64 and run under QEMU with an instruction-counting plugin
// (benchmarks/arm_instructions.sh), the difference between two runs that
// differ only in P or N is the cost of those tokens: everything else (building
// the weights, the engine, the exit) is the same in both. So the weights are
// made directly as codes and fp16 scales by a cheap generator: what the
// kernels execute does not depend on the values, and a float model quantized
// under emulation would take minutes.
//
// Prints the kernel the engine selected, the weight bytes a decode step
// streams, and the tokens it produced.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

#include "engine.h"
#include "model_builder.h"

using namespace edge;

namespace {

// xorshift64*: fast under emulation, and varied enough that no kernel sees a
// special pattern (all-equal codes, zero scales).
struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
};

// Owns the memory of the model the weights view.
struct RandomModel {
  ModelConfig config;
  ModelWeights weights;
  std::vector<std::vector<uint8_t>> codes;
  std::vector<std::vector<uint16_t>> scales;
  std::vector<std::vector<float>> floats;
  Rng rng;

  // Codes uniform over the format's range, and block scales that give values
  // of about 1 / sqrt(cols), as a trained matrix has, so that activations and
  // logits stay finite through 30 layers.
  void fill(WeightFormat format, size_t rows, int cols, uint8_t*& data, uint16_t*& d) {
    const int nb = num_blocks(cols);
    const size_t block_bytes = format == WeightFormat::Q8 ? kBlock : kBlock / 2;
    std::vector<uint8_t>& c = codes.emplace_back(rows * nb * block_bytes);
    for (size_t i = 0; i < c.size(); i += 8) {
      const uint64_t r = rng.next();
      std::memcpy(&c[i], &r, 8);  // sizes are multiples of 16
    }
    if (format == WeightFormat::Q8)
      for (uint8_t& b : c) b |= (b == 0);  // Q8 codes are 1..255
    // Uniform codes have a standard deviation of 73.6 (Q8) and 4.6 (Q4).
    const float code_std = format == WeightFormat::Q8 ? 73.6f : 4.6f;
    const float base = 1.0f / (code_std * std::sqrt(float(cols)));
    std::vector<uint16_t>& s = scales.emplace_back(rows * nb);
    for (uint16_t& h : s) h = float_to_half(base * (0.5f + float(rng.next() >> 40) / float(1 << 24)));
    data = c.data();
    d = s.data();
  }

  WeightMatrix matrix(WeightFormat format, int rows, int cols) {
    WeightMatrix m;
    m.format = format;
    m.rows = rows;
    m.cols = cols;
    uint8_t* data;
    uint16_t* d;
    fill(format, rows, cols, data, d);
    m.data = data;
    m.scales_f16 = d;
    return m;
  }

  const float* constant(size_t n, float value) {
    return floats.emplace_back(n, value).data();
  }

  explicit RandomModel(WeightFormat format) {
    // SmolLM2-135M (HF config: rope_theta 100000, rms_norm_eps 1e-5).
    config.dim = 576;
    config.ffn_dim = 1536;
    config.layers = 30;
    config.heads = 9;
    config.kv_heads = 3;
    config.head_dim = 64;
    config.vocab = 49152;
    config.norm_eps = 1e-5f;
    // Fixed, so that runs with different P and N build the same engine.
    config.max_context = 64;
    config.max_batch = 64;
    codes.reserve(256);
    scales.reserve(256);
    floats.reserve(16);

    // The embedding is read one row per token; Q8 keeps it small.
    uint8_t* emb;
    uint16_t* emb_d;
    fill(WeightFormat::Q8, size_t(config.vocab), config.dim, emb, emb_d);
    for (size_t i = 0; i < scales.back().size(); ++i)
      scales.back()[i] = float_to_half(1.0f / 73.6f);  // embedding values of about 1
    weights.embedding.format = WeightFormat::Q8;
    weights.embedding.data = emb;
    weights.embedding.scales_f16 = emb_d;

    const auto [cos, sin] = rope_table(config, 100000.0f, floats);
    const float* ones = constant(config.dim, 1.0f);
    for (int l = 0; l < config.layers; ++l) {
      LayerWeights lw;
      lw.attn_norm = ones;
      lw.ffn_norm = ones;
      make_layer_matrices(config, lw, [&](int rows, int cols) { return matrix(format, rows, cols); });
      lw.rope_cos = cos;
      lw.rope_sin = sin;
      weights.layers.push_back(lw);
    }
    weights.final_norm = ones;
    // SmolLM2 ties lm_head to the embedding; here it is a matrix of the
    // format of the others, as the engine runs a quantized tied model.
    weights.lm_head = matrix(format, config.vocab, config.dim);
  }
};

int usage() {
  std::fprintf(stderr, "usage: engine_decode int4|int8 PROMPT_TOKENS DECODE_TOKENS THREADS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return usage();
  WeightFormat format;
  if (std::strcmp(argv[1], "int4") == 0)
    format = WeightFormat::Q4;
  else if (std::strcmp(argv[1], "int8") == 0)
    format = WeightFormat::Q8;
  else
    return usage();
  const int prompt = std::atoi(argv[2]), decode = std::atoi(argv[3]), threads = std::atoi(argv[4]);
  if (prompt < 1 || decode < 0 || threads < 1) return usage();
  try {
    RandomModel m(format);
    if (prompt + decode > m.config.max_context) {
      std::fprintf(stderr, "PROMPT_TOKENS + DECODE_TOKENS must be at most %d\n",
                   m.config.max_context);
      return 2;
    }
    Engine engine(m.config, m.weights, threads, select_kernels(), CacheType::F32);
    std::printf("kernel: %s\n", engine.kernels().name);
    std::printf("weight_bytes_per_token: %zu\n", engine.weight_bytes_per_token());

    std::vector<int32_t> tokens(static_cast<size_t>(prompt));
    Rng rng;
    for (int32_t& t : tokens) t = int32_t(rng.next() % uint64_t(m.config.vocab));
    engine.append(tokens.data(), prompt);
    const SamplingParams greedy;
    std::printf("tokens:");
    for (int i = 0; i < decode; ++i) {
      const int32_t next = engine.sample(greedy, tokens.data(), int(tokens.size()));
      tokens.push_back(next);
      engine.append(&next, 1);
      std::printf(" %d", next);
    }
    std::printf("\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
