// Tests of bindings/cpp/subq.hpp against naive references (built by CMake as
// the ctest `cpp_bindings`). Exits non-zero on the first failed check.
#include "subq.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

static int failures = 0;
#define EXPECT(cond)                                                        \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "%s:%d: EXPECT(%s) failed\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                           \
    }                                                                       \
  } while (0)

template <class F>
static void expect_error(F&& f, subq_status want, const char* needle) {
  try {
    f();
    std::fprintf(stderr, "expected subq::error containing '%s', nothing thrown\n", needle);
    ++failures;
  } catch (const subq::error& e) {
    if (e.status() != want || std::string(e.what()).find(needle) == std::string::npos) {
      std::fprintf(stderr, "wrong error: status %d, '%s' (wanted %d, '%s')\n", (int)e.status(), e.what(), (int)want,
                   needle);
      ++failures;
    }
  }
}

static std::vector<float> randn(std::size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

static double max_err(const std::vector<float>& x, const std::vector<double>& r) {
  double e = 0;
  for (std::size_t i = 0; i < x.size(); ++i) e = std::fmax(e, std::fabs(x[i] - r[i]));
  return e;
}

int main() {
  EXPECT(subq::version_compatible());
  subq::context ctx{2};
  EXPECT(ctx.threads() == 2);
  EXPECT(ctx.describe().find("threads") != std::string::npos);

  // GEMM, f32 and a transposed view, against a double reference.
  const int64_t m = 37, n = 29, k = 53;
  auto a = randn(m * k, 1), b = randn(k * n, 2);
  std::vector<float> c(m * n);
  subq::gemm(&ctx, subq::matrix<const float>{a, m, k}, subq::matrix<const float>{b, k, n},
             subq::matrix<float>{c, m, n});
  std::vector<double> ref(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) ref[i * n + j] += (double)a[i * k + p] * b[p * n + j];
  EXPECT(max_err(c, ref) < 1e-4);

  std::vector<float> bt(n * k);  // B^T stored n x k, used through a transposed view
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j) bt[j * k + p] = b[p * n + j];
  std::vector<float> c2(m * n);
  subq::gemm(nullptr, subq::matrix<const float>{a, m, k}, subq::matrix<const float>{bt, n, k}.transposed(),
             subq::matrix<float>{c2, m, n});
  EXPECT(max_err(c2, ref) < 1e-4);

  // bf16 weights: exact widening, so the reference uses the rounded values.
  std::vector<subq::bf16> bb(k * n);
  subq::to_bf16(b, bb);
  std::vector<float> bw(k * n);
  subq::from_bf16(bb, bw);
  std::vector<double> refb(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) refb[i * n + j] += (double)a[i * k + p] * bw[p * n + j];
  subq::gemm(&ctx, subq::matrix<const float>{a, m, k}, subq::matrix<const subq::bf16>{bb, k, n},
             subq::matrix<float>{c, m, n});
  EXPECT(max_err(c, refb) < 1e-4);

  // Packed B, moved between owners.
  subq::packed_b pb(&ctx, subq::matrix<const float>{b, k, n});
  subq::packed_b moved = std::move(pb);
  EXPECT(moved.bytes() >= (std::size_t)(k * n * 4));
  std::fill(c.begin(), c.end(), 0.0f);
  moved.multiply(&ctx, subq::matrix<const float>{a, m, k}, subq::matrix<float>{c, m, n});
  EXPECT(max_err(c, ref) < 1e-4);
  expect_error([&] { (void)pb.bytes(); }, SUBQ_ERR_INVALID_STATE, "after move");

  // Errors: a short span is caught before the C call; C-side errors carry the message.
  std::vector<float> short_c(m * n - 1);
  expect_error([&] {
    subq::gemm(&ctx, subq::matrix<const float>{a, m, k}, subq::matrix<const float>{b, k, n},
               subq::matrix<float>{short_c, m, n});
  }, SUBQ_ERR_INVALID_ARGUMENT, "span has");
  expect_error([&] {
    subq::gemm(&ctx, subq::matrix<const float>{a, m, k}, subq::matrix<const float>{b, k, n},
               subq::matrix<float>{std::span<float>(a.data(), m * n), m, n});  // c overlaps a
  }, SUBQ_ERR_INVALID_ARGUMENT, "overlap");
  expect_error([] { subq::context bad{-2}; }, SUBQ_ERR_INVALID_ARGUMENT, "n_threads");

  // Attention: causal GQA against a naive softmax.
  subq::attention_shape s{1, 5, 5, 4, 2, 16, 16};
  auto q = randn(5 * 4 * 16, 3), kk = randn(5 * 2 * 16, 4), vv = randn(5 * 2 * 16, 5);
  std::vector<float> o(5 * 4 * 16);
  subq::attention(&ctx, s, q, kk, vv, o, {.causal = true});
  std::vector<double> oref(o.size(), 0.0);
  for (int i = 0; i < 5; ++i)
    for (int h = 0; h < 4; ++h) {
      const int g = h / 2;
      double sc[5], mx = -1e300, den = 0;
      for (int j = 0; j <= i; ++j) {
        double d = 0;
        for (int e = 0; e < 16; ++e) d += (double)q[(i * 4 + h) * 16 + e] * kk[(j * 2 + g) * 16 + e];
        sc[j] = d / 4.0;
        mx = std::fmax(mx, sc[j]);
      }
      for (int j = 0; j <= i; ++j) den += (sc[j] = std::exp(sc[j] - mx));
      for (int j = 0; j <= i; ++j)
        for (int e = 0; e < 16; ++e) oref[(i * 4 + h) * 16 + e] += sc[j] / den * vv[(j * 2 + g) * 16 + e];
    }
  EXPECT(max_err(o, oref) < 1e-5);
  expect_error([&] { subq::attention(&ctx, {1, 5, 5, 3, 2, 16, 16}, q, kk, vv, o); }, SUBQ_ERR_INVALID_ARGUMENT,
               "hq");

  // conv1d through the C args struct: width 1 with weight 2 and bias 1 is y = 2x + 1.
  std::vector<float> x{1, 2, 3, 4, 5, 6}, w{2, 2}, bias{1, 1}, y(6);
  auto ca = subq::make_args<subq_conv1d_args>();
  ca.batch = 1, ca.seqlen = 3, ca.channels = 2, ca.width = 1;
  ca.x = x.data(), ca.weight = w.data(), ca.bias = bias.data(), ca.y = y.data();
  subq::conv1d(&ctx, ca);
  for (int i = 0; i < 6; ++i) EXPECT(y[i] == 2 * x[i] + 1);
  ca.width = 9;
  expect_error([&] { subq::conv1d(&ctx, ca); }, SUBQ_ERR_INVALID_ARGUMENT, "width");
  EXPECT(subq::ssm1_state_floats(17, 4) == 32 * 4);

  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  else std::printf("subq.hpp: all checks passed\n");
  return failures ? 1 : 0;
}
