#include "engine.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace edge {

Engine::Engine(const ModelConfig& config, const ModelWeights& weights, int threads,
               const KernelTable& kernels, CacheType cache_type)
    : pool_(threads),
      model_(new Model(config, weights, kernels, pool_, cache_type)),
      sampler_(config.vocab),
      last_logits_(size_t(config.vocab), 0.0f) {}

std::unique_lock<std::mutex> Engine::claim() {
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (!lock.owns_lock())
    throw std::runtime_error(
        "this Engine is running on another thread; use one Engine per thread or serialise calls");
  return lock;
}

void Engine::check_tokens(const int32_t* tokens, int count, int start) const {
  const ModelConfig& c = config();
  if (count <= 0) throw std::invalid_argument("no tokens to run (an empty prompt?)");
  if (start + count > c.max_context)
    throw std::length_error("sequence of " + std::to_string(start + count) +
                            " tokens exceeds max_context=" + std::to_string(c.max_context));
  for (int i = 0; i < count; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab)
      throw std::out_of_range("token id " + std::to_string(tokens[i]) + " at index " +
                              std::to_string(i) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab) + ")");
}

void Engine::rewind(int pos, const float* logits) {
  auto lock = claim();
  if (pos < 0 || pos > position_)
    throw std::out_of_range("cannot rewind to position " + std::to_string(pos) +
                            ": the sequence has " + std::to_string(position_) + " tokens");
  position_ = pos;
  std::memcpy(last_logits_.data(), logits, last_logits_.size() * sizeof(float));
}

void Engine::append(const int32_t* tokens, int count) {
  auto lock = claim();
  check_tokens(tokens, count, position_);
  const int batch = config().max_batch;
  for (int i = 0; i < count; i += batch) {
    const int n = std::min(batch, count - i);
    const bool last = i + n == count;
    model_->forward(tokens + i, n, position_, last ? last_logits_.data() : nullptr, last ? 1 : 0);
    position_ += n;
    tokens_evaluated_ += n;
  }
}

void Engine::logits_all(const int32_t* tokens, int count, float* out) {
  auto lock = claim();
  check_tokens(tokens, count, 0);
  const int batch = config().max_batch;
  position_ = 0;
  for (int i = 0; i < count; i += batch) {
    const int n = std::min(batch, count - i);
    model_->forward(tokens + i, n, position_, out + size_t(i) * config().vocab, n);
    position_ += n;
    tokens_evaluated_ += n;
  }
  std::memcpy(last_logits_.data(), out + size_t(count - 1) * config().vocab,
              last_logits_.size() * sizeof(float));
}

int Engine::sample(const SamplingParams& params, const int32_t* history, int history_len) {
  return sample(last_logits_.data(), params, history, history_len);
}

int Engine::sample(const float* logits, const SamplingParams& params, const int32_t* history,
                   int history_len) {
  auto lock = claim();
  return sampler_.sample(logits, params, history, history_len);
}

}  // namespace edge
