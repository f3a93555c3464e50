internal import CSubQ

/// The shape of a Monarch matrix `y = P2 · L · P1 · R · x` (see `Include/subq/subq_monarch.h`):
/// `W1` ("R", applied first) is `k` blocks of `q × p`, `W2` ("L") is `l` blocks of `s × r`,
/// with `n = k·p` inputs, `k·q == l·r` intermediate and `m = l·s` outputs. Weights are row-major,
/// exactly like contiguous PyTorch tensors of HazyResearch/fly's `blockdiag_butterfly_multiply`
/// (`w1_bfly`, `w2_bfly`), the only convention SubQ implements.
///
/// A block-diagonal layer (Monarch Mixer's `BlockdiagLinear`) has only `W1`: `k = nblocks`,
/// `q = out/nblocks`, `p = in/nblocks`.
///
/// Thread-safety: a plain value, `Sendable`.
public struct MonarchShape: Sendable, Hashable, CustomStringConvertible {
  public var k: Int, q: Int, p: Int
  public var l: Int, s: Int, r: Int
  /// Only `W1` (`l`, `s`, `r` are 0).
  public var isBlockDiagonal: Bool

  /// A Monarch shape; validity (`k·q == l·r`, sizes > 0) is checked by the calls that use it.
  public init(k: Int, q: Int, p: Int, l: Int, s: Int, r: Int) {
    (self.k, self.q, self.p, self.l, self.s, self.r, self.isBlockDiagonal) = (k, q, p, l, s, r, false)
  }

  /// The square Monarch of the paper: `n = blocks · b`, both factors `blocks` blocks of `b × b`.
  /// - Throws: ``SubQError/Code/invalidArgument`` when `blocks` does not divide `n`.
  public static func square(n: Int, blocks: Int) throws(SubQError) -> MonarchShape {
    guard n > 0, blocks > 0, n % blocks == 0 else {
      throw SubQError(
        code: .invalidArgument, message: "MonarchShape.square: blocks (\(blocks)) must divide n (\(n)), both > 0")
    }
    let b = n / blocks
    return MonarchShape(k: blocks, q: b, p: b, l: blocks, s: b, r: b)
  }

  /// A block-diagonal layer `inFeatures → outFeatures` with `blocks` diagonal blocks.
  /// - Throws: ``SubQError/Code/invalidArgument`` (from `subq_blockdiag_desc`) when `blocks`
  ///   does not divide both sizes or a size is not positive.
  public static func blockDiagonal(inFeatures: Int, outFeatures: Int, blocks: Int) throws(SubQError) -> MonarchShape {
    var d = subq_monarch_desc()
    let st = subq_blockdiag_desc(Int64(inFeatures), Int64(outFeatures), Int64(blocks), &d)
    guard st == .ok else { throw SubQError(st) }
    var s = MonarchShape(k: Int(d.k), q: Int(d.q), p: Int(d.p), l: 0, s: 0, r: 0)
    s.isBlockDiagonal = true
    return s
  }

  /// fly `MonarchLinear`'s shape for an `inFeatures → outFeatures` layer with `blocks` blocks
  /// (`subq_monarch_linear_shapes`): `k = l = blocks`, block sizes `ceil(size / blocks)`, so the
  /// Monarch's input and output widths (`inputWidth`, `outputWidth`) may exceed the layer's:
  /// callers zero-pad `x` to `inputWidth` and read the first `outFeatures` outputs.
  /// - Throws: ``SubQError/Code/invalidArgument`` for sizes or `blocks` ≤ 0 or overflow.
  public static func linear(inFeatures: Int, outFeatures: Int, blocks: Int) throws(SubQError) -> MonarchShape {
    var d = subq_monarch_desc()
    subq_monarch_desc_default(&d, MemoryLayout<subq_monarch_desc>.size)
    var inExt: Int64 = 0, outExt: Int64 = 0
    try SubQError.check(subq_monarch_linear_shapes(Int64(inFeatures), Int64(outFeatures), Int64(blocks), &d, &inExt, &outExt))
    return MonarchShape(k: Int(d.k), q: Int(d.q), p: Int(d.p), l: Int(d.l), s: Int(d.s), r: Int(d.r))
  }

