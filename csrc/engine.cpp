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
      sequences_(model_->cache()),
      sampler_(config.vocab),
      last_logits_(size_t(config.vocab), 0.0f),
      slots_(size_t(config.max_batch)) {
  sequences_.open(-1, 0);
}

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
  if (int64_t(start) + count > c.max_context)
    throw std::length_error("sequence of " + std::to_string(int64_t(start) + count) +
                            " tokens exceeds max_context=" + std::to_string(c.max_context));
  for (int i = 0; i < count; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab)
      throw std::out_of_range("token id " + std::to_string(tokens[i]) + " at index " +
                              std::to_string(i) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab) + ")");
}

// Runs tokens after sequence `id` in chunks of max_batch, keeping the logits
// of the last `logit_rows` tokens. The caller holds the lock and checked them.
void Engine::run(int id, const int32_t* tokens, int count, float* logits, int logit_rows) {
  sequences_.reserve(&id, &count, 1);
  const int batch = config().max_batch, vocab = config().vocab;
  const int first_row = count - logit_rows;  // the first token whose logits are kept
  for (int i = 0; i < count; i += batch) {
    const int n = std::min(batch, count - i);
    const int pos = sequences_.length(id);
    for (int t = 0; t < n; ++t) slots_[size_t(t)] = {sequences_.pages(id), pos + t};
    const int rows = std::max(0, std::min(n, i + n - first_row));
    float* out = rows > 0 ? logits + size_t(i + n - rows - first_row) * vocab : nullptr;
    model_->forward(tokens + i, slots_.data(), n, out, rows);
    sequences_.extend(id, n);
    tokens_evaluated_ += n;
  }
}

void Engine::rewind(int pos, const float* logits) {
  auto lock = claim();
  sequences_.truncate(0, pos);
  std::memcpy(last_logits_.data(), logits, last_logits_.size() * sizeof(float));
}

void Engine::append(const int32_t* tokens, int count) {
  auto lock = claim();
  check_tokens(tokens, count, sequences_.length(0));
  run(0, tokens, count, last_logits_.data(), 1);
}

void Engine::logits_all(const int32_t* tokens, int count, float* out) {
  auto lock = claim();
  check_tokens(tokens, count, 0);
  sequences_.truncate(0, 0);
  run(0, tokens, count, out, count);
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

int Engine::open_sequence(int from, int keep) {
  auto lock = claim();
  return sequences_.open(from, keep);
}

void Engine::assign(int id, int from, int keep) {
  auto lock = claim();
  sequences_.assign(id, from, keep);
}

void Engine::close_sequence(int id) {
  auto lock = claim();
  if (id == 0) throw std::invalid_argument("sequence 0 cannot be closed; rewind it instead");
  sequences_.close(id);
}

int Engine::sequence_length(int id) const {
  sequences_.check(id);
  return sequences_.length(id);
}

void Engine::truncate(int id, int length) {
  auto lock = claim();
  sequences_.check(id);
  sequences_.truncate(id, length);
}

void Engine::extend(int id, const int32_t* tokens, int count, float* logits, int logit_rows) {
  auto lock = claim();
  sequences_.check(id);
  check_tokens(tokens, count, sequences_.length(id));
  if (logit_rows < 0 || logit_rows > count)
    throw std::invalid_argument("logit_rows must be between 0 and the token count");
  run(id, tokens, count, logits, logit_rows);
}

void Engine::decode(const int32_t* ids, const int32_t* tokens, int count, float* logits) {
  auto lock = claim();
  if (count <= 0) throw std::invalid_argument("decode: no sequences");
  for (int i = 0; i < count; ++i) {
    sequences_.check(ids[i]);
    for (int j = 0; j < i; ++j)
      if (ids[j] == ids[i])
        throw std::invalid_argument("decode: sequence " + std::to_string(ids[i]) +
                                    " appears twice");
    check_tokens(tokens + i, 1, sequences_.length(ids[i]));
  }
  const std::vector<int32_t> ones(size_t(count), 1);
  sequences_.reserve(ids, ones.data(), count);
  // Beyond kExactBatchTokens the products take their prefill path, whose floats
  // differ: larger batches run as several passes.
  const int batch = std::min(config().max_batch, kExactBatchTokens), vocab = config().vocab;
  for (int i = 0; i < count; i += batch) {
    const int n = std::min(batch, count - i);
    for (int t = 0; t < n; ++t)
      slots_[size_t(t)] = {sequences_.pages(ids[i + t]), sequences_.length(ids[i + t])};
    model_->forward(tokens + i, slots_.data(), n, logits + size_t(i) * vocab, n);
    for (int t = 0; t < n; ++t) sequences_.extend(ids[i + t], 1);
    tokens_evaluated_ += n;
  }
}

}  // namespace edge
