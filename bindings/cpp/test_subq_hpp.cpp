// Tests of bindings/cpp/subq.hpp against naive references (built by CMake as
// the ctest `cpp_bindings`). Exits non-zero on the first failed check.
#include "subq.hpp"

#include <atomic>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
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

// ---- runtime: queries, topology, pause/resume, executors, logging -----------------------------
static std::vector<float> gemm_on(subq::context* ctx, const std::vector<float>& a, const std::vector<float>& b,
                                  int64_t m, int64_t k, int64_t n) {
  std::vector<float> c(static_cast<std::size_t>(m * n));
  subq::gemm(ctx, subq::matrix<const float>{a, m, k}, subq::matrix<const float>{b, k, n},
             subq::matrix<float>{c, m, n});
  return c;
}

// Runs every task on the calling thread, last index first (order must not matter).
struct serial_executor {
  int64_t tasks = 0, calls = 0;
  int32_t max_concurrency() const { return 3; }
  void parallel_for(int64_t n, subq::task t) {
    ++calls;
    for (int64_t i = n - 1; i >= 0; --i) t(i), ++tasks;
  }
};
// Splits the tasks over std::threads (interleaved), joined before returning.
struct thread_executor {
  std::atomic<int64_t> tasks{0};
  int32_t max_concurrency() const { return 3; }
  void parallel_for(int64_t n, subq::task t) {
    std::vector<std::thread> ts;
    for (int w = 0; w < 3; ++w)
      ts.emplace_back([&, w] {
        for (int64_t i = w; i < n; i += 3) t(i), ++tasks;
      });
    for (auto& th : ts) th.join();
  }
};
static_assert(subq::executor<serial_executor> && !subq::executor<int>);

static void test_sgemm() {
  // The BLAS form against a double reference, every transpose combination, padded leading dims.
  const int64_t m = 13, n = 11, k = 17, pad = 3;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
      const auto a = randn(static_cast<std::size_t>((ta ? k : m) * lda), 61);
      const auto b = randn(static_cast<std::size_t>((tb ? n : k) * ldb), 62);
      auto c = randn(static_cast<std::size_t>(m * ldc), 63);
      std::vector<double> r(static_cast<std::size_t>(m * n));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double acc = 0;
          for (int64_t p = 0; p < k; ++p)
            acc += (double)a[static_cast<std::size_t>(ta ? p * lda + i : i * lda + p)] *
                   b[static_cast<std::size_t>(tb ? j * ldb + p : p * ldb + j)];
          r[static_cast<std::size_t>(i * n + j)] = 2.0 * acc + 0.5 * c[static_cast<std::size_t>(i * ldc + j)];
        }
      subq::sgemm(nullptr, ta, tb, m, n, k, 2.0f, a, lda, b, ldb, 0.5f, c, ldc);
      double e = 0;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          e = std::fmax(e, std::fabs(c[static_cast<std::size_t>(i * ldc + j)] - r[static_cast<std::size_t>(i * n + j)]));
      EXPECT(e < 1e-4);
    }
  std::vector<float> a(m * k), b(k * n), c(m * n);
  expect_error([&] { subq::sgemm(nullptr, false, false, m, n, k, 1, a, k, b, n, 0, std::span<float>(c).first(5), n); },
               SUBQ_ERR_INVALID_ARGUMENT, "sgemm: c");
  expect_error([&] { subq::sgemm(nullptr, false, false, m, n, k, 1, a, k - 1, b, n, 0, c, n); },
               SUBQ_ERR_INVALID_ARGUMENT, "lda");
  EXPECT(subq::dtype_size(SUBQ_DTYPE_BF16) == 2 && subq::dtype_size(SUBQ_DTYPE_I32) == 4 &&
         subq::dtype_size(static_cast<subq_dtype>(99)) == 0);
}

static void test_runtime() {
  // Version, build info, ISA queries, last error.
  EXPECT(std::string(subq::build_info()).find(subq::version()) != std::string::npos);
  EXPECT(subq::host_supports(subq::host_isa()) && subq::host_supports(SUBQ_ISA_SCALAR));
  EXPECT(subq::isa_from_name("AVX2") == SUBQ_ISA_AVX2 && subq::isa_from_name("scalar") == SUBQ_ISA_SCALAR);
  EXPECT(std::string(subq::isa_name(SUBQ_ISA_NEON)) == "neon");
#if defined(__x86_64__)
  EXPECT(!subq::host_supports(SUBQ_ISA_NEON));
  EXPECT(subq::host_supports(SUBQ_ISA_AVX2) == (subq::host_isa() != SUBQ_ISA_SCALAR));
#elif defined(__aarch64__)
  EXPECT(!subq::host_supports(SUBQ_ISA_AVX2) && subq::host_supports(SUBQ_ISA_NEON));
#endif
  expect_error([] { (void)subq::isa_from_name("pentium"); }, SUBQ_ERR_INVALID_ARGUMENT, "pentium");
  EXPECT(std::string(subq::last_error_message()).find("pentium") != std::string::npos);
  subq::clear_last_error();
  EXPECT(std::string(subq::last_error_message()).empty());

  const int64_t m = 45, k = 70, n = 38;
  const auto a = randn(m * k, 31), b = randn(k * n, 32);
  subq::context one{1};
  const auto ref = gemm_on(&one, a, b, m, k, n);

  // Host topology, then a two-node synthetic one driving a DISTRIBUTE context.
  {
    auto host = subq::topology::host();
    EXPECT(host.nodes() >= 1 && host.cores() >= 1 && host.pus() >= host.cores());
    EXPECT(host.describe().find("nodes=") != std::string::npos && host.cache_size(9) == 0);
  }
  try {
    auto t = subq::topology::synthetic("node:2 core:2 pu:1");
    EXPECT(t.nodes() == 2 && t.cores() == 4 && t.pus() == 4);
    EXPECT(t.describe().find("synthetic") != std::string::npos);
    auto shared = t.clone();  // subq_topology_retain: a second owner
    subq::topology moved = std::move(t);
    expect_error([&] { (void)t.nodes(); }, SUBQ_ERR_INVALID_STATE, "used after move");
    EXPECT(!t && moved && shared.cores() == 4);
    subq::context::options o;
    o.threads = 4, o.numa = SUBQ_NUMA_DISTRIBUTE, o.topo = &shared;
    subq::context c{o};
    { subq::topology gone = std::move(shared); }  // the context holds its own reference
    const auto d = c.describe();
    EXPECT(d.find("nodes=2") != std::string::npos && d.find("per_node=2,2") != std::string::npos);
    EXPECT(gemm_on(&c, a, b, m, k, n) == ref);  // bitwise: threads and nodes never change results
    EXPECT(c.places_weights());
    {
      subq::context plain{1};
      EXPECT(!plain.places_weights());
    }
    o.numa = SUBQ_NUMA_ISOLATE, o.numa_node = 7, o.topo = &moved;
    expect_error([&] { subq::context bad{o}; }, SUBQ_ERR_INVALID_ARGUMENT, "numa_node");
    expect_error([] { (void)subq::topology::synthetic("not a topology"); }, SUBQ_ERR_INVALID_ARGUMENT,
                 "subq_topology_create_synthetic");
  } catch (const subq::error& e) {
    if (e.status() != SUBQ_ERR_UNSUPPORTED) throw;
    std::printf("subq.hpp: synthetic topology checks skipped (built without hwloc)\n");
  }

  // Pause / resume: a call on a paused context wakes it; results are unchanged.
  {
    subq::context::options o;
    o.threads = 2, o.flags = SUBQ_CONTEXT_START_PAUSED;
    subq::context c{o};
    EXPECT(gemm_on(&c, a, b, m, k, n) == ref);
    c.pause();
    EXPECT(gemm_on(&c, a, b, m, k, n) == ref);
    c.resume();
    EXPECT(gemm_on(&c, a, b, m, k, n) == ref);
    subq::context gone = std::move(c);
    expect_error([&] { c.pause(); }, SUBQ_ERR_INVALID_STATE, "used after move");
  }

  // Host executors: C++ objects through the typed adapter, and the raw C table.
  {
    serial_executor se;
    auto c = subq::context::with_executor(se);
    EXPECT(c.describe().find("host-executor") != std::string::npos);
    EXPECT(gemm_on(&c, a, b, m, k, n) == ref);
    EXPECT(se.calls >= 1 && se.tasks >= se.calls);
    thread_executor te;
    auto ct = subq::context::with_executor(te);
    for (int rep = 0; rep < 5; ++rep) EXPECT(gemm_on(&ct, a, b, m, k, n) == ref);
    EXPECT(te.tasks.load() > 0);
    subq_executor raw{};
    raw.struct_size = sizeof raw;
    raw.ctx = &se;
    raw.max_concurrency = [](void*) -> int32_t { return 1; };
    raw.parallel_for = [](void* e, int64_t nt, subq_task_fn fn, void* tc) {
      for (int64_t i = 0; i < nt; ++i) fn(tc, i);
      static_cast<serial_executor*>(e)->calls += 1000;
    };
    auto cr = subq::context::with_executor(raw);
    const int64_t before = se.calls;
    EXPECT(gemm_on(&cr, a, b, m, k, n) == ref && se.calls >= before + 1000);
    subq::context::options o;
    o.numa = SUBQ_NUMA_DISTRIBUTE;
    expect_error([&] { (void)subq::context::with_executor(se, o); }, SUBQ_ERR_INVALID_ARGUMENT, "numa");
  }

  // Log handler: a verbose context reports itself; the newest handler wins; exceptions stay inside.
  {
    std::vector<std::string> got;
    subq::context::options o;
    o.threads = 2, o.max_isa = SUBQ_ISA_SCALAR, o.verbose = 1;
    {
      subq::log_handler h([&](subq_log_level level, std::string_view msg) {
        if (level == SUBQ_LOG_INFO) got.emplace_back(msg);
      });
      subq::context c{o};
      EXPECT(got.size() == 1 && got[0].find("threads=2") != std::string::npos &&
             got[0].find("isa=scalar") != std::string::npos);
      (void)gemm_on(&c, a, b, m, k, n);
      EXPECT(got.size() >= 2 && got.back().find("subq_gemm: m=45 n=38 k=70") != std::string::npos);
      subq::log_handler moved = std::move(h);  // the function stays installed
      subq::context c2{o};
      EXPECT(got.size() >= 3);
    }
    const std::size_t n_got = got.size();
    { subq::context quiet{o}; }
    EXPECT(got.size() == n_got);  // destroyed: the default sink again (stderr for a verbose context)
    int older = 0, newer = 0;
    {
      subq::log_handler h1([&](subq_log_level, std::string_view) { ++older; });
      subq::log_handler h2([&](subq_log_level, std::string_view) {
        ++newer;
        throw std::runtime_error("dropped");  // must not unwind through SubQ
      });
      { subq::log_handler gone = std::move(h1); }  // an older handler going changes nothing
      subq::context c{o};
    }
    EXPECT(older == 0 && newer == 1);
  }
}