  /// Input width `n = k·p`.
  public var inputWidth: Int { k * p }
  /// Output width `m = l·s` (block-diagonal: `k·q`).
  public var outputWidth: Int { isBlockDiagonal ? k * q : l * s }
  /// Elements of `W1` (`k·q·p`) and `W2` (`l·s·r`, 0 when block-diagonal).
  public var w1Count: Int { k * q * p }
  public var w2Count: Int { isBlockDiagonal ? 0 : l * s * r }
  /// Width of the stage-1 result `N = k·q` (what ``MonarchWeights/forwardSavingStage1(_:tokens:bias:context:)``
  /// returns per token).
  public var stage1Width: Int { k * q }

  public var description: String {
    isBlockDiagonal ? "blockdiag(k: \(k), q: \(q), p: \(p))" : "monarch(k: \(k), q: \(q), p: \(p), l: \(l), s: \(s), r: \(r))"
  }

  func cDesc(_ dtype: subq_dtype) -> subq_monarch_desc {
    var d = subq_monarch_desc()
    subq_monarch_desc_default(&d, MemoryLayout<subq_monarch_desc>.size)
    d.k = Int64(k)
    d.q = Int64(q)
    d.p = Int64(p)
    d.l = Int64(l)
    d.s = Int64(s)
    d.r = Int64(r)
    d.dtype = dtype
    if isBlockDiagonal { d.kind = .blockdiag }
    return d
  }

  /// Checks the shape through `subq_monarch_desc_check`.
  func check() throws(SubQError) {
    var d = cDesc(.f32)
    let st = subq_monarch_desc_check(&d, nil, nil)
    guard st == .ok else { throw SubQError(st) }
  }
}

/// Gradients of a Monarch layer (``MonarchWeights/backward(x:gradOutput:tokens:context:)``):
/// `x` is `[tokens][n]`, `w1`/`w2` have the weights' layouts, `bias` is `[m]`.
public struct MonarchGradients: Sendable {
  public var x: [Float]
  public var w1: [Float]
  public var w2: [Float]
  public var bias: [Float]
}

/// Monarch (or block-diagonal) weights packed once into the micro-kernel layout of a context's
/// ISA path and reused across calls. Wraps `subq_monarch_weights`.
///
/// `~Copyable`: one owner; `deinit` frees the packed copy. Thread-safety: immutable once packed;
/// may be shared (`borrowing`) across threads and used with every context whose ISA path allows
/// the one it was packed for.
public struct MonarchWeights: ~Copyable, @unchecked Sendable {
  let raw: OpaquePointer
  /// The shape the weights were packed with.
  public let shape: MonarchShape

  /// Packs f32 `w1` (`k·q·p`) and `w2` (`l·s·r`; empty for a block-diagonal shape).
  /// - Throws: ``SubQError/Code/invalidArgument`` when a count does not match the shape (before
  ///   any C call) or the shape is invalid; ``SubQError/Code/outOfMemory``.
  public init(shape: MonarchShape, w1: [Float], w2: [Float] = [], context: Context? = nil) throws(SubQError) {
    try Self.checkCounts("MonarchWeights", shape, w1.count, w2.count)
    let made = w1.withUnsafeBytes { b1 in
      w2.withUnsafeBytes { b2 in Self.pack(shape, .f32, b1.baseAddress, b2.baseAddress, context) }
    }
    self.raw = try made.get()
    self.shape = shape
  }

