// The engine: a model, its thread pool and KV cache, one token sequence in
// that cache, and the sampler. Python drives generation a token at a time
// through append() and sample(); everything they run was allocated at
// construction.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "model.h"
#include "sampler.h"

namespace edge {

class Engine {
 public:
  Engine(const ModelConfig& config, const ModelWeights& weights, int threads,
         const KernelTable& kernels, CacheType cache_type);

  const ModelConfig& config() const { return model_->config(); }
  const KernelTable& kernels() const { return model_->kernels(); }
  int threads() const { return pool_.size(); }
  size_t cache_bytes() const { return model_->cache().bytes(); }
  size_t weight_bytes_per_token() const { return model_->weight_bytes_per_token(); }
  size_t interleaved_bytes() const { return model_->interleaved_bytes(); }

  // Tokens in the cache: the sequence so far.
  int position() const { return position_; }
  // Forget everything after the first `pos` tokens. The cache keeps the
  // prefix, so a prompt prefilled once can start many continuations.
  // `logits` (vocab floats) are the next-token logits after that prefix.
  void rewind(int pos, const float* logits);

  // Appends tokens to the sequence, in chunks of max_batch tokens (the
  // matrix-matrix path), and keeps the next-token logits of the last one.
  void append(const int32_t* tokens, int count);
  // Logits of every token of `tokens` as a fresh sequence, [count][vocab].
  void logits_all(const int32_t* tokens, int count, float* out);
  const float* last_logits() const { return last_logits_.data(); }

  void seed(uint64_t seed) { sampler_.seed(seed); }
  int sample(const SamplingParams& params, const int32_t* history, int history_len);
  // Samples from `logits` (vocab floats: the last ones, changed by the caller) with
  // the same sampler and random state as sample().
  int sample(const float* logits, const SamplingParams& params, const int32_t* history,
             int history_len);

  // Tokens run through the model since construction: a prompt prefilled once
  // and reused shows up here once.
  int64_t tokens_evaluated() const { return tokens_evaluated_; }

 private:
  void check_tokens(const int32_t* tokens, int count, int start) const;
  std::unique_lock<std::mutex> claim();

  ThreadPool pool_;
  std::unique_ptr<Model> model_;
  Sampler sampler_;
  std::vector<float> last_logits_;
  int position_ = 0;
  int64_t tokens_evaluated_ = 0;
  std::mutex busy_;
};

}  // namespace edge
