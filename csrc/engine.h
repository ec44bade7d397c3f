// The engine: a model, its thread pool and KV cache, the token sequences in
// that cache, and the sampler. Sequence 0 always exists and is the one the
// single-sequence calls (append, rewind, logits_all, sample) work on; more are
// opened for batches, possibly sharing a prefix of another. Python drives
// generation a token at a time; the weights' buffers and activations were
// allocated at construction, and the cache grows by pages as sequences need.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "model.h"
#include "sampler.h"
#include "sequence_table.h"

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

  // ---- sequence 0 ----------------------------------------------------------

  // Tokens in the cache: the sequence so far.
  int position() const { return sequences_.length(0); }
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

  // ---- any sequence --------------------------------------------------------

  // A new sequence: empty (from < 0), or sharing the first `keep` positions
  // of sequence `from` (no copy: its pages are shared until either writes).
  int open_sequence(int from, int keep);
  // Sequence `id` becomes the first `keep` positions of `from`, sharing them.
  void assign(int id, int from, int keep);
  // Sequence 0 cannot be closed (rewind it to 0 instead).
  void close_sequence(int id);
  int sequence_length(int id) const;
  void truncate(int id, int length);
  // Runs `count` tokens after sequence `id` and writes the next-token logits
  // of the last `logit_rows` of them to `logits` ([logit_rows][vocab]): all
  // of them for a speculative pass, which gives exactly what one-token steps
  // give as long as count <= kExactBatchTokens.
  void extend(int id, const int32_t* tokens, int count, float* logits, int logit_rows);
  // One token after each of `count` distinct sequences, in one pass over the
  // weights; logits [count][vocab], row i after ids[i]. Each row is exactly
  // what extend() gives that sequence alone. Up to kExactBatchTokens
  // sequences share a pass.
  void decode(const int32_t* ids, const int32_t* tokens, int count, float* logits);

  // Tokens run through the model since construction: a prompt prefilled once
  // and reused shows up here once.
  int64_t tokens_evaluated() const { return tokens_evaluated_; }

 private:
  void check_tokens(const int32_t* tokens, int count, int start) const;
  std::unique_lock<std::mutex> claim();
  void run(int id, const int32_t* tokens, int count, float* logits, int logit_rows);

  ThreadPool pool_;
  std::unique_ptr<Model> model_;
  SequenceTable sequences_;
  Sampler sampler_;
  std::vector<float> last_logits_;
  std::vector<TokenSlot> slots_;
  int64_t tokens_evaluated_ = 0;
  std::mutex busy_;
};

}  // namespace edge
