internal import CSubQ

/// An execution context (`subq_context`): a persistent worker pool or a host executor, the NUMA
/// policy, scratch arenas and the ISA path its kernels use.
///
/// Kernel calls taking a `Context?` run their work items on the context's participants (the
/// calling thread is participant 0 of its own pool); `nil` runs on the calling thread alone with
/// the best ISA the host supports. For a fixed ISA path results are bitwise identical for any
/// thread count, own pool, host executor or `nil`.
///
/// Contexts are expensive (threads): create one per process and reuse it. Kernel calls are
/// synchronous and CPU-bound: never call them on the main actor. Swift concurrency plus a
/// spinning pool oversubscribes the CPU, so size the pool below the core count or use
/// ``init(executor:parameters:)`` with ``Executor/dispatch``.
///
/// Thread-safety: `@unchecked Sendable`. The C context serialises concurrent calls from several
/// threads with a mutex (one kernel call at a time); a call from inside one of its own tasks runs
/// inline. Create contexts from an unpinned thread: workers inherit the creating thread's CPU
/// mask. `deinit` joins the workers and frees the context; the last reference must not be dropped
/// while a call on another thread is still running (ARC guarantees this for callers that hold it).
public final class Context: @unchecked Sendable, CustomStringConvertible {
  let raw: OpaquePointer
  /// Keeps the host executor's box alive for as long as the C context may call it.
  private let executorBox: Unmanaged<ExecutorBox>?

  /// NUMA policy of a context's workers and memory (`subq_numa_mode`).
  public enum NUMAMode: Sendable, Hashable {
    /// OS-scheduled workers, OS default memory (default; the only mode for host executors).
    case off
    /// All workers and memory on one node (``Parameters/numaNode``).
    case isolate
    /// Contiguous per-node worker blocks, owner-placed memory.
    case distribute
    /// Honour numactl/taskset/cgroup placement.
    case inherit
    /// As `distribute`, with read-only weights replicated per node.
    case mirror
    /// A value this façade does not know (newer library), with its raw value.
    case unknown(Int32)

    init(_ c: subq_numa_mode) {
      switch c {
      case .off: self = .off
      case .isolate: self = .isolate
      case .distribute: self = .distribute
      case .inherit: self = .inherit
      case .mirror: self = .mirror
      @unknown default: self = .unknown(c.rawValue)
      }
    }

    var cValue: subq_numa_mode {
      switch self {
      case .off: .off
      case .isolate: .isolate
      case .distribute: .distribute
      case .inherit: .inherit
      case .mirror: .mirror
      case .unknown(let raw): subq_numa_mode(rawValue: raw)!
      }
    }
  }

  /// How workers are pinned (`subq_bind`).
  public enum Bind: Sendable, Hashable {
    /// Workers inherit the creating thread's mask (default).
    case none
    /// Each worker is bound to its node's CPUs.
    case node
    /// Each worker is bound to one core.
    case core
    /// A value this façade does not know (newer library), with its raw value.
    case unknown(Int32)

    init(_ c: subq_bind) {
      switch c {
      case .none: self = .none
      case .node: self = .node
      case .core: self = .core
      @unknown default: self = .unknown(c.rawValue)
      }
    }

    var cValue: subq_bind {
      switch self {
      case .none: .none
      case .node: .node
      case .core: .core
      case .unknown(let raw): subq_bind(rawValue: raw)!
      }
    }
  }