  /// Packs bf16 weights (bit patterns, see ``BF16``); they are widened exactly to f32 at pack time.
  public init(shape: MonarchShape, bf16W1: [UInt16], bf16W2: [UInt16] = [], context: Context? = nil)
    throws(SubQError)
  {
    try Self.checkCounts("MonarchWeights", shape, bf16W1.count, bf16W2.count)
    let made = bf16W1.withUnsafeBytes { b1 in
      bf16W2.withUnsafeBytes { b2 in Self.pack(shape, .bf16, b1.baseAddress, b2.baseAddress, context) }
    }
    self.raw = try made.get()
    self.shape = shape
  }

  private static func checkCounts(_ fn: String, _ shape: MonarchShape, _ c1: Int, _ c2: Int) throws(SubQError) {
    try shape.check()
    guard c1 == shape.w1Count else {
      throw SubQError(code: .invalidArgument, message: "\(fn): w1 has \(c1) elements but \(shape) needs \(shape.w1Count)")
    }
    guard c2 == shape.w2Count else {
      throw SubQError(code: .invalidArgument, message: "\(fn): w2 has \(c2) elements but \(shape) needs \(shape.w2Count)")
    }
  }

  private static func pack(
    _ shape: MonarchShape, _ dtype: subq_dtype, _ w1: UnsafeRawPointer?, _ w2: UnsafeRawPointer?, _ context: Context?
  ) -> Result<OpaquePointer, SubQError> {
    var d = shape.cDesc(dtype)
    var out: OpaquePointer? = nil
    guard let w1 else { return .failure(SubQError(code: .invalidArgument, message: "MonarchWeights: w1 is empty")) }
    let st = withExtendedLifetime(context) {
      subq_monarch_weights_create(context.cPointer, &d, w1, shape.isBlockDiagonal ? nil : w2, &out)
    }
    guard st == .ok, let out else { return .failure(SubQError(st)) }
    return .success(out)
  }

  deinit { subq_monarch_weights_destroy(raw) }

  /// The micro-kernel the weights were packed for (e.g. `subq_f32_monarch_bdmm_ukernel_6x16__avx2`).
  public var ukernel: String { String(cString: subq_monarch_weights_ukernel(raw)) }

  /// `y = M x (+ bias)` for `tokens` rows of `x` (`[tokens][n]`, contiguous); returns `[tokens][m]`.
  /// - Throws: ``SubQError/Code/invalidArgument`` when `x` or `bias` has the wrong count (before
  ///   any C call), or from `subq_monarch_forward`.
  public func forward(_ x: [Float], tokens: Int, bias: [Float]? = nil, context: Context? = nil) throws(SubQError)
    -> [Float]
  {
    try forward(x, tokens: tokens, bias: bias, saveStage1: false, context: context).y
  }

  /// As ``forward(_:tokens:bias:context:)``, and also returns the stage-1 result `[tokens][N]`
  /// (``MonarchShape/stage1Width``) for ``backward(x:gradOutput:tokens:stage1:context:)``, which then
  /// does not recompute it. Not for block-diagonal shapes (their stage 1 is `y`).
  public func forwardSavingStage1(_ x: [Float], tokens: Int, bias: [Float]? = nil, context: Context? = nil)
    throws(SubQError) -> (y: [Float], stage1: [Float])
  {
    try forward(x, tokens: tokens, bias: bias, saveStage1: true, context: context)
  }

