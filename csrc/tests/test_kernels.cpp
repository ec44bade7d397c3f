// Every kernel variant this CPU can run against the scalar reference:
// integers bit for bit, floats within 1e-5 of the magnitude of the sum; and
// against itself, many tokens in one call against one at a time: bit for bit.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "kernels/interleave.h"
#include "kernels/kernels.h"
#include "quantize.h"

using namespace edge;

namespace {

std::mt19937 rng(1234);

std::vector<float> random_floats(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<const KernelTable*> simd_variants() {
  std::vector<const KernelTable*> out;
  for (const KernelVariant& v : kernel_variants())
    if (v.supported && v.table != &scalar_kernels()) out.push_back(v.table);
  return out;
}

// Quantized activations with their own storage.
struct Acts {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> sum;
  ActBlocks blocks;
  Acts(int rows, int cols, ActOrder order) {
    const size_t nb = size_t(rows) * num_blocks(cols);
    q.assign(nb * kBlock, 0x55);  // garbage: the kernel must write every byte
    d.assign(nb, -1.0f);
    sum.assign(nb, -1);
    blocks = ActBlocks{rows, cols, order, q.data(), d.data(), sum.data()};
  }
};

// A quantized weight matrix with its own storage.
struct Weights {
  std::vector<uint8_t> data, zero_points;
  std::vector<uint16_t> scales;  // fp16
  std::vector<float> f32;
  WeightMatrix w;
  Weights(WeightFormat format, int rows, int cols, bool with_zero_points = false) {
    f32 = random_floats(size_t(rows) * cols);
    const int nb = num_blocks(cols);
    scales.resize(size_t(rows) * nb);
    w.format = format;
    w.rows = rows;
    w.cols = cols;
    if (format == WeightFormat::F32) {
      w.data = f32.data();
      return;
    }
    data.resize(size_t(rows) * nb * (format == WeightFormat::Q8 ? kBlock : kBlock / 2));
    if (format == WeightFormat::Q8)
      quantize_rows_q8(f32.data(), rows, cols, data.data(), scales.data());
    else
      quantize_rows_q4(f32.data(), rows, cols, data.data(), scales.data());
    w.data = data.data();
    w.scales_f16 = scales.data();
    if (with_zero_points) {
      zero_points.resize(size_t(rows) * ((nb + 1) / 2));
      for (uint8_t& z : zero_points) z = uint8_t(rng() & 0xFF);
      w.zero_points = zero_points.data();
    }
  }
};

// w as table k reads it: interleaved into `store` if k reads records, with
// the row-major pointers cleared so that a kernel reading them would crash.
WeightMatrix as_read_by(const KernelTable& k, const WeightMatrix& w, InterleavedWeights& store) {
  WeightMatrix out = w;
  if (k.weight_layout == WeightLayout::RowMajor) return out;
  store.interleave(out);
  out.data = nullptr;
  out.scales_f16 = nullptr;
  out.zero_points = nullptr;
  return out;
}

// Rows 1 mod 4 get random subnormal fp16 scales, rows 2 mod 4 random ones from
// fp16's top binade (32768 to 65504), either sign; the codes stay. Every
// kernel path then widens both kinds, and a wrong widening shows as an error
// far beyond the tolerance.
void use_extreme_scales(Weights& w) {
  const int nb = w.w.blocks();
  for (size_t i = 0; i < w.scales.size(); ++i) {
    const int kind = int(i / nb) % 4;
    const uint16_t sign = (rng() & 1) ? 0x8000 : 0;
    if (kind == 1) w.scales[i] = uint16_t(sign | (1 + rng() % 0x3FF));  // 0x001..0x3FF
    if (kind == 2) w.scales[i] = uint16_t(sign | (0x7800 + rng() % 0x400));  // 2^15..65504
  }
}

const int kCols[] = {1, 7, 31, 32, 33, 64, 95, 96, 128, 257, 896, 1000};
const int kRows[] = {1, 3, 16, 17, 37};
// 17 and more tokens take the token-lane prefill path of the AVX-512 kernels,
// which goes two tiles of 16 at a time: 17 and 21 end in a partial tile, 37
// in a partial third tile after a pair. Fewer go in tiles of 3 or 4 tokens
// and a rest.
const int kTokens[] = {1, 2, 3, 4, 5, 8, 13, 17, 21, 37};

// Both results of one output, with the tolerance the float path allows.
void check_close(float got, float want, float magnitude, const char* what, const char* variant,
                 int rows, int cols, int t, int n) {
  const float tol = 1e-5f * magnitude + 1e-30f;
  CHECK_MSG(std::fabs(got - want) <= tol, "%s %s rows=%d cols=%d t=%d n=%d: %.9g vs scalar %.9g",
            variant, what, rows, cols, t, n, got, want);
}

// Sum over blocks of |d_w * d_a * sum|(code - zero_point) * q||: the size of
// the terms a kernel adds up, which its rounding error is relative to.
float magnitude_q(const WeightMatrix& w, const ActBlocks& x, int t, int n) {
  const int nb = w.blocks();
  const auto* data = static_cast<const uint8_t*>(w.data);
  float m = 0.0f;
  for (int b = 0; b < nb; ++b) {
    const int8_t* q = x.row_q(t) + size_t(b) * kBlock;
    int32_t abs_sum = 0;
    for (int j = 0; j < kBlock; ++j) {
      int value;
      if (w.format == WeightFormat::Q8) {
        value = int(data[(size_t(n) * nb + b) * kBlock + j]) - 128;
      } else {  // code of nibble-order position j
        const uint8_t byte = data[(size_t(n) * nb + b) * (kBlock / 2) + j % (kBlock / 2)];
        value = int(j < kBlock / 2 ? byte & 0x0F : byte >> 4) - q4_zero_point(w, n, b);
      }
      abs_sum += std::abs(value * q[j]);
    }
    m += std::fabs(half_to_float(w.scales_f16[size_t(n) * nb + b]) * x.row_d(t)[b]) * float(abs_sum);
  }
  return m;
}

}  // namespace

// half.h against binary16's definition, on all 65536 halves: the value
// (-1)^s 2^(e-15) (1 + m/1024), or (-1)^s 2^-14 m/1024 for e = 0, exactly;
// back to the same bits; and a float halfway between two neighbouring halves
// rounds to the one with the even last bit, a float beside it to the nearer.
TEST(half_conversion_is_exact_and_rounds_to_nearest_even) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF, sign = h & 0x8000;
    const float f = half_to_float(uint16_t(h));
    if (e == 31) {
      CHECK_MSG(m ? std::isnan(f) : std::isinf(f), "half %04x gives %g", h, f);
      CHECK_MSG(!half_is_finite(uint16_t(h)), "half %04x is not finite", h);
      continue;
    }
    const float magnitude = e ? std::ldexp(float(1024 + m), int(e) - 25) : std::ldexp(float(m), -24);
    CHECK_MSG(f == (sign ? -magnitude : magnitude) && std::signbit(f) == bool(sign),
              "half %04x gives %g, not %g", h, f, magnitude);
    CHECK_MSG(half_is_finite(uint16_t(h)), "half %04x is finite", h);
    CHECK_MSG(float_to_half(f) == h, "half %04x does not round-trip", h);
    if ((h & 0x7FFF) == 0x7BFF) continue;  // the next one up is infinity, checked below
    const float next = half_to_float(uint16_t(h + 1));
    const float mid = (f + next) / 2;  // exact: 12 significant bits
    CHECK_MSG(float_to_half(mid) == ((h & 1) ? h + 1 : h), "tie after half %04x", h);
    CHECK_MSG(float_to_half(std::nextafter(mid, f)) == h, "below the tie after half %04x", h);
    CHECK_MSG(float_to_half(std::nextafter(mid, next)) == h + 1, "above the tie after half %04x", h);
  }
  // Beyond 65504 by half an ulp (65520: the tie rounds to the even "next", infinity) or more.
  CHECK(float_to_half(65519.996f) == 0x7BFF);
  CHECK(float_to_half(65520.0f) == 0x7C00 && float_to_half(-65520.0f) == 0xFC00);
  CHECK(float_to_half(1e30f) == 0x7C00 && !half_is_finite(float_to_half(1e30f)));
  CHECK(float_to_half(1e-30f) == 0x0000 && float_to_half(-1e-30f) == 0x8000);
  CHECK(!half_is_finite(float_to_half(NAN)));
}

