// The Python module edge_reason._native. It checks every array it is handed
// (dtype, size, contiguity) before the engine may read it, and keeps a
// reference to each so the memory outlives the engine that views it.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bandwidth.h"
#include "encoder.h"
#include "engine.h"
#include "quantize.h"

namespace py = pybind11;
using namespace edge;

namespace {

using F32Array = py::array_t<float, py::array::c_style>;
using U8Array = py::array_t<uint8_t, py::array::c_style>;
using I32Array = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

// Far above any size a model has; check_config() bounds the products.
constexpr int64_t kMaxSize = 1 << 30;

// Holds what a weight view points into, for as long as the engine lives: the
// arrays it reads in place, and the fp16 block scales converted at load (a
// deque, so that adding one never moves those already handed out).
struct KeepAlive {
  std::vector<py::object> objects;
  std::deque<std::vector<uint16_t>> scales_f16;
};

template <class T>
py::array checked_array(py::handle obj, size_t count, const std::string& name) {
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (!py::isinstance<py::array_t<T>>(obj) || !(arr.flags() & py::array::c_style))
    throw std::invalid_argument(name + ": expected a C-contiguous " +
                                std::string(py::str(py::dtype::of<T>())) + " array");
  if (size_t(arr.size()) != count)
    throw std::invalid_argument(name + ": expected " + std::to_string(count) + " elements, got " +
                                std::to_string(arr.size()));
  return arr;
}

template <class T>
const T* checked(py::handle obj, size_t count, const std::string& name, KeepAlive& keep) {
  py::array arr = checked_array<T>(obj, count, name);
  keep.objects.push_back(arr);
  return static_cast<const T*>(arr.data());
}

// An integer field of the model config or of a matrix, refused by name (not by
// pybind's cast error) if it is not an integer or lies outside [lo, hi].
int int_field(py::handle v, const char* key, const std::string& where, int64_t lo, int64_t hi) {
  if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v))
    throw std::invalid_argument(where + ": field '" + key + "' must be an integer");
  const py::int_ big = py::reinterpret_borrow<py::int_>(v);
  const bool inside = big >= py::int_(lo) && big <= py::int_(hi);
  if (!inside)
    throw std::invalid_argument(where + ": field '" + key + "' is " + std::string(py::str(v)) +
                                "; it must be between " + std::to_string(lo) + " and " +
                                std::to_string(hi));
  return int(big.cast<int64_t>());
}

// A float field of the model config, refused by name if it is not a number.
float float_field(py::handle v, const char* key, const std::string& where) {
  try {
    return v.cast<float>();
  } catch (const py::cast_error&) {
    throw std::invalid_argument(where + ": field '" + key + "' must be a number");
  }
}

// What Python hands the engine (edge_reason/native_spec.py builds these from the
// weight loaders' tensors). The arrays are held as Python objects and checked
// (dtype, size, contiguity, finiteness) against the config when the engine is
// built, each error naming the tensor.

// The model's shapes and the engine's sizes: edge::ModelConfig, checked whole by
// check_config() when constructed, with the per-layer attention window.
struct ConfigSpec {
  ModelConfig model;
  int sliding_window = 0;            // positions a sliding layer attends to (0: all)
  std::vector<bool> sliding_layers;  // which layers slide (given: the listed ones, else all)
};

// A matrix: format ("f32", "q8" or "q4"), shape, and its arrays. For the
// embedding, rows and cols are not read (its shape is [vocab, dim]).
struct MatrixSpec {
  py::object format = py::none(), rows = py::none(), cols = py::none();
  py::object data = py::none(), scales = py::none(), zero_points = py::none();
};

struct LayerSpec {
  py::object attn_norm = py::none(), ffn_norm = py::none();
  MatrixSpec wq, wk, wv, wo, w_gate, w_up, w_down;
  // optional (None): biases, Qwen3's q/k norms, Gemma 3's post norms
  py::object bq = py::none(), bk = py::none(), bv = py::none(), bo = py::none();
  py::object q_norm = py::none(), k_norm = py::none();
  py::object attn_post_norm = py::none(), ffn_post_norm = py::none();
};

struct WeightsSpec {
  MatrixSpec embedding, lm_head;
  py::object final_norm = py::none(), rope_cos = py::none(), rope_sin = py::none();
  // the sliding layers' own RoPE table (Gemma 3), optional
  py::object rope_local_cos = py::none(), rope_local_sin = py::none();
  std::vector<LayerSpec> layers;
};

// Norm and bias vectors are small and read every token: a NaN or infinity in
// one would turn every later activation into NaN, so they are checked here.
const float* finite_f32(py::handle obj, size_t count, const std::string& name, KeepAlive& keep) {
  const float* v = checked<float>(obj, count, name, keep);
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(v[i]))
      throw std::invalid_argument(name + ": element " + std::to_string(i) + " is not finite");
  return v;
}

// Block scales arrive as float32 [rows][blocks] (bundles store them so, for
// onnxruntime) and are kept as fp16, the engine's format (kernels/formats.h):
// decode streams 2 bytes per block instead of 4. The float32 array is read
// once, here, and not kept. A scale fp16 cannot hold is refused rather than
// turned into infinity.
const uint16_t* fp16_scales(py::handle obj, size_t rows, size_t blocks, const std::string& name,
                            KeepAlive& keep) {
  const py::array arr = checked_array<float>(obj, rows * blocks, name);
  const float* src = static_cast<const float*>(arr.data());
  std::vector<uint16_t>& dst = keep.scales_f16.emplace_back(rows * blocks);
  for (size_t i = 0; i < dst.size(); ++i) {
    dst[i] = float_to_half(src[i]);
    if (!half_is_finite(dst[i])) {
      char scale[32];
      std::snprintf(scale, sizeof(scale), "%g", double(src[i]));
      throw std::invalid_argument(name + ": row " + std::to_string(i / blocks) + ", block " +
                                  std::to_string(i % blocks) + ": scale " + scale +
                                  " does not fit fp16, the engine's scale format (finite, "
                                  "magnitude below 65520)");
    }
  }
  return dst.data();
}