// ---- convert, safetensors in memory, KV cache info ---------------------------------------------
static void test_convert_memory_kv() {
  subq::context ctx{2};
  auto x = randn(1001, 41);
  x[0] = std::numeric_limits<float>::infinity(), x[1] = std::numeric_limits<float>::quiet_NaN();
  x[2] = 70000.0f, x[3] = 3.0e-8f, x[4] = -0.0f;
  std::vector<subq::bf16> b1(x.size()), b2(x.size());
  subq::to_bf16(x, b1);
  subq::convert<float, subq::bf16>(&ctx, x, b2);
  EXPECT(std::memcmp(b1.data(), b2.data(), b1.size() * 2) == 0);
  std::vector<subq::f16> h1(x.size()), h2(x.size());
  subq::to_f16(x, h1);
  subq::convert<float, subq::f16>(nullptr, x, h2);
  EXPECT(std::memcmp(h1.data(), h2.data(), h1.size() * 2) == 0);
  EXPECT(h2[2].bits == 0x7C00 && h2[4].bits == 0x8000 && h2[3].bits == 1);  // overflow -> Inf, -0, a subnormal
  std::vector<float> w1(x.size()), w2(x.size());
  subq::from_f16(h1, w1);
  subq::convert<subq::f16, float>(&ctx, h2, w2);
  EXPECT(std::memcmp(w1.data(), w2.data(), w1.size() * 4) == 0);
  subq::convert<subq::bf16, float>(&ctx, b2, w2);
  for (std::size_t i = 0; i < x.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &w2[i], 4);
    if (bits != static_cast<uint32_t>(b2[i].bits) << 16) {
      EXPECT(!"bf16 -> f32 widening is exact");
      break;
    }
  }
  std::vector<float> f3(x.size());
  subq::convert<float, float>(&ctx, x, f3);
  EXPECT(std::memcmp(f3.data(), x.data(), x.size() * 4) == 0);
  expect_error([&] { subq::convert<float, subq::bf16>(&ctx, x, std::span<subq::bf16>(b2).first(5)); },
               SUBQ_ERR_INVALID_ARGUMENT, "dst 5");
  expect_error([&] { subq::convert<subq::bf16, subq::f16>(&ctx, b2, h2); }, SUBQ_ERR_INVALID_ARGUMENT,
               "subq_convert");

  // safetensors from memory: the image is copied, so it may be overwritten afterwards.
  {
    const std::string header =
        R"({"__metadata__":{"k":"v"},"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
    const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
    const float tv[3] = {0.5f, -1.0f, 8.0f};
    std::vector<std::byte> image(8 + padded.size() + sizeof tv);
    const uint64_t len = padded.size();
    std::memcpy(image.data(), &len, 8);
    std::memcpy(image.data() + 8, padded.data(), padded.size());
    std::memcpy(image.data() + 8 + padded.size(), tv, sizeof tv);
    auto st = subq::safetensors::from_memory(image);
    std::fill(image.begin(), image.end(), std::byte{0});
    auto t = st.data<float>("t", SUBQ_SAFETENSORS_F32);
    EXPECT(t.size() == 3 && std::memcmp(t.data(), tv, sizeof tv) == 0);
    EXPECT(st.metadata("k") && std::string(st.metadata("k")) == "v");
    expect_error([&] { (void)subq::safetensors::from_memory(image); }, SUBQ_ERR_INVALID_ARGUMENT, "<memory>");
    expect_error([] { (void)subq::safetensors::from_memory({}); }, SUBQ_ERR_INVALID_ARGUMENT, "<memory>");
  }

  // KV cache info: shape fields and the storage, where appended keys land.
  {
    auto ka = subq::make_args<subq_kv_cache_args>();
    ka.batch = 2, ka.hkv = 3, ka.dk = 4, ka.dv = 5, ka.capacity = 7;
    subq::kv_cache cache(ka);
    const auto kk = randn(2 * 2 * 3 * 4, 42), vv = randn(2 * 2 * 3 * 5, 43);
    cache.append(&ctx, 0, 2, 2, kk, vv);
    const subq_kv_cache_info i = cache.info();
    EXPECT(i.dtype == SUBQ_DTYPE_F32 && i.mode == SUBQ_KV_LINEAR && i.batch == 2 && i.hkv == 3 && i.dk == 4 &&
           i.dv == 5 && i.capacity == 7);
    bool same = true;
    for (int64_t bb = 0; bb < 2; ++bb)
      for (int64_t t = 0; t < 2; ++t)
        for (int64_t h = 0; h < 3; ++h)
          for (int64_t d = 0; d < 4; ++d)
            same &= static_cast<const float*>(i.k)[bb * i.k_bs + h * i.k_hs + t * i.k_ss + d] ==
                    kk[static_cast<std::size_t>(((bb * 2 + t) * 3 + h) * 4 + d)];
    EXPECT(same);
    subq::kv_cache gone = std::move(cache);
    expect_error([&] { (void)cache.info(); }, SUBQ_ERR_INVALID_STATE, "used after move");
  }
}