// The quantizer picks every code against the fp16 scale the kernels apply:
// each value lies within half a step of its code's (Q8; Q4 up to a whole step
// where code 15 clamps the side opposite the extreme).
TEST(quantizer_codes_fit_their_fp16_scales) {
  const int rows = 5, cols = 100, nb = num_blocks(cols);
  for (WeightFormat format : {WeightFormat::Q8, WeightFormat::Q4}) {
    Weights w(format, rows, cols);
    const auto* data = static_cast<const uint8_t*>(w.w.data);
    for (int n = 0; n < rows; ++n)
      for (int k = 0; k < cols; ++k) {
        const int b = k / kBlock, j = k % kBlock;
        const float d = half_to_float(w.scales[size_t(n) * nb + b]);
        CHECK(d != 0.0f);
        int value;
        if (format == WeightFormat::Q8) {
          value = int(data[(size_t(n) * nb + b) * kBlock + j]) - 128;
        } else {
          const uint8_t byte = data[(size_t(n) * nb + b) * (kBlock / 2) + j / 2];
          value = int(j & 1 ? byte >> 4 : byte & 0x0F) - 8;
        }
        const float err = std::fabs(w.f32[size_t(n) * cols + k] - float(value) * d);
        const bool clamped = format == WeightFormat::Q4 && value == 7;
        // (plus a little for the float rounding of w * (1 / d))
        CHECK_MSG(err <= std::fabs(d) * ((clamped ? 1.0f : 0.5f) + 1e-4f),
                  "format %d row %d col %d: %g is %g from code %d of scale %g", int(format), n, k,
                  w.f32[size_t(n) * cols + k], err, value, d);
      }
  }
  // Weights whose scale fp16 cannot hold get an infinite one, for the caller to refuse.
  std::vector<float> huge(kBlock, 1.0f);
  huge[3] = 1e7f;  // Q8: 1e7 / 127 > 65504
  std::vector<uint8_t> data(kBlock);
  uint16_t scale;
  quantize_rows_q8(huge.data(), 1, kBlock, data.data(), &scale);
  CHECK(!half_is_finite(scale));
  huge[3] = 6e5f;  // Q4: 6e5 / 8 > 65504
  quantize_rows_q4(huge.data(), 1, kBlock, data.data(), &scale);
  CHECK(!half_is_finite(scale));
}

