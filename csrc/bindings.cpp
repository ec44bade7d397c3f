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
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bandwidth.h"
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
int int_field(const py::dict& d, const char* key, const std::string& where, int64_t lo, int64_t hi) {
  if (!d.contains(key)) throw std::invalid_argument(where + ": field '" + key + "' is missing");
  const py::object v = d[key];
  if (!py::isinstance<py::int_>(v) || py::isinstance<py::bool_>(v))
    throw std::invalid_argument(where + ": field '" + key + "' must be an integer");
  const py::int_ big = v;
  const bool inside = big >= py::int_(lo) && big <= py::int_(hi);
  if (!inside)
    throw std::invalid_argument(where + ": field '" + key + "' is " + std::string(py::str(v)) +
                                "; it must be between " + std::to_string(lo) + " and " +
                                std::to_string(hi));
  return int(big.cast<int64_t>());
}

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

const float* optional_f32(const py::dict& d, const char* key, size_t count,
                          const std::string& where, KeepAlive& keep) {
  if (!d.contains(key) || d[key].is_none()) return nullptr;
  return finite_f32(d[key], count, where + "." + key, keep);
}

Activation parse_activation(const std::string& s) {
  if (s == "silu") return Activation::SiLU;
  if (s == "gelu_tanh") return Activation::GeluTanh;
  throw std::invalid_argument("model config: activation must be 'silu' or 'gelu_tanh', got '" + s +
                              "'");
}

WeightFormat parse_format(const std::string& s, const std::string& where) {
  if (s == "f32") return WeightFormat::F32;
  if (s == "q8") return WeightFormat::Q8;
  if (s == "q4") return WeightFormat::Q4;
  throw std::invalid_argument(where + ": unknown weight format '" + s + "' (f32, q8, q4)");
}

// A matrix arrives as a dict: format, rows, cols, data, scales, zero_points.
// What a quantized matrix reads is kept in `keep_quantized`, which the engine
// lets go of when its kernels read interleaved copies instead.
WeightMatrix matrix(const py::dict& m, int rows, int cols, const std::string& where,
                    KeepAlive& keep, KeepAlive& keep_quantized) {
  WeightMatrix w;
  w.format = parse_format(m["format"].cast<std::string>(), where);
  w.rows = int_field(m, "rows", where, 1, kMaxSize);
  w.cols = int_field(m, "cols", where, 1, kMaxSize);
  if (w.rows != rows || w.cols != cols)
    throw std::invalid_argument(where + ": expected shape [" + std::to_string(rows) + ", " +
                                std::to_string(cols) + "], got [" + std::to_string(w.rows) + ", " +
                                std::to_string(w.cols) + "]");
  const size_t nb = size_t(w.blocks());
  if (w.format == WeightFormat::F32) {
    w.data = checked<float>(m["data"], size_t(rows) * cols, where + ".data", keep);
    return w;
  }
  KeepAlive& kq = keep_quantized;
  w.data = checked<uint8_t>(m["data"], size_t(rows) * w.row_bytes(), where + ".data", kq);
  w.scales_f16 = fp16_scales(m["scales"], size_t(rows), nb, where + ".scales", kq);
  if (m.contains("zero_points") && !m["zero_points"].is_none()) {
    if (w.format != WeightFormat::Q4)
      throw std::invalid_argument(where + ": zero points exist only for q4");
    w.zero_points =
        checked<uint8_t>(m["zero_points"], size_t(rows) * ((nb + 1) / 2), where + ".zero_points", kq);
  }
  return w;
}

