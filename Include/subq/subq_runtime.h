/*
 * subq_runtime.h — topology, execution context (thread pool, NUMA policy,
 * scratch arenas, ISA choice) and the host-executor hook.
 *
 * Thread-safety:
 *  - subq_topology is immutable after creation and may be shared by threads.
 *  - A subq_context runs one kernel call at a time: concurrent calls on the same
 *    context from several threads are serialised by an internal mutex. A kernel
 *    called from inside a task of the same context runs inline on one thread.
 *  - Create contexts from an unpinned thread: with SUBQ_BIND_NONE workers
 *    inherit the creating thread's CPU mask. SubQ never changes the caller's
 *    affinity, memory policy or scheduling class.
 *
 * Determinism: for a fixed build and ISA path, every kernel's output is
 * bitwise identical for any thread count, NUMA mode, bind setting, own pool,
 * host executor or ctx == NULL. Threads decide who computes an item, never
 * what is summed.
 */
#ifndef SUBQ_RUNTIME_H
#define SUBQ_RUNTIME_H

#include "subq_base.h"

#ifdef __cplusplus
extern "C" {
#endif

SUBQ_ASSUME_NONNULL_BEGIN

/* ---- topology ------------------------------------------------------------- */
typedef struct subq_topology subq_topology;

/* Snapshot of this process's machine: packages, NUMA nodes, cores and PUs
 * that the process may use (its affinity mask, cgroup cpuset). Uses hwloc when
 * compiled in, else sysfs. Errors: SUBQ_ERR_SYSTEM when discovery fails. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_topology_create(subq_topology *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* A topology from an hwloc synthetic description such as
 * "pack:2 numa:2 core:4 pu:1" (tests, planning for other machines). Threads
 * are never bound to synthetic PUs: binding goes to a recording backend.
 * Errors: SUBQ_ERR_INVALID_ARGUMENT for NULL or a description hwloc rejects;
 * SUBQ_ERR_UNSUPPORTED when SubQ was built without hwloc. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_topology_create_synthetic(const char *description,
                                                                    subq_topology *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* The same from an hwloc XML file (fixtures with asymmetric nodes). */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_topology_create_xml(const char *path,
                                                              subq_topology *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Adds a reference; returns t. */
SUBQ_API subq_topology *subq_topology_retain(subq_topology *t);
/* Drops a reference; NULL is a no-op. */
SUBQ_API void subq_topology_release(subq_topology *SUBQ_NULLABLE t);
/* Counts of allowed objects. */
SUBQ_API int32_t subq_topology_num_nodes(const subq_topology *t);
SUBQ_API int32_t subq_topology_num_cores(const subq_topology *t);
SUBQ_API int32_t subq_topology_num_pus(const subq_topology *t);
/* Cache sizes in bytes (per core for L1d/L2, per L3 domain for L3); 0 when unknown. */
SUBQ_API size_t subq_topology_cache_size(const subq_topology *t, int32_t level);
/* Human-readable summary into buf (always NUL-terminated when cap > 0).
 * Returns the length the full text needs, excluding the NUL. */
SUBQ_API size_t subq_topology_describe(const subq_topology *t, char *SUBQ_NULLABLE buf, size_t cap);

/* ---- NUMA and binding ------------------------------------------------------- */
typedef SUBQ_ENUM(subq_numa_mode) {
  SUBQ_NUMA_OFF SUBQ_SWIFT_NAME(off) = 0,               /* OS-scheduled workers, OS default memory */
  SUBQ_NUMA_ISOLATE SUBQ_SWIFT_NAME(isolate) = 1,       /* all workers and memory on one node */
  SUBQ_NUMA_DISTRIBUTE SUBQ_SWIFT_NAME(distribute) = 2, /* contiguous per-node worker blocks, owner-placed memory */
  SUBQ_NUMA_INHERIT SUBQ_SWIFT_NAME(inherit) = 3,       /* honour numactl/taskset/cgroup placement */
  SUBQ_NUMA_MIRROR SUBQ_SWIFT_NAME(mirror) = 4          /* as DISTRIBUTE, read-only weights replicated per node */
} subq_numa_mode;

typedef SUBQ_ENUM(subq_bind) {
  SUBQ_BIND_NONE SUBQ_SWIFT_NAME(none) = 0, /* workers inherit the creating thread's mask */
  SUBQ_BIND_NODE SUBQ_SWIFT_NAME(node) = 1, /* each worker bound to its node's CPUs */
  SUBQ_BIND_CORE SUBQ_SWIFT_NAME(core) = 2  /* each worker bound to one core */
} subq_bind;

/* ---- host executor ------------------------------------------------------------ */
/* A host thread system SubQ runs on instead of its own workers.
 * parallel_for must return only after all n_tasks calls of fn returned; the
 * tasks may run in any order, concurrently or not, on any thread (the caller's
 * too). SubQ never waits inside a task. The executor must not call back into
 * SubQ with the same context. */
typedef void (*subq_task_fn)(void *SUBQ_NULLABLE task_ctx, int64_t task_index);
typedef struct subq_executor {
  size_t struct_size;               /* sizeof(subq_executor) */
  void *SUBQ_NULLABLE ctx;          /* passed back to both callbacks */
  int32_t (*max_concurrency)(void *SUBQ_NULLABLE ctx);
  void (*parallel_for)(void *SUBQ_NULLABLE ctx, int64_t n_tasks, subq_task_fn fn, void *SUBQ_NULLABLE task_ctx);
} subq_executor;

/* ---- context -------------------------------------------------------------------- */
typedef struct subq_context subq_context;

/* Flags of subq_context_params.flags. */
#define SUBQ_CONTEXT_FLAT 0x1u            /* phase ends counted on one counter even with several nodes */
#define SUBQ_CONTEXT_USE_SMT 0x2u         /* n_threads = 0 counts SMT siblings too */
#define SUBQ_CONTEXT_START_PAUSED 0x4u    /* workers start parked */
#define SUBQ_CONTEXT_FLUSH_DENORMALS 0x8u /* FTZ/DAZ on every participant during a call */
#define SUBQ_CONTEXT_NO_SPIN 0x10u        /* never spin: sleep at once */

typedef struct subq_context_params {
  size_t struct_size;          /* written by subq_context_params_default */
  int32_t n_threads;           /* participants incl. the caller; 0 = physical cores of the allowed
                                  cpuset (env SUBQ_NUM_THREADS); 1 = no worker threads */
  subq_numa_mode numa;         /* default SUBQ_NUMA_OFF (env SUBQ_NUMA=off|isolate|distribute|inherit|mirror) */
  int32_t numa_node;           /* ISOLATE: OS node index; -1 = the creating thread's node */
  subq_bind bind;              /* default SUBQ_BIND_NONE (env SUBQ_BIND=none|node|core) */
  uint32_t spin_us;            /* spin budget before sleeping, microseconds (env SUBQ_SPIN_US; default 200) */
  uint32_t flags;              /* SUBQ_CONTEXT_* */
  subq_isa max_isa;            /* highest ISA path allowed; default SUBQ_ISA_AUTO (env SUBQ_MAX_ISA) */
  int32_t verbose;             /* 0 silent .. 3 (env SUBQ_VERBOSE); messages go to the log callback or stderr */
  const subq_topology *SUBQ_NULLABLE topology; /* NULL = this process's topology (tests: env
                                                  SUBQ_TOPOLOGY=synthetic:<desc>|xml:<path>) */
} subq_context_params;

/* Writes defaults (environment variables applied here and only here) into the
 * first struct_size bytes of p and stores struct_size. Explicit field
 * assignments after this call win over the environment. */
SUBQ_API void subq_context_params_default(subq_context_params *p, size_t struct_size);

/* Creates a context with its own persistent worker pool (n_threads-1 workers;
 * the calling thread of each kernel call is participant 0); returns once every
 * worker has started and bound itself. A call's work is cut into chunks
 * pre-assigned to the participants (per NUMA node under DISTRIBUTE / MIRROR);
 * a participant done with its own takes over unclaimed chunks of others on its
 * node, so a worker descheduled by other load delays a call only by the chunk
 * it is running, and results never depend on who ran what. params may be NULL
 * for the defaults. *out is written only on success.
 * Errors: SUBQ_ERR_INVALID_ARGUMENT (out NULL, n_threads < 0, unknown enum
 * value, struct_size too small, numa_node not in the topology);
 * SUBQ_ERR_UNSUPPORTED (struct_size larger than this library knows with a
 * non-zero unknown tail; max_isa of another architecture);
 * SUBQ_ERR_SYSTEM (thread creation failed); SUBQ_ERR_OUT_OF_MEMORY. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_context_create(const subq_context_params *SUBQ_NULLABLE params,
                                                         subq_context *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* A context whose parallel work runs on a host executor (one parallel_for per
 * phase). NUMA modes other than OFF do not apply and are rejected. The
 * executor table is copied; ex->ctx must outlive the context. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_context_create_with_executor(const subq_context_params *SUBQ_NULLABLE params,
                                                                       const subq_executor *ex,
                                                                       subq_context *SUBQ_NULLABLE *SUBQ_NONNULL out);
/* Joins the workers and frees everything; NULL is a no-op. Must not be called
 * while another thread uses the context. */
SUBQ_API void subq_context_destroy(subq_context *SUBQ_NULLABLE ctx);
/* Participants of a kernel call (workers + the caller). */
SUBQ_API int32_t subq_context_num_threads(const subq_context *ctx);
/* The ISA path kernels of this context use (host best, capped). */
SUBQ_API subq_isa subq_context_isa(const subq_context *ctx);
/* Parks the workers asleep (no spinning) until resume or the next call. */
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_context_pause(subq_context *ctx);
SUBQ_API SUBQ_WARN_UNUSED subq_status subq_context_resume(subq_context *ctx);
/* Whether kernels of ctx place the read-only weights they pack (subq_gemm_pack_b)
 * on NUMA nodes: ISOLATE, DISTRIBUTE or MIRROR on a topology with more than one
 * node, with no explicit memory policy of the user's in force. When true, read
 * weights through packed objects rather than straight from a mapped model file:
 * file pages sit on whichever node first read them (spec: zero-copy from a
 * mapped file only in OFF/INHERIT). NULL gives false. Thread-safe. */
SUBQ_API bool subq_context_places_weights(const subq_context *SUBQ_NULLABLE ctx);
/* Threads, ISA, NUMA mode and topology as text (always NUL-terminated when
 * cap > 0). Returns the length the full text needs, excluding the NUL. */
SUBQ_API size_t subq_context_describe(const subq_context *ctx, char *SUBQ_NULLABLE buf, size_t cap);

/* ---- logging ---------------------------------------------------------------------- */
typedef SUBQ_ENUM(subq_log_level) {
  SUBQ_LOG_ERROR SUBQ_SWIFT_NAME(error) = 0,
  SUBQ_LOG_WARN SUBQ_SWIFT_NAME(warn) = 1,
  SUBQ_LOG_INFO SUBQ_SWIFT_NAME(info) = 2,
  SUBQ_LOG_DEBUG SUBQ_SWIFT_NAME(debug) = 3
} subq_log_level;
typedef void (*subq_log_fn)(void *SUBQ_NULLABLE user, subq_log_level level, const char *message);
/* Process-global; set it before first use. NULL restores the default
 * (silent, or stderr when SUBQ_VERBOSE is set). */
SUBQ_API void subq_set_log_callback(subq_log_fn SUBQ_NULLABLE fn, void *SUBQ_NULLABLE user);

SUBQ_ASSUME_NONNULL_END

#ifdef __cplusplus
}
#endif

#endif /* SUBQ_RUNTIME_H */