const float* optional_f32(py::handle v, const std::string& name, size_t count, KeepAlive& keep) {
  if (v.is_none()) return nullptr;
  return finite_f32(v, count, name, keep);
}

Activation parse_activation(const std::string& s) {
  if (s == "silu") return Activation::SiLU;
  if (s == "gelu_tanh") return Activation::GeluTanh;
  throw std::invalid_argument("model config: activation must be 'silu' or 'gelu_tanh', got '" + s +
                              "'");
}

ConfigSpec make_config(py::handle dim, py::handle ffn_dim, py::handle layers, py::handle heads,
                       py::handle kv_heads, py::handle head_dim, py::handle vocab,
                       py::handle norm_eps, py::handle sliding_window, py::handle max_context,
                       py::handle max_batch, const std::string& activation,
                       py::handle embedding_scale, py::handle attention_scale,
                       py::handle sliding_layers) {
  ConfigSpec spec;
  ModelConfig& c = spec.model;
  const std::string at = "model config";
  c.dim = int_field(dim, "dim", at, 1, kMaxSize);
  c.ffn_dim = int_field(ffn_dim, "ffn_dim", at, 1, kMaxSize);
  c.layers = int_field(layers, "layers", at, 1, kMaxSize);
  c.heads = int_field(heads, "heads", at, 1, kMaxSize);
  c.kv_heads = int_field(kv_heads, "kv_heads", at, 1, kMaxSize);
  c.head_dim = int_field(head_dim, "head_dim", at, 1, kMaxSize);
  c.vocab = int_field(vocab, "vocab", at, 1, kMaxSize);
  c.norm_eps = float_field(norm_eps, "norm_eps", at);
  spec.sliding_window = int_field(sliding_window, "sliding_window", at, 0, kMaxSize);
  c.max_context = int_field(max_context, "max_context", at, 1, kMaxSize);
  c.max_batch = int_field(max_batch, "max_batch", at, 1, kMaxSize);
  c.activation = parse_activation(activation);
  c.embedding_scale = float_field(embedding_scale, "embedding_scale", at);
  c.attention_scale = float_field(attention_scale, "attention_scale", at);
  if (!std::isfinite(c.attention_scale) || c.attention_scale < 0.0f ||
      !std::isfinite(c.embedding_scale))
    throw std::invalid_argument("model config: attention_scale and embedding_scale must be finite, "
                                "attention_scale positive (0: 1/sqrt(head_dim))");
  // Which layers attend through the window: the listed ones, else all (Mistral).
  spec.sliding_layers.assign(size_t(c.layers), true);
  if (!sliding_layers.is_none()) {
    spec.sliding_layers = sliding_layers.cast<std::vector<bool>>();
    if (spec.sliding_layers.size() != size_t(c.layers))
      throw std::invalid_argument("model config: sliding_layers must have one entry per layer (" +
                                  std::to_string(c.layers) + "), got " +
                                  std::to_string(spec.sliding_layers.size()));
  }
  check_config(c);  // before any size is computed from it
  return spec;
}

WeightFormat parse_format(py::handle format, const std::string& where) {
  if (!py::isinstance<py::str>(format))
    throw std::invalid_argument(where + ": format must be a string, got " +
                                std::string(py::repr(format)));
  const std::string s = format.cast<std::string>();
  if (s == "f32") return WeightFormat::F32;
  if (s == "q8") return WeightFormat::Q8;
  if (s == "q4") return WeightFormat::Q4;
  throw std::invalid_argument(where + ": unknown weight format '" + s + "' (f32, q8, q4)");
}

// What a quantized matrix reads is kept in `keep_quantized`, which the engine
// lets go of when its kernels read interleaved copies instead.
WeightMatrix matrix(const MatrixSpec& m, int rows, int cols, const std::string& where,
                    KeepAlive& keep, KeepAlive& keep_quantized) {
  WeightMatrix w;
  w.format = parse_format(m.format, where);
  w.rows = int_field(m.rows, "rows", where, 1, kMaxSize);
  w.cols = int_field(m.cols, "cols", where, 1, kMaxSize);
  if (w.rows != rows || w.cols != cols)
    throw std::invalid_argument(where + ": expected shape [" + std::to_string(rows) + ", " +
                                std::to_string(cols) + "], got [" + std::to_string(w.rows) + ", " +
                                std::to_string(w.cols) + "]");
  const size_t nb = size_t(w.blocks());
  if (w.format == WeightFormat::F32) {
    w.data = checked<float>(m.data, size_t(rows) * cols, where + ".data", keep);
    return w;
  }
  KeepAlive& kq = keep_quantized;
  w.data = checked<uint8_t>(m.data, size_t(rows) * w.row_bytes(), where + ".data", kq);
  w.scales_f16 = fp16_scales(m.scales, size_t(rows), nb, where + ".scales", kq);
  if (!m.zero_points.is_none()) {
    if (w.format != WeightFormat::Q4)
      throw std::invalid_argument(where + ": zero points exist only for q4");
    w.zero_points =
        checked<uint8_t>(m.zero_points, size_t(rows) * ((nb + 1) / 2), where + ".zero_points", kq);
  }
  return w;
}