// ---- Mamba state layouts, ternarized import, RoPE / linear-attention helpers -------------------
static void test_family_helpers() {
  // Mamba-1: (batch, channels, d_state) <-> SubQ's padded blocks, against the header's formula.
  {
    const int64_t B = 2, E = 19, N = 3;
    const int64_t sf = subq::ssm1_state_floats(E, N);
    const auto hf = randn(B * E * N, 51);
    std::vector<float> st(static_cast<std::size_t>(B * sf), -1.0f), back(hf.size());
    subq::ssm1_state_import(B, E, N, hf, st);
    bool ok = true;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t d = 0; d < E; ++d)
        for (int64_t n = 0; n < N; ++n)
          ok &= st[static_cast<std::size_t>(b * sf + (d / 16) * 16 * N + n * 16 + d % 16)] ==
                hf[static_cast<std::size_t>((b * E + d) * N + n)];
    for (int64_t b = 0; b < B; ++b)  // padding lanes (channels 19..31) are zero
      for (int64_t n = 0; n < N; ++n) ok &= st[static_cast<std::size_t>(b * sf + 16 * N + n * 16 + 5)] == 0.0f;
    EXPECT(ok);
    subq::ssm1_state_export(B, E, N, st, back);
    EXPECT(back == hf);
    expect_error([&] { subq::ssm1_state_import(B, E, N, std::span<const float>(hf).first(10), st); },
                 SUBQ_ERR_INVALID_ARGUMENT, "ssm1_state_import: hf");
    expect_error([&] { subq::ssm1_state_export(B, E, N, std::span<const float>(st).first(10), back); },
                 SUBQ_ERR_INVALID_ARGUMENT, "ssm1_state_export: state");
    subq::ssm1_state_import(0, E, N, {}, {});  // nothing to do
  }
  // Mamba-2: (batch, H, P, N) <-> (batch, H, N, P).
  {
    const int64_t B = 2, H = 3, P = 4, N = 5;
    const auto hf = randn(B * H * P * N, 52);
    std::vector<float> st(hf.size()), back(hf.size());
    subq::ssm2_state_import(B, H, P, N, hf, st);
    bool ok = true;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t p = 0; p < P; ++p)
          for (int64_t n = 0; n < N; ++n)
            ok &= st[static_cast<std::size_t>(((b * H + h) * N + n) * P + p)] ==
                  hf[static_cast<std::size_t>(((b * H + h) * P + p) * N + n)];
    EXPECT(ok);
    subq::ssm2_state_export(B, H, P, N, st, back);
    EXPECT(back == hf);
    expect_error([&] { subq::ssm2_state_export(B, H, P, N, st, std::span<float>(back).first(3)); },
                 SUBQ_ERR_INVALID_ARGUMENT, "ssm2_state_export: hf");
  }
  // Ternarized weights: values 0 / +-gamma per row kept exactly; anything else is refused.
  {
    const int64_t N = 3, K = 8;
    const float g[3] = {0.25f, 1.5f, 3.0f};
    std::vector<float> w(static_cast<std::size_t>(N * K));
    std::vector<int8_t> codes(w.size());
    for (int64_t r = 0; r < N; ++r)
      for (int64_t c = 0; c < K; ++c) {
        const int8_t t = static_cast<int8_t>((r + c) % 3 - 1);  // every row holds -1, 0 and +1
        codes[static_cast<std::size_t>(r * K + c)] = t;
        w[static_cast<std::size_t>(r * K + c)] = t * g[r];
      }
    auto tw = subq::ternary_weights::from_ternarized<float>(N, K, w, SUBQ_TERNARY_SCALE_ROW);
    const auto [t, gamma] = tw.to_codes();
    EXPECT(t == codes && gamma.size() == 3 && gamma[0] == g[0] && gamma[1] == g[1] && gamma[2] == g[2]);
    std::vector<subq::bf16> wb(w.size());
    subq::to_bf16(w, wb);  // these gammas are exact in bf16
    auto tb = subq::ternary_weights::from_ternarized<subq::bf16>(N, K, wb, SUBQ_TERNARY_SCALE_ROW);
    EXPECT(tb.to_codes().first == codes);
    w[5] = 0.7f * g[0];
    expect_error([&] { (void)subq::ternary_weights::from_ternarized<float>(N, K, w, SUBQ_TERNARY_SCALE_ROW); },
                 SUBQ_ERR_INVALID_ARGUMENT, "subq_ternary_from_ternarized");
    expect_error([&] { (void)subq::ternary_weights::from_ternarized<float>(N, K, std::span<const float>(w).first(9)); },
                 SUBQ_ERR_INVALID_ARGUMENT, "from_ternarized: w");
  }
  // RoPE inverse frequencies and the YaRN attention factor.
  {
    auto p = subq::make_args<subq_rope_params>();
    p.rot_dim = 16;
    const auto inv = subq::rope_inv_freq(p);
    EXPECT(inv.size() == 8);
    for (std::size_t i = 0; i < inv.size(); ++i)
      EXPECT(std::fabs(inv[i] - std::pow(10000.0, -2.0 * static_cast<double>(i) / 16.0)) <= 1e-6 * (1.0 / std::pow(10000.0, 2.0 * static_cast<double>(i) / 16.0)));
    p.type = SUBQ_ROPE_LINEAR, p.factor = 4.0;
    const auto lin = subq::rope_inv_freq(p);
    EXPECT(lin.size() == 8 && lin[3] == inv[3] / 4.0f);
    p.rot_dim = 7;
    expect_error([&] { (void)subq::rope_inv_freq(p); }, SUBQ_ERR_INVALID_ARGUMENT, "rot_dim");
    p.rot_dim = int64_t{1} << 40;  // refused before anything is written
    expect_error([&] { (void)subq::rope_inv_freq(p); }, SUBQ_ERR_INVALID_ARGUMENT, "rot_dim");
    EXPECT(subq::rope_yarn_attention_factor(1.0) == 1.0);
    EXPECT(std::fabs(subq::rope_yarn_attention_factor(4.0) - (0.1 * std::log(4.0) + 1.0)) < 1e-15);
    EXPECT(std::fabs(subq::rope_yarn_attention_factor(4.0, 1.0, 1.0) - 1.0) < 1e-15);
    expect_error([] { (void)subq::rope_yarn_attention_factor(-1.0); }, SUBQ_ERR_INVALID_ARGUMENT, "factor");
  }
  // Dynamic NTK and LongRoPE through the same params, against subq_nn.h's f32 formulas.
  {
    const int64_t rot = 8;
    const auto pw = [&](float base, int64_t i) {  // the power correctly rounded to f32
      return static_cast<float>(std::pow(static_cast<double>(base),
                                         static_cast<double>(static_cast<float>(2 * i) / static_cast<float>(rot))));
    };
    auto p = subq::make_args<subq_rope_params>();
    p.rot_dim = rot, p.type = SUBQ_ROPE_DYNAMIC, p.factor = 2.0, p.original_max_position_embeddings = 32.0;
    p.dynamic_seq_len = 48;
    const float b = 2.0f * 48.0f / 32.0f - 1.0f;
    const float grown = 10000.0f * static_cast<float>(std::pow(static_cast<double>(b), 8.0 / 6.0));
    const auto dyn = subq::rope_inv_freq(p);
    EXPECT(dyn.size() == 4);
    for (int64_t i = 0; i < 4; ++i) EXPECT(dyn[static_cast<std::size_t>(i)] == 1.0f / pw(grown, i));
    EXPECT(dyn[1] != 1.0f / pw(10000.0f, 1));
    p.cached_positions = 2;
    subq::rope_table dt(p);
    std::vector<float> c(4), s(4);
    dt.cos_sin(37, c, s);
    for (std::size_t i = 0; i < 4; ++i) {
      const float a = 37.0f * dyn[i];
      EXPECT(c[i] == static_cast<float>(std::cos(static_cast<double>(a))) &&
             s[i] == static_cast<float>(std::sin(static_cast<double>(a))));
    }
    p.dynamic_seq_len = 20;  // S <= L: the default schedule
    const auto kept = subq::rope_inv_freq(p);
    for (int64_t i = 0; i < 4; ++i) EXPECT(kept[static_cast<std::size_t>(i)] == 1.0f / pw(10000.0f, i));
    p.dynamic_seq_len = -1;
    expect_error([&] { subq::rope_table bad(p); }, SUBQ_ERR_INVALID_ARGUMENT, "dynamic_seq_len (-1) < 0");

    auto l = subq::make_args<subq_rope_params>();
    const std::vector<float> factors{1.0f, 1.5f, 3.25f, 7.0f};
    l.rot_dim = rot, l.type = SUBQ_ROPE_LONGROPE, l.longrope_factors = factors.data(), l.attention_scaling = 1.25;
    const auto lr = subq::rope_inv_freq(l);
    for (int64_t i = 0; i < 4; ++i)
      EXPECT(lr[static_cast<std::size_t>(i)] == 1.0f / (factors[static_cast<std::size_t>(i)] * pw(10000.0f, i)));
    subq::rope_table lt(l);
    lt.cos_sin(5, c, s);
    for (std::size_t i = 0; i < 4; ++i) {
      const float a = 5.0f * lr[i];
      EXPECT(c[i] == static_cast<float>(std::cos(static_cast<double>(a))) * 1.25f &&
             s[i] == static_cast<float>(std::sin(static_cast<double>(a))) * 1.25f);
    }
    const std::vector<float> bad_factors{1.0f, 0.0f, 1.0f, 1.0f};
    l.longrope_factors = bad_factors.data();
    expect_error([&] { (void)subq::rope_inv_freq(l); }, SUBQ_ERR_INVALID_ARGUMENT, "longrope_factors[1] (0)");
    l.longrope_factors = nullptr;
    expect_error([&] { subq::rope_table bad(l); }, SUBQ_ERR_INVALID_ARGUMENT, "longrope_factors is NULL");
  }
  // Dense linear-attention strides.
  {
    auto la = subq::make_args<subq_linattn_args>();
    la.batch = 2, la.seqlen = 5, la.n_heads = 3, la.dim_qk = 4, la.dim_v = 6;
    subq::linattn_args_dense(la);
    EXPECT(la.q_hs == 4 && la.q_ss == 12 && la.q_bs == 60 && la.k_ss == 12);
    EXPECT(la.v_hs == 6 && la.v_ss == 18 && la.v_bs == 90 && la.o_ss == 18 && la.o_bs == 90);
  }
}