  /// Flags of a context (`SUBQ_CONTEXT_*`).
  public struct Flags: OptionSet, Sendable, Hashable {
    /// The raw `uint32_t` bits.
    public let rawValue: UInt32
    /// Creates flags from raw bits (unknown bits are rejected by context creation).
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Phase ends counted on one counter even with several NUMA nodes (`SUBQ_CONTEXT_FLAT`).
    public static let flat = Flags(rawValue: SUBQ_CONTEXT_FLAT)
    /// `threads == 0` counts SMT siblings too (`SUBQ_CONTEXT_USE_SMT`).
    public static let useSMT = Flags(rawValue: SUBQ_CONTEXT_USE_SMT)
    /// Workers start parked (`SUBQ_CONTEXT_START_PAUSED`).
    public static let startPaused = Flags(rawValue: SUBQ_CONTEXT_START_PAUSED)
    /// FTZ/DAZ on every participant during a call (`SUBQ_CONTEXT_FLUSH_DENORMALS`).
    public static let flushDenormals = Flags(rawValue: SUBQ_CONTEXT_FLUSH_DENORMALS)
    /// Never spin: waiting participants sleep at once (`SUBQ_CONTEXT_NO_SPIN`).
    public static let noSpin = Flags(rawValue: SUBQ_CONTEXT_NO_SPIN)
  }

  /// Settings of a new context (`subq_context_params`).
  ///
  /// `init()` takes every field from the C defaults getter `subq_context_params_default`, which is
  /// where (and the only place where) the environment variables `SUBQ_NUM_THREADS`, `SUBQ_NUMA`,
  /// `SUBQ_BIND`, `SUBQ_SPIN_US` and `SUBQ_VERBOSE` apply; fields assigned afterwards win.
  /// Thread-safety: a plain value.
  public struct Parameters: Sendable {
    /// Participants including the caller; 0 = physical cores of the allowed cpuset; 1 = no worker threads.
    /// With a host executor the executor's concurrency is used instead.
    public var threads: Int
    /// NUMA policy (default ``NUMAMode/off``).
    public var numa: NUMAMode
    /// For ``NUMAMode/isolate``: the OS node index; -1 = the creating thread's node.
    public var numaNode: Int
    /// Worker pinning (default ``Bind/none``).
    public var bind: Bind
    /// Spin budget of waiting participants before they sleep, in microseconds (default 200).
    public var spinMicroseconds: UInt32
    /// Highest ISA path the context's kernels may use (default ``ISA/auto``; the process-wide
    /// `SUBQ_MAX_ISA` cap still applies). A path above the host's is clamped to the host's.
    public var maxISA: ISA
    /// Behaviour flags.
    public var flags: Flags
    /// 0 silent ... 3 (pool and topology dumps); messages go to the log callback or stderr.
    public var verbose: Int
    /// The topology to place workers on; `nil` = this process's topology. Retained by the context.
    public var topology: Topology?

    /// The library defaults (environment variables applied), from `subq_context_params_default`.
    public init() {
      let p = Parameters.cDefaults()
      threads = Int(p.n_threads)
      numa = NUMAMode(p.numa)
      numaNode = Int(p.numa_node)
      bind = Bind(p.bind)
      spinMicroseconds = p.spin_us
      maxISA = ISA(p.max_isa)
      flags = Flags(rawValue: p.flags)
      verbose = Int(p.verbose)
      topology = nil
    }

    /// The defaults with `threads` and `maxISA` set; convenient for the common case.
    public init(threads: Int, maxISA: ISA = .auto) {
      self.init()
      self.threads = threads
      self.maxISA = maxISA
    }

    static func cDefaults() -> subq_context_params {
      var p = subq_context_params()
      subq_context_params_default(&p, MemoryLayout<subq_context_params>.size)
      return p
    }

    /// The C struct: defaults getter first (sets struct_size), then every field from Swift.
    /// Values that do not fit the C field types are reported here, naming the field.
    /// `topology` is borrowed: keep `self.topology` alive while the struct is in use.
    func cParams() throws(SubQError) -> subq_context_params {
      var p = Parameters.cDefaults()
      guard let n = Int32(exactly: threads) else {
        throw .invalidArgument("Context: threads (\(threads)) does not fit in Int32")
      }
      guard let node = Int32(exactly: numaNode) else {
        throw .invalidArgument("Context: numaNode (\(numaNode)) does not fit in Int32")
      }
      guard let verb = Int32(exactly: verbose) else {
        throw .invalidArgument("Context: verbose (\(verbose)) does not fit in Int32")
      }
      p.n_threads = n
      p.numa = numa.cValue
      p.numa_node = node
      p.bind = bind.cValue
      p.spin_us = spinMicroseconds
      p.flags = flags.rawValue
      p.max_isa = maxISA.cValue
      p.verbose = verb
      p.topology = topology?.raw
      return p
    }
  }