// A table of `rows` embeddings of `dim`: f32, or q8 rows (kernels/formats.h).
EmbeddingTable embedding_table(const MatrixSpec& m, int rows, int dim, const std::string& name,
                               KeepAlive& keep) {
  EmbeddingTable t;
  t.format = parse_format(m.format, name);
  if (t.format == WeightFormat::F32) {
    t.data = checked<float>(m.data, size_t(rows) * dim, name + ".data", keep);
  } else if (t.format == WeightFormat::Q8) {
    const size_t nb = size_t(num_blocks(dim));
    t.data = checked<uint8_t>(m.data, size_t(rows) * nb * kBlock, name + ".data", keep);
    t.scales_f16 = fp16_scales(m.scales, size_t(rows), nb, name + ".scales", keep);
  } else {
    throw std::invalid_argument(name + ": format must be f32 or q8");
  }
  return t;
}

class PyEngine {
 public:
  PyEngine(const ConfigSpec& spec, const WeightsSpec& weights, int threads,
           const std::string& kernel, const std::string& cache_type, int64_t kv_cache_positions) {
    ModelConfig c = spec.model;  // checked when the ConfigSpec was made
    if (kv_cache_positions != 0 && (kv_cache_positions < c.max_context || kv_cache_positions > INT32_MAX))
      throw std::invalid_argument("kv_cache_positions must be 0 (no bound) or between max_context (" +
                                  std::to_string(c.max_context) + ") and 2^31 - 1, got " +
                                  std::to_string(kv_cache_positions));
    c.max_cache_positions = int(kv_cache_positions);
    const int q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
    ModelWeights w;
    w.embedding = embedding_table(weights.embedding, c.vocab, c.dim, "embedding", keep_);
    w.final_norm = finite_f32(weights.final_norm, c.dim, "final_norm", keep_);
    w.lm_head = matrix(weights.lm_head, c.vocab, c.dim, "lm_head", keep_, keep_quantized_);
    const size_t rope = size_t(c.max_context) * (c.head_dim / 2);
    const float* rope_cos = checked<float>(weights.rope_cos, rope, "rope_cos", keep_);
    const float* rope_sin = checked<float>(weights.rope_sin, rope, "rope_sin", keep_);
    const float* local_cos = optional_f32(weights.rope_local_cos, "weights.rope_local_cos", rope, keep_);
    const float* local_sin = optional_f32(weights.rope_local_sin, "weights.rope_local_sin", rope, keep_);
    if (bool(local_cos) != bool(local_sin))
      throw std::invalid_argument("rope_local_cos and rope_local_sin must come together");
    if (int(weights.layers.size()) != c.layers)
      throw std::invalid_argument("expected " + std::to_string(c.layers) + " layers, got " +
                                  std::to_string(weights.layers.size()));
    const std::vector<bool>& sliding_layers = spec.sliding_layers;
    for (int i = 0; i < c.layers; ++i) {
      const LayerSpec& d = weights.layers[size_t(i)];
      const std::string at = "layers." + std::to_string(i);
      LayerWeights l;
      l.attn_norm = finite_f32(d.attn_norm, c.dim, at + ".attn_norm", keep_);
      l.ffn_norm = finite_f32(d.ffn_norm, c.dim, at + ".ffn_norm", keep_);
      l.wq = matrix(d.wq, q_dim, c.dim, at + ".wq", keep_, keep_quantized_);
      l.wk = matrix(d.wk, kv_dim, c.dim, at + ".wk", keep_, keep_quantized_);
      l.wv = matrix(d.wv, kv_dim, c.dim, at + ".wv", keep_, keep_quantized_);
      l.wo = matrix(d.wo, c.dim, q_dim, at + ".wo", keep_, keep_quantized_);
      l.w_gate = matrix(d.w_gate, c.ffn_dim, c.dim, at + ".w_gate", keep_, keep_quantized_);
      l.w_up = matrix(d.w_up, c.ffn_dim, c.dim, at + ".w_up", keep_, keep_quantized_);
      l.w_down = matrix(d.w_down, c.dim, c.ffn_dim, at + ".w_down", keep_, keep_quantized_);
      l.bq = optional_f32(d.bq, at + ".bq", q_dim, keep_);
      l.bk = optional_f32(d.bk, at + ".bk", kv_dim, keep_);
      l.bv = optional_f32(d.bv, at + ".bv", kv_dim, keep_);
      l.bo = optional_f32(d.bo, at + ".bo", c.dim, keep_);
      if (bool(l.bq) != bool(l.bk) || bool(l.bq) != bool(l.bv))
        throw std::invalid_argument(at + ": q, k and v biases must come together");
      l.q_norm = optional_f32(d.q_norm, at + ".q_norm", c.head_dim, keep_);
      l.k_norm = optional_f32(d.k_norm, at + ".k_norm", c.head_dim, keep_);
      if (bool(l.q_norm) != bool(l.k_norm))
        throw std::invalid_argument(at + ": q_norm and k_norm must come together");
      l.attn_post_norm = optional_f32(d.attn_post_norm, at + ".attn_post_norm", c.dim, keep_);
      l.ffn_post_norm = optional_f32(d.ffn_post_norm, at + ".ffn_post_norm", c.dim, keep_);
      if (bool(l.attn_post_norm) != bool(l.ffn_post_norm))
        throw std::invalid_argument(at + ": attn_post_norm and ffn_post_norm must come together");
      const bool sliding = sliding_layers[size_t(i)];
      l.window = sliding ? spec.sliding_window : 0;
      l.rope_cos = sliding && local_cos ? local_cos : rope_cos;
      l.rope_sin = sliding && local_sin ? local_sin : rope_sin;
      w.layers.push_back(l);
    }
    const KernelTable& table = kernel.empty() ? select_kernels() : kernels_by_name(kernel);
    CacheType ct;
    if (cache_type == "f32")
      ct = CacheType::F32;
    else if (cache_type == "f16")
      ct = CacheType::F16;
    else if (cache_type == "q8")
      ct = CacheType::Q8;
    else
      throw std::invalid_argument("kv cache type must be 'f32', 'f16' or 'q8', got '" + cache_type + "'");
    engine_.reset(new Engine(c, w, threads, table, ct));
    // The kernels read the engine's interleaved copies: the quantized
    // matrices' arrays (and their fp16 scales) can go.
    if (engine_->interleaved_bytes() > 0) keep_quantized_ = KeepAlive();
  }