TEST(quantize_acts_matches_reference) {
  for (const KernelTable* k : simd_variants())
    for (int cols : kCols)
      for (ActOrder order : {ActOrder::Natural, ActOrder::Nibble}) {
        const int rows = 3;
        std::vector<float> x = random_floats(size_t(rows) * cols, 3.0f);
        if (cols > 40) std::fill(x.begin() + 32, x.begin() + 64 < x.begin() + cols ? x.begin() + 64 : x.begin() + cols, 0.0f);  // an all-zero block
        Acts want(rows, cols, order), got(rows, cols, order);
        scalar_kernels().quantize_acts(x.data(), cols, 0, rows, &want.blocks);
        k->quantize_acts(x.data(), cols, 0, rows, &got.blocks);
        CHECK_MSG(want.q == got.q, "%s quantize_acts q differs, cols=%d order=%d", k->name, cols, int(order));
        CHECK_MSG(want.d == got.d, "%s quantize_acts d differs, cols=%d", k->name, cols);
        CHECK_MSG(want.sum == got.sum, "%s quantize_acts sum differs, cols=%d", k->name, cols);
      }
}

// The interleaved records hold the row-major matrix as formats.h says: the
// signed code of row n, block b, byte k at byte 4 * (n % 4) + k % 4 of vector
// k / 4 of record (n / 4, b), the scale at d[n % 4], zero points as z - 8, and
// padding rows all zero. Checked on every CPU, whatever its kernels read.
TEST(interleaved_records_hold_the_matrix) {
  for (WeightFormat format : {WeightFormat::Q8, WeightFormat::Q4})
    for (int rows : {1, 4, 6, 17})
      for (int cols : {33, 96}) {
        const bool q4 = format == WeightFormat::Q4;
        Weights w(format, rows, cols, q4 && rows % 2 == 0);
        InterleavedWeights store;
        WeightMatrix m = w.w;
        store.interleave(m);
        const int nb = m.blocks(), groups = (rows + 3) / 4;
        const size_t block_bytes = q4 ? kBlock / 2 : kBlock, codes_bytes = 4 * block_bytes;
        CHECK(store.bytes() == InterleavedWeights::bytes_for(w.w));
        const auto* records = static_cast<const uint8_t*>(m.interleaved);
        bool same = true;
        for (int g = 0; g < groups; ++g)
          for (int b = 0; b < nb; ++b) {
            const uint8_t* rec = records + (size_t(g) * nb + b) * (codes_bytes + sizeof(uint16_t[4]));
            uint16_t d[4];
            std::memcpy(d, rec + codes_bytes, sizeof(d));
            for (int i = 0; i < 4; ++i) {
              const int n = 4 * g + i;
              const bool real = n < rows;
              same &= d[i] == (real ? w.scales[size_t(n) * nb + b] : 0);
              for (size_t k = 0; k < block_bytes; ++k) {
                const uint8_t stored = real ? w.data[(size_t(n) * nb + b) * block_bytes + k] : 0;
                const uint8_t flip = real ? (q4 ? 0x88 : 0x80) : 0;
                same &= rec[16 * (k / 4) + 4 * i + k % 4] == uint8_t(stored ^ flip);
              }
              if (m.interleaved_zero_points) {
                const int8_t z = m.interleaved_zero_points[(size_t(g) * nb + b) * 4 + i];
                same &= z == (real ? q4_zero_point(w.w, n, b) - 8 : 0);
              }
            }
          }
        CHECK_MSG(same, "format=%d rows=%d cols=%d: records differ from formats.h", int(format),
                  rows, cols);
        CHECK(bool(m.interleaved_zero_points) == bool(w.w.zero_points));
      }
}

