internal import CSubQ
import Foundation

/// y = x Wᵀ for the layers a model runs through one call per chunk: a dense ``Linear`` (packed
/// GEMM) or its Monarch approximation (``MonarchLinear``, `subq-run --monarch`).
protocol LinearMap: AnyObject, Sendable {
  var inFeatures: Int { get }
  var outFeatures: Int { get }
  /// out[r][j] (= or += when `accumulate`) (x[r] Wᵀ + b)[j] for `rows` rows; x rows `xStride`
  /// apart, out rows `outStride` apart.
  func apply(
    _ x: UnsafePointer<Float>, xStride: Int, rows: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
    accumulate: Bool, context: Context?
  ) throws(SubQError)
}

extension Linear: LinearMap {}

/// How well one dense weight matrix was approximated by its Monarch projection.
public struct MonarchProjectionReport: Sendable, Hashable {
  /// Layer index and the tensor's name inside the layer (e.g. `mlp.gate_proj`).
  public let layer: Int
  public let name: String
  /// The dense matrix is `rows × columns` (PyTorch Linear: out × in).
  public let rows: Int
  public let columns: Int
  /// The Monarch factors (fly `MonarchLinear`'s shape; it may pad the widths).
  public let shape: MonarchShape
  /// ‖W − M̂‖_F / ‖W‖_F over the layer's own rows and columns (fp64).
  public let relativeError: Double
  /// Parameters of the dense matrix and of the factors.
  public var denseParameters: Int { rows * columns }
  public var monarchParameters: Int { shape.w1Count + shape.w2Count }
}

/// A dense Linear weight W [out][in] projected at load time onto the nearest Monarch matrix of
/// fly `MonarchLinear`'s shape with `blocks` blocks (Frobenius norm, `subq_monarch_project_f64`),
/// packed as f32 for `subq_monarch_forward`. Widths that `blocks` does not divide are padded as
/// fly does: W is projected with zero rows/columns appended, inputs are zero-padded, the extra
/// outputs dropped. Immutable after init; `apply` may run concurrently on different outputs.
final class MonarchLinear: LinearMap, @unchecked Sendable {
  let packed: OpaquePointer
  let inFeatures: Int
  let outFeatures: Int
  let inExt: Int
  let outExt: Int
  let bias: FloatBuffer?
  let report: MonarchProjectionReport

  /// Projects the `out × in` row-major f32 matrix `w` (with optional bias [out]).
  init(
    weight w: UnsafePointer<Float>, out: Int, in inF: Int, bias: FloatBuffer?, blocks: Int, layer: Int, name: String,
    context: Context?
  ) throws(SubQError) {
    let shape = try MonarchShape.linear(inFeatures: inF, outFeatures: out, blocks: blocks)
    let (ni, no) = (shape.inputWidth, shape.outputWidth)
    var dense = [Double](repeating: 0, count: no * ni)
    var norm2 = 0.0
    for j in 0..<out {
      for e in 0..<inF {
        let v = Double(w[j * inF + e])
        dense[j * ni + e] = v
        norm2 += v * v
      }
    }
    let (w1, w2, resid) = try Monarch.project(dense, rows: no, columns: ni, shape: shape)
    var err2 = resid
    if ni != inF || no != out {
      // The residual includes the padded zeros' misfit; measure the layer's own block instead.
      let approx = try Monarch.dense(shape: shape, w1: w1, w2: w2)
      err2 = 0
      for j in 0..<out {
        for e in 0..<inF {
          let d = approx[j * ni + e] - dense[j * ni + e]
          err2 += d * d
        }
      }
    }
    let f1 = w1.map(Float.init), f2 = w2.map(Float.init)
    var desc = shape.cDesc(.f32)
    var h: OpaquePointer?
    try SubQError.check(
      f1.withUnsafeBufferPointer { b1 in
        f2.withUnsafeBufferPointer { b2 in subq_monarch_weights_create(context?.raw, &desc, b1.baseAddress!, b2.baseAddress, &h) }
      })
    packed = h!
    inFeatures = inF
    outFeatures = out
    inExt = ni
    outExt = no
    self.bias = bias
    report = MonarchProjectionReport(
      layer: layer, name: name, rows: out, columns: inF, shape: shape,
      relativeError: norm2 > 0 ? (err2 / norm2).squareRoot() : 0)
  }

  deinit { subq_monarch_weights_destroy(packed) }