  void append(const I32Array& tokens) {
    const int32_t* p = tokens.data();
    const int n = int(tokens.size());
    py::gil_scoped_release release;
    engine_->append(p, n);
  }

  F32Array logits_all(const I32Array& tokens) {
    const int n = int(tokens.size());
    if (n <= 0) throw std::invalid_argument("no tokens to run (an empty prompt?)");
    F32Array out({size_t(n), size_t(engine_->config().vocab)});
    float* o = out.mutable_data();
    const int32_t* p = tokens.data();
    {
      py::gil_scoped_release release;
      engine_->logits_all(p, n, o);
    }
    return out;
  }

  F32Array last_logits() const {
    F32Array out(size_t(engine_->config().vocab));
    std::memcpy(out.mutable_data(), engine_->last_logits(), size_t(out.size()) * sizeof(float));
    return out;
  }

  void rewind(int pos, const F32Array& logits) {
    if (size_t(logits.size()) != size_t(engine_->config().vocab))
      throw std::invalid_argument("rewind: logits must have vocab_size elements");
    engine_->rewind(pos, logits.data());
  }

  int sample(float temperature, int top_k, float top_p, float repetition_penalty,
             const I32Array& history) {
    SamplingParams p{temperature, top_k, top_p, repetition_penalty};
    const int32_t* h = history.data();
    const int n = int(history.size());
    py::gil_scoped_release release;
    return engine_->sample(p, h, n);
  }

  int sample_logits(const F32Array& logits, float temperature, int top_k, float top_p,
                    float repetition_penalty, const I32Array& history) {
    if (size_t(logits.size()) != size_t(engine_->config().vocab))
      throw std::invalid_argument("sample_logits: logits must have vocab_size elements, got " +
                                  std::to_string(logits.size()));
    SamplingParams p{temperature, top_k, top_p, repetition_penalty};
    const float* l = logits.data();
    const int32_t* h = history.data();
    const int n = int(history.size());
    py::gil_scoped_release release;
    return engine_->sample(l, p, h, n);
  }

  int open_sequence(int from, int keep) { return engine_->open_sequence(from, keep); }
  void close_sequence(int id) { engine_->close_sequence(id); }
  void assign(int id, int from, int keep) { engine_->assign(id, from, keep); }
  int sequence_length(int id) const { return engine_->sequence_length(id); }
  void truncate(int id, int length) { engine_->truncate(id, length); }

  F32Array extend(int id, const I32Array& tokens, int logit_rows) {
    const int n = int(tokens.size());
    if (logit_rows < 0 || logit_rows > n)
      throw std::invalid_argument("extend: logit_rows must be between 0 and the token count (" +
                                  std::to_string(n) + "), got " + std::to_string(logit_rows));
    F32Array out({size_t(logit_rows), size_t(engine_->config().vocab)});
    float* o = out.mutable_data();
    const int32_t* p = tokens.data();
    {
      py::gil_scoped_release release;
      engine_->extend(id, p, n, o, logit_rows);
    }
    return out;
  }

  F32Array decode(const I32Array& ids, const I32Array& tokens) {
    if (ids.size() != tokens.size())
      throw std::invalid_argument("decode: " + std::to_string(ids.size()) + " sequences but " +
                                  std::to_string(tokens.size()) + " tokens");
    const int n = int(ids.size());
    if (n <= 0) throw std::invalid_argument("decode: no sequences");
    F32Array out({size_t(n), size_t(engine_->config().vocab)});
    float* o = out.mutable_data();
    const int32_t* i = ids.data();
    const int32_t* t = tokens.data();
    {
      py::gil_scoped_release release;
      engine_->decode(i, t, n, o);
    }
    return out;
  }

  void seed(uint64_t s) { engine_->seed(s); }
  int position() const { return engine_->position(); }
  int64_t tokens_evaluated() const { return engine_->tokens_evaluated(); }

  py::dict info() const {
    py::dict d;
    d["kernel"] = engine_->kernels().name;
    d["threads"] = engine_->threads();
    d["max_context"] = engine_->config().max_context;
    d["kv_cache_bytes"] = engine_->cache_bytes();
    d["kv_cache_positions"] = engine_->config().max_cache_positions;  // 0: no bound
    d["kv_page_positions"] = kPagePositions;
    d["weight_bytes_per_token"] = engine_->weight_bytes_per_token();
    // The copy of the quantized matrices the kernels read (0: read in place).
    d["interleaved_weight_bytes"] = engine_->interleaved_bytes();
    return d;
  }

 private:
  KeepAlive keep_;
  KeepAlive keep_quantized_;  // the quantized matrices' arrays and scales
  std::unique_ptr<Engine> engine_;
};

// ---- the encoder (csrc/encoder.h) ----------------------------------------------