// Integer-exact setting: every activation block's scale is exactly 1 and the
// weight scales are powers of two, so every float operation is exact and the
// variants must agree bit for bit. A row's scales are 0.5 or 2 times a power of
// two of the row's own: 1, 2^-20 (fp16 subnormals 2^-21 and 2^-19) or 2^14
// (2^13 and 2^15, near fp16's top), so each kernel's fp16 conversion meets
// subnormal and large scales on every path.
TEST(quantized_matmul_integer_path_is_exact) {
  const float row_factor[] = {1.0f, 0x1p-20f, 0x1p14f};
  std::uniform_int_distribution<int> q(-127, 127);
  for (const KernelTable* k : simd_variants())
    for (WeightFormat format : {WeightFormat::Q8, WeightFormat::Q4})
      for (int cols : {33, 96, 257, 896})
        for (int tokens : {1, 4, 5, 16, 21, 40}) {
          const int rows = 17;
          Weights w(format, rows, cols, format == WeightFormat::Q4 && cols == 257);
          const int nb = num_blocks(cols);
          for (size_t i = 0; i < w.scales.size(); ++i)
            w.scales[i] = float_to_half(((rng() & 1) ? 0.5f : 2.0f) * row_factor[i / nb % 3]);
          std::vector<float> x(size_t(tokens) * cols);
          // 127 opens every block of every row (index within the row, as
          // cols need not be a multiple of 32), making each block scale 1.
          for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % cols % kBlock == 0 ? 127 : q(rng));
          const ActOrder order = format == WeightFormat::Q4 ? ActOrder::Nibble : ActOrder::Natural;
          Acts a(tokens, cols, order);
          scalar_kernels().quantize_acts(x.data(), cols, 0, tokens, &a.blocks);
          std::vector<float> want(size_t(tokens) * rows), got(size_t(tokens) * rows, NAN);
          auto ref = format == WeightFormat::Q4 ? scalar_kernels().matmul_q4 : scalar_kernels().matmul_q8;
          auto simd = format == WeightFormat::Q4 ? k->matmul_q4 : k->matmul_q8;
          ref(w.w, a.blocks, 0, rows, want.data(), rows);
          InterleavedWeights store;
          simd(as_read_by(*k, w.w, store), a.blocks, 0, rows, got.data(), rows);
          CHECK_MSG(want == got, "%s matmul format=%d cols=%d tokens=%d not bit-exact", k->name,
                    int(format), cols, tokens);
        }
}