  func apply(
    _ x: UnsafePointer<Float>, xStride: Int, rows: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
    accumulate: Bool, context: Context?
  ) throws(SubQError) {
    guard rows > 0 else { return }
    // Scratch for padded input rows (blocks does not divide the input width) and for an output
    // that is accumulated or wider than the layer: one temporary block per call, on the stack
    // for decode-sized calls, never zero-filled (every element read is written first).
    let padIn = inExt != inFeatures, direct = !accumulate && outExt == outFeatures
    let count = (padIn ? rows * inExt : 0) + (direct ? 0 : rows * outExt)
    try withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, count)) { (scratch) throws(SubQError) in
      let base = scratch.baseAddress!
      var xin = x, xld = xStride
      if padIn {
        for r in 0..<rows {
          let d = base + r * inExt
          d.update(from: x + r * xStride, count: inFeatures)
          (d + inFeatures).update(repeating: 0, count: inExt - inFeatures)
        }
        xin = UnsafePointer(base)
        xld = inExt
      }
      let y: UnsafeMutablePointer<Float>? = direct ? nil : base + (padIn ? rows * inExt : 0)
      var a = subq_monarch_args()
      subq_monarch_args_default(&a, MemoryLayout<subq_monarch_args>.size)
      a.tokens = Int64(rows)
      a.x = xin
      a.ldx = Int64(xld)
      a.y = y ?? out
      a.ldy = Int64(y == nil ? outStride : outExt)
      a.bias = direct ? bias.map { UnsafePointer($0.base) } : nil
      try SubQError.check(withExtendedLifetime((context, bias)) { subq_monarch_forward(context?.raw, packed, &a) })
      guard let y else { return }
      for r in 0..<rows {
        let o = out + r * outStride, src = y + r * outExt
        if accumulate {
          for j in 0..<outFeatures { o[j] += src[j] }
        } else {
          o.update(from: src, count: outFeatures)
        }
        if let b = bias { for j in 0..<outFeatures { o[j] += b[j] } }
      }
    }
  }
}

/// Several maps over the same input whose outputs sit side by side in one row (gate | up).
final class StackedLinear: LinearMap, @unchecked Sendable {
  let parts: [any LinearMap]
  let inFeatures: Int
  let outFeatures: Int

  init(_ parts: [any LinearMap]) {
    self.parts = parts
    inFeatures = parts[0].inFeatures
    outFeatures = parts.reduce(0) { $0 + $1.outFeatures }
  }

  func apply(
    _ x: UnsafePointer<Float>, xStride: Int, rows: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
    accumulate: Bool, context: Context?
  ) throws(SubQError) {
    var col = 0
    for p in parts {
      try p.apply(x, xStride: xStride, rows: rows, into: out + col, outStride: outStride, accumulate: accumulate, context: context)
      col += p.outFeatures
    }
  }
}

extension MonarchLinear {
  /// Projects the dense Linear layers `jobs` (tensor name without `.weight`, out, in, layer,
  /// short name) of `ck`, in parallel over the host's cores (each projection is single-threaded
  /// fp64 work), reporting `progress(done, total)` as each finishes (from worker threads, one call
  /// at a time). Results are in `jobs` order.
  static func projectAll(
    _ ck: Checkpoint, jobs: [(tensor: String, out: Int, in: Int, bias: Bool, layer: Int, name: String)], blocks: Int,
    context: Context?, progress: ((Int, Int) -> Void)?
  ) throws(SubQError) -> [MonarchLinear] {
    guard blocks >= 1 else { throw .invalidArgument("Monarch projection: blocks must be >= 1, got \(blocks)") }
    // Name and shape errors first, before any long projection starts.
    let tensors = try jobs.map { (j) throws(SubQError) in try ck.tensor(j.tensor + ".weight", [j.out, j.in]) }
    let biases = try jobs.map { (j) throws(SubQError) -> FloatBuffer? in
      j.bias ? try ck.floats(j.tensor + ".bias", [j.out]) : nil
    }
    // Shared by the workers: each writes its own slot; `done` and `progress` under the lock.
    final class Work: @unchecked Sendable {
      var results: [Result<MonarchLinear, SubQError>?]
      var done = 0
      let lock = NSLock()
      init(_ n: Int) { results = Array(repeating: nil, count: n) }
    }
    let work = Work(jobs.count)
    nonisolated(unsafe) let progress = progress
    nonisolated(unsafe) let sources = tensors
    DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
      let j = jobs[i]
      let r: Result<MonarchLinear, SubQError>
      do throws(SubQError) {
        let w = FloatBuffer(count: j.out * j.in)
        try ck.widen(sources[i], into: w.base)
        r = .success(
          try MonarchLinear(
            weight: w.base, out: j.out, in: j.in, bias: biases[i], blocks: blocks, layer: j.layer, name: j.name,
            context: context))
      } catch {
        r = .failure(error)
      }
      work.lock.lock()
      work.results[i] = r
      work.done += 1
      progress?(work.done, jobs.count)
      work.lock.unlock()
    }
    let results = work.results
    var out: [MonarchLinear] = []
    for r in results {
      switch r! {
      case .success(let m): out.append(m)
      case .failure(let e): throw e
      }
    }
    return out
  }
}