// What Python hands the encoder (edge_reason/native_spec.py builds these from
// hf_weights.load_bert_weights' tensors), checked when the encoder is built.
struct EncoderLayerSpec {
  MatrixSpec wq, wk, wv, wo, w_up, w_down;
  py::object bq = py::none(), bk = py::none(), bv = py::none(), bo = py::none();
  py::object b_up = py::none(), b_down = py::none();
  py::object attn_norm = py::none(), attn_norm_bias = py::none();
  py::object ffn_norm = py::none(), ffn_norm_bias = py::none();
};

struct EncoderWeightsSpec {
  MatrixSpec words;
  py::object positions = py::none(), types = py::none();
  py::object embed_norm = py::none(), embed_norm_bias = py::none();
  std::vector<EncoderLayerSpec> layers;
};

EncoderConfig make_encoder_config(py::handle dim, py::handle ffn_dim, py::handle layers,
                                  py::handle heads, py::handle vocab, py::handle type_vocab,
                                  py::handle max_positions, py::handle max_tokens,
                                  py::handle norm_eps, const std::string& pooling, bool normalize) {
  EncoderConfig c;
  const std::string at = "encoder config";
  c.dim = int_field(dim, "dim", at, 1, kMaxSize);
  c.ffn_dim = int_field(ffn_dim, "ffn_dim", at, 1, kMaxSize);
  c.layers = int_field(layers, "layers", at, 1, kMaxSize);
  c.heads = int_field(heads, "heads", at, 1, kMaxSize);
  c.vocab = int_field(vocab, "vocab", at, 1, kMaxSize);
  c.type_vocab = int_field(type_vocab, "type_vocab", at, 1, kMaxSize);
  c.max_positions = int_field(max_positions, "max_positions", at, 1, kMaxSize);
  c.max_tokens = int_field(max_tokens, "max_tokens", at, 1, kMaxSize);
  c.norm_eps = float_field(norm_eps, "norm_eps", at);
  if (pooling == "mean")
    c.pooling = Pooling::Mean;
  else if (pooling == "cls")
    c.pooling = Pooling::Cls;
  else
    throw std::invalid_argument("encoder config: pooling must be 'mean' or 'cls', got '" + pooling +
                                "'");
  c.normalize = normalize;
  check_encoder_config(c);  // before any size is computed from it
  return c;
}

class PyEncoder {
 public:
  PyEncoder(const EncoderConfig& c, const EncoderWeightsSpec& weights, int threads,
            const std::string& kernel) {
    const int D = c.dim, F = c.ffn_dim;
    EncoderWeights w;
    w.words = embedding_table(weights.words, c.vocab, D, "words", keep_);
    w.positions = finite_f32(weights.positions, size_t(c.max_positions) * D, "positions", keep_);
    w.types = finite_f32(weights.types, size_t(c.type_vocab) * D, "types", keep_);
    w.embed_norm = finite_f32(weights.embed_norm, D, "embed_norm", keep_);
    w.embed_norm_bias = finite_f32(weights.embed_norm_bias, D, "embed_norm_bias", keep_);
    if (int(weights.layers.size()) != c.layers)
      throw std::invalid_argument("expected " + std::to_string(c.layers) + " layers, got " +
                                  std::to_string(weights.layers.size()));
    for (int i = 0; i < c.layers; ++i) {
      const EncoderLayerSpec& d = weights.layers[size_t(i)];
      const std::string at = "layers." + std::to_string(i);
      KeepAlive& kq = keep_quantized_;
      EncoderLayerWeights l;
      l.wq = matrix(d.wq, D, D, at + ".wq", keep_, kq);
      l.wk = matrix(d.wk, D, D, at + ".wk", keep_, kq);
      l.wv = matrix(d.wv, D, D, at + ".wv", keep_, kq);
      l.wo = matrix(d.wo, D, D, at + ".wo", keep_, kq);
      l.w_up = matrix(d.w_up, F, D, at + ".w_up", keep_, kq);
      l.w_down = matrix(d.w_down, D, F, at + ".w_down", keep_, kq);
      l.bq = finite_f32(d.bq, D, at + ".bq", keep_);
      l.bk = finite_f32(d.bk, D, at + ".bk", keep_);
      l.bv = finite_f32(d.bv, D, at + ".bv", keep_);
      l.bo = finite_f32(d.bo, D, at + ".bo", keep_);
      l.b_up = finite_f32(d.b_up, F, at + ".b_up", keep_);
      l.b_down = finite_f32(d.b_down, D, at + ".b_down", keep_);
      l.attn_norm = finite_f32(d.attn_norm, D, at + ".attn_norm", keep_);
      l.attn_norm_bias = finite_f32(d.attn_norm_bias, D, at + ".attn_norm_bias", keep_);
      l.ffn_norm = finite_f32(d.ffn_norm, D, at + ".ffn_norm", keep_);
      l.ffn_norm_bias = finite_f32(d.ffn_norm_bias, D, at + ".ffn_norm_bias", keep_);
      w.layers.push_back(l);
    }
    const KernelTable& table = kernel.empty() ? select_kernels() : kernels_by_name(kernel);
    pool_.reset(new ThreadPool(threads));
    encoder_.reset(new Encoder(c, w, table, *pool_));
    // The kernels read the encoder's interleaved copies: the quantized arrays can go.
    if (encoder_->interleaved_bytes() > 0) keep_quantized_ = KeepAlive();
  }