TEST(quantized_matmul_matches_reference) {
  for (const KernelTable* k : simd_variants())
    for (WeightFormat format : {WeightFormat::Q8, WeightFormat::Q4})
      for (int rows : kRows)
        for (int cols : kCols)
          for (int tokens : kTokens) {
            const bool zp = format == WeightFormat::Q4 && (rows + cols) % 2;
            Weights w(format, rows, cols, zp);
            use_extreme_scales(w);
            std::vector<float> x = random_floats(size_t(tokens) * cols);
            const ActOrder order = format == WeightFormat::Q4 ? ActOrder::Nibble : ActOrder::Natural;
            Acts a(tokens, cols, order);
            scalar_kernels().quantize_acts(x.data(), cols, 0, tokens, &a.blocks);
            // A sub-range of rows, as a worker of the thread pool computes.
            const int n0 = rows > 3 ? 1 : 0, n1 = rows > 3 ? rows - 1 : rows;
            const int ldo = rows + 2;
            std::vector<float> want(size_t(tokens) * ldo, 7.0f), got(size_t(tokens) * ldo, 7.0f);
            auto ref = format == WeightFormat::Q4 ? scalar_kernels().matmul_q4 : scalar_kernels().matmul_q8;
            auto simd = format == WeightFormat::Q4 ? k->matmul_q4 : k->matmul_q8;
            ref(w.w, a.blocks, n0, n1, want.data(), ldo);
            InterleavedWeights store;
            simd(as_read_by(*k, w.w, store), a.blocks, n0, n1, got.data(), ldo);
            for (int t = 0; t < tokens; ++t)
              for (int n = 0; n < ldo; ++n) {
                const size_t i = size_t(t) * ldo + n;
                if (n < n0 || n >= n1) {
                  CHECK_MSG(got[i] == 7.0f, "%s wrote outside its rows (n=%d)", k->name, n);
                  continue;
                }
                check_close(got[i], want[i], magnitude_q(w.w, a.blocks, t, n),
                            format == WeightFormat::Q4 ? "matmul_q4" : "matmul_q8", k->name, rows,
                            cols, t, n);
              }
          }
}

TEST(f32_matmul_matches_reference) {
  for (const KernelTable* k : simd_variants())
    for (int rows : kRows)
      for (int cols : kCols)
        for (int tokens : kTokens) {
          Weights w(WeightFormat::F32, rows, cols);
          std::vector<float> x = random_floats(size_t(tokens) * cols);
          std::vector<float> want(size_t(tokens) * rows), got(size_t(tokens) * rows);
          scalar_kernels().matmul_f32(w.w, x.data(), cols, tokens, 0, rows, want.data(), rows);
          k->matmul_f32(w.w, x.data(), cols, tokens, 0, rows, got.data(), rows);
          for (int t = 0; t < tokens; ++t)
            for (int n = 0; n < rows; ++n) {
              float m = 0.0f;
              for (int c = 0; c < cols; ++c) m += std::fabs(w.f32[size_t(n) * cols + c] * x[size_t(t) * cols + c]);
              check_close(got[size_t(t) * rows + n], want[size_t(t) * rows + n], m, "matmul_f32",
                          k->name, rows, cols, t, n);
            }
        }
}

