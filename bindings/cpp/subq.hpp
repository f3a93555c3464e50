// subq.hpp — header-only C++20 wrapper over SubQ's C ABI (Include/subq.h).
//
//   subq::context ctx{2};                                   // 2 participants
//   std::vector<float> a(m * k), b(k * n), c(m * n);
//   subq::gemm(&ctx, subq::matrix<const float>{a, m, k},
//                    subq::matrix<const float>{b, k, n},
//                    subq::matrix<float>{c, m, n});         // throws subq::error on failure
//
// * Every failing C call throws subq::error carrying the subq_status and the
//   library's message (subq_last_error_message(), read on the same thread).
// * Handles are move-only RAII owners (topology, context, packed_b, rope_table,
//   kv_cache, safetensors, monarch_weights, ternary_weights, int8_weights; log_handler for the
//   process-global log callback).
// * Views are std::span based; matrix<T> adds a shape and element strides and
//   checks that every element it describes lies inside its span before any C
//   call (so a short buffer is an exception, not an out-of-bounds read).
// * Templates over float and subq::bf16 where the C API takes both.
// * Thread-safety as the C API: a context serialises calls made on it; objects
//   here add no shared state of their own.
#ifndef SUBQ_HPP
#define SUBQ_HPP

#include <subq.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string_view>
#include <tuple>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace subq {

// ---- errors -------------------------------------------------------------------------------
class error : public std::runtime_error {
 public:
  error(subq_status status, const std::string& message)
      : std::runtime_error(std::string(subq_status_string(status)) + ": " + message), status_(status) {}
  subq_status status() const noexcept { return status_; }

 private:
  subq_status status_;
};

inline void check(subq_status s) {
  if (s != SUBQ_OK) throw error(s, subq_last_error_message());
}

[[noreturn]] inline void invalid(const std::string& message) { throw error(SUBQ_ERR_INVALID_ARGUMENT, message); }

// ---- version --------------------------------------------------------------------------------
inline const char* version() noexcept { return subq_version_string(); }
// True when the loaded library serves this header (same major, minor not older).
inline bool version_compatible() noexcept {
  const uint32_t v = subq_version();
  return (v >> 16) == SUBQ_VERSION_MAJOR && ((v >> 8) & 0xFFu) >= SUBQ_VERSION_MINOR;
}

inline const char* build_info() noexcept { return subq_build_info(); }
// This thread's last error message ("" after clear_last_error); subq::error already carries it.
inline const char* last_error_message() noexcept { return subq_last_error_message(); }
inline void clear_last_error() noexcept { subq_clear_last_error(); }

// ---- instruction sets -------------------------------------------------------------------------
inline const char* isa_name(subq_isa isa) noexcept { return subq_isa_name(isa); }
// Parses "avx2", "scalar", "native", ... (case-insensitive); throws for an unknown name.
inline subq_isa isa_from_name(const std::string& name) {
  subq_isa out = SUBQ_ISA_AUTO;
  check(subq_isa_from_name(name.c_str(), &out));
  return out;
}
// The best ISA path this CPU and OS support (before any cap).
inline subq_isa host_isa() noexcept { return subq_host_isa(); }
inline bool host_supports(subq_isa isa) noexcept { return subq_host_supports_isa(isa); }

// ---- element types ----------------------------------------------------------------------------
// bf16 storage (the upper half of an IEEE f32), layout-compatible with uint16_t.
struct bf16 {
  uint16_t bits;
};
static_assert(sizeof(bf16) == 2 && std::is_standard_layout_v<bf16>);
// IEEE binary16 storage, layout-compatible with uint16_t (the attention inputs and KV caches
// take it; convert with to_f16 / from_f16).
struct f16 {
  uint16_t bits;
};
static_assert(sizeof(f16) == 2 && std::is_standard_layout_v<f16>);

// Bytes per element of a dtype; 0 for an unknown value.
inline std::size_t dtype_size(subq_dtype d) noexcept { return subq_dtype_size(d); }

template <class T>
constexpr subq_dtype dtype_of() {
  using U = std::remove_const_t<T>;
  if constexpr (std::is_same_v<U, float>) return SUBQ_DTYPE_F32;
  else if constexpr (std::is_same_v<U, bf16>) return SUBQ_DTYPE_BF16;
  else if constexpr (std::is_same_v<U, f16>) return SUBQ_DTYPE_F16;
  else static_assert(!sizeof(U), "subq: element type must be float, subq::bf16 or subq::f16");
}

inline void to_bf16(std::span<const float> src, std::span<bf16> dst) {
  if (src.size() != dst.size()) invalid("subq::to_bf16: src and dst sizes differ");
  check(subq_f32_to_bf16(src.data(), reinterpret_cast<uint16_t*>(dst.data()), static_cast<int64_t>(src.size())));
}
inline void from_bf16(std::span<const bf16> src, std::span<float> dst) {
  if (src.size() != dst.size()) invalid("subq::from_bf16: src and dst sizes differ");
  check(subq_bf16_to_f32(reinterpret_cast<const uint16_t*>(src.data()), dst.data(),
                         static_cast<int64_t>(src.size())));
}
// Round to nearest even, overflow to Inf, subnormals exact, NaN kept (subq_f32_to_f16).
inline void to_f16(std::span<const float> src, std::span<f16> dst) {
  if (src.size() != dst.size()) invalid("subq::to_f16: src and dst sizes differ");
  check(subq_f32_to_f16(src.data(), reinterpret_cast<uint16_t*>(dst.data()), static_cast<int64_t>(src.size())));
}
inline void from_f16(std::span<const f16> src, std::span<float> dst) {
  if (src.size() != dst.size()) invalid("subq::from_f16: src and dst sizes differ");
  check(subq_f16_to_f32(reinterpret_cast<const uint16_t*>(src.data()), dst.data(),
                        static_cast<int64_t>(src.size())));
}

// ---- views ------------------------------------------------------------------------------------
namespace detail {
// Largest element offset a view touches + 1, or throws (negative strides, overflow).
inline std::size_t extent(const char* what, std::initializer_list<std::pair<int64_t, int64_t>> dims) {
  int64_t last = 0;
  for (auto [n, stride] : dims) {
    if (n < 0) invalid(std::string(what) + ": negative dimension");
    if (n == 0) return 0;
    if (stride < 0) invalid(std::string(what) + ": negative stride");
    int64_t t;
    if (__builtin_mul_overflow(n - 1, stride, &t) || __builtin_add_overflow(last, t, &last))
      invalid(std::string(what) + ": extent overflows int64");
  }
  return static_cast<std::size_t>(last) + 1;
}
inline void fits(const char* what, std::size_t need, std::size_t have) {
  if (need > have)
    invalid(std::string(what) + ": view needs " + std::to_string(need) + " elements, span has " +
            std::to_string(have));
}
// A (rows, cols) view with row stride ld (0 = cols) fits in `have` elements, or throws.
inline void rows_fit(const char* what, std::size_t have, int64_t rows, int64_t cols, int64_t ld) {
  if (rows < 0 || cols < 0) invalid(std::string(what) + ": negative size");
  fits(what, extent(what, {{rows, ld == 0 ? cols : ld}, {cols, 1}}), have);
}
// Product of sizes, each >= 0, or throws (negative, overflow).
inline std::size_t count(const char* what, std::initializer_list<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) invalid(std::string(what) + ": negative size");
    if (__builtin_mul_overflow(n, d, &n)) invalid(std::string(what) + ": size overflows int64");
  }
  return static_cast<std::size_t>(n);
}
}  // namespace detail

// rows x cols matrix, element (i, j) at data[i * rs + j * cs]; row-major by default.
template <class T>
struct matrix {
  std::span<T> data;
  int64_t rows = 0, cols = 0, rs = 0, cs = 1;
  matrix(std::span<T> d, int64_t r, int64_t c) : data(d), rows(r), cols(c), rs(c), cs(1) {}
  matrix(std::span<T> d, int64_t r, int64_t c, int64_t row_stride, int64_t col_stride)
      : data(d), rows(r), cols(c), rs(row_stride), cs(col_stride) {}
  // The transpose as a view (no copy).
  matrix transposed() const { return matrix(data, cols, rows, cs, rs); }
  void check_fits(const char* what) const {
    detail::fits(what, detail::extent(what, {{rows, rs}, {cols, cs}}), data.size());
  }
};