  private func forward(_ x: [Float], tokens: Int, bias: [Float]?, saveStage1: Bool, context: Context?)
    throws(SubQError) -> (y: [Float], stage1: [Float])
  {
    let (n, m, nn) = (shape.inputWidth, shape.outputWidth, shape.stage1Width)
    guard tokens >= 0, x.count == tokens * n else {
      throw SubQError(
        code: .invalidArgument, message: "MonarchWeights.forward: x has \(x.count) elements but tokens=\(tokens), n=\(n)")
    }
    if let bias, bias.count != m {
      throw SubQError(
        code: .invalidArgument, message: "MonarchWeights.forward: bias has \(bias.count) elements, m is \(m)")
    }
    var y = [Float](repeating: 0, count: tokens * m)
    var u = [Float](repeating: 0, count: saveStage1 ? tokens * nn : 0)
    let raw = self.raw
    let st = x.withUnsafeBufferPointer { xb in
      y.withUnsafeMutableBufferPointer { yb in
        u.withUnsafeMutableBufferPointer { ub in
          withOptionalBuffer(bias) { bb in
            var a = subq_monarch_args()
            subq_monarch_args_default(&a, MemoryLayout<subq_monarch_args>.size)
            a.tokens = Int64(tokens)
            a.x = xb.baseAddress
            a.ldx = Int64(n)
            a.y = yb.baseAddress
            a.ldy = Int64(m)
            a.bias = bb
            if saveStage1 {
              // a non-NULL pointer even for 0 tokens, so block-diagonal shapes get the C error
              a.stage1 = ub.baseAddress ?? MonarchDummy.f
              a.ldstage1 = Int64(nn)
            }
            return withExtendedLifetime(context) { subq_monarch_forward(context.cPointer, raw, &a) }
          }
        }
      }
    }
    guard st == .ok else { throw SubQError(st) }
    return (y, u)
  }

  /// Gradients for `dL/dy = gradOutput` (`[tokens][m]`) at input `x` (`[tokens][n]`): dX, dW1,
  /// dW2 (empty for block-diagonal) and dbias, through `subq_monarch_backward`. `stage1`: the
  /// forward's stage-1 result (``forwardSavingStage1(_:tokens:bias:context:)``, `[tokens][N]`), so
  /// stage 1 is not recomputed; the gradients are the same bits either way.
  public func backward(
    x: [Float], gradOutput: [Float], tokens: Int, stage1: [Float]? = nil, context: Context? = nil
  ) throws(SubQError) -> MonarchGradients {
    let (n, m) = (shape.inputWidth, shape.outputWidth)
    guard tokens >= 0, x.count == tokens * n, gradOutput.count == tokens * m else {
      throw SubQError(
        code: .invalidArgument,
        message: "MonarchWeights.backward: x has \(x.count) and gradOutput \(gradOutput.count) elements "
          + "but tokens=\(tokens), n=\(n), m=\(m)")
    }
    if let stage1, stage1.count != tokens * shape.stage1Width {
      throw SubQError(
        code: .invalidArgument,
        message: "MonarchWeights.backward: stage1 has \(stage1.count) elements but tokens=\(tokens), "
          + "N=\(shape.stage1Width)")
    }
    var g = MonarchGradients(
      x: [Float](repeating: 0, count: tokens * n), w1: [Float](repeating: 0, count: shape.w1Count),
      w2: [Float](repeating: 0, count: shape.w2Count), bias: [Float](repeating: 0, count: m))
    let raw = self.raw, blockDiagonal = shape.isBlockDiagonal, nn = shape.stage1Width
    let st = x.withUnsafeBufferPointer { xb in
      gradOutput.withUnsafeBufferPointer { gb in
        g.x.withUnsafeMutableBufferPointer { gx in
          g.w1.withUnsafeMutableBufferPointer { g1 in
            g.w2.withUnsafeMutableBufferPointer { g2 in
              g.bias.withUnsafeMutableBufferPointer { gbias in
                withOptionalBuffer(stage1) { ub in
                  var a = subq_monarch_backward_args()
                  subq_monarch_backward_args_default(&a, MemoryLayout<subq_monarch_backward_args>.size)
                  a.tokens = Int64(tokens)
                  a.x = xb.baseAddress
                  a.ldx = Int64(n)
                  a.grad_y = gb.baseAddress
                  a.ldgy = Int64(m)
                  a.grad_x = gx.baseAddress
                  a.ldgx = Int64(n)
                  a.grad_w1 = g1.baseAddress
                  a.grad_w2 = blockDiagonal ? nil : g2.baseAddress
                  a.grad_bias = gbias.baseAddress
                  if stage1 != nil {
                    a.stage1 = ub ?? UnsafePointer(MonarchDummy.f)
                    a.ldstage1 = Int64(nn)
                  }
                  return withExtendedLifetime(context) { subq_monarch_backward(context.cPointer, raw, &a) }
                }
              }
            }
          }
        }
      }
    }
    guard st == .ok else { throw SubQError(st) }
    return g
  }
}