// Every new owner type, many times: leaks show under the asan-ubsan suite (LeakSanitizer).
static void test_owner_churn() {
  std::vector<std::byte> junk(16);
  for (int i = 0; i < 300; ++i) {
    auto t = subq::topology::host();
    auto t2 = t.clone();
    subq::topology t3 = std::move(t2);
    subq::context::options o;
    o.threads = 1 + i % 3, o.topo = &t3, o.flags = (i & 1) ? SUBQ_CONTEXT_START_PAUSED : 0u;
    subq::context c{o};
    c.pause();
    subq::log_handler h([](subq_log_level, std::string_view) {});
    serial_executor se;
    auto ce = subq::context::with_executor(se);
    try {
      (void)subq::safetensors::from_memory(junk);
    } catch (const subq::error&) {
    }
  }
}

int main() {
  unsetenv("SUBQ_VERBOSE");  // read once per process: the log checks decide their own levels
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

  // int8 weights: W = B^T (n x k); the product against float64 over the dequantized weights.
  {
    std::vector<float> wt(n * k);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) wt[j * k + p] = b[p * n + j];
    subq::int8_weights q8(&ctx, n, k, std::span<const float>(wt));
    subq::int8_weights q8m = std::move(q8);
    std::vector<float> deq(n * k), y(m * n);
    q8m.dequantize(0, n, deq);
    q8m.apply(&ctx, m, a, y);
    double worst = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double r = 0, mag = 0;
        for (int64_t p = 0; p < k; ++p) r += (double)a[i * k + p] * deq[j * k + p], mag += std::fabs((double)a[i * k + p] * deq[j * k + p]);
        worst = std::max(worst, std::fabs(y[i * n + j] - r) / ((k + 16) * 0x1p-24 * mag + 1e-30));
      }
    EXPECT(worst <= 1.0);
    // near the f32 product: int8 moves each weight by <= s / 2 (s = its block's max / 127)
    bool near = true;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double bound = 1e-4;
        for (int64_t p = 0; p < k; ++p) {
          float amax = 0;
          for (int64_t q = p / 32 * 32; q < std::min<int64_t>(k, p / 32 * 32 + 32); ++q) amax = std::fmax(amax, std::fabs(wt[j * k + q]));
          bound += std::fabs(a[i * k + p]) * (amax / 254.0 + amax * 1e-6);
        }
        near = near && std::fabs(y[i * n + j] - ref[i * n + j]) <= bound;
      }
    EXPECT(near);
    expect_error([&] { (void)q8.bytes(); }, SUBQ_ERR_INVALID_STATE, "after move");
    wt[3] = NAN;
    expect_error([&] { subq::int8_weights bad(&ctx, n, k, std::span<const float>(wt)); }, SUBQ_ERR_INVALID_ARGUMENT,
                 "non-finite");
  }

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

  // Typed attention: bf16 queries, f16 K/V, bf16 output equal the f32 call on the rounded
  // inputs up to the output's one rounding.
  {
    std::vector<subq::bf16> qb(q.size()), ob(o.size());
    std::vector<subq::f16> kh(kk.size()), vh(vv.size());
    subq::to_bf16(q, qb), subq::to_f16(kk, kh), subq::to_f16(vv, vh);
    std::vector<float> qr(q.size()), kr(kk.size()), vr(vv.size()), of(o.size()), obf(o.size());
    subq::from_bf16(qb, qr), subq::from_f16(kh, kr), subq::from_f16(vh, vr);
    subq::attention(&ctx, s, qr, kr, vr, of, {.causal = true});
    subq::attention<subq::bf16, subq::f16, subq::bf16>(&ctx, s, qb, kh, vh, ob, {.causal = true});
    subq::from_bf16(ob, obf);
    double worst = 0;
    for (std::size_t i = 0; i < of.size(); ++i)
      worst = std::fmax(worst, std::fabs((double)obf[i] - of[i]) / (std::fabs((double)of[i]) + 1e-30));
    EXPECT(worst <= 1.0 / 256);  // bf16 keeps 8 significant bits: half an ulp is 2^-9 relative
    EXPECT(kr != kk && qr != q);  // the rounding happened (the comparison is not vacuous)
    // f16 round trip of a value that f16 holds exactly, and overflow to Inf.
    std::vector<float> two{0.333251953125f, 1e6f}, back(2);
    std::vector<subq::f16> h2(2);
    subq::to_f16(two, h2), subq::from_f16(h2, back);
    EXPECT(back[0] == two[0] && std::isinf(back[1]));
  }
  // Additive mask: -inf above the diagonal makes a non-causal call equal the causal one, per
  // head and shared by the heads.
  {
    const float ninf = -std::numeric_limits<float>::infinity();
    std::vector<float> mh(4 * 5 * 5, 0.0f), ms(5 * 5, 0.0f), om(o.size()), os(o.size());
    for (int h = 0; h < 4; ++h)
      for (int i = 0; i < 5; ++i)
        for (int j = i + 1; j < 5; ++j) mh[(h * 5 + i) * 5 + j] = ninf;
    for (int i = 0; i < 5; ++i)
      for (int j = i + 1; j < 5; ++j) ms[i * 5 + j] = ninf;
    subq::attention(&ctx, s, q, kk, vv, om, {}, mh);
    subq::attention(&ctx, s, q, kk, vv, os, {}, ms, /*mask_per_head=*/false);
    EXPECT(max_err(om, oref) < 1e-5 && max_err(os, oref) < 1e-5);
    std::vector<float> mshort(10);
    expect_error([&] { subq::attention(&ctx, s, q, kk, vv, om, {}, mshort); }, SUBQ_ERR_INVALID_ARGUMENT,
                 "mask");
  }

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
  // Mamba-1 with A packed once: the bits of A passed per call (17 channels: a padded block).
  {
    const int64_t T = 6, E = 17, N = 4;
    auto u = randn(T * E, 20), dt = randn(T * E, 21), bm = randn(T * N, 22), cm = randn(T * N, 23);
    std::vector<float> A(E * N), y1(T * E), y2(T * E), h1(32 * N, 0.0f), h2(32 * N, 0.0f);
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = -0.25f - 0.01f * (float)i;
    auto sa = subq::make_args<subq_ssm1_args>();
    sa.batch = 1, sa.seqlen = T, sa.channels = E, sa.d_state = N;
    sa.u = u.data(), sa.dt = dt.data(), sa.b = bm.data(), sa.c = cm.data(), sa.a = A.data();
    sa.h_out = h1.data(), sa.y = y1.data();
    subq::ssm1_scan(&ctx, sa);
    const auto ap = subq::ssm1_pack_a(E, N, A);
    sa.a = ap.data(), sa.flags |= SUBQ_SSM1_A_PACKED, sa.h_out = h2.data(), sa.y = y2.data();
    subq::ssm1_scan(&ctx, sa);
    EXPECT(y1 == y2 && h1 == h2);
    expect_error([&] { subq::ssm1_pack_a(E, N, std::span<const float>(A.data(), 10)); }, SUBQ_ERR_INVALID_ARGUMENT,
                 "span has");
  }

  // RMSNorm with the fused residual add: y = w * s / sqrt(mean(s^2) + eps), s = x + r.
  {
    const int64_t rows = 3, cols = 19;
    auto xr = randn(rows * cols, 6), rr = randn(rows * cols, 7), wr = randn(cols, 8);
    std::vector<float> yr(rows * cols), sr(rows * cols);
    auto ra = subq::make_args<subq_rmsnorm_args>();
    ra.rows = rows, ra.cols = cols, ra.eps = 1e-5f, ra.weight = wr.data();
    ra.x = xr.data(), ra.residual = rr.data(), ra.sum_out = sr.data(), ra.y = yr.data();
    subq::rmsnorm(&ctx, ra);
    std::vector<double> yref(rows * cols), sref(rows * cols);
    for (int64_t i = 0; i < rows; ++i) {
      double ss = 0;
      for (int64_t j = 0; j < cols; ++j) {
        sref[i * cols + j] = (double)xr[i * cols + j] + rr[i * cols + j];
        ss += sref[i * cols + j] * sref[i * cols + j];
      }
      for (int64_t j = 0; j < cols; ++j) yref[i * cols + j] = wr[j] * sref[i * cols + j] / std::sqrt(ss / cols + 1e-5);
    }
    EXPECT(max_err(yr, yref) < 1e-5);
    EXPECT(max_err(sr, sref) < 1e-6);
    ra.group_size = 4;  // does not divide 19
    expect_error([&] { subq::rmsnorm(&ctx, ra); }, SUBQ_ERR_INVALID_ARGUMENT, "group_size");
  }

  // Elementwise ops and the embedding gather.
  {
    auto g = randn(2 * 9, 9), u = randn(2 * 9, 10);
    std::vector<float> out(2 * 9), sl(2 * 9), sum(2 * 9);
    subq::swiglu(&ctx, 2, 9, g, 0, u, 0, out, 0);
    subq::silu(&ctx, 2, 9, g, 0, sl, 0);
    subq::add(&ctx, 2, 9, g, 0, u, 0, sum, 0);
    std::vector<double> r1(18), r2(18), r3(18);
    for (int i = 0; i < 18; ++i) {
      const double si = g[i] / (1.0 + std::exp(-(double)g[i]));
      r1[i] = si * u[i], r2[i] = si, r3[i] = (double)g[i] + u[i];
    }
    EXPECT(max_err(out, r1) < 1e-5 && max_err(sl, r2) < 1e-6 && max_err(sum, r3) < 1e-6);
    expect_error([&] { subq::silu(&ctx, 3, 9, g, 0, sl, 0); }, SUBQ_ERR_INVALID_ARGUMENT, "span has");

    auto table = randn(10 * 6, 11);
    std::vector<subq::bf16> tb(table.size());
    subq::to_bf16(table, tb);
    std::vector<float> tw(table.size());
    subq::from_bf16(tb, tw);
    std::vector<int64_t> ids{9, 0, 4};
    std::vector<float> emb(3 * 6), embb(3 * 6);
    subq::embedding<float>(&ctx, table, 10, 6, ids, emb);
    subq::embedding<subq::bf16>(&ctx, tb, 10, 6, ids, embb);
    for (int t = 0; t < 3; ++t)
      for (int d = 0; d < 6; ++d) {
        EXPECT(emb[t * 6 + d] == table[ids[t] * 6 + d]);
        EXPECT(embb[t * 6 + d] == tw[ids[t] * 6 + d]);
      }
    ids[1] = 10;
    expect_error([&] { subq::embedding<float>(&ctx, table, 10, 6, ids, emb); }, SUBQ_ERR_INVALID_ARGUMENT,
                 "ids[1] (10)");
  }

  // RoPE: a moved table rotates q in place like the double-precision formula.
  {
    auto rp = subq::make_args<subq_rope_params>();
    rp.rot_dim = 8, rp.theta = 100.0, rp.cached_positions = 4;
    subq::rope_table t0(rp, &ctx);
    subq::rope_table table = std::move(t0);
    EXPECT(table.rot_dim() == 8);
    expect_error([&] { (void)t0.rot_dim(); }, SUBQ_ERR_INVALID_STATE, "after move");
    const int64_t tokens = 3, heads = 2, hd = 10;
    auto qr = randn(tokens * heads * hd, 12);
    auto q0 = qr;
    std::vector<int64_t> pos{0, 7, 2};
    auto args = subq::make_args<subq_rope_args>();
    args.tokens = tokens, args.head_dim = hd, args.positions = pos.data(), args.q = qr.data(), args.q_heads = heads;
    table.apply(&ctx, args);
    std::vector<double> qref(q0.begin(), q0.end());
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int i = 0; i < 4; ++i) {
          const double ang = pos[t] * std::pow(100.0, -2.0 * i / 8), c = std::cos(ang), sn = std::sin(ang);
          const double a = q0[(t * heads + h) * hd + i], b = q0[(t * heads + h) * hd + i + 4];
          qref[(t * heads + h) * hd + i] = a * c - b * sn;
          qref[(t * heads + h) * hd + i + 4] = b * c + a * sn;
        }
    EXPECT(max_err(qr, qref) < 1e-5);
    std::vector<float> cs(4), sn(4);
    table.cos_sin(0, cs, sn);
    EXPECT(cs[0] == 1.0f && sn[3] == 0.0f);
    rp.rot_dim = 7;
    expect_error([&] { subq::rope_table bad(rp); }, SUBQ_ERR_INVALID_ARGUMENT, "rot_dim");
  }

  // KV cache: prefill 4 tokens, decode 1, each step equal to attention over the full K/V.
  {
    auto ka = subq::make_args<subq_kv_cache_args>();
    ka.batch = 1, ka.hkv = 2, ka.dk = 16, ka.dv = 16, ka.capacity = 5;
    subq::kv_cache cache(ka);
    std::vector<float> full(5 * 4 * 16), step(4 * 16);
    subq::attention(&ctx, {1, 5, 5, 4, 2, 16, 16}, q, kk, vv, full, {.causal = true});
    cache.append(&ctx, 0, 1, 4, std::span<const float>(kk).first(4 * 32), std::span<const float>(vv).first(4 * 32));
    cache.append(&ctx, 0, 1, 1, std::span<const float>(kk).subspan(4 * 32), std::span<const float>(vv).subspan(4 * 32));
    EXPECT((cache.positions(0) == std::pair<int64_t, int64_t>{0, 5}));
    auto fa = subq::make_args<subq_fattn_args>();
    fa.batch = 1, fa.hq = 4, fa.hkv = 2, fa.sq = 1, fa.dk = 16, fa.dv = 16, fa.window_right = 0;
    fa.q = q.data() + 4 * 64, fa.q_bs = 64, fa.q_ss = 64, fa.q_hs = 16;
    fa.out = step.data(), fa.o_bs = 64, fa.o_ss = 64, fa.o_hs = 16;
    cache.attend(&ctx, fa);
    std::vector<double> last(full.begin() + 4 * 64, full.end());
    EXPECT(max_err(step, last) < 1e-5);
    expect_error([&] { cache.append(&ctx, 0, 1, 1, kk, vv); }, SUBQ_ERR_INVALID_ARGUMENT, "full");
    cache.truncate(0, 2);
    EXPECT(cache.positions(0).second == 2);
    cache.reset();
    EXPECT(cache.positions(0).second == 0);
    subq::kv_cache moved_cache = std::move(cache);
    expect_error([&] { cache.reset(); }, SUBQ_ERR_INVALID_STATE, "after move");
    ka.capacity = 0;
    expect_error([&] { subq::kv_cache bad(ka); }, SUBQ_ERR_INVALID_ARGUMENT, "capacity");
  }

  // Mamba-2 SSD scan (recurrent) against a double recurrence, then the gated norm.
  {
    const int64_t L = 6, H = 2, P = 3, N = 4;
    auto xs = randn(L * H * P, 13), dts = randn(L * H, 14), bs = randn(L * N, 15), cs = randn(L * N, 16);
    std::vector<float> A{-0.5f, -1.5f}, ys(L * H * P), hs(subq::ssm2_state_floats(H, P, N));
    auto sa = subq::make_args<subq_ssm2_args>();
    sa.batch = 1, sa.seqlen = L, sa.n_heads = H, sa.head_dim = P, sa.d_state = N;
    sa.algo = SUBQ_SSM2_ALGO_RECURRENT;
    sa.x = xs.data(), sa.dt = dts.data(), sa.b = bs.data(), sa.c = cs.data(), sa.a = A.data();
    sa.h_out = hs.data(), sa.y = ys.data();
    subq::ssm2_scan(&ctx, sa);
    std::vector<double> st(H * N * P, 0.0), yref(L * H * P);
    for (int64_t t = 0; t < L; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const double d = std::log1p(std::exp((double)dts[t * H + h])), a = std::exp(d * A[h]);
        for (int64_t p2 = 0; p2 < P; ++p2) {
          double yy = 0;
          for (int64_t n2 = 0; n2 < N; ++n2) {
            double& sv = st[(h * N + n2) * P + p2];
            sv = a * sv + d * xs[(t * H + h) * P + p2] * bs[t * N + n2];
            yy += cs[t * N + n2] * sv;
          }
          yref[(t * H + h) * P + p2] = yy;
        }
      }
    EXPECT(max_err(ys, yref) < 1e-4);
    EXPECT(max_err(hs, st) < 1e-4);
    sa.d_state = 300;
    expect_error([&] { subq::ssm2_scan(&ctx, sa); }, SUBQ_ERR_INVALID_ARGUMENT, "d_state");

    auto ga = subq::make_args<subq_gated_rmsnorm_args>();
    std::vector<float> go(L * H * P);
    ga.rows = L, ga.width = H * P, ga.y = ys.data(), ga.out = go.data();
    subq::gated_rmsnorm(&ctx, ga);
    std::vector<double> gref(go.size());
    for (int64_t t = 0; t < L; ++t) {
      double ss = 0;
      for (int64_t j = 0; j < H * P; ++j) ss += (double)ys[t * H * P + j] * ys[t * H * P + j];
      for (int64_t j = 0; j < H * P; ++j) gref[t * H * P + j] = ys[t * H * P + j] / std::sqrt(ss / (H * P) + 1e-5);
    }
    EXPECT(max_err(go, gref) < 1e-5);
  }

  // Linear attention: identity map, no normalisation, causal, against a naive double loop
  // (out_t = sum_{j<=t} scale (q_t . k_j) v_j); then one decode token continues the state.
  {
    const int64_t T = 5, H = 2, dk = 3, dv = 4;
    const float scale = 0.5f;
    auto qs = randn((T + 1) * H * dk, 21), ks = randn((T + 1) * H * dk, 22), vs = randn((T + 1) * H * dv, 23);
    auto la = subq::make_args<subq_linattn_args>();
    EXPECT(la.feature_map == SUBQ_LINATTN_FMAP_TAYLOR2 && la.normalize == SUBQ_LINATTN_NORM_DENOM && la.causal == 1);
    la.batch = 1, la.seqlen = T, la.n_heads = H, la.dim_qk = dk, la.dim_v = dv, la.scale = scale;
    la.feature_map = SUBQ_LINATTN_FMAP_IDENTITY, la.normalize = SUBQ_LINATTN_NORM_NONE;
    EXPECT(subq::linattn_state_floats(la) == H * dk * dv);
    EXPECT(subq::linattn_feature_dim(SUBQ_LINATTN_FMAP_TAYLOR2, 16) == 153);
    std::vector<float> state(static_cast<std::size_t>(subq::linattn_state_floats(la)), -1.0f), os(T * H * dv);
    la.q = qs.data(), la.k = ks.data(), la.v = vs.data(), la.out = os.data(), la.state_out = state.data();
    subq::linattn_prefill(&ctx, la);
    std::vector<double> ref((T + 1) * H * dv, 0.0);
    for (int64_t t = 0; t <= T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < dk; ++d) dot += (double)qs[(t * H + h) * dk + d] * ks[(j * H + h) * dk + d];
          for (int64_t e = 0; e < dv; ++e) ref[(t * H + h) * dv + e] += scale * dot * vs[(j * H + h) * dv + e];
        }
    EXPECT(max_err(os, std::vector<double>(ref.begin(), ref.begin() + T * H * dv)) < 1e-5);
    auto da = la;  // token T from the prefill's state, updated in place
    da.seqlen = 1, da.q = qs.data() + T * H * dk, da.k = ks.data() + T * H * dk, da.v = vs.data() + T * H * dv;
    std::vector<float> od(H * dv);
    da.out = od.data(), da.state_in = state.data(), da.state_out = state.data();
    subq::linattn_decode(&ctx, da);
    EXPECT(max_err(od, std::vector<double>(ref.begin() + T * H * dv, ref.end())) < 1e-5);
    std::vector<float> phi(2 * 153);
    subq::linattn_feature_map(SUBQ_LINATTN_FMAP_TAYLOR2, 16, 0.0f, true, 2, std::span<const float>(qs).first(32), phi);
    EXPECT(phi[0] == 1.0f && phi[153] == 1.0f);
    expect_error(
        [&] { subq::linattn_feature_map(SUBQ_LINATTN_FMAP_TAYLOR2, 16, 0.0f, true, 2, qs, std::span(phi).first(200)); },
        SUBQ_ERR_INVALID_ARGUMENT, "span has 200");
    expect_error([&] { subq::linattn_decode(&ctx, la); }, SUBQ_ERR_INVALID_ARGUMENT, "seqlen (5) must be 1");
    std::vector<float> lg(T * H, 0.5f);  // log gates must be <= 0
    la.gate = SUBQ_LINATTN_GATE_SCALAR, la.log_gate = lg.data();
    expect_error([&] { subq::linattn_prefill(&ctx, la); }, SUBQ_ERR_INVALID_ARGUMENT, "log_gate");
    la.causal = 0;
    expect_error([&] { subq::linattn_prefill(&ctx, la); }, SUBQ_ERR_INVALID_ARGUMENT, "gate needs causal == 1");
    la.dim_v = 0;
    expect_error([&] { (void)subq::linattn_state_floats(la); }, SUBQ_ERR_INVALID_ARGUMENT, "linattn_state_floats");
  }

  // Monarch: forward against the header's formula (stage 1, P1, stage 2, P2) in double,
  // the dense matrix, projection of an exactly-Monarch matrix, bf16 weights, errors.
  {
    const int64_t k = 2, q = 6, p = 3, l = 4, s = 5, r = 3, n = k * p, m = l * s, T = 3;
    const auto w1 = randn(k * q * p, 41), w2 = randn(l * s * r, 42), x = randn(T * n, 43), bias = randn(m, 44);
    const subq_monarch_desc d = subq::monarch_desc(k, q, p, l, s, r);
    EXPECT((subq::monarch_dims(d) == std::pair<int64_t, int64_t>{n, m}));
    subq::monarch_weights mw(&ctx, d, std::span<const float>(w1), std::span<const float>(w2));
    EXPECT(mw.inputs() == n && mw.outputs() == m && mw.bytes() > 0 && std::string(mw.ukernel()).find("monarch") != std::string::npos);
    std::vector<float> y(T * m);
    mw.forward(&ctx, T, x, y, bias);
    std::vector<double> ref(T * m);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> u(k * q), z(l * s);
      for (int64_t i = 0; i < k; ++i)
        for (int64_t a = 0; a < q; ++a)
          for (int64_t e = 0; e < p; ++e) u[i * q + a] += (double)w1[(i * q + a) * p + e] * x[t * n + i * p + e];
      for (int64_t j = 0; j < l; ++j)
        for (int64_t c = 0; c < s; ++c)
          for (int64_t tt = 0; tt < r; ++tt) z[j * s + c] += (double)w2[(j * s + c) * r + tt] * u[tt * l + j];
      for (int64_t j = 0; j < l; ++j)
        for (int64_t c = 0; c < s; ++c) ref[t * m + c * l + j] = z[j * s + c] + bias[c * l + j];
    }
    EXPECT(max_err(y, ref) < 1e-4);
    std::vector<double> w1d(w1.begin(), w1.end()), w2d(w2.begin(), w2.end());
    const auto M = subq::monarch_to_dense(d, w1d, w2d);
    double worst = 0;
    for (int64_t row = 0; row < m; ++row) {
      double acc = bias[row];
      for (int64_t col = 0; col < n; ++col) acc += M[row * n + col] * x[col];
      worst = std::fmax(worst, std::fabs(acc - ref[row]));
    }
    EXPECT(worst < 1e-9);
    std::vector<double> p1(w1d.size()), p2(w2d.size());
    EXPECT(subq::monarch_project(d, M, p1, p2) < 1e-18 * m * n);
    const auto M2 = subq::monarch_to_dense(d, p1, p2);
    worst = 0;
    for (std::size_t i = 0; i < M.size(); ++i) worst = std::fmax(worst, std::fabs(M[i] - M2[i]));
    EXPECT(worst < 1e-9);
    // bf16 weights: widened exactly, so the same values as f32 give the same bits
    std::vector<subq::bf16> b1(w1.size()), b2(w2.size());
    subq::to_bf16(w1, b1), subq::to_bf16(w2, b2);
    std::vector<float> f1(w1.size()), f2(w2.size()), yb(T * m), yf(T * m);
    subq::from_bf16(b1, f1), subq::from_bf16(b2, f2);
    subq::monarch_weights mb(&ctx, d, std::span<const subq::bf16>(b1), std::span<const subq::bf16>(b2));
    EXPECT(mb.desc().dtype == SUBQ_DTYPE_BF16);
    mb.forward(&ctx, T, x, yb);
    subq::monarch_weights(&ctx, d, std::span<const float>(f1), std::span<const float>(f2)).forward(&ctx, T, x, yf);
    EXPECT(yb == yf);
    // block-diagonal: y = blocks of W x; backward grad_bias = column sums of grad_y
    const subq_monarch_desc bd = subq::blockdiag_desc(6, 4, 2);
    const std::vector<float> wb = randn(2 * 2 * 3, 45), xb = randn(6, 46);
    subq::monarch_weights mbd(nullptr, bd, std::span<const float>(wb));
    std::vector<float> yd(4), gb(4);
    mbd.forward(nullptr, 1, xb, yd);
    for (int i = 0; i < 2; ++i)
      for (int o = 0; o < 2; ++o) {
        double acc = 0;
        for (int e = 0; e < 3; ++e) acc += (double)wb[(i * 2 + o) * 3 + e] * xb[i * 3 + e];
        EXPECT(std::fabs(yd[i * 2 + o] - acc) < 1e-5);
      }
    auto ba = subq::make_args<subq_monarch_backward_args>();
    ba.tokens = 1, ba.grad_y = yd.data(), ba.ldgy = 4, ba.grad_bias = gb.data();
    mbd.backward(nullptr, ba);
    EXPECT(gb == yd);
    expect_error([&] { subq::monarch_weights(nullptr, subq::monarch_desc(k, q, p, l, s, 4), std::span<const float>(w1),
                                             std::span<const float>(w2)); },
                 SUBQ_ERR_INVALID_ARGUMENT, "k*q (12) != l*r (16)");
    expect_error([&] { subq::monarch_weights(nullptr, d, std::span<const float>(w1).first(5), std::span<const float>(w2)); },
                 SUBQ_ERR_INVALID_ARGUMENT, "w1 has 5 elements");
    expect_error([&] { (void)subq::blockdiag_desc(1000, 12, 3); }, SUBQ_ERR_INVALID_ARGUMENT, "nblocks");
    // fly MonarchLinear shapes: 2048 -> 5632 with 4 blocks; 64 -> 96 with 3 blocks pads 64 to 66
    const auto ls = subq::monarch_linear_shapes(2048, 5632, 4);
    EXPECT(ls.desc.k == 4 && ls.desc.q == 512 && ls.desc.p == 512 && ls.desc.l == 4 && ls.desc.s == 1408 &&
           ls.desc.r == 512 && ls.in_ext == 2048 && ls.out_ext == 5632);
    const auto lp = subq::monarch_linear_shapes(64, 96, 3);
    EXPECT(lp.in_ext == 66 && lp.out_ext == 96 && lp.desc.p == 22 && lp.desc.s == 32);
    expect_error([&] { (void)subq::monarch_linear_shapes(64, 96, 0); }, SUBQ_ERR_INVALID_ARGUMENT, "nblocks");
    subq::monarch_weights moved = std::move(mw);
    expect_error([&] { (void)mw.bytes(); }, SUBQ_ERR_INVALID_STATE, "used after move");
    EXPECT(moved.bytes() > 0);
  }

  // Ternary: quantize, codes round trip, the exact int32 product, BitLinear's epilogue exactly,
  // HGRN decode steps continuing a prefill bitwise, errors.
  {
    const int64_t N = 5, K = 70, T = 3;
    const auto W = randn(N * K, 51);
    auto tw = subq::ternary_weights::quantize(&ctx, N, K, std::span<const float>(W), SUBQ_TERNARY_SCALE_ROW);
    EXPECT(tw.rows() == N && tw.cols() == K && tw.scale_mode() == SUBQ_TERNARY_SCALE_ROW);
    auto [codes, gamma] = tw.to_codes();
    EXPECT(gamma.size() == (std::size_t)N);
    for (int64_t row = 0; row < N; ++row) {  // absmean per row, spec §1
      double mean = 0;
      for (int64_t c = 0; c < K; ++c) mean += std::fabs((double)W[row * K + c]);
      const float g = (float)std::fmax(mean / K, 1e-5);
      EXPECT(gamma[row] == g);
      for (int64_t c = 0; c < K; ++c)
        EXPECT(codes[row * K + c] == (int8_t)std::fmax(-1.f, std::fmin(1.f, std::nearbyint(W[row * K + c] * (1.0f / g)))));
    }
    auto tc = subq::ternary_weights::from_codes(N, K, codes, gamma);
    const auto b0 = tw.blob(), b1 = tc.blob();
    EXPECT(b0.size() == b1.size() && std::memcmp(b0.data(), b1.data(), b0.size()) == 0);
    auto tb = subq::ternary_weights::from_blob(b0);
    EXPECT(tb.rows() == N && std::memcmp(tb.blob().data(), b0.data(), b0.size()) == 0);
    std::mt19937 g(52);
    std::vector<int8_t> qv(T * K);
    for (auto& v : qv) v = (int8_t)((int)(g() % 255) - 127);
    std::vector<int32_t> D(T * N);
    tw.matmul_i32(&ctx, T, qv, D);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t row = 0; row < N; ++row) {
        int32_t acc = 0;
        for (int64_t c = 0; c < K; ++c) acc += codes[row * K + c] * qv[t * K + c];
        EXPECT(D[t * N + row] == acc);
      }
    try {  // placed on a mirroring 2-node (synthetic) context: same blob bytes, same products
      auto topo = subq::topology::synthetic("node:2 core:2 pu:1");
      subq::context::options o;
      o.threads = 4, o.numa = SUBQ_NUMA_MIRROR, o.topo = &topo;
      subq::context mc{o};
      auto tp = subq::ternary_weights::from_codes(N, K, codes, gamma);
      tp.place(&mc);
      EXPECT(tp.blob().size() == b0.size() && std::memcmp(tp.blob().data(), b0.data(), b0.size()) == 0);
      std::vector<int32_t> Dp(T * N);
      tp.matmul_i32(&mc, T, qv, Dp);
      EXPECT(Dp == D);
    } catch (const subq::error& e) {
      if (e.status() != SUBQ_ERR_UNSUPPORTED) throw;  // no hwloc: no synthetic topology
    }
    // BitLinear = act_quant + matmul + (float)D * (gamma * (a / 127)) (+ residual), bit for bit
    const auto x = randn(T * K, 53), res = randn(T * N, 54);
    std::vector<int8_t> qx(T * K);
    std::vector<int32_t> sums(T);
    std::vector<float> scales(T), out(T * N);
    auto aa = subq::make_args<subq_ternary_act_args>();
    aa.rows = T, aa.cols = K, aa.x = x.data(), aa.q = qx.data(), aa.sums = sums.data(), aa.scales = scales.data();
    subq::ternary_act_quant(&ctx, aa);
    tw.matmul_i32(&ctx, T, qx, D);
    tw.bitlinear(&ctx, T, x, out, res);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t row = 0; row < N; ++row) {
        const float comb = gamma[row] * (scales[t] / 127.0f);
        EXPECT(out[t * N + row] == (float)D[t * N + row] * comb + res[t * N + row]);
      }
    // HGRN: prefill of 2 tokens then one step == prefill of 3 tokens
    const int64_t C = 9;
    const auto hi = randn(3 * C, 55), hf = randn(3 * C, 56);
    std::vector<float> st(C, 0.0f), o3(3 * C), s3(C), ostep(C);
    auto ha = subq::make_args<subq_hgrn_args>();
    ha.tokens = 3, ha.channels = C, ha.i = hi.data(), ha.f = hf.data(), ha.state_out = s3.data(), ha.out = o3.data();
    subq::hgrn(&ctx, ha);
    ha.tokens = 2, ha.state_in = st.data(), ha.state_out = st.data();
    std::vector<float> o2(2 * C);
    ha.out = o2.data();
    subq::hgrn(&ctx, ha);
    ha.tokens = 1, ha.i = hi.data() + 2 * C, ha.f = hf.data() + 2 * C, ha.out = ostep.data();
    subq::hgrn_step(&ctx, ha);
    EXPECT(st == s3 && std::memcmp(ostep.data(), o3.data() + 2 * C, C * sizeof(float)) == 0);
    qv[0] = -128;
    expect_error([&] { tw.matmul_i32(&ctx, T, qv, D); }, SUBQ_ERR_INVALID_ARGUMENT, "-128");
    expect_error([&] { tw.matmul_i32(&ctx, T, std::span<const int8_t>(qv).first(10), D); }, SUBQ_ERR_INVALID_ARGUMENT,
                 "matmul_i32: q");
    const std::vector<int8_t> bad(6, 2);
    const std::vector<float> one{1.0f};
    expect_error([&] { (void)subq::ternary_weights::from_codes(2, 3, bad, one); }, SUBQ_ERR_INVALID_ARGUMENT,
                 "subq_ternary_from_codes");
    auto moved = std::move(tw);
    expect_error([&] { (void)tw.rows(); }, SUBQ_ERR_INVALID_STATE, "used after move");
    EXPECT(moved.rows() == N);
  }

  // safetensors: a file written here, read back without a copy.
  {
    const char* path = "test_subq_hpp.safetensors";
    const std::string header =
        R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
    std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
    const float wv[4] = {1.5f, -2.0f, 3.25f, 0.0f};
    {
      std::ofstream f(path, std::ios::binary);
      uint64_t len = padded.size();  // little-endian on every host SubQ supports
      f.write(reinterpret_cast<const char*>(&len), 8);
      f.write(padded.data(), static_cast<std::streamsize>(padded.size()));
      f.write(reinterpret_cast<const char*>(wv), sizeof wv);
    }
    subq::safetensors st(path);
    EXPECT(st.size() == 1 && st.contains("w") && !st.contains("v"));
    EXPECT(st["w"].rank == 2 && st["w"].shape[0] == 2 && st.at(0).dtype == SUBQ_SAFETENSORS_F32);
    auto wspan = st.data<float>("w", SUBQ_SAFETENSORS_F32);
    EXPECT(wspan.size() == 4 && std::memcmp(wspan.data(), wv, sizeof wv) == 0);
    EXPECT(st.metadata("format") && std::string(st.metadata("format")) == "pt" && !st.metadata("nope"));
    EXPECT(st.file_count() == 1 && st.file_path(0) == path);
    expect_error([&] { (void)st.file_path(1); }, SUBQ_ERR_INVALID_ARGUMENT, "out of range");
    const auto md = st.metadata_entries();
    EXPECT(md.size() == 1 && md[0].first == "format" && md[0].second == "pt" && st.metadata_entries(3).empty());
    expect_error([&] { (void)st.data<uint16_t>("w", SUBQ_SAFETENSORS_BF16); }, SUBQ_ERR_INVALID_ARGUMENT, "F32");
    expect_error([&] { (void)st["v"]; }, SUBQ_ERR_INVALID_ARGUMENT, "'v'");
    expect_error([&] { subq::safetensors missing("no_such_file.safetensors"); }, SUBQ_ERR_SYSTEM, "no_such_file");
    std::remove(path);
  }

  test_sgemm();
  test_runtime();
  test_convert_memory_kv();
  test_family_helpers();
  test_owner_churn();

  if (failures) std::fprintf(stderr, "%d check(s) failed\n", failures);
  else std::printf("subq.hpp: all checks passed\n");
  return failures ? 1 : 0;
}