// Batched decode (B sequences, a token each) and speculative verification
// (several tokens of one sequence) must give each token exactly what decoding
// it alone gives. So in every variant, the scalar reference included, a call
// with T <= kExactBatchTokens (16) token rows writes each row's outputs bit
// for bit as a call with that row alone, for every weight format; and
// quantize_acts over rows [t0, t1) writes what one call per row writes.
TEST(up_to_16_tokens_in_one_call_equal_one_token_at_a_time) {
  static_assert(kExactBatchTokens == 16, "the test's name says 16");
  struct Shape {
    int rows, cols, n0, n1;
  };
  // Odd block counts (the pair loop's tail), block counts that are not a
  // multiple of 4 (the quad loop's rest), short last blocks, row ranges that
  // start past 0 and end before N, and ranges of fewer rows than a tile.
  const Shape shapes[] = {{37, 257, 3, 34}, {16, 896, 0, 16}, {21, 95, 5, 21},
                          {9, 33, 1, 8},    {40, 1000, 2, 39}, {6, 128, 1, 2}};
  enum Kind { Q8, Q4, Q4_ZERO_POINTS, F32 };
  const char* kind_names[] = {"matmul_q8", "matmul_q4", "matmul_q4 (zero points)", "matmul_f32"};
  uint64_t version = uint64_t(1) << 40;  // a fresh one per input: the kernels may keep re-layouts by version
  for (const KernelVariant& variant : kernel_variants()) {
    if (!variant.supported) continue;
    const KernelTable& k = *variant.table;
    for (const Shape& s : shapes)
      for (Kind kind : {Q8, Q4, Q4_ZERO_POINTS, F32}) {
        const WeightFormat format =
            kind == Q8 ? WeightFormat::Q8 : kind == F32 ? WeightFormat::F32 : WeightFormat::Q4;
        Weights w(format, s.rows, s.cols, kind == Q4_ZERO_POINTS);
        InterleavedWeights store;
        const WeightMatrix m = kind == F32 ? w.w : as_read_by(k, w.w, store);
        const ActOrder order = format == WeightFormat::Q4 ? ActOrder::Nibble : ActOrder::Natural;
        const int ldx = s.cols + 3, ldo = s.rows + 2;
        for (int tokens = 1; tokens <= kExactBatchTokens; ++tokens) {
          const std::vector<float> x = random_floats(size_t(tokens) * ldx, 2.0f);
          std::vector<float> all(size_t(tokens) * ldo, 7.0f);
          Acts acts(tokens, s.cols, order);
          if (kind == F32) {
            k.matmul_f32(m, x.data(), ldx, tokens, s.n0, s.n1, all.data(), ldo);
          } else {
            k.quantize_acts(x.data(), ldx, 0, tokens, &acts.blocks);
            Acts by_row(tokens, s.cols, order);
            for (int t = 0; t < tokens; ++t) k.quantize_acts(x.data(), ldx, t, t + 1, &by_row.blocks);
            CHECK_MSG(acts.q == by_row.q && acts.d == by_row.d && acts.sum == by_row.sum,
                      "%s quantize_acts of %d rows differs from one call per row, cols=%d", k.name,
                      tokens, s.cols);
            acts.blocks.version = ++version;
            (kind == Q8 ? k.matmul_q8 : k.matmul_q4)(m, acts.blocks, s.n0, s.n1, all.data(), ldo);
          }
          for (int t = 0; t < tokens; ++t) {
            std::vector<float> one(ldo, 7.0f);
            if (kind == F32) {
              k.matmul_f32(m, x.data() + size_t(t) * ldx, ldx, 1, s.n0, s.n1, one.data(), ldo);
            } else {
              Acts row(1, s.cols, order);
              k.quantize_acts(x.data() + size_t(t) * ldx, ldx, 0, 1, &row.blocks);
              row.blocks.version = ++version;
              (kind == Q8 ? k.matmul_q8 : k.matmul_q4)(m, row.blocks, s.n0, s.n1, one.data(), ldo);
            }
            CHECK_MSG(std::memcmp(one.data(), all.data() + size_t(t) * ldo, ldo * sizeof(float)) == 0,
                      "%s %s rows=%d cols=%d n=[%d,%d): token %d of %d differs from it alone",
                      k.name, kind_names[kind], s.rows, s.cols, s.n0, s.n1, t, tokens);
          }
        }
      }
  }
}

TEST(attention_pieces_match_reference) {
  for (const KernelTable* k : simd_variants())
    for (int head_dim : {8, 18, 32, 64, 80, 128})
      for (int n : {1, 2, 7, 33, 100}) {
        std::vector<float> q = random_floats(head_dim), keys = random_floats(size_t(n) * head_dim);
        std::vector<float> want(n), got(n);
        scalar_kernels().attn_scores(q.data(), keys.data(), n, head_dim, 0.125f, want.data());
        k->attn_scores(q.data(), keys.data(), n, head_dim, 0.125f, got.data());
        for (int p = 0; p < n; ++p) {
          float m = 0.0f;
          for (int i = 0; i < head_dim; ++i) m += std::fabs(q[i] * keys[size_t(p) * head_dim + i]) * 0.125f;
          check_close(got[p], want[p], m, "attn_scores", k->name, n, head_dim, 0, p);
        }
        std::vector<float> weights = random_floats(n), values = random_floats(size_t(n) * head_dim);
        std::vector<float> out_want(head_dim + 1, 5.0f), out_got(head_dim + 1, 5.0f);
        scalar_kernels().attn_values(weights.data(), values.data(), n, head_dim, out_want.data());
        k->attn_values(weights.data(), values.data(), n, head_dim, out_got.data());
        CHECK_MSG(out_got[head_dim] == 5.0f, "%s attn_values wrote past head_dim", k->name);
        for (int i = 0; i < head_dim; ++i) {
          float m = 0.0f;
          for (int p = 0; p < n; ++p) m += std::fabs(weights[p] * values[size_t(p) * head_dim + i]);
          check_close(out_got[i], out_want[i], m, "attn_values", k->name, n, head_dim, 0, i);
        }
      }
}