private enum MonarchDummy {
  nonisolated(unsafe) static let d = UnsafeMutablePointer<Double>.allocate(capacity: 1)
  nonisolated(unsafe) static let f = UnsafeMutablePointer<Float>.allocate(capacity: 1)
}

private func withOptionalBuffer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
  guard let a else { return body(nil) }
  return a.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Dense ↔ Monarch in fp64 (`subq_monarch_project_f64`, `subq_monarch_to_dense_f64`), real data.
public enum Monarch {
  /// The Frobenius-nearest Monarch of the `rows × columns` row-major matrix `dense` (per
  /// sub-block truncated SVD of rank `|T(i,j)|`; factors unique up to sign per singular triple:
  /// compare ``dense(shape:w1:w2:)`` products, never factors). `residual` is `‖M − M̂‖²_F`.
  public static func project(_ dense: [Double], rows: Int, columns: Int, shape: MonarchShape) throws(SubQError)
    -> (w1: [Double], w2: [Double], residual: Double)
  {
    guard rows >= 0, columns >= 0, dense.count == rows * columns else {
      throw SubQError(
        code: .invalidArgument,
        message: "Monarch.project: dense has \(dense.count) elements but rows=\(rows), columns=\(columns)")
    }
    var w1 = [Double](repeating: 0, count: shape.w1Count), w2 = [Double](repeating: 0, count: shape.w2Count)
    var resid = 0.0
    var d = shape.cDesc(.f32)
    let st = dense.withUnsafeBufferPointer { mb in
      w1.withUnsafeMutableBufferPointer { b1 in
        w2.withUnsafeMutableBufferPointer { b2 in
          subq_monarch_project_f64(
            mb.baseAddress ?? UnsafePointer(MonarchDummy.d), Int64(rows), Int64(columns), Int64(columns), &d, false,
            b1.baseAddress ?? MonarchDummy.d, shape.isBlockDiagonal ? nil : b2.baseAddress, &resid)
        }
      }
    }
    guard st == .ok else { throw SubQError(st) }
    return (w1, w2, resid)
  }

  /// The dense `m × n` matrix (row-major) of Monarch factors `w1`, `w2`.
  public static func dense(shape: MonarchShape, w1: [Double], w2: [Double]) throws(SubQError) -> [Double] {
    guard w1.count == shape.w1Count, w2.count == shape.w2Count else {
      throw SubQError(
        code: .invalidArgument,
        message: "Monarch.dense: w1/w2 have \(w1.count)/\(w2.count) elements but \(shape) needs "
          + "\(shape.w1Count)/\(shape.w2Count)")
    }
    let (m, n) = (shape.outputWidth, shape.inputWidth)
    var out = [Double](repeating: 0, count: max(0, m * n))
    var d = shape.cDesc(.f32)
    let st = w1.withUnsafeBufferPointer { b1 in
      w2.withUnsafeBufferPointer { b2 in
        out.withUnsafeMutableBufferPointer { ob in
          subq_monarch_to_dense_f64(
            &d, false, b1.baseAddress ?? UnsafePointer(MonarchDummy.d), shape.isBlockDiagonal ? nil : b2.baseAddress,
            ob.baseAddress ?? MonarchDummy.d, Int64(max(1, n)))
        }
      }
    }
    guard st == .ok else { throw SubQError(st) }
    return out
  }
}
