internal import CSubQ
import Dispatch

/// A host thread system that runs a context's parallel work instead of SubQ's own worker
/// threads (`subq_executor`); pass it to ``Context/init(executor:parameters:)``.
///
/// SubQ issues one parallel-for per phase of a kernel call, with at most
/// `4 × maxConcurrency` tasks, and never waits inside a task, so any fork-join system works.
/// Results are bitwise identical to those of a pool context or a 1-thread context with the same
/// ISA path.
///
/// Thread-safety: `Sendable`; the `parallelFor` closure may be called from whichever thread makes
/// a kernel call on the context, one call at a time per context.
public struct Executor: Sendable {
  /// Participants the executor can run at once (≥ 1); sizes SubQ's task count and scratch.
  public let maxConcurrency: Int
  let parallelFor: @Sendable (_ count: Int, _ body: @Sendable (Int) -> Void) -> Void

  /// A custom executor. `parallelFor(count, body)` must call `body(i)` exactly once for every
  /// `i` in `0..<count` and return only after all calls have returned; the calls may run in any
  /// order, concurrently or not, on any thread (the caller's too). `body` must not be kept after
  /// `parallelFor` returns, and the executor must not call SubQ with the same context.
  /// - Precondition: `maxConcurrency >= 1` (checked when the context is created).
  public init(
    maxConcurrency: Int, parallelFor: @escaping @Sendable (_ count: Int, _ body: @Sendable (Int) -> Void) -> Void
  ) {
    self.maxConcurrency = maxConcurrency
    self.parallelFor = parallelFor
  }

  /// An executor over Grand Central Dispatch: each phase runs through
  /// `DispatchQueue.concurrentPerform`, with as many participants as this process may use
  /// processing units (its affinity mask at first use, from ``Topology/create()``; 1 if that fails).
  public static var dispatch: Executor {
    dispatch(maxConcurrency: processConcurrency)
  }

  /// Allowed PUs of this process, discovered once (topology discovery is not free).
  private static let processConcurrency: Int = max(1, (try? Topology.create().numPUs) ?? 1)

  /// An executor over `DispatchQueue.concurrentPerform` that tells SubQ it runs
  /// `maxConcurrency` participants at once.
  public static func dispatch(maxConcurrency: Int) -> Executor {
    Executor(maxConcurrency: maxConcurrency) { count, body in
      DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
  }
}

/// The heap object whose address is the C executor's `ctx`.
final class ExecutorBox {
  let executor: Executor
  init(_ executor: Executor) { self.executor = executor }
}

/// `max_concurrency` callback: clamps the Swift value into the C range (C rejects values < 1).
func executorMaxConcurrency(_ ctx: UnsafeMutableRawPointer?) -> Int32 {
  guard let ctx else { return 0 }
  let box = Unmanaged<ExecutorBox>.fromOpaque(ctx).takeUnretainedValue()
  return Int32(clamping: box.executor.maxConcurrency)
}

/// `parallel_for` callback: runs the C task function for every index through the Swift executor.
func executorParallelFor(
  _ ctx: UnsafeMutableRawPointer?, _ count: Int64, _ fn: subq_task_fn?, _ taskCtx: UnsafeMutableRawPointer?
) {
  guard let ctx, let fn, count > 0 else { return }
  let box = Unmanaged<ExecutorBox>.fromOpaque(ctx).takeUnretainedValue()
  let task = CTask(fn: fn, ctx: taskCtx)
  box.executor.parallelFor(Int(count)) { index in task.fn(task.ctx, Int64(index)) }
}

/// The C task function and its argument. SubQ's executor contract makes calling `fn` from several
/// threads at once safe (tasks write disjoint outputs), hence `@unchecked Sendable`.
struct CTask: @unchecked Sendable {
  let fn: subq_task_fn
  let ctx: UnsafeMutableRawPointer?
}
