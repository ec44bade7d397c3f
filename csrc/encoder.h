// A BERT-style encoder that turns texts into sentence embeddings: absolute
// position and token-type embeddings, post-LayerNorm layers (with biases) of
// bidirectional attention and a GELU MLP, then each text's token states pooled
// (mean or [CLS]) and optionally L2-normalized, as sentence-transformers does.
//
// Several texts run as one forward pass over all their tokens, laid end to
// end with no padding: the matrix products see every token of the batch at
// once, and attention keeps each token to the tokens of its own text.
//
// The weights are views into memory the caller owns (as for Model), the
// quantized matrices in the decoder's formats (kernels/formats.h), read by the
// same kernel table.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "kernels/interleave.h"
#include "kernels/kernels.h"
#include "matmul.h"
#include "model.h"
#include "thread_pool.h"

namespace edge {

// How a text's token states become one vector.
enum class Pooling { Mean, Cls };

struct EncoderConfig {
  int dim = 0;            // hidden size D
  int ffn_dim = 0;        // intermediate size F
  int layers = 0;
  int heads = 0;          // attention heads H; head_dim = D / H
  int vocab = 0;          // word pieces
  int type_vocab = 0;     // token types (2 for BERT: sentence A and B)
  int max_positions = 0;  // rows of the position table P: the longest text, in tokens
  int max_tokens = 0;     // tokens per forward pass, over all its texts (>= max_positions)
  float norm_eps = 1e-12f;
  Pooling pooling = Pooling::Mean;
  bool normalize = true;  // divide each embedding by its L2 norm
  int head_dim() const { return heads > 0 ? dim / heads : 0; }
};

// Throws std::invalid_argument naming the first field of `c` outside what the
// encoder handles: sizes positive and bounded, dim a multiple of heads,
// max_tokens at least max_positions, norm_eps finite and positive, and every
// buffer's size (max_tokens x the widest row) below 2^31 elements. Called
// before anything is allocated from them.
void check_encoder_config(const EncoderConfig& c);

// One layer, post-LN as BERT's: x = LN(x + attention(x)); x = LN(x + mlp(x)).
// A matrix is [rows N = output features][cols K = input features].
struct EncoderLayerWeights {
  WeightMatrix wq;                  // [D][D]  attention.self.query
  WeightMatrix wk;                  // [D][D]  attention.self.key
  WeightMatrix wv;                  // [D][D]  attention.self.value
  const float* bq = nullptr;        // [D]
  const float* bk = nullptr;        // [D]
  const float* bv = nullptr;        // [D]
  WeightMatrix wo;                  // [D][D]  attention.output.dense
  const float* bo = nullptr;        // [D]
  const float* attn_norm = nullptr;       // [D]  attention.output.LayerNorm weight
  const float* attn_norm_bias = nullptr;  // [D]  and bias
  WeightMatrix w_up;                // [F][D]  intermediate.dense
  const float* b_up = nullptr;      // [F]
  WeightMatrix w_down;              // [D][F]  output.dense
  const float* b_down = nullptr;    // [D]
  const float* ffn_norm = nullptr;        // [D]  output.LayerNorm weight
  const float* ffn_norm_bias = nullptr;   // [D]  and bias
};

struct EncoderWeights {
  EmbeddingTable words;              // [vocab][D], F32 or Q8 rows
  const float* positions = nullptr;  // [P][D]
  const float* types = nullptr;      // [type_vocab][D]
  const float* embed_norm = nullptr;       // [D]  embeddings.LayerNorm weight
  const float* embed_norm_bias = nullptr;  // [D]  and bias
  std::vector<EncoderLayerWeights> layers;
};

class Encoder {
 public:
  Encoder(const EncoderConfig& config, const EncoderWeights& weights, const KernelTable& kernels,
          ThreadPool& pool);

  const EncoderConfig& config() const { return config_; }
  const KernelTable& kernels() const { return kernels_; }
  // Bytes of the interleaved copies made at load for the kernel table (0
  // when it reads the row-major matrices in place).
  size_t interleaved_bytes() const { return interleaved_.bytes(); }
  // Bytes of the matrices one forward pass reads (every one once).
  size_t matrix_bytes() const;
  int64_t tokens_evaluated() const { return tokens_evaluated_; }

  // The embeddings of `count` texts, [count][dim] into out. Text i is
  // lengths[i] tokens (1 to max_positions), the texts' tokens and token types
  // laid end to end in `tokens` and `types`. Texts run in forward passes of
  // up to max_tokens tokens; a text's embedding does not depend on the others.
  // Throws (before running anything) for a length, token or type out of range,
  // and std::runtime_error when another thread is inside this encoder.
  void embed(const int32_t* tokens, const int32_t* types, const int32_t* lengths, int count,
             float* out);

 private:
  // One forward pass: texts [0, count) of lengths, their tokens end to end.
  void forward(const int32_t* tokens, const int32_t* types, const int32_t* lengths, int count,
               float* out);
  void embed_tokens(const int32_t* tokens, const int32_t* types, int T);
  void attention(int T);
  void pool_texts(const int32_t* lengths, int count, float* out);
  // fn(t) for t in [0, T), on the pool.
  template <class Fn>
  void each_token(int T, Fn&& fn);

  EncoderConfig config_;
  EncoderWeights weights_;
  InterleavedWeights interleaved_;  // what weights_' matrices point into, if anything
  const KernelTable& kernels_;
  ThreadPool& pool_;
  MatrixProducts matmul_;
  std::mutex busy_;
  int64_t tokens_evaluated_ = 0;

  // Activations for max_tokens tokens, allocated once: embed() allocates nothing.
  std::vector<float> x_;       // [T][D] the hidden states
  std::vector<float> o_;       // [T][D] a sublayer's output before the residual add
  std::vector<float> q_;       // [T][D] queries, token-major (head h at h * hd)
  std::vector<float> k_, v_;   // [T][D] keys and values as the products write them
  std::vector<float> kh_, vh_; // [H][T][hd] keys and values head-major: one text's rows
                               // of one head are contiguous, as the kernels read them
  std::vector<float> att_;     // [T][D] attention output, token-major
  std::vector<float> h_;       // [T][F] the MLP's hidden layer
  std::vector<float> scores_;  // [workers][P] attention weights
  std::vector<int32_t> begin_, end_;  // [T] the span of each token's text: [begin, end)
};

}  // namespace edge
