#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/exp_approx.h"

namespace edge {

namespace {

// The index of the first largest of n values, as std::max_element finds it
// (NaN is never chosen unless it comes first). Greedy decoding runs this over
// the whole vocabulary every token, on one thread while the others wait:
// std::max_element compares one value at a time (its index dependency keeps
// the compiler from vectorizing), so it cost 2% of a decode step on a
// 152k-token vocabulary. Sixteen running maxima vectorize, and the first
// index holding the maximum is then found in a second, early-exiting pass.
int argmax(const float* x, int n) {
  constexpr int kLanes = 16;
  if (n < 2 * kLanes) return int(std::max_element(x, x + n) - x);
  float lane_max[kLanes];
  std::memcpy(lane_max, x, sizeof(lane_max));
  int i = kLanes;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lane_max[j] = x[i + j] > lane_max[j] ? x[i + j] : lane_max[j];
  // A NaN among the first values sticks in its lane (nothing compares above
  // it) and would hide that lane's later values: keep max_element's answer.
  for (int j = 0; j < kLanes; ++j)
    if (lane_max[j] != lane_max[j]) return int(std::max_element(x, x + n) - x);
  float best = lane_max[0];
  for (int j = 1; j < kLanes; ++j) best = lane_max[j] > best ? lane_max[j] : best;
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  for (i = 0; i < n; ++i)
    if (x[i] == best) return i;
  return 0;  // unreachable: best is one of the values
}

}  // namespace

Sampler::Sampler(int vocab)
    : vocab_(vocab), logits_(vocab), weights_(vocab), order_(vocab), seen_(vocab, 0) {}

void Sampler::seed(uint64_t seed) {
  // splitmix64 of the seed, so that nearby seeds give unrelated streams
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  state_ = (z ^ (z >> 31)) | 1;
}

float Sampler::next_uniform() {
  // xorshift64*: plenty for sampling, and the same on every platform
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint64_t r = state_ * 0x2545F4914F6CDD1DULL;
  return float(r >> 40) / float(1ull << 24);
}

// weights_[i] = exp((logits_[i] - max) / T) for the whole vocabulary, in one
// loop the compiler vectorizes (a library exp per token took 1.3 ms on a 152k
// vocabulary, as long as a decode step of a 0.5B model). Below e^-87 a weight is
// 0: a NaN or -inf logit (a banned token) weighs nothing.
void Sampler::fill_weights(float max_logit, double inv_t) {
  const float scale = float(std::min(inv_t, 1e30));
  const float* logits = logits_.data();
  float* weights = weights_.data();
  const int n = vocab_;
  for (int i = 0; i < n; ++i) {
    // exp_approx's steps without its clamps (x <= 0 here, and below kExpMin the weight
    // is 0), whose std::fmin / std::fmax keep the loop from vectorizing (CMakeLists.txt
    // builds this file with -fno-trapping-math for the same reason)
    const float x0 = (logits[i] - max_logit) * scale;
    const float x = x0 >= kExpMin ? x0 : 0.0f;
    const float k = (x * kLog2e + kRoundMagic) - kRoundMagic;
    const float r = (x - k * kLn2Hi) - k * kLn2Lo;
    const float poly =
        (((((kExpPoly[0] * r + kExpPoly[1]) * r + kExpPoly[2]) * r + kExpPoly[3]) * r +
          kExpPoly[4]) * r + kExpPoly[5]) * r + kExpPoly[6];
    const int32_t bits = (int32_t(k) + 127) << 23;
    float two_k;
    std::memcpy(&two_k, &bits, sizeof two_k);
    weights[i] = x0 >= kExpMin ? poly * two_k : 0.0f;
  }
}

int Sampler::candidates(const float* logits, const SamplingParams& p, const int32_t* history,
                        int history_len, double* total_out, int* greedy) {
  std::memcpy(logits_.data(), logits, size_t(vocab_) * sizeof(float));
  if (p.repetition_penalty != 1.0f) {
    for (int i = 0; i < history_len; ++i) {
      const int32_t tok = history[i];
      if (tok < 0 || tok >= vocab_ || seen_[tok]) continue;
      seen_[tok] = 1;
      float& l = logits_[tok];
      l = l < 0.0f ? l * p.repetition_penalty : l / p.repetition_penalty;
    }
    for (int i = 0; i < history_len; ++i)
      if (history[i] >= 0 && history[i] < vocab_) seen_[history[i]] = 0;
  }
  *greedy = argmax(logits_.data(), vocab_);
  if (p.temperature <= 0.0f) return -1;

  // Weights exp((l - max) / T), with the maximum subtracted before dividing:
  // dividing first overflows to infinity for T near the smallest floats, and
  // inf - inf is NaN. The ranking below is the logits' own (T > 0 keeps order).
  const float mx = logits_[size_t(*greedy)];
  if (!std::isfinite(mx)) return -1;
  fill_weights(mx, 1.0 / double(p.temperature));
  auto weight = [&](int32_t tok) { return double(weights_[tok]); };
  int n = vocab_;
  for (int i = 0; i < n; ++i) order_[i] = i;
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits_[a] > logits_[b] || (logits_[a] == logits_[b] && a < b);
  };
  // Rank only as many candidates as the filters need: top-k keeps k; top-p
  // usually lives in the best few hundred, so rank 1024 first and the whole
  // vocabulary only if they do not hold the requested mass.
  if (p.top_k > 0 && p.top_k < n) {
    std::partial_sort(order_.begin(), order_.begin() + p.top_k, order_.begin() + n, by_logit);
    n = p.top_k;
  }
  double total = 0.0;
  if (n == vocab_) {  // all of them, in order: four sums at once
    double part[4] = {0.0, 0.0, 0.0, 0.0};
    int i = 0;
    for (; i + 4 <= n; i += 4)
      for (int j = 0; j < 4; ++j) part[j] += weights_[size_t(i + j)];
    for (; i < n; ++i) part[0] += weights_[size_t(i)];
    total = (part[0] + part[1]) + (part[2] + part[3]);
  } else {
    for (int i = 0; i < n; ++i) total += weight(order_[i]);
  }
  if (p.top_p < 1.0f) {
    int ranked = std::min(n, 1024);
    if (p.top_k <= 0 || p.top_k >= vocab_)
      std::partial_sort(order_.begin(), order_.begin() + ranked, order_.begin() + n, by_logit);
    double mass = 0.0;
    int keep = 0;
    for (;;) {
      while (keep < ranked && mass < p.top_p * total) mass += weight(order_[keep++]);
      if (mass >= p.top_p * total || ranked == n) break;
      std::sort(order_.begin() + ranked, order_.begin() + n, by_logit);
      ranked = n;
    }
    n = std::max(keep, 1);
    total = 0.0;
    for (int i = 0; i < n; ++i) total += weight(order_[i]);
  }
  *total_out = total;
  return n;
}

int Sampler::sample(const float* logits, const SamplingParams& p, const int32_t* history,
                    int history_len) {
  if (p.temperature <= 0.0f && p.repetition_penalty == 1.0f)  // plain greedy: no copy needed
    return argmax(logits, vocab_);
  double total = 0.0;
  int greedy = 0;
  const int n = candidates(logits, p, history, history_len, &total, &greedy);
  if (n < 0) return greedy;
  const double r = double(next_uniform()) * total;
  double acc = 0.0;
  for (int i = 0; i < n; ++i) {
    acc += weights_[order_[i]];
    if (r < acc) return order_[i];
  }
  return order_[n - 1];
}

void Sampler::distribution(const float* logits, const SamplingParams& p, const int32_t* history,
                           int history_len, float* out) {
  std::memset(out, 0, size_t(vocab_) * sizeof(float));
  double total = 0.0;
  int greedy = 0;
  const int n = candidates(logits, p, history, history_len, &total, &greedy);
  if (n < 0) {
    out[greedy] = 1.0f;
    return;
  }
  for (int i = 0; i < n; ++i) out[order_[i]] = float(weights_[order_[i]] / total);
}

}  // namespace edge
