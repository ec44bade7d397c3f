// Picks the next token from a row of logits: repetition penalty, then greedy
// or temperature / top-k / top-p sampling, in the order Hugging Face applies
// them. All buffers are sized for the vocabulary once; sample() allocates
// nothing.
#pragma once

#include <cstdint>
#include <vector>

namespace edge {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float repetition_penalty = 1.0f;
};

class Sampler {
 public:
  explicit Sampler(int vocab);

  void seed(uint64_t seed);
  // history: the tokens the repetition penalty applies to (prompt and output).
  int sample(const float* logits, const SamplingParams& params, const int32_t* history,
             int history_len);
  // The probabilities sample() draws from (vocab floats into out; greedy: one
  // token has 1), without drawing: for the acceptance rule of speculative
  // sampling, which compares the target's and the draft's.
  void distribution(const float* logits, const SamplingParams& params, const int32_t* history,
                    int history_len, float* out);

 private:
  float next_uniform();  // in [0, 1)
  // The penalised logits into logits_; then, for T > 0, the candidates in
  // order_[0, n) and their total weight. Returns n, or -1 for greedy (whose
  // token is then *greedy).
  int candidates(const float* logits, const SamplingParams& p, const int32_t* history,
                 int history_len, double* total, int* greedy);
  void fill_weights(float max_logit, double inv_t);

  int vocab_;
  uint64_t state_ = 0x853c49e6748fea9bULL;
  std::vector<float> logits_;
  std::vector<float> weights_;  // of the last candidates(), relative to the largest
  std::vector<int32_t> order_;
  std::vector<uint8_t> seen_;
};

}  // namespace edge