  /// Creates a context with its own persistent worker pool (`threads - 1` worker threads; the
  /// thread making each kernel call is participant 0).
  /// - Throws: ``SubQError/Code/invalidArgument`` (negative threads, numaNode not in the topology,
  ///   verbose outside 0...3, unknown flag bits); ``SubQError/Code/unsupported`` (maxISA of another
  ///   architecture); ``SubQError/Code/system`` (thread creation failed); ``SubQError/Code/outOfMemory``.
  public init(_ parameters: Parameters = Parameters()) throws(SubQError) {
    var p = try parameters.cParams()
    var out: OpaquePointer? = nil
    let status = withExtendedLifetime(parameters.topology) { subq_context_create(&p, &out) }
    try SubQError.check(status)
    raw = out!
    executorBox = nil
  }

  /// Creates a context whose parallel work runs on a host executor (one parallel-for per phase)
  /// instead of SubQ's own threads. ``Parameters/threads`` is ignored (the executor's
  /// ``Executor/maxConcurrency`` counts participants); NUMA modes other than ``NUMAMode/off`` and
  /// binds other than ``Bind/none`` are rejected. The executor is retained until the context is freed.
  /// - Throws: as ``init(_:)``, plus ``SubQError/Code/invalidArgument`` for NUMA/bind settings and
  ///   a `maxConcurrency` below 1.
  public init(executor: Executor, parameters: Parameters = Parameters()) throws(SubQError) {
    var p = try parameters.cParams()
    let box = Unmanaged.passRetained(ExecutorBox(executor))
    var ex = subq_executor(
      struct_size: MemoryLayout<subq_executor>.size,
      ctx: box.toOpaque(),
      max_concurrency: { executorMaxConcurrency($0) },
      parallel_for: { executorParallelFor($0, $1, $2, $3) })
    var out: OpaquePointer? = nil
    let status = withExtendedLifetime(parameters.topology) { subq_context_create_with_executor(&p, &ex, &out) }
    guard status == .ok, let out else {
      let error = SubQError(status)
      box.release()
      throw error
    }
    raw = out
    executorBox = box
  }

  deinit {
    subq_context_destroy(raw)
    executorBox?.release()
  }

  /// Participants of a kernel call (workers + the caller, or the executor's concurrency).
  public var numThreads: Int { Int(subq_context_num_threads(raw)) }

  /// The ISA path this context's kernels use (the host's best, capped by ``Parameters/maxISA``
  /// and `SUBQ_MAX_ISA`).
  public var isa: ISA { ISA(subq_context_isa(raw)) }

  /// Whether this context's kernels place the weights they pack on NUMA nodes (`isolate`,
  /// `distribute` or `mirror` on a machine or topology with more than one node, and no memory
  /// policy of the user's in force): weights should then be read through packed copies, not
  /// straight from a mapped model file, whose pages sit wherever the file was first read
  /// (`subq_context_places_weights`).
  public var placesWeights: Bool { subq_context_places_weights(raw) }

  /// Threads, ISA, NUMA mode, runner ("pool", "caller", "host-executor") and placement as text
  /// (`subq_context_describe`).
  public var description: String {
    describeText { buf, cap in subq_context_describe(raw, buf, cap) }
  }

  /// Parks the workers asleep (no spinning) until ``resume()`` or the next kernel call.
  /// A no-op for contexts without worker threads.
  public func pause() throws(SubQError) {
    try SubQError.check(subq_context_pause(raw))
  }

  /// Wakes parked workers so that they spin-wait for work again.
  public func resume() throws(SubQError) {
    try SubQError.check(subq_context_resume(raw))
  }
}

/// `raw` of an optional context as the C argument (`NULL` for `nil`).
extension Optional where Wrapped == Context {
  var cPointer: OpaquePointer? { self?.raw }
}