  // [len(lengths), dim]: the embeddings of texts of these lengths, their tokens and
  // token types laid end to end.
  F32Array embed(const I32Array& tokens, const I32Array& types, const I32Array& lengths) {
    if (tokens.ndim() != 1 || types.ndim() != 1 || lengths.ndim() != 1)
      throw std::invalid_argument("embed: tokens, types and lengths must be 1-D");
    int64_t total = 0;
    for (py::ssize_t i = 0; i < lengths.size(); ++i) total += lengths.data()[i];
    if (tokens.size() != total || types.size() != total)
      throw std::invalid_argument("embed: the lengths add up to " + std::to_string(total) +
                                  " tokens, but there are " + std::to_string(tokens.size()) +
                                  " tokens and " + std::to_string(types.size()) + " types");
    if (lengths.size() > kMaxSize) throw std::invalid_argument("embed: too many texts");
    const int n = int(lengths.size());
    F32Array out({size_t(n), size_t(encoder_->config().dim)});
    float* o = out.mutable_data();
    const int32_t *t = tokens.data(), *ty = types.data(), *len = lengths.data();
    {
      py::gil_scoped_release release;
      encoder_->embed(t, ty, len, n, o);
    }
    return out;
  }

  int64_t tokens_evaluated() const { return encoder_->tokens_evaluated(); }

  py::dict info() const {
    const EncoderConfig& c = encoder_->config();
    py::dict d;
    d["kernel"] = encoder_->kernels().name;
    d["threads"] = pool_->size();
    d["max_positions"] = c.max_positions;
    d["max_tokens"] = c.max_tokens;  // tokens per forward pass
    d["dim"] = c.dim;
    d["weight_bytes_per_token"] = encoder_->matrix_bytes();  // the matrices a pass reads
    d["interleaved_weight_bytes"] = encoder_->interleaved_bytes();
    return d;
  }

 private:
  KeepAlive keep_;
  KeepAlive keep_quantized_;  // the quantized matrices' arrays and scales
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Encoder> encoder_;  // declared after pool_: destroyed before it
};

// The sampler alone, for backends other than the native engine (onnxruntime,
// LiteRT), so that every backend samples identically.
class PySampler {
 public:
  explicit PySampler(int vocab) : vocab_(vocab), sampler_(vocab) {
    if (vocab <= 0) throw std::invalid_argument("Sampler: vocab must be positive");
  }
  void seed(uint64_t s) { sampler_.seed(s); }
  int sample(const F32Array& logits, float temperature, int top_k, float top_p,
             float repetition_penalty, const I32Array& history) {
    check(logits);
    SamplingParams p{temperature, top_k, top_p, repetition_penalty};
    return sampler_.sample(logits.data(), p, history.data(), int(history.size()));
  }
  F32Array distribution(const F32Array& logits, float temperature, int top_k, float top_p,
                        float repetition_penalty, const I32Array& history) {
    check(logits);
    SamplingParams p{temperature, top_k, top_p, repetition_penalty};
    F32Array out(vocab_);
    sampler_.distribution(logits.data(), p, history.data(), int(history.size()),
                          out.mutable_data());
    return out;
  }

 private:
  void check(const F32Array& logits) const {
    if (logits.size() != vocab_)
      throw std::invalid_argument("Sampler: expected " + std::to_string(vocab_) + " logits, got " +
                                  std::to_string(logits.size()));
  }

  py::ssize_t vocab_;
  Sampler sampler_;
};