// The exponentials agree bit for bit (exp_approx.h); only the order of the sum
// differs, so each weight may differ from the reference by rounding of the sum.
TEST(softmax_matches_reference) {
  for (const KernelTable* k : simd_variants())
    for (int n : {1, 2, 7, 16, 33, 100, 515}) {
      std::vector<float> x = random_floats(n + 1, 30.0f);
      x[n] = 5.0f;  // beyond n: must stay untouched
      if (n > 3) x[3] = -200.0f;  // exp underflows to the clamp
      std::vector<float> want = x, got = x;
      scalar_kernels().softmax(want.data(), n);
      k->softmax(got.data(), n);
      CHECK_MSG(got[n] == 5.0f, "%s softmax wrote past n=%d", k->name, n);
      for (int p = 0; p < n; ++p) check_close(got[p], want[p], want[p], "softmax", k->name, n, 0, 0, p);
    }
}

// The vector exp repeats the scalar one operation for operation, so SwiGLU is
// expected to agree bit for bit, including clamped extremes and odd tails.
TEST(swiglu_matches_reference_bit_for_bit) {
  for (const KernelTable* k : simd_variants())
    for (int n : {1, 7, 16, 37, 100, 4864}) {
      std::vector<float> gate = random_floats(n, 8.0f), up = random_floats(n);
      gate[0] = -200.0f;
      if (n > 1) gate[1] = 150.0f;
      std::vector<float> want = gate, got = gate;
      scalar_kernels().swiglu(want.data(), up.data(), n);
      k->swiglu(got.data(), up.data(), n);
      CHECK_MSG(want == got, "%s swiglu differs from scalar, n=%d", k->name, n);
    }
}

// Each table calls itself what isa_table.def calls it: EDGE_REASON_KERNEL, the
// Python side (boards/kernels.py) and the CMake flags all go by that name.
TEST(variant_names_follow_the_isa_table) {
  std::vector<std::string> want;
#define EDGE_CPU_FEATURE(name, arch)
#define EDGE_KERNEL_VARIANT(name, arch, needs, flags) EDGE_ON_##arch(want.push_back(#name);)
#include "kernels/isa_table.def"
#undef EDGE_CPU_FEATURE
#undef EDGE_KERNEL_VARIANT
  std::vector<std::string> got;
  for (const KernelVariant& v : kernel_variants()) got.push_back(v.table->name);
  CHECK(got == want);
}

TEST(dispatch_picks_best_supported_and_honours_override) {
  const std::vector<KernelVariant> variants = kernel_variants();
  const KernelTable* best = nullptr;
  for (const KernelVariant& v : variants)
    if (v.supported && !best) best = v.table;
  unsetenv("EDGE_REASON_KERNEL");
  CHECK(&select_kernels() == best);
  std::printf("  selected kernel: %s\n", select_kernels().name);
  setenv("EDGE_REASON_KERNEL", "scalar", 1);
  CHECK(&select_kernels() == &scalar_kernels());
  setenv("EDGE_REASON_KERNEL", "no_such_kernel", 1);
  bool threw = false;
  try {
    select_kernels();
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  for (const KernelVariant& v : variants) {
    if (v.supported) continue;
    setenv("EDGE_REASON_KERNEL", v.table->name, 1);
    threw = false;
    try {
      select_kernels();
    } catch (const std::runtime_error&) {
      threw = true;
    }
    CHECK_MSG(threw, "forcing unsupported kernel %s did not throw", v.table->name);
  }
  unsetenv("EDGE_REASON_KERNEL");
}

int main() {
  std::printf("variants:");
  for (const KernelVariant& v : kernel_variants())
    std::printf(" %s%s", v.table->name, v.supported ? "" : "(unsupported)");
  std::printf("\n");
  return edge_test::run_all();
}
