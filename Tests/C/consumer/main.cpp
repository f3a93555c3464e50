// main.cpp — C++ consumer of an installed SubQ: the C ABI used from C++17
// (extern "C" linkage, enums, nullability macros). Built by run.sh with
// find_package(SubQ CONFIG) and with pkg-config. Exit status 0 only when
// every check passed.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <subq.h>

namespace {

int failures = 0;

void expect(bool ok, const std::string &what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "consumer_cxx: FAIL %s\n", what.c_str());
  }
}

// Row-major C = A * B^T via subq_sgemm (trans_b), against a double loop.
void check_sgemm(subq_context *ctx, const char *what) {
  const int m = 6, n = 4, k = 10;
  std::vector<float> a(m * k), bt(n * k), c(m * n, 42.0f);
  for (int i = 0; i < m * k; ++i) a[i] = static_cast<float>((i * 3) % 7) * 0.5f - 1.0f;
  for (int i = 0; i < n * k; ++i) bt[i] = static_cast<float>((i * 11) % 5) * 0.25f - 0.5f;
  subq_status st = subq_sgemm(ctx, false, true, m, n, k, 1.0f, a.data(), k, bt.data(), k, 0.0f, c.data(), n);
  expect(st == SUBQ_OK, std::string(what) + ": subq_sgemm returned " + subq_status_string(st) + ": " +
                            subq_last_error_message());
  if (st != SUBQ_OK) return;
  double worst = 0.0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0.0;
      for (int p = 0; p < k; ++p) s += static_cast<double>(a[i * k + p]) * static_cast<double>(bt[j * k + p]);
      worst = std::fmax(worst, std::fabs(static_cast<double>(c[i * n + j]) - s) / (1.0 + std::fabs(s)));
    }
  expect(worst < 1e-5, std::string(what) + ": subq_sgemm differs from the naive loop (max relative error " +
                           std::to_string(worst) + ")");
}

}  // namespace

int main() {
  expect(subq_version() == SUBQ_VERSION, "subq_version() != SUBQ_VERSION");
  const std::string want = std::to_string(SUBQ_VERSION_MAJOR) + "." + std::to_string(SUBQ_VERSION_MINOR) + "." +
                           std::to_string(SUBQ_VERSION_PATCH);
  expect(want == subq_version_string(), std::string("version string ") + subq_version_string() + " != " + want);

  subq_context_params p;
  subq_context_params_default(&p, sizeof p);
  p.n_threads = 2;
  subq_context *ctx = nullptr;
  subq_status st = subq_context_create(&p, &ctx);
  expect(st == SUBQ_OK && ctx != nullptr, std::string("subq_context_create: ") + subq_last_error_message());
  if (ctx != nullptr) {
    expect(subq_context_num_threads(ctx) == 2, "context does not have 2 threads");
    check_sgemm(ctx, "2-thread context");
    subq_context_destroy(ctx);
  }
  check_sgemm(nullptr, "ctx nullptr");

  if (failures != 0) {
    std::fprintf(stderr, "consumer_cxx: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("consumer_cxx: OK (SubQ %s)\n", subq_version_string());
  return 0;
}