// ---- topology ---------------------------------------------------------------------------------
// An immutable machine snapshot (subq_topology): nodes, cores, PUs, caches. Shareable between
// threads; a context made with it keeps its own reference, so it may go right after.
class topology {
 public:
  // This process's machine (affinity mask, cpuset).
  static topology host() {
    subq_topology* t = nullptr;
    check(subq_topology_create(&t));
    return topology(t);
  }
  // An hwloc synthetic description ("pack:2 numa:2 core:4 pu:1"); threads are never bound to
  // its PUs. Throws SUBQ_ERR_UNSUPPORTED when SubQ was built without hwloc.
  static topology synthetic(const std::string& description) {
    subq_topology* t = nullptr;
    check(subq_topology_create_synthetic(description.c_str(), &t));
    return topology(t);
  }
  static topology from_xml(const std::string& path) {
    subq_topology* t = nullptr;
    check(subq_topology_create_xml(path.c_str(), &t));
    return topology(t);
  }
  topology(const topology&) = delete;
  topology& operator=(const topology&) = delete;
  topology(topology&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  topology& operator=(topology&& o) noexcept {
    if (this != &o) {
      subq_topology_release(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~topology() { subq_topology_release(h_); }

  // A second owner of the same immutable object (subq_topology_retain).
  topology clone() const { return topology(subq_topology_retain(live())); }
  const subq_topology* get() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != nullptr; }
  int32_t nodes() const { return subq_topology_num_nodes(live()); }
  int32_t cores() const { return subq_topology_num_cores(live()); }
  int32_t pus() const { return subq_topology_num_pus(live()); }
  // Bytes of the level-`level` data cache (per core for L1d/L2, per L3 domain); 0 when unknown.
  std::size_t cache_size(int32_t level) const { return subq_topology_cache_size(live(), level); }
  std::string describe() const {
    std::string s(subq_topology_describe(live(), nullptr, 0) + 1, '\0');
    s.resize(subq_topology_describe(h_, s.data(), s.size()));
    return s;
  }

 private:
  explicit topology(subq_topology* t) noexcept : h_(t) {}
  subq_topology* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::topology: used after move");
    return h_;
  }
  subq_topology* h_ = nullptr;
};

// ---- context ----------------------------------------------------------------------------------
// One unit of parallel work SubQ hands a host executor: call it once for every index in [0, n).
struct task {
  subq_task_fn fn;
  void* ctx;
  void operator()(int64_t index) const noexcept { fn(ctx, index); }
};
// A C++ host executor for context::with_executor.
template <class E>
concept executor = requires(E& e, int64_t n, task t) {
  { e.max_concurrency() } -> std::convertible_to<int32_t>;
  e.parallel_for(n, t);
};

class context {
 public:
  struct options {
    int32_t threads = 0;  // participants incl. the caller; 0 = physical cores
    subq_numa_mode numa = SUBQ_NUMA_OFF;
    subq_isa max_isa = SUBQ_ISA_AUTO;
    int32_t numa_node = -1;           // ISOLATE: OS node; -1 = the creating thread's
    uint32_t flags = 0;               // SUBQ_CONTEXT_* (START_PAUSED, NO_SPIN, ...)
    int32_t verbose = -1;             // 0..3 log level; -1 = SUBQ_VERBOSE's
    const topology* topo = nullptr;   // nullptr = this machine
  };
  context() : context(options{}) {}
  explicit context(int32_t threads) : context(options{threads}) {}
  explicit context(const options& o) {
    const subq_context_params p = params(o);
    subq_context* c = nullptr;
    check(subq_context_create(&p, &c));
    h_ = c;
  }
  // A context whose parallel work runs on a host executor (subq_context_create_with_executor);
  // the table is copied, ex.ctx must outlive the context. NUMA modes other than OFF are refused.
  static context with_executor(const subq_executor& ex) { return with_executor(ex, options{}); }
  static context with_executor(const subq_executor& ex, const options& o) {
    const subq_context_params p = params(o);
    subq_context* c = nullptr;
    check(subq_context_create_with_executor(&p, &ex, &c));
    return context(c);
  }
  // The same over a C++ object with `int32_t max_concurrency()` and
  // `void parallel_for(int64_t n, subq::task t)`, which must return only after t(i) ran once for
  // every i in [0, n), in any order, on any threads. `executor` must outlive the context and must
  // not call SubQ with this context. An exception escaping it terminates (it cannot cross SubQ).
  template <executor Executor>
  static context with_executor(Executor& executor) {
    return with_executor(executor, options{});
  }
  template <executor Executor>
  static context with_executor(Executor& executor, const options& o) {
    subq_executor ex{};
    ex.struct_size = sizeof ex;
    ex.ctx = &executor;
    ex.max_concurrency = [](void* e) noexcept -> int32_t { return static_cast<Executor*>(e)->max_concurrency(); };
    ex.parallel_for = [](void* e, int64_t n, subq_task_fn fn, void* tc) noexcept {
      static_cast<Executor*>(e)->parallel_for(n, task{fn, tc});
    };
    return with_executor(ex, o);
  }
  context(const context&) = delete;
  context& operator=(const context&) = delete;
  context(context&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  context& operator=(context&& o) noexcept {
    if (this != &o) {
      subq_context_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~context() { subq_context_destroy(h_); }

  subq_context* get() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != nullptr; }
  int32_t threads() const { return subq_context_num_threads(live()); }
  subq_isa isa() const { return subq_context_isa(live()); }
  // Whether packed_b objects packed with this context are placed on NUMA nodes (isolate /
  // distribute / mirror on a multi-node topology): read weights through them, not a mapped file.
  bool places_weights() const { return subq_context_places_weights(live()); }
  std::string describe() const {
    std::string s(subq_context_describe(live(), nullptr, 0) + 1, '\0');
    s.resize(subq_context_describe(h_, s.data(), s.size()));
    return s;
  }
  // Parks the workers asleep (no spinning) until resume() or the next call, which wakes them.
  void pause() { check(subq_context_pause(live())); }
  void resume() { check(subq_context_resume(live())); }

 private:
  explicit context(subq_context* c) noexcept : h_(c) {}
  static subq_context_params params(const options& o) {
    subq_context_params p;
    subq_context_params_default(&p, sizeof p);
    p.n_threads = o.threads;
    p.numa = o.numa;
    p.numa_node = o.numa_node;
    p.flags = o.flags;
    if (o.max_isa != SUBQ_ISA_AUTO) p.max_isa = o.max_isa;
    if (o.verbose >= 0) p.verbose = o.verbose;
    if (o.topo) p.topology = o.topo->get();
    return p;
  }
  subq_context* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::context: used after move");
    return h_;
  }
  subq_context* h_ = nullptr;
};

inline subq_context* raw(context* c) noexcept { return c ? c->get() : nullptr; }

// ---- logging ----------------------------------------------------------------------------------
// Routes SubQ's log messages to a std::function while it lives (subq_set_log_callback, with the
// function as user data). Process-global like the C call: install it before other threads use
// SubQ and destroy it after. The newest handler wins; destroying it restores the default sink
// (silent, or stderr with SUBQ_VERBOSE), destroying an older one changes nothing. fn may run on
// any SubQ thread; an exception it throws is caught and dropped (it cannot cross the C library).
using log_function = std::function<void(subq_log_level, std::string_view)>;
class log_handler {
 public:
  explicit log_handler(log_function fn) : fn_(std::make_unique<log_function>(std::move(fn))) {
    installed().store(fn_.get());
    subq_set_log_callback(&trampoline, fn_.get());
  }
  log_handler(const log_handler&) = delete;
  log_handler& operator=(const log_handler&) = delete;
  // The function stays where it is on the heap, so SubQ's user pointer stays valid.
  log_handler(log_handler&& o) noexcept = default;
  log_handler& operator=(log_handler&& o) noexcept {
    if (this != &o) {
      uninstall();
      fn_ = std::move(o.fn_);
    }
    return *this;
  }
  ~log_handler() { uninstall(); }

 private:
  static std::atomic<log_function*>& installed() noexcept {
    static std::atomic<log_function*> current{nullptr};
    return current;
  }
  static void trampoline(void* user, subq_log_level level, const char* message) noexcept {
    try {
      (*static_cast<log_function*>(user))(level, message ? std::string_view(message) : std::string_view());
    } catch (...) {
    }
  }
  void uninstall() noexcept {
    log_function* mine = fn_.get();
    if (mine && installed().compare_exchange_strong(mine, nullptr)) subq_set_log_callback(nullptr, nullptr);
    fn_.reset();
  }
  std::unique_ptr<log_function> fn_;
};

// ---- conversions ------------------------------------------------------------------------------
// dst = src converted (subq_convert): one side float, the other float, bf16 or f16; round to
// nearest even, overflow to Inf, NaN kept quiet; widening is exact; the same bits on every ISA
// path. Spell the types to pass vectors: subq::convert<float, subq::bf16>(&ctx, x, y).
template <class S, class D>
void convert(context* ctx, std::span<const S> src, std::span<D> dst) {
  static_assert(!std::is_const_v<D>, "subq::convert: dst must be writable");
  if (src.size() != dst.size())
    invalid("subq::convert: src has " + std::to_string(src.size()) + " elements, dst " + std::to_string(dst.size()));
  check(subq_convert(raw(ctx), static_cast<int64_t>(src.size()), dtype_of<S>(), src.data(), dtype_of<D>(),
                     dst.data()));
}

// ---- GEMM -------------------------------------------------------------------------------------
// c = alpha * a * b + beta * c; a, b float or bf16; c float. ctx == nullptr runs on the calling thread.
template <class TA, class TB>
void gemm(context* ctx, const matrix<const TA>& a, const matrix<const TB>& b, const matrix<float>& c,
          float alpha = 1.0f, float beta = 0.0f) {
  if (a.cols != b.rows || a.rows != c.rows || b.cols != c.cols)
    invalid("subq::gemm: shapes do not chain: a " + std::to_string(a.rows) + "x" + std::to_string(a.cols) + ", b " +
            std::to_string(b.rows) + "x" + std::to_string(b.cols) + ", c " + std::to_string(c.rows) + "x" +
            std::to_string(c.cols));
  a.check_fits("subq::gemm: a");
  b.check_fits("subq::gemm: b");
  c.check_fits("subq::gemm: c");
  subq_gemm_args p;
  subq_gemm_args_default(&p, sizeof p);
  p.m = a.rows, p.n = b.cols, p.k = a.cols;
  p.alpha = alpha, p.beta = beta;
  p.a_dtype = dtype_of<TA>(), p.b_dtype = dtype_of<TB>();
  p.a = a.data.data(), p.a_rs = a.rs, p.a_cs = a.cs;
  p.b = b.data.data(), p.b_rs = b.rs, p.b_cs = b.cs;
  p.c = c.data.data(), p.c_rs = c.rs, p.c_cs = c.cs;
  check(subq_gemm(raw(ctx), &p));
}

// The row-major BLAS form (subq_sgemm, as cblas_sgemm(CblasRowMajor, ...)): c (m x n, ldc) =
// alpha * op(a) * op(b) + beta * c, a m x k (k x m when trans_a) with lda, b k x n (n x k when
// trans_b) with ldb; 0 leading dimensions are refused by the library. Spans are checked first.
inline void sgemm(context* ctx, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  std::span<const float> a, int64_t lda, std::span<const float> b, int64_t ldb, float beta,
                  std::span<float> c, int64_t ldc) {
  if (m < 0 || n < 0 || k < 0) invalid("subq::sgemm: negative size");
  detail::fits("subq::sgemm: a", detail::extent("subq::sgemm: a", {{trans_a ? k : m, lda}, {trans_a ? m : k, 1}}),
               a.size());
  detail::fits("subq::sgemm: b", detail::extent("subq::sgemm: b", {{trans_b ? n : k, ldb}, {trans_b ? k : n, 1}}),
               b.size());
  detail::fits("subq::sgemm: c", detail::extent("subq::sgemm: c", {{m, ldc}, {n, 1}}), c.size());
  check(subq_sgemm(raw(ctx), trans_a, trans_b, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc));
}

// A k x n right-hand operand packed once for ctx's micro-kernels (weights).
class packed_b {
 public:
  template <class T>
  packed_b(context* ctx, const matrix<const T>& b) : k_(b.rows), n_(b.cols) {
    b.check_fits("subq::packed_b: b");
    subq_gemm_packed_b* h = nullptr;
    check(subq_gemm_pack_b(raw(ctx), b.rows, b.cols, dtype_of<T>(), b.data.data(), b.rs, b.cs, &h));
    h_ = h;
  }
  packed_b(const packed_b&) = delete;
  packed_b& operator=(const packed_b&) = delete;
  packed_b(packed_b&& o) noexcept : h_(std::exchange(o.h_, nullptr)), k_(o.k_), n_(o.n_) {}
  packed_b& operator=(packed_b&& o) noexcept {
    if (this != &o) {
      subq_gemm_packed_b_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
      k_ = o.k_, n_ = o.n_;
    }
    return *this;
  }
  ~packed_b() { subq_gemm_packed_b_destroy(h_); }

  int64_t k() const noexcept { return k_; }
  int64_t n() const noexcept { return n_; }
  std::size_t bytes() const { return subq_gemm_packed_b_size(live()); }
  const subq_gemm_packed_b* get() const noexcept { return h_; }

  // c = alpha * a * B + beta * c.
  template <class TA>
  void multiply(context* ctx, const matrix<const TA>& a, const matrix<float>& c, float alpha = 1.0f,
                float beta = 0.0f) const {
    if (a.cols != k_ || c.rows != a.rows || c.cols != n_) invalid("subq::packed_b::multiply: shapes do not chain");
    a.check_fits("subq::packed_b::multiply: a");
    c.check_fits("subq::packed_b::multiply: c");
    subq_gemm_args p;
    subq_gemm_args_default(&p, sizeof p);
    p.m = a.rows, p.n = n_, p.k = k_;
    p.alpha = alpha, p.beta = beta;
    p.a_dtype = dtype_of<TA>();
    p.a = a.data.data(), p.a_rs = a.rs, p.a_cs = a.cs;
    p.c = c.data.data(), p.c_rs = c.rs, p.c_cs = c.cs;
    check(subq_gemm_packed(raw(ctx), &p, live()));
  }

 private:
  const subq_gemm_packed_b* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::packed_b: used after move");
    return h_;
  }
  subq_gemm_packed_b* h_ = nullptr;
  int64_t k_ = 0, n_ = 0;
};

// int8 weights W (n outputs x k inputs, PyTorch's layout) for memory-bound products
// (subq_q8_*); immutable, shareable between threads.
class int8_weights {
 public:
  // Quantizes W (n x k, packed rows; float, bf16 or f16) per row and 32-column block.
  template <class T>
  int8_weights(context* ctx, int64_t n, int64_t k, std::span<const T> w) : n_(n), k_(k) {
    detail::rows_fit("subq::int8_weights: w", w.size(), n, k, 0);
    subq_q8_weights* h = nullptr;
    check(subq_q8_weights_create(raw(ctx), n, k, dtype_of<T>(), w.data(), k, &h));
    h_ = h;
  }
  int8_weights(const int8_weights&) = delete;
  int8_weights& operator=(const int8_weights&) = delete;
  int8_weights(int8_weights&& o) noexcept : h_(std::exchange(o.h_, nullptr)), n_(o.n_), k_(o.k_) {}
  int8_weights& operator=(int8_weights&& o) noexcept {
    if (this != &o) {
      subq_q8_weights_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
      n_ = o.n_, k_ = o.k_;
    }
    return *this;
  }
  ~int8_weights() { subq_q8_weights_destroy(h_); }

  int64_t rows() const noexcept { return n_; }
  int64_t cols() const noexcept { return k_; }
  std::size_t bytes() const { return subq_q8_weights_size(live()); }
  const subq_q8_weights* get() const noexcept { return h_; }
  // The weights the products use (c * s), rows [row0, row0 + count) into dst (count x k, packed).
  void dequantize(int64_t row0, int64_t count, std::span<float> dst) const {
    detail::rows_fit("subq::int8_weights::dequantize: dst", dst.size(), count, k_, 0);
    check(subq_q8_weights_dequantize(live(), row0, count, dst.data(), k_));
  }
  // y (m x n, packed) = x (m x k, packed) W^T.
  void apply(context* ctx, int64_t m, std::span<const float> x, std::span<float> y) const {
    detail::rows_fit("subq::int8_weights::apply: x", x.size(), m, k_, 0);
    detail::rows_fit("subq::int8_weights::apply: y", y.size(), m, n_, 0);
    check(subq_q8_linear(raw(ctx), m, x.data(), k_, live(), y.data(), n_));
  }

 private:
  const subq_q8_weights* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::int8_weights: used after move");
    return h_;
  }
  subq_q8_weights* h_ = nullptr;
  int64_t n_ = 0, k_ = 0;
};

// ---- fused attention --------------------------------------------------------------------------
// Dense BSHD tensors: q [b][sq][hq][dk], k [b][sk][hkv][dk], v [b][sk][hkv][dv], out [b][sq][hq][dv].
struct attention_shape {
  int64_t batch = 1, sq = 0, sk = 0, hq = 1, hkv = 1, dk = 0, dv = 0;
};
struct attention_options {
  bool causal = false;
  int64_t window_left = -1, window_right = -1;  // flash-attn window_size; -1 = unbounded
  float softcap = 0.0f, scale = 0.0f;           // 0 = off / 1/sqrt(dk)
};

// out = softmax(scale * Q K^T (+ soft-cap) + mask) V over dense BSHD tensors. Q, K/V (one type
// for both) and out are each float, bf16 or f16 (accumulation is f32; a 16-bit out is rounded
// once). `mask`, when not empty, is an additive f32 bias [batch][hq][sq][sk] (-inf excludes a
// key); a head-shared mask is [batch][sq][sk] with `mask_per_head = false`. Throws subq::error
// for short spans (before any C call) and for everything the library refuses.
template <class TQ, class TKV, class TO>
inline void attention(context* ctx, const attention_shape& s, std::span<const TQ> q, std::span<const TKV> k,
                      std::span<const TKV> v, std::span<TO> out, const attention_options& o = {},
                      std::span<const float> mask = {}, bool mask_per_head = true) {
  auto need = [](const char* what, std::initializer_list<int64_t> dims) {
    int64_t n = 1;
    for (int64_t d : dims) {
      if (d < 0) invalid(std::string("subq::attention: ") + what + ": negative dimension");
      if (__builtin_mul_overflow(n, d, &n)) invalid(std::string("subq::attention: ") + what + ": size overflows");
    }
    return static_cast<std::size_t>(n);
  };
  detail::fits("subq::attention: q", need("q", {s.batch, s.sq, s.hq, s.dk}), q.size());
  detail::fits("subq::attention: k", need("k", {s.batch, s.sk, s.hkv, s.dk}), k.size());
  detail::fits("subq::attention: v", need("v", {s.batch, s.sk, s.hkv, s.dv}), v.size());
  detail::fits("subq::attention: out", need("out", {s.batch, s.sq, s.hq, s.dv}), out.size());
  if (!mask.empty())
    detail::fits("subq::attention: mask", need("mask", {s.batch, mask_per_head ? s.hq : 1, s.sq, s.sk}), mask.size());
  subq_fattn_args p;
  subq_fattn_args_default(&p, sizeof p);
  p.batch = s.batch, p.hq = s.hq, p.hkv = s.hkv, p.sq = s.sq, p.sk = s.sk, p.dk = s.dk, p.dv = s.dv;
  subq_fattn_args_dense_bshd(&p);
  // The C struct's pointers are typed float; q_dtype / kv_dtype / out_dtype say what they hold.
  p.q = reinterpret_cast<const float*>(q.data()), p.k = reinterpret_cast<const float*>(k.data());
  p.v = reinterpret_cast<const float*>(v.data()), p.out = reinterpret_cast<float*>(out.data());
  p.q_dtype = dtype_of<TQ>(), p.kv_dtype = dtype_of<TKV>(), p.out_dtype = dtype_of<TO>();
  p.window_left = o.window_left;
  p.window_right = o.causal && (o.window_right < 0 || o.window_right > 0) ? 0 : o.window_right;
  p.softcap = o.softcap, p.scale = o.scale;
  if (!mask.empty()) {
    p.mask = mask.data();
    p.mask_ss = s.sk;
    p.mask_hs = mask_per_head ? s.sq * s.sk : 0;
    p.mask_bs = (mask_per_head ? s.hq : 1) * s.sq * s.sk;
  }
  check(subq_fattn(raw(ctx), &p));
}
// The all-f32 form (spans convert implicitly from vectors and arrays).
inline void attention(context* ctx, const attention_shape& s, std::span<const float> q, std::span<const float> k,
                      std::span<const float> v, std::span<float> out, const attention_options& o = {},
                      std::span<const float> mask = {}, bool mask_per_head = true) {
  attention<float, float, float>(ctx, s, q, k, v, out, o, mask, mask_per_head);
}

// ---- Mamba ----------------------------------------------------------------------------------------
// The C args structs are the full interface (strides, optional tensors); these
// give defaults-initialised structs and throwing calls.
template <class Args>
Args make_args();
template <>
inline subq_conv1d_args make_args<subq_conv1d_args>() {
  subq_conv1d_args a;
  subq_conv1d_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_ssm1_args make_args<subq_ssm1_args>() {
  subq_ssm1_args a;
  subq_ssm1_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_fattn_args make_args<subq_fattn_args>() {
  subq_fattn_args a;
  subq_fattn_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_gemm_args make_args<subq_gemm_args>() {
  subq_gemm_args a;
  subq_gemm_args_default(&a, sizeof a);
  return a;
}

template <>
inline subq_rmsnorm_args make_args<subq_rmsnorm_args>() {
  subq_rmsnorm_args a;
  subq_rmsnorm_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_rope_params make_args<subq_rope_params>() {
  subq_rope_params a;
  subq_rope_params_default(&a, sizeof a);
  return a;
}
template <>
inline subq_rope_args make_args<subq_rope_args>() {
  subq_rope_args a;
  subq_rope_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_ssm2_args make_args<subq_ssm2_args>() {
  subq_ssm2_args a;
  subq_ssm2_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_gated_rmsnorm_args make_args<subq_gated_rmsnorm_args>() {
  subq_gated_rmsnorm_args a;
  subq_gated_rmsnorm_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_kv_cache_args make_args<subq_kv_cache_args>() {
  subq_kv_cache_args a;
  subq_kv_cache_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_linattn_args make_args<subq_linattn_args>() {
  subq_linattn_args a;
  subq_linattn_args_default(&a, sizeof a);
  return a;
}

inline void conv1d(context* ctx, const subq_conv1d_args& a) { check(subq_conv1d_f32(raw(ctx), &a)); }
inline void conv1d_update(context* ctx, const subq_conv1d_args& a) { check(subq_conv1d_update_f32(raw(ctx), &a)); }
inline void ssm1_scan(context* ctx, const subq_ssm1_args& a) { check(subq_ssm1_scan_f32(raw(ctx), &a)); }
inline void ssm1_step(context* ctx, const subq_ssm1_args& a) { check(subq_ssm1_step_f32(raw(ctx), &a)); }
inline void attention(context* ctx, const subq_fattn_args& a) { check(subq_fattn(raw(ctx), &a)); }

// Floats of one sequence's Mamba-1 state in SubQ's layout.
inline int64_t ssm1_state_floats(int64_t channels, int64_t d_state) {
  const int64_t n = subq_ssm1_state_floats(channels, d_state);
  if (n <= 0) invalid("subq::ssm1_state_floats: channels and d_state must be >= 1 (and not overflow)");
  return n;
}

// Mamba-1's A (or A_log when a_is_log), (channels, d_state) row-major, packed once for
// SUBQ_SSM1_A_PACKED (subq_ssm1_pack_a): set args.a to the result's data and add the flag.
inline std::vector<float> ssm1_pack_a(int64_t channels, int64_t d_state, std::span<const float> a,
                                      bool a_is_log = false) {
  const int64_t sf = ssm1_state_floats(channels, d_state);
  detail::fits("subq::ssm1_pack_a: a", detail::extent("a", {{channels, d_state}, {d_state, 1}}), a.size());
  std::vector<float> out(static_cast<std::size_t>(sf));
  check(subq_ssm1_pack_a(channels, d_state, a.data(), a_is_log, out.data()));
  return out;
}

// Mamba-1 states between the HF / mamba_ssm layout (batch, channels, d_state), contiguous, and
// SubQ's (batch blocks of ssm1_state_floats, padding lanes zero). Sizes are checked first.
inline void ssm1_state_import(int64_t batch, int64_t channels, int64_t d_state, std::span<const float> hf,
                              std::span<float> state) {
  const std::size_t nb = detail::count("subq::ssm1_state_import: batch", {batch});
  if (nb == 0) return;
  detail::fits("subq::ssm1_state_import: hf", detail::count("hf", {batch, channels, d_state}), hf.size());
  detail::fits("subq::ssm1_state_import: state",
               detail::count("state", {batch, ssm1_state_floats(channels, d_state)}), state.size());
  check(subq_ssm1_state_import(batch, channels, d_state, hf.data(), state.data()));
}
inline void ssm1_state_export(int64_t batch, int64_t channels, int64_t d_state, std::span<const float> state,
                              std::span<float> hf) {
  const std::size_t nb = detail::count("subq::ssm1_state_export: batch", {batch});
  if (nb == 0) return;
  detail::fits("subq::ssm1_state_export: state",
               detail::count("state", {batch, ssm1_state_floats(channels, d_state)}), state.size());
  detail::fits("subq::ssm1_state_export: hf", detail::count("hf", {batch, channels, d_state}), hf.size());
  check(subq_ssm1_state_export(batch, channels, d_state, state.data(), hf.data()));
}

// Floats of one sequence's Mamba-2 state (n_heads * d_state * head_dim).
inline int64_t ssm2_state_floats(int64_t n_heads, int64_t head_dim, int64_t d_state) {
  const int64_t n = subq_ssm2_state_floats(n_heads, head_dim, d_state);
  if (n <= 0) invalid("subq::ssm2_state_floats: n_heads, head_dim and d_state must be >= 1 (and not overflow)");
  return n;
}
// Mamba-2 states between the HF / mamba_ssm layout (batch, n_heads, head_dim, d_state) and
// SubQ's (batch, n_heads, d_state, head_dim), both contiguous. Sizes are checked first.
inline void ssm2_state_import(int64_t batch, int64_t n_heads, int64_t head_dim, int64_t d_state,
                              std::span<const float> hf, std::span<float> state) {
  if (detail::count("subq::ssm2_state_import: batch", {batch}) == 0) return;
  const std::size_t n = detail::count("subq::ssm2_state_import", {batch, ssm2_state_floats(n_heads, head_dim, d_state)});
  detail::fits("subq::ssm2_state_import: hf", n, hf.size());
  detail::fits("subq::ssm2_state_import: state", n, state.size());
  check(subq_ssm2_state_import(batch, n_heads, head_dim, d_state, hf.data(), state.data()));
}
inline void ssm2_state_export(int64_t batch, int64_t n_heads, int64_t head_dim, int64_t d_state,
                              std::span<const float> state, std::span<float> hf) {
  if (detail::count("subq::ssm2_state_export: batch", {batch}) == 0) return;
  const std::size_t n = detail::count("subq::ssm2_state_export", {batch, ssm2_state_floats(n_heads, head_dim, d_state)});
  detail::fits("subq::ssm2_state_export: state", n, state.size());
  detail::fits("subq::ssm2_state_export: hf", n, hf.size());
  check(subq_ssm2_state_export(batch, n_heads, head_dim, d_state, state.data(), hf.data()));
}
inline void ssm2_scan(context* ctx, const subq_ssm2_args& a) { check(subq_ssm2_scan_f32(raw(ctx), &a)); }
inline void ssm2_step(context* ctx, const subq_ssm2_args& a) { check(subq_ssm2_step_f32(raw(ctx), &a)); }
inline void gated_rmsnorm(context* ctx, const subq_gated_rmsnorm_args& a) {
  check(subq_gated_rmsnorm_f32(raw(ctx), &a));
}

// ---- linear attention (subq_linattn.h) -----------------------------------------------------------
// make_args<subq_linattn_args>() gives the defaults (Taylor map, DENOM, causal, eps 1e-6); set the
// shape fields, the pointers (strides all 0 = dense [B][T][H][*]) and call prefill / decode.
// Writes the strides of dense [B][T][H][*] q, k, v, out and log_gate from a's shape fields
// (subq_linattn_args_dense); all-zero strides mean the same, this makes them explicit.
inline void linattn_args_dense(subq_linattn_args& a) noexcept { subq_linattn_args_dense(&a); }
// D of feature_map for dim_qk (Taylor: 1 + dk + dk(dk+1)/2).
inline int64_t linattn_feature_dim(int32_t feature_map, int64_t dim_qk) {
  const int64_t n = subq_linattn_feature_dim(feature_map, dim_qk);
  if (n <= 0) invalid("subq::linattn_feature_dim: unknown feature_map or dim_qk out of its range");
  return n;
}
// Floats of one sequence's state for a's shape fields (H * D * dv, + H * D with DENOM).
inline int64_t linattn_state_floats(const subq_linattn_args& a) {
  const int64_t n = subq_linattn_state_floats(&a);
  if (n <= 0)
    invalid("subq::linattn_state_floats: n_heads, dim_qk, dim_v or feature_map invalid (or the size overflows)");
  return n;
}
inline void linattn_prefill(context* ctx, const subq_linattn_args& a) {
  check(subq_linattn_prefill_f32(raw(ctx), &a));
}
inline void linattn_decode(context* ctx, const subq_linattn_args& a) { check(subq_linattn_decode_f32(raw(ctx), &a)); }
// phi of `rows` dense rows of dim_qk floats into rows x D (out.size() checked first).
inline void linattn_feature_map(int32_t feature_map, int64_t dim_qk, float scale, bool is_query, int64_t rows,
                                std::span<const float> x, std::span<float> out) {
  const int64_t d = linattn_feature_dim(feature_map, dim_qk);
  detail::fits("subq::linattn_feature_map: x", detail::extent("x", {{rows, dim_qk}, {dim_qk, 1}}), x.size());
  detail::fits("subq::linattn_feature_map: out", detail::extent("out", {{rows, d}, {d, 1}}), out.size());
  if (rows == 0) return;
  check(subq_linattn_feature_map_f32(feature_map, dim_qk, scale, is_query, rows, x.data(), dim_qk, out.data(), d));
}

// ---- nn: RMSNorm, elementwise, embedding, RoPE ------------------------------------------------
inline void rmsnorm(context* ctx, const subq_rmsnorm_args& a) { check(subq_rmsnorm(raw(ctx), &a)); }

// Row-major (rows, cols) tensors with row stride ld (0 = cols); out may be an input (same span and ld).
inline void swiglu(context* ctx, int64_t rows, int64_t cols, std::span<const float> gate, int64_t gate_ld,
                   std::span<const float> up, int64_t up_ld, std::span<float> out, int64_t out_ld) {
  detail::rows_fit("subq::swiglu: gate", gate.size(), rows, cols, gate_ld);
  detail::rows_fit("subq::swiglu: up", up.size(), rows, cols, up_ld);
  detail::rows_fit("subq::swiglu: out", out.size(), rows, cols, out_ld);
  check(subq_swiglu(raw(ctx), rows, cols, gate.data(), gate_ld, up.data(), up_ld, out.data(), out_ld));
}
inline void silu(context* ctx, int64_t rows, int64_t cols, std::span<const float> x, int64_t x_ld,
                 std::span<float> y, int64_t y_ld) {
  detail::rows_fit("subq::silu: x", x.size(), rows, cols, x_ld);
  detail::rows_fit("subq::silu: y", y.size(), rows, cols, y_ld);
  check(subq_silu(raw(ctx), rows, cols, x.data(), x_ld, y.data(), y_ld));
}
inline void add(context* ctx, int64_t rows, int64_t cols, std::span<const float> a, int64_t a_ld,
                std::span<const float> b, int64_t b_ld, std::span<float> out, int64_t out_ld) {
  detail::rows_fit("subq::add: a", a.size(), rows, cols, a_ld);
  detail::rows_fit("subq::add: b", b.size(), rows, cols, b_ld);
  detail::rows_fit("subq::add: out", out.size(), rows, cols, out_ld);
  check(subq_add(raw(ctx), rows, cols, a.data(), a_ld, b.data(), b_ld, out.data(), out_ld));
}

// out[t] = table[ids[t]] widened to f32; table (vocab, dim) packed, float or bf16; out (ids.size(), dim) packed.
template <class T>
void embedding(context* ctx, std::span<const T> table, int64_t vocab, int64_t dim, std::span<const int64_t> ids,
               std::span<float> out) {
  detail::rows_fit("subq::embedding: table", table.size(), vocab, dim, 0);
  detail::rows_fit("subq::embedding: out", out.size(), static_cast<int64_t>(ids.size()), dim, 0);
  check(subq_embedding(raw(ctx), dtype_of<T>(), table.data(), vocab, dim, 0, ids.data(),
                       static_cast<int64_t>(ids.size()), out.data(), 0));
}

// HF's inv_freq (rot_dim / 2 floats) of a schedule (subq_rope_inv_freq), any subq_rope_type
// (DYNAMIC: set dynamic_seq_len; LONGROPE: longrope_factors, rot_dim / 2 floats read during the
// call); throws for invalid params.
inline std::vector<float> rope_inv_freq(const subq_rope_params& p) {
  // Room for the largest valid rot_dim at most: the library validates p before writing.
  std::vector<float> out(static_cast<std::size_t>(std::clamp<int64_t>(p.rot_dim / 2, 1, 32768)));
  check(subq_rope_inv_freq(&p, out.data()));
  out.resize(static_cast<std::size_t>(p.rot_dim / 2));
  return out;
}
// HF's inferred YaRN attention_factor (subq_rope_yarn_attention_factor; 0 = "not given") for
// subq_rope_params::attention_scaling; throws when factor is not finite and > 0 or an mscale
// is not finite.
inline double rope_yarn_attention_factor(double factor, double mscale = 0.0, double mscale_all_dim = 0.0) {
  const double v = subq_rope_yarn_attention_factor(factor, mscale, mscale_all_dim);
  if (std::isnan(v))
    invalid("subq::rope_yarn_attention_factor: factor must be finite and > 0 and the mscales finite");
  return v;
}

// An immutable RoPE schedule with cached cos/sin (subq_rope_table). p.longrope_factors is read
// during construction only.
class rope_table {
 public:
  explicit rope_table(const subq_rope_params& p, context* ctx = nullptr) {
    subq_rope_table* t = nullptr;
    check(subq_rope_table_create(raw(ctx), &p, &t));
    h_ = t;
  }
  rope_table(const rope_table&) = delete;
  rope_table& operator=(const rope_table&) = delete;
  rope_table(rope_table&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  rope_table& operator=(rope_table&& o) noexcept {
    if (this != &o) {
      subq_rope_table_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~rope_table() { subq_rope_table_destroy(h_); }

  const subq_rope_table* get() const noexcept { return h_; }
  int64_t rot_dim() const { return subq_rope_table_rot_dim(live()); }
  // cos and sin (rot_dim / 2 each) at one position.
  void cos_sin(int64_t position, std::span<float> cos_out, std::span<float> sin_out) const {
    const auto half = static_cast<std::size_t>(rot_dim() / 2);
    detail::fits("subq::rope_table::cos_sin: cos_out", half, cos_out.size());
    detail::fits("subq::rope_table::cos_sin: sin_out", half, sin_out.size());
    check(subq_rope_table_cos_sin(h_, position, cos_out.data(), sin_out.data()));
  }
  // Rotates q / k in place: a's table is set to this table (the rest as given).
  void apply(context* ctx, subq_rope_args a) const {
    a.table = live();
    check(subq_rope(raw(ctx), &a));
  }

 private:
  const subq_rope_table* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::rope_table: used after move");
    return h_;
  }
  subq_rope_table* h_ = nullptr;
};

// ---- KV cache ---------------------------------------------------------------------------------
// One layer's K/V (subq_kv_cache); K/V given as [nb][n_new][hkv][d] views by element strides.
class kv_cache {
 public:
  explicit kv_cache(const subq_kv_cache_args& a) {
    subq_kv_cache* c = nullptr;
    check(subq_kv_cache_create(&a, &c));
    h_ = c;
  }
  kv_cache(const kv_cache&) = delete;
  kv_cache& operator=(const kv_cache&) = delete;
  kv_cache(kv_cache&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  kv_cache& operator=(kv_cache&& o) noexcept {
    if (this != &o) {
      subq_kv_cache_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~kv_cache() { subq_kv_cache_destroy(h_); }

  subq_kv_cache* get() const noexcept { return h_; }
  // dtype, mode, shape and the storage pointers / strides (valid while *this lives).
  subq_kv_cache_info info() const {
    subq_kv_cache_info i{};
    i.struct_size = sizeof i;
    check(subq_kv_cache_get_info(live(), &i));
    return i;
  }
  // Appends n_new dense [nb][n_new][hkv][dk] / [..][dv] tokens to sequences b0 .. b0 + nb - 1.
  void append(context* ctx, int64_t b0, int64_t nb, int64_t n_new, std::span<const float> k,
              std::span<const float> v) {
    const subq_kv_cache_info info = this->info();
    detail::fits("subq::kv_cache::append: k", detail::extent("k", {{nb, n_new * info.hkv * info.dk},
                                                                  {n_new * info.hkv * info.dk, 1}}), k.size());
    detail::fits("subq::kv_cache::append: v", detail::extent("v", {{nb, n_new * info.hkv * info.dv},
                                                                  {n_new * info.hkv * info.dv, 1}}), v.size());
    check(subq_kv_cache_append(raw(ctx), h_, b0, nb, n_new, k.data(), n_new * info.hkv * info.dk,
                               info.hkv * info.dk, info.dk, v.data(), n_new * info.hkv * info.dv,
                               info.hkv * info.dv, info.dv));
  }
  // Positions [first, end) held by sequence b.
  std::pair<int64_t, int64_t> positions(int64_t b) const {
    int64_t first = 0, end = 0;
    check(subq_kv_cache_positions(live(), b, &first, &end));
    return {first, end};
  }
  void truncate(int64_t b, int64_t end) { check(subq_kv_cache_truncate(live(), b, end)); }
  void reset() { subq_kv_cache_reset(live()); }
  // Attention of the newest a.sq queries per sequence over the cache (subq_fattn_kv).
  void attend(context* ctx, const subq_fattn_args& a) const { check(subq_fattn_kv(raw(ctx), &a, live())); }

 private:
  subq_kv_cache* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::kv_cache: used after move");
    return h_;
  }
  subq_kv_cache* h_ = nullptr;
};

// ---- safetensors ------------------------------------------------------------------------------
// A read-only safetensors file or model directory; tensor data pointers live as long as the owner.
class safetensors {
 public:
  struct dir_tag {};
  explicit safetensors(const std::string& file, uint32_t flags = 0) {
    subq_safetensors* h = nullptr;
    check(subq_safetensors_open(file.c_str(), flags, &h));
    h_ = h;
  }
  safetensors(dir_tag, const std::string& dir, uint32_t flags = 0) {
    subq_safetensors* h = nullptr;
    check(subq_safetensors_open_dir(dir.c_str(), flags, &h));
    h_ = h;
  }
  // A file image in memory (subq_safetensors_open_memory): the bytes are copied, so `image`
  // may change or go once this returns.
  static safetensors from_memory(std::span<const std::byte> image) {
    subq_safetensors* h = nullptr;
    check(subq_safetensors_open_memory(image.data(), image.size(), 0, &h));
    return safetensors(h);
  }
  safetensors(const safetensors&) = delete;
  safetensors& operator=(const safetensors&) = delete;
  safetensors(safetensors&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  safetensors& operator=(safetensors&& o) noexcept {
    if (this != &o) {
      subq_safetensors_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~safetensors() { subq_safetensors_destroy(h_); }

  const subq_safetensors* get() const noexcept { return h_; }
  int64_t size() const { return subq_safetensors_count(live()); }
  const subq_safetensors_tensor& at(int64_t index) const {
    const subq_safetensors_tensor* t = nullptr;
    check(subq_safetensors_tensor_at(live(), index, &t));
    return *t;
  }
  const subq_safetensors_tensor& operator[](const std::string& name) const {
    const subq_safetensors_tensor* t = nullptr;
    check(subq_safetensors_get(live(), name.c_str(), &t));
    return *t;
  }
  bool contains(const std::string& name) const { return subq_safetensors_find(live(), name.c_str()) >= 0; }
  // The tensor's elements as a span of T; throws when its dtype is not the one T stands for.
  template <class T>
  std::span<const T> data(const std::string& name, subq_safetensors_dtype want) const {
    const auto& t = (*this)[name];
    if (t.dtype != want || subq_safetensors_dtype_bits(want) != static_cast<int32_t>(8 * sizeof(T)))
      invalid("subq::safetensors::data: tensor '" + name + "' is " + subq_safetensors_dtype_name(t.dtype) +
              ", not " + subq_safetensors_dtype_name(want));
    return {static_cast<const T*>(t.data), static_cast<std::size_t>(t.n_elements)};
  }
  // Files behind the handle (1, or a sharded directory's shards) and their paths as opened.
  int32_t file_count() const { return subq_safetensors_file_count(live()); }
  std::string file_path(int32_t file) const {
    const char* p = subq_safetensors_file_path(live(), file);
    if (!p) invalid("subq::safetensors::file_path: file " + std::to_string(file) + " is out of range");
    return p;
  }
  // Every (key, value) of file `file`'s __metadata__, sorted by key (empty when absent).
  std::vector<std::pair<std::string, std::string>> metadata_entries(int32_t file = 0) const {
    std::vector<std::pair<std::string, std::string>> out;
    const int64_t n = subq_safetensors_metadata_count(live(), file);
    for (int64_t i = 0; i < n; ++i) {
      const char* k = nullptr;
      const char* v = nullptr;
      check(subq_safetensors_metadata_at(h_, file, i, &k, &v));
      out.emplace_back(k, v);
    }
    return out;
  }
  // __metadata__ value of `key` in file `file`, or nullptr.
  const char* metadata(const std::string& key, int32_t file = 0) const {
    return subq_safetensors_metadata_find(live(), file, key.c_str());
  }

 private:
  const subq_safetensors* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::safetensors: used after move");
    return h_;
  }
  explicit safetensors(subq_safetensors* h) noexcept : h_(h) {}
  subq_safetensors* h_ = nullptr;
};

// ---- Monarch / block-diagonal (subq_monarch.h) ------------------------------------------------
template <>
inline subq_monarch_desc make_args<subq_monarch_desc>() {
  subq_monarch_desc d;
  subq_monarch_desc_default(&d, sizeof d);
  return d;
}
template <>
inline subq_monarch_args make_args<subq_monarch_args>() {
  subq_monarch_args a;
  subq_monarch_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_monarch_backward_args make_args<subq_monarch_backward_args>() {
  subq_monarch_backward_args a;
  subq_monarch_backward_args_default(&a, sizeof a);
  return a;
}

// Monarch descriptor: W1 (k, q, p), W2 (l, s, r), f32 weights (set .dtype for bf16).
inline subq_monarch_desc monarch_desc(int64_t k, int64_t q, int64_t p, int64_t l, int64_t s, int64_t r) {
  subq_monarch_desc d = make_args<subq_monarch_desc>();
  d.k = k, d.q = q, d.p = p, d.l = l, d.s = s, d.r = r;
  return d;
}
// Block-diagonal layer in -> out with nblocks blocks (throws when nblocks does not divide both).
inline subq_monarch_desc blockdiag_desc(int64_t in, int64_t out, int64_t nblocks) {
  subq_monarch_desc d = make_args<subq_monarch_desc>();
  check(subq_blockdiag_desc(in, out, nblocks, &d));
  return d;
}
// fly MonarchLinear's shape for a layer in -> out with nblocks blocks (subq_monarch_linear_shapes):
// k = l = nblocks, block sizes ceil(size / nblocks); callers zero-pad x to in_ext and read the
// first `out` outputs. Throws for sizes or nblocks <= 0.
struct monarch_linear_shape {
  subq_monarch_desc desc;
  int64_t in_ext, out_ext;
};
inline monarch_linear_shape monarch_linear_shapes(int64_t in, int64_t out, int64_t nblocks) {
  monarch_linear_shape r{make_args<subq_monarch_desc>(), 0, 0};
  check(subq_monarch_linear_shapes(in, out, nblocks, &r.desc, &r.in_ext, &r.out_ext));
  return r;
}
// (n, m) = (input width, output width) of a valid descriptor; throws otherwise.
inline std::pair<int64_t, int64_t> monarch_dims(const subq_monarch_desc& d) {
  int64_t n = 0, m = 0;
  check(subq_monarch_desc_check(&d, &n, &m));
  return {n, m};
}

namespace detail {
inline std::pair<std::size_t, std::size_t> monarch_counts(const subq_monarch_desc& d) {
  (void)monarch_dims(d);  // validated: the products below cannot overflow
  const auto c1 = static_cast<std::size_t>(d.k * d.q * d.p);
  const auto c2 = d.kind == SUBQ_MONARCH_KIND_BLOCKDIAG ? std::size_t{0} : static_cast<std::size_t>(d.l * d.s * d.r);
  return {c1, c2};
}
}  // namespace detail

// Packed Monarch (or block-diagonal) weights (subq_monarch_weights); T = float or bf16 (desc.dtype is
// set from T). Immutable once packed: share between threads.
class monarch_weights {
 public:
  template <class T>
  monarch_weights(context* ctx, subq_monarch_desc desc, std::span<const T> w1, std::span<const T> w2 = {}) {
    desc.dtype = dtype_of<T>();
    const auto [c1, c2] = detail::monarch_counts(desc);
    if (w1.size() != c1) invalid("subq::monarch_weights: w1 has " + std::to_string(w1.size()) + " elements, needs " +
                                 std::to_string(c1));
    if (w2.size() != c2) invalid("subq::monarch_weights: w2 has " + std::to_string(w2.size()) + " elements, needs " +
                                 std::to_string(c2));
    std::tie(n_, m_) = monarch_dims(desc);
    subq_monarch_weights* h = nullptr;
    check(subq_monarch_weights_create(raw(ctx), &desc, w1.data(), c2 ? w2.data() : nullptr, &h));
    h_ = h;
  }
  monarch_weights(const monarch_weights&) = delete;
  monarch_weights& operator=(const monarch_weights&) = delete;
  monarch_weights(monarch_weights&& o) noexcept : h_(std::exchange(o.h_, nullptr)), n_(o.n_), m_(o.m_) {}
  monarch_weights& operator=(monarch_weights&& o) noexcept {
    if (this != &o) {
      subq_monarch_weights_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
      n_ = o.n_, m_ = o.m_;
    }
    return *this;
  }
  ~monarch_weights() { subq_monarch_weights_destroy(h_); }

  const subq_monarch_weights* get() const noexcept { return h_; }
  int64_t inputs() const noexcept { return n_; }
  int64_t outputs() const noexcept { return m_; }
  std::size_t bytes() const { return subq_monarch_weights_size(live()); }
  const char* ukernel() const { return subq_monarch_weights_ukernel(live()); }
  subq_monarch_desc desc() const {
    subq_monarch_desc d = make_args<subq_monarch_desc>();
    subq_monarch_weights_get_desc(live(), &d);
    return d;
  }
  // y (tokens, m) = M x (tokens, n) (+ bias (m) when not empty), packed rows.
  void forward(context* ctx, int64_t tokens, std::span<const float> x, std::span<float> y,
               std::span<const float> bias = {}) const {
    detail::rows_fit("subq::monarch_weights::forward: x", x.size(), tokens, n_, 0);
    detail::rows_fit("subq::monarch_weights::forward: y", y.size(), tokens, m_, 0);
    if (!bias.empty() && bias.size() != static_cast<std::size_t>(m_))
      invalid("subq::monarch_weights::forward: bias must have m elements");
    subq_monarch_args a = make_args<subq_monarch_args>();
    a.tokens = tokens;
    a.x = x.data(), a.ldx = n_, a.y = y.data(), a.ldy = m_;
    a.bias = bias.empty() ? nullptr : bias.data();
    check(subq_monarch_forward(raw(ctx), live(), &a));
  }
  // Raw call with every field the caller's (strides, optional gradients).
  void forward(context* ctx, const subq_monarch_args& a) const { check(subq_monarch_forward(raw(ctx), live(), &a)); }
  void backward(context* ctx, const subq_monarch_backward_args& a) const {
    check(subq_monarch_backward(raw(ctx), live(), &a));
  }

 private:
  const subq_monarch_weights* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::monarch_weights: used after move");
    return h_;
  }
  subq_monarch_weights* h_ = nullptr;
  int64_t n_ = 0, m_ = 0;
};

// Dense m x n (row-major, packed) of (w1, w2) in fp64 (subq_monarch_to_dense_f64).
inline std::vector<double> monarch_to_dense(const subq_monarch_desc& d, std::span<const double> w1,
                                            std::span<const double> w2 = {}) {
  const auto [c1, c2] = detail::monarch_counts(d);
  const auto [n, m] = monarch_dims(d);
  if (w1.size() != c1 || w2.size() != c2) invalid("subq::monarch_to_dense: w1/w2 sizes do not match the descriptor");
  std::vector<double> out(static_cast<std::size_t>(n * m));
  check(subq_monarch_to_dense_f64(&d, false, w1.data(), c2 ? w2.data() : nullptr, out.data(), n));
  return out;
}
// Projects dense M (m x n, packed) onto d's Monarch factors; returns |M - dense(w1, w2)|_F^2.
inline double monarch_project(const subq_monarch_desc& d, std::span<const double> M, std::span<double> w1,
                              std::span<double> w2 = {}) {
  const auto [c1, c2] = detail::monarch_counts(d);
  const auto [n, m] = monarch_dims(d);
  if (M.size() != static_cast<std::size_t>(n * m)) invalid("subq::monarch_project: M must have m*n elements");
  if (w1.size() != c1 || w2.size() != c2) invalid("subq::monarch_project: w1/w2 sizes do not match the descriptor");
  double resid = 0;
  check(subq_monarch_project_f64(M.data(), m, n, n, &d, false, w1.data(), c2 ? w2.data() : nullptr, &resid));
  return resid;
}

// ---- ternary (subq_ternary.h) -----------------------------------------------------------------
template <>
inline subq_ternary_act_args make_args<subq_ternary_act_args>() {
  subq_ternary_act_args a;
  subq_ternary_act_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_bitlinear_args make_args<subq_bitlinear_args>() {
  subq_bitlinear_args a;
  subq_bitlinear_args_default(&a, sizeof a);
  return a;
}
template <>
inline subq_hgrn_args make_args<subq_hgrn_args>() {
  subq_hgrn_args a;
  subq_hgrn_args_default(&a, sizeof a);
  return a;
}

// Ternary weights W (rows N, cols K) in SQ2 (subq_ternary); immutable, shareable between threads.
class ternary_weights {
 public:
  // absmean quantization of W (n x k, packed rows), float or bf16.
  template <class T>
  static ternary_weights quantize(context* ctx, int64_t n, int64_t k, std::span<const T> w,
                                  subq_ternary_scale scale = SUBQ_TERNARY_SCALE_TENSOR) {
    detail::rows_fit("subq::ternary_weights::quantize: w", w.size(), n, k, 0);
    subq_ternary* h = nullptr;
    check(subq_ternary_quantize(raw(ctx), n, k, dtype_of<T>(), w.data(), k, scale, &h));
    return ternary_weights(h);
  }
  // Codes t (n x k int8 in {-1, 0, 1}) and gamma (1 value: per tensor; n values: per row).
  static ternary_weights from_codes(int64_t n, int64_t k, std::span<const int8_t> t, std::span<const float> gamma) {
    detail::rows_fit("subq::ternary_weights::from_codes: t", t.size(), n, k, 0);
    const bool row = gamma.size() == static_cast<std::size_t>(n) && n != 1;
    if (!row && gamma.size() != 1) invalid("subq::ternary_weights::from_codes: gamma must have 1 or n elements");
    subq_ternary* h = nullptr;
    check(subq_ternary_from_codes(n, k, t.data(), k, row ? SUBQ_TERNARY_SCALE_ROW : SUBQ_TERNARY_SCALE_TENSOR,
                                  gamma.data(), &h));
    return ternary_weights(h);
  }
  // Already-ternarized dense W (n x k, packed rows; every value 0 or +-gamma per tensor / row),
  // float or bf16, kept exactly (subq_ternary_from_ternarized); throws naming a stray value.
  template <class T>
  static ternary_weights from_ternarized(int64_t n, int64_t k, std::span<const T> w,
                                         subq_ternary_scale scale = SUBQ_TERNARY_SCALE_TENSOR) {
    detail::rows_fit("subq::ternary_weights::from_ternarized: w", w.size(), n, k, 0);
    subq_ternary* h = nullptr;
    check(subq_ternary_from_ternarized(n, k, dtype_of<T>(), w.data(), k, scale, &h));
    return ternary_weights(h);
  }
  // HF packed BitNet weight: packed (n/4) x k bytes.
  static ternary_weights from_hf(int64_t n, int64_t k, std::span<const uint8_t> packed, float weight_scale,
                                 subq_ternary_hf_scale rule = SUBQ_TERNARY_HF_DIVIDE) {
    detail::rows_fit("subq::ternary_weights::from_hf: packed", packed.size(), n / 4, k, 0);
    subq_ternary* h = nullptr;
    check(subq_ternary_from_hf(n, k, packed.data(), weight_scale, rule, &h));
    return ternary_weights(h);
  }
  static ternary_weights from_blob(std::span<const std::byte> blob) {
    subq_ternary* h = nullptr;
    static const std::byte empty[1] = {};
    check(subq_ternary_from_blob(blob.empty() ? empty : blob.data(), blob.size(), &h));
    return ternary_weights(h);
  }

  ternary_weights(const ternary_weights&) = delete;
  ternary_weights& operator=(const ternary_weights&) = delete;
  ternary_weights(ternary_weights&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  ternary_weights& operator=(ternary_weights&& o) noexcept {
    if (this != &o) {
      subq_ternary_destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~ternary_weights() { subq_ternary_destroy(h_); }

  const subq_ternary* get() const noexcept { return h_; }
  int64_t rows() const { return subq_ternary_rows(live()); }
  int64_t cols() const { return subq_ternary_cols(live()); }
  subq_ternary_scale scale_mode() const { return subq_ternary_scale_mode(live()); }
  // Moves the weights into memory placed by ctx's NUMA mode (no-op unless ctx->places_weights());
  // results never change; an earlier blob() span is invalidated. Call before sharing *this.
  void place(context* ctx) {
    (void)live();  // throws when moved from
    check(subq_ternary_place(ctx ? ctx->get() : nullptr, h_));
  }
  // The SQ2 blob (valid while *this lives and is not placed again).
  std::span<const std::byte> blob() const {
    std::size_t n = 0;
    const void* p = subq_ternary_blob(live(), &n);
    return {static_cast<const std::byte*>(p), n};
  }
  // Codes (rows x cols, packed) and scales (1 or rows values).
  std::pair<std::vector<int8_t>, std::vector<float>> to_codes() const {
    std::vector<int8_t> t(static_cast<std::size_t>(rows() * cols()));
    std::vector<float> g(scale_mode() == SUBQ_TERNARY_SCALE_ROW ? static_cast<std::size_t>(rows()) : 1);
    check(subq_ternary_to_codes(h_, t.data(), cols(), g.data()));
    return {std::move(t), std::move(g)};
  }
  // d (tokens x N int32, packed) = q (tokens x K int8 in [-127, 127], packed) times t^T, exactly.
  void matmul_i32(context* ctx, int64_t tokens, std::span<const int8_t> q, std::span<int32_t> d) const {
    detail::rows_fit("subq::ternary_weights::matmul_i32: q", q.size(), tokens, cols(), 0);
    detail::rows_fit("subq::ternary_weights::matmul_i32: d", d.size(), tokens, rows(), 0);
    check(subq_ternary_matmul_i32(raw(ctx), h_, tokens, q.data(), cols(), d.data(), rows()));
  }
  // Fused BitLinear with a filled subq_bitlinear_args (make_args<subq_bitlinear_args>()).
  void bitlinear(context* ctx, const subq_bitlinear_args& a) const { check(subq_bitlinear(raw(ctx), live(), &a)); }
  // Convenience: out (tokens x N) = BitLinear(x (tokens x K)) (+ residual when not empty), packed rows.
  void bitlinear(context* ctx, int64_t tokens, std::span<const float> x, std::span<float> out,
                 std::span<const float> residual = {}, bool rmsnorm = false, std::span<const float> norm_weight = {},
                 float eps = 1e-6f) const {
    detail::rows_fit("subq::ternary_weights::bitlinear: x", x.size(), tokens, cols(), 0);
    detail::rows_fit("subq::ternary_weights::bitlinear: out", out.size(), tokens, rows(), 0);
    if (!residual.empty()) detail::rows_fit("subq::ternary_weights::bitlinear: residual", residual.size(), tokens,
                                            rows(), 0);
    if (!norm_weight.empty() && norm_weight.size() != static_cast<std::size_t>(cols()))
      invalid("subq::ternary_weights::bitlinear: norm_weight must have K elements");
    subq_bitlinear_args a = make_args<subq_bitlinear_args>();
    a.tokens = tokens;
    a.flags = rmsnorm ? SUBQ_TERNARY_RMSNORM : 0u;
    a.eps = eps;
    a.x = x.data();
    a.norm_weight = norm_weight.empty() ? nullptr : norm_weight.data();
    a.residual = residual.empty() ? nullptr : residual.data();
    a.out = out.data();
    check(subq_bitlinear(raw(ctx), h_, &a));
  }

 private:
  explicit ternary_weights(subq_ternary* h) noexcept : h_(h) {}
  const subq_ternary* live() const {
    if (!h_) throw error(SUBQ_ERR_INVALID_STATE, "subq::ternary_weights: used after move");
    return h_;
  }
  subq_ternary* h_ = nullptr;
};

inline void ternary_act_quant(context* ctx, const subq_ternary_act_args& a) {
  check(subq_ternary_act_quant(raw(ctx), &a));
}
inline void hgrn(context* ctx, const subq_hgrn_args& a) { check(subq_hgrn_f32(raw(ctx), &a)); }
inline void hgrn_step(context* ctx, const subq_hgrn_args& a) { check(subq_hgrn_step_f32(raw(ctx), &a)); }

}  // namespace subq

#endif  // SUBQ_HPP