// Round-to-nearest quantization of a [rows, cols] matrix, rows split over
// the machine's cores (loading a model quantizes hundreds of millions of
// weights). The scales come back as float32, like a bundle's, holding the
// fp16 values the codes were chosen against: the engine's conversion at load
// leaves them unchanged.
py::tuple quantize(const F32Array& w, const std::string& format) {
  if (w.ndim() != 2) throw std::invalid_argument("quantize: expected a 2-D float32 array");
  if (format != "q8" && format != "q4")
    throw std::invalid_argument("quantize: format must be 'q8' or 'q4', got '" + format + "'");
  const int rows = int(w.shape(0)), cols = int(w.shape(1)), nb = num_blocks(cols);
  const int block_bytes = format == "q8" ? kBlock : kBlock / 2;
  U8Array data({rows, nb, block_bytes});
  std::vector<uint16_t> scales_f16(size_t(rows) * nb);
  const float* src = w.data();
  uint8_t* dst = data.mutable_data();
  uint16_t* sc = scales_f16.data();
  // A NaN compares false with every block maximum, so the quantizers would skip it
  // and write a garbage code: refuse it here, by position.
  for (size_t i = 0; i < size_t(w.size()); ++i)
    if (!std::isfinite(src[i]))
      throw std::invalid_argument("quantize: the weight at row " + std::to_string(i / cols) +
                                  ", column " + std::to_string(i % cols) + " is not finite");
  auto run = format == "q8" ? quantize_rows_q8 : quantize_rows_q4;
  {
    py::gil_scoped_release release;
    const int threads = std::max(1, std::min<int>(std::thread::hardware_concurrency(), rows / 64));
    ThreadPool pool(std::min(threads, ThreadPool::kMaxThreads));
    auto part = [=](int, int i) {
      const int r0 = int(int64_t(rows) * i / threads), r1 = int(int64_t(rows) * (i + 1) / threads);
      run(src + size_t(r0) * cols, r1 - r0, cols, dst + size_t(r0) * nb * block_bytes,
          sc + size_t(r0) * nb);
    };
    pool.run(threads, part);
  }
  F32Array scales({rows, nb});
  float* out = scales.mutable_data();
  for (size_t i = 0; i < scales_f16.size(); ++i) {
    if (!half_is_finite(scales_f16[i]))
      throw std::invalid_argument("quantize: weights too large for an fp16 block scale, the engine's "
                                  "scale format (q8 takes magnitudes below 8321040, q4 below 524160)");
    out[i] = half_to_float(scales_f16[i]);
  }
  return py::make_tuple(data, scales);
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "edge-reason native engine";
  m.def("quantize", &quantize, py::arg("weights"), py::arg("format"),
        "Round-to-nearest quantization of a [rows, cols] float32 matrix into q8 or q4 blocks.");
  m.def(
      "read_bandwidth",
      [](size_t megabytes, int threads, int repeats) {
        if (megabytes == 0 || threads < 1 || repeats < 1)
          throw std::invalid_argument("read_bandwidth: megabytes, threads and repeats must be positive");
        py::gil_scoped_release release;
        return read_bandwidth(megabytes << 20, threads, repeats);
      },
      py::arg("megabytes") = 1024, py::arg("threads") = 1, py::arg("repeats") = 5,
      "Best read bandwidth in bytes/s over `repeats` passes of a buffer of `megabytes`.");
  m.def("kernel_variants", [] {
    py::list out;
    for (const KernelVariant& v : kernel_variants()) out.append(py::make_tuple(v.table->name, v.supported));
    return out;
  });
  m.def("selected_kernel", [] { return std::string(select_kernels().name); });
  py::class_<PySampler>(m, "Sampler")
      .def(py::init<int>(), py::arg("vocab"))
      .def("seed", &PySampler::seed)
      .def("distribution", &PySampler::distribution, py::arg("logits"), py::arg("temperature"),
           py::arg("top_k"), py::arg("top_p"), py::arg("repetition_penalty"), py::arg("history"))
      .def("sample", &PySampler::sample, py::arg("logits"), py::arg("temperature"), py::arg("top_k"),
           py::arg("top_p"), py::arg("repetition_penalty"), py::arg("history"));
  py::class_<ConfigSpec>(m, "ModelConfig",
                         "The model's shapes and the engine's sizes, checked when made.")
      .def(py::init(&make_config), py::kw_only(), py::arg("dim"), py::arg("ffn_dim"),
           py::arg("layers"), py::arg("heads"), py::arg("kv_heads"), py::arg("head_dim"),
           py::arg("vocab"), py::arg("norm_eps"), py::arg("sliding_window"), py::arg("max_context"),
           py::arg("max_batch"), py::arg("activation") = "silu", py::arg("embedding_scale") = 1.0f,
           py::arg("attention_scale") = 0.0f, py::arg("sliding_layers") = py::none())
      .def_property_readonly("dim", [](const ConfigSpec& s) { return s.model.dim; })
      .def_property_readonly("ffn_dim", [](const ConfigSpec& s) { return s.model.ffn_dim; })
      .def_property_readonly("layers", [](const ConfigSpec& s) { return s.model.layers; })
      .def_property_readonly("heads", [](const ConfigSpec& s) { return s.model.heads; })
      .def_property_readonly("kv_heads", [](const ConfigSpec& s) { return s.model.kv_heads; })
      .def_property_readonly("head_dim", [](const ConfigSpec& s) { return s.model.head_dim; })
      .def_property_readonly("vocab", [](const ConfigSpec& s) { return s.model.vocab; })
      .def_property_readonly("norm_eps", [](const ConfigSpec& s) { return s.model.norm_eps; })
      .def_readonly("sliding_window", &ConfigSpec::sliding_window)
      .def_property_readonly("max_context", [](const ConfigSpec& s) { return s.model.max_context; })
      .def_property_readonly("max_batch", [](const ConfigSpec& s) { return s.model.max_batch; })
      .def_property_readonly("embedding_scale",
                             [](const ConfigSpec& s) { return s.model.embedding_scale; })
      .def_property_readonly("attention_scale",
                             [](const ConfigSpec& s) { return s.model.attention_scale; })
      .def_readonly("sliding_layers", &ConfigSpec::sliding_layers);
  py::class_<MatrixSpec>(m, "MatrixSpec", "A weight matrix: format, rows, cols and its arrays.")
      .def(py::init<>())
      .def_readwrite("format", &MatrixSpec::format)
      .def_readwrite("rows", &MatrixSpec::rows)
      .def_readwrite("cols", &MatrixSpec::cols)
      .def_readwrite("data", &MatrixSpec::data)
      .def_readwrite("scales", &MatrixSpec::scales)
      .def_readwrite("zero_points", &MatrixSpec::zero_points);
  py::class_<LayerSpec>(m, "LayerSpec", "One decoder layer's weights (None: an optional one absent).")
      .def(py::init<>())
      .def_readwrite("attn_norm", &LayerSpec::attn_norm)
      .def_readwrite("ffn_norm", &LayerSpec::ffn_norm)
      .def_readwrite("wq", &LayerSpec::wq)
      .def_readwrite("wk", &LayerSpec::wk)
      .def_readwrite("wv", &LayerSpec::wv)
      .def_readwrite("wo", &LayerSpec::wo)
      .def_readwrite("w_gate", &LayerSpec::w_gate)
      .def_readwrite("w_up", &LayerSpec::w_up)
      .def_readwrite("w_down", &LayerSpec::w_down)
      .def_readwrite("bq", &LayerSpec::bq)
      .def_readwrite("bk", &LayerSpec::bk)
      .def_readwrite("bv", &LayerSpec::bv)
      .def_readwrite("bo", &LayerSpec::bo)
      .def_readwrite("q_norm", &LayerSpec::q_norm)
      .def_readwrite("k_norm", &LayerSpec::k_norm)
      .def_readwrite("attn_post_norm", &LayerSpec::attn_post_norm)
      .def_readwrite("ffn_post_norm", &LayerSpec::ffn_post_norm);
  py::class_<WeightsSpec>(m, "WeightsSpec", "A model's weights, as the engine reads them.")
      .def(py::init<>())
      .def_readwrite("embedding", &WeightsSpec::embedding)
      .def_readwrite("lm_head", &WeightsSpec::lm_head)
      .def_readwrite("final_norm", &WeightsSpec::final_norm)
      .def_readwrite("rope_cos", &WeightsSpec::rope_cos)
      .def_readwrite("rope_sin", &WeightsSpec::rope_sin)
      .def_readwrite("rope_local_cos", &WeightsSpec::rope_local_cos)
      .def_readwrite("rope_local_sin", &WeightsSpec::rope_local_sin)
      .def_readwrite("layers", &WeightsSpec::layers);
  py::class_<EncoderConfig>(m, "EncoderConfig",
                            "An encoder's shapes and the engine's sizes, checked when made.")
      .def(py::init(&make_encoder_config), py::kw_only(), py::arg("dim"), py::arg("ffn_dim"),
           py::arg("layers"), py::arg("heads"), py::arg("vocab"), py::arg("type_vocab"),
           py::arg("max_positions"), py::arg("max_tokens"), py::arg("norm_eps"),
           py::arg("pooling") = "mean", py::arg("normalize") = true)
      .def_readonly("dim", &EncoderConfig::dim)
      .def_readonly("max_positions", &EncoderConfig::max_positions)
      .def_readonly("max_tokens", &EncoderConfig::max_tokens);
  py::class_<EncoderLayerSpec>(m, "EncoderLayerSpec", "One encoder layer's weights.")
      .def(py::init<>())
      .def_readwrite("wq", &EncoderLayerSpec::wq)
      .def_readwrite("wk", &EncoderLayerSpec::wk)
      .def_readwrite("wv", &EncoderLayerSpec::wv)
      .def_readwrite("wo", &EncoderLayerSpec::wo)
      .def_readwrite("w_up", &EncoderLayerSpec::w_up)
      .def_readwrite("w_down", &EncoderLayerSpec::w_down)
      .def_readwrite("bq", &EncoderLayerSpec::bq)
      .def_readwrite("bk", &EncoderLayerSpec::bk)
      .def_readwrite("bv", &EncoderLayerSpec::bv)
      .def_readwrite("bo", &EncoderLayerSpec::bo)
      .def_readwrite("b_up", &EncoderLayerSpec::b_up)
      .def_readwrite("b_down", &EncoderLayerSpec::b_down)
      .def_readwrite("attn_norm", &EncoderLayerSpec::attn_norm)
      .def_readwrite("attn_norm_bias", &EncoderLayerSpec::attn_norm_bias)
      .def_readwrite("ffn_norm", &EncoderLayerSpec::ffn_norm)
      .def_readwrite("ffn_norm_bias", &EncoderLayerSpec::ffn_norm_bias);
  py::class_<EncoderWeightsSpec>(m, "EncoderWeightsSpec", "An encoder's weights.")
      .def(py::init<>())
      .def_readwrite("words", &EncoderWeightsSpec::words)
      .def_readwrite("positions", &EncoderWeightsSpec::positions)
      .def_readwrite("types", &EncoderWeightsSpec::types)
      .def_readwrite("embed_norm", &EncoderWeightsSpec::embed_norm)
      .def_readwrite("embed_norm_bias", &EncoderWeightsSpec::embed_norm_bias)
      .def_readwrite("layers", &EncoderWeightsSpec::layers);
  py::class_<PyEncoder>(m, "NativeEncoder")
      .def(py::init<const EncoderConfig&, const EncoderWeightsSpec&, int, const std::string&>(),
           py::arg("config"), py::arg("weights"), py::arg("threads"), py::arg("kernel") = "")
      .def("embed", &PyEncoder::embed, py::arg("tokens"), py::arg("types"), py::arg("lengths"))
      .def_property_readonly("tokens_evaluated", &PyEncoder::tokens_evaluated)
      .def("info", &PyEncoder::info);
  py::class_<PyEngine>(m, "NativeEngine")
      .def(py::init<const ConfigSpec&, const WeightsSpec&, int, const std::string&, const std::string&,
                    int64_t>(),
           py::arg("config"), py::arg("weights"), py::arg("threads"), py::arg("kernel") = "",
           py::arg("cache_type") = "f32", py::arg("kv_cache_positions") = 0)
      .def("open_sequence", &PyEngine::open_sequence, py::arg("from_sequence") = -1, py::arg("keep") = 0)
      .def("close_sequence", &PyEngine::close_sequence, py::arg("sequence"))
      .def("assign", &PyEngine::assign, py::arg("sequence"), py::arg("from_sequence"), py::arg("keep"))
      .def("sequence_length", &PyEngine::sequence_length, py::arg("sequence"))
      .def("truncate", &PyEngine::truncate, py::arg("sequence"), py::arg("length"))
      .def("extend", &PyEngine::extend, py::arg("sequence"), py::arg("tokens"), py::arg("logit_rows") = 1)
      .def("decode", &PyEngine::decode, py::arg("sequences"), py::arg("tokens"))
      .def("append", &PyEngine::append)
      .def("logits_all", &PyEngine::logits_all)
      .def("last_logits", &PyEngine::last_logits)
      .def("rewind", &PyEngine::rewind)
      .def("sample", &PyEngine::sample)
      .def("sample_logits", &PyEngine::sample_logits, py::arg("logits"), py::arg("temperature"),
           py::arg("top_k"), py::arg("top_p"), py::arg("repetition_penalty"), py::arg("history"))
      .def("seed", &PyEngine::seed)
      .def_property_readonly("position", &PyEngine::position)
      .def_property_readonly("tokens_evaluated", &PyEngine::tokens_evaluated)
      .def("info", &PyEngine::info);
}