class PyEngine {
 public:
  PyEngine(const py::dict& cfg, const py::dict& weights, int threads, const std::string& kernel,
           const std::string& cache_type) {
    ModelConfig c;
    const std::string config_at = "model config";
    c.dim = int_field(cfg, "dim", config_at, 1, kMaxSize);
    c.ffn_dim = int_field(cfg, "ffn_dim", config_at, 1, kMaxSize);
    c.layers = int_field(cfg, "layers", config_at, 1, kMaxSize);
    c.heads = int_field(cfg, "heads", config_at, 1, kMaxSize);
    c.kv_heads = int_field(cfg, "kv_heads", config_at, 1, kMaxSize);
    c.head_dim = int_field(cfg, "head_dim", config_at, 1, kMaxSize);
    c.vocab = int_field(cfg, "vocab", config_at, 1, kMaxSize);
    c.norm_eps = cfg["norm_eps"].cast<float>();
    const int sliding_window = int_field(cfg, "sliding_window", config_at, 0, kMaxSize);
    c.max_context = int_field(cfg, "max_context", config_at, 1, kMaxSize);
    c.max_batch = int_field(cfg, "max_batch", config_at, 1, kMaxSize);
    if (cfg.contains("activation")) c.activation = parse_activation(cfg["activation"].cast<std::string>());
    if (cfg.contains("embedding_scale")) c.embedding_scale = cfg["embedding_scale"].cast<float>();
    if (cfg.contains("attention_scale")) c.attention_scale = cfg["attention_scale"].cast<float>();
    if (!std::isfinite(c.attention_scale) || c.attention_scale < 0.0f ||
        !std::isfinite(c.embedding_scale))
      throw std::invalid_argument("model config: attention_scale and embedding_scale must be finite, "
                                  "attention_scale positive (0: 1/sqrt(head_dim))");
    // Which layers attend through the window: the listed ones, else all (Mistral).
    std::vector<bool> sliding_layers(size_t(std::max(c.layers, 0)), true);
    if (cfg.contains("sliding_layers")) {
      sliding_layers = cfg["sliding_layers"].cast<std::vector<bool>>();
      if (sliding_layers.size() != size_t(c.layers))
        throw std::invalid_argument("model config: sliding_layers must have one entry per layer (" +
                                    std::to_string(c.layers) + "), got " +
                                    std::to_string(sliding_layers.size()));
    }
    check_config(c);  // before any size below is computed from it

    const int q_dim = c.heads * c.head_dim, kv_dim = c.kv_heads * c.head_dim;
    ModelWeights w;
    py::dict emb = weights["embedding"];
    w.embedding.format = parse_format(emb["format"].cast<std::string>(), "embedding");
    if (w.embedding.format == WeightFormat::F32) {
      w.embedding.data = checked<float>(emb["data"], size_t(c.vocab) * c.dim, "embedding.data", keep_);
    } else if (w.embedding.format == WeightFormat::Q8) {
      const size_t nb = size_t(num_blocks(c.dim));
      w.embedding.data =
          checked<uint8_t>(emb["data"], size_t(c.vocab) * nb * kBlock, "embedding.data", keep_);
      w.embedding.scales_f16 = fp16_scales(emb["scales"], size_t(c.vocab), nb, "embedding.scales", keep_);
    } else {
      throw std::invalid_argument("embedding: format must be f32 or q8");
    }
    w.final_norm = finite_f32(weights["final_norm"], c.dim, "final_norm", keep_);
    w.lm_head = matrix(weights["lm_head"], c.vocab, c.dim, "lm_head", keep_, keep_quantized_);
    const size_t rope = size_t(c.max_context) * (c.head_dim / 2);
    const float* rope_cos = checked<float>(weights["rope_cos"], rope, "rope_cos", keep_);
    const float* rope_sin = checked<float>(weights["rope_sin"], rope, "rope_sin", keep_);
    // The sliding layers' own table (Gemma 3), if given.
    const float* local_cos = optional_f32(weights, "rope_local_cos", rope, "weights", keep_);
    const float* local_sin = optional_f32(weights, "rope_local_sin", rope, "weights", keep_);
    if (bool(local_cos) != bool(local_sin))
      throw std::invalid_argument("rope_local_cos and rope_local_sin must come together");
    py::list layers = weights["layers"];
    if (int(layers.size()) != c.layers)
      throw std::invalid_argument("expected " + std::to_string(c.layers) + " layers, got " +
                                  std::to_string(layers.size()));
    for (int i = 0; i < c.layers; ++i) {
      py::dict d = layers[i];
      const std::string at = "layers." + std::to_string(i);
      LayerWeights l;
      l.attn_norm = finite_f32(d["attn_norm"], c.dim, at + ".attn_norm", keep_);
      l.ffn_norm = finite_f32(d["ffn_norm"], c.dim, at + ".ffn_norm", keep_);
      l.wq = matrix(d["wq"], q_dim, c.dim, at + ".wq", keep_, keep_quantized_);
      l.wk = matrix(d["wk"], kv_dim, c.dim, at + ".wk", keep_, keep_quantized_);
      l.wv = matrix(d["wv"], kv_dim, c.dim, at + ".wv", keep_, keep_quantized_);
      l.wo = matrix(d["wo"], c.dim, q_dim, at + ".wo", keep_, keep_quantized_);
      l.w_gate = matrix(d["w_gate"], c.ffn_dim, c.dim, at + ".w_gate", keep_, keep_quantized_);
      l.w_up = matrix(d["w_up"], c.ffn_dim, c.dim, at + ".w_up", keep_, keep_quantized_);
      l.w_down = matrix(d["w_down"], c.dim, c.ffn_dim, at + ".w_down", keep_, keep_quantized_);
      l.bq = optional_f32(d, "bq", q_dim, at, keep_);
      l.bk = optional_f32(d, "bk", kv_dim, at, keep_);
      l.bv = optional_f32(d, "bv", kv_dim, at, keep_);
      l.bo = optional_f32(d, "bo", c.dim, at, keep_);
      if (bool(l.bq) != bool(l.bk) || bool(l.bq) != bool(l.bv))
        throw std::invalid_argument(at + ": q, k and v biases must come together");
      l.q_norm = optional_f32(d, "q_norm", c.head_dim, at, keep_);
      l.k_norm = optional_f32(d, "k_norm", c.head_dim, at, keep_);
      if (bool(l.q_norm) != bool(l.k_norm))
        throw std::invalid_argument(at + ": q_norm and k_norm must come together");
      l.attn_post_norm = optional_f32(d, "attn_post_norm", c.dim, at, keep_);
      l.ffn_post_norm = optional_f32(d, "ffn_post_norm", c.dim, at, keep_);
      if (bool(l.attn_post_norm) != bool(l.ffn_post_norm))
        throw std::invalid_argument(at + ": attn_post_norm and ffn_post_norm must come together");
      const bool sliding = sliding_layers[size_t(i)];
      l.window = sliding ? sliding_window : 0;
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
    else
      throw std::invalid_argument("kv cache type must be 'f32' or 'f16', got '" + cache_type + "'");
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

  void seed(uint64_t s) { engine_->seed(s); }
  int position() const { return engine_->position(); }
  int64_t tokens_evaluated() const { return engine_->tokens_evaluated(); }

  py::dict info() const {
    py::dict d;
    d["kernel"] = engine_->kernels().name;
    d["threads"] = engine_->threads();
    d["max_context"] = engine_->config().max_context;
    d["kv_cache_bytes"] = engine_->cache_bytes();
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
    if (logits.size() != vocab_)
      throw std::invalid_argument("Sampler: expected " + std::to_string(vocab_) + " logits, got " +
                                  std::to_string(logits.size()));
    SamplingParams p{temperature, top_k, top_p, repetition_penalty};
    return sampler_.sample(logits.data(), p, history.data(), int(history.size()));
  }

 private:
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
      .def("sample", &PySampler::sample, py::arg("logits"), py::arg("temperature"), py::arg("top_k"),
           py::arg("top_p"), py::arg("repetition_penalty"), py::arg("history"));
  py::class_<PyEngine>(m, "NativeEngine")
      .def(py::init<const py::dict&, const py::dict&, int, const std::string&, const std::string&>(),
           py::arg("config"), py::arg("weights"), py::arg("threads"), py::arg("kernel") = "",
           py::arg("cache_type") = "f32")
      .def("append", &PyEngine::append)
      .def("logits_all", &PyEngine::logits_all)
      .def("last_logits", &PyEngine::last_logits)
      .def("rewind", &PyEngine::rewind)
      .def("sample", &PyEngine::sample)
      .def("seed", &PyEngine::seed)
      .def_property_readonly("position", &PyEngine::position)
      .def_property_readonly("tokens_evaluated", &PyEngine::tokens_evaluated)
      .def("info", &PyEngine::info);
}
