// A Llama-family decoder (and Gemma 3, whose extras are optional fields): the
// shapes, the weights (views into memory the caller owns: a numpy array, an
// mmap of a bundle), and the forward pass. For kernels that read interleaved
// records (aarch64), the model copies the quantized matrices into them at
// construction and never reads the caller's matrices again.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/interleave.h"
#include "kernels/kernels.h"
#include "kv_cache.h"
#include "matmul.h"
#include "thread_pool.h"

namespace edge {

// The activation of the MLP's gate, multiplied by the up projection.
enum class Activation { SiLU, GeluTanh };

struct ModelConfig {
  int dim = 0;            // hidden size
  int ffn_dim = 0;        // intermediate size
  int layers = 0;
  int heads = 0;          // query heads
  int kv_heads = 0;       // key/value heads (grouped-query attention)
  int head_dim = 0;
  int vocab = 0;
  float norm_eps = 1e-6f;
  int max_context = 0;     // KV cache capacity in positions
  int max_batch = 64;      // tokens per forward call (prefill is cut into such chunks)
  int max_cache_positions = 0;  // KV cache bound over all sequences; 0: none
  Activation activation = Activation::SiLU;
  float embedding_scale = 1.0f;  // multiplies every embedding row (Gemma: sqrt(dim))
  float attention_scale = 0.0f;  // multiplies q.k; 0: 1 / sqrt(head_dim)
};

// Throws std::invalid_argument naming the first field of `c` outside what the
// engine handles: sizes positive and bounded, head_dim even, heads a multiple
// of kv_heads, norm_eps finite and positive, and the products the forward pass
// computes in int (a position's keys, a batch's activations) below 2^31.
void check_config(const ModelConfig& c);

// The token embedding table: F32 rows, or Q8 rows (natural order, blocks of 32,
// fp16 scales as in kernels/formats.h).
struct EmbeddingTable {
  WeightFormat format = WeightFormat::F32;
  const void* data = nullptr;
  const uint16_t* scales_f16 = nullptr;
};

// Row `row` of a table of rows `dim` wide, as floats into out[0, dim).
void embedding_row(const EmbeddingTable& table, int dim, size_t row, float* out);

// One decoder layer. A matrix is [rows N = output features][cols K = input
// features] (WeightMatrix); D = dim, F = ffn_dim, hd = head_dim, H = heads,
// KV = kv_heads, C = max_context.
struct LayerWeights {
  const float* attn_norm = nullptr;  // [D], RMSNorm before attention
  const float* ffn_norm = nullptr;   // [D], RMSNorm before the MLP
  // Optional RMSNorms of the attention and MLP outputs before the residual
  // add (Gemma 3).
  const float* attn_post_norm = nullptr;  // [D]
  const float* ffn_post_norm = nullptr;   // [D]
  WeightMatrix wq;      // [H * hd][D]
  WeightMatrix wk;      // [KV * hd][D]
  WeightMatrix wv;      // [KV * hd][D]
  WeightMatrix wo;      // [D][H * hd]
  WeightMatrix w_gate;  // [F][D]
  WeightMatrix w_up;    // [F][D]
  WeightMatrix w_down;  // [D][F]
  // Optional biases (Qwen2, Llama attention_bias): q, k and v all or none.
  const float* bq = nullptr;  // [H * hd]
  const float* bk = nullptr;  // [KV * hd]
  const float* bv = nullptr;  // [KV * hd]
  const float* bo = nullptr;  // [D]
  // Optional per-head RMSNorms of q and k (Qwen3), shared by the heads.
  const float* q_norm = nullptr;  // [hd]
  const float* k_norm = nullptr;  // [hd]
  // How this layer attends: to the last `window` positions (0: the whole
  // context), with q and k turned by this RoPE table, computed by the caller
  // so that it follows the model's rope_theta and rope_scaling (Gemma 3's
  // sliding layers have a table of their own).
  int window = 0;
  const float* rope_cos = nullptr;  // [C][hd / 2]
  const float* rope_sin = nullptr;  // [C][hd / 2]
};

struct ModelWeights {
  EmbeddingTable embedding;
  std::vector<LayerWeights> layers;
  const float* final_norm = nullptr;  // [dim]
  WeightMatrix lm_head;
};

// Where one token of a forward pass belongs: its position in its sequence and
// the sequence's pages (sequence_table.h), which hold every position before it
// and, reserved by the caller, its own.
struct TokenSlot {
  const int32_t* pages;
  int pos;
};

class Model {
 public:
  Model(const ModelConfig& config, const ModelWeights& weights, const KernelTable& kernels,
        ThreadPool& pool, CacheType cache_type);

  const ModelConfig& config() const { return config_; }
  const KernelTable& kernels() const { return kernels_; }
  KVCache& cache() { return cache_; }
  const KVCache& cache() const { return cache_; }

  // Runs tokens[0..count), token t at slots[t], writing their keys and values
  // into the cache; a token attends to its sequence's positions up to its own
  // (those of earlier tokens of this call included). count <= max_batch and
  // every pos < max_context (the engine checks both). logits: null for none,
  // else `logit_rows` rows of vocab floats for the last logit_rows tokens.
  // A token's results do not depend on the other tokens of the call: a batch
  // of sequences gives each exactly what it gets alone.
  void forward(const int32_t* tokens, const TokenSlot* slots, int count, float* logits,
               int logit_rows);

  // Bytes of weights that one decode step streams (every matrix once).
  size_t weight_bytes_per_token() const;
  // Bytes of the interleaved copies made at load for the kernel table (0
  // when it reads the row-major matrices in place).
  size_t interleaved_bytes() const { return interleaved_.bytes(); }

 private:
  void embed(const int32_t* tokens, int count);
  void attention(int layer, const TokenSlot* slots, int count);
  // gate = act(gate) * up, element-wise, for `count` rows of ffn_dim.
  void gated_activation(int count);

  ModelConfig config_;
  ModelWeights weights_;
  InterleavedWeights interleaved_;  // what weights_' matrices point into, if anything
  const KernelTable& kernels_;
  ThreadPool& pool_;
  KVCache cache_;

  // Activations for max_batch tokens, allocated once: forward() allocates nothing.
  std::vector<float> x_, xb_, q_, k_, v_, att_out_, gate_, up_, scores_;
  MatrixProducts matmul_;  // with its quantized activations for max_batch tokens
};

}  // namespace edge
