internal import CSubQ
import Dispatch

/// A GEMM B operand (`k × n`) prepacked once into the micro-kernel layout of a context's ISA path,
/// for reuse across many products (weights). Wraps `subq_gemm_packed_b`.
///
/// A PyTorch `Linear` weight `W[out][in]` used as `y = x Wᵀ` is B with `k = in`, `n = out`,
/// strides `(row: 1, column: in)`. The packed copy keeps the element type: bf16 input stays bf16
/// (half the bytes of f32; the micro-kernels widen it exactly in registers, so products have the
/// bits of the same B widened to f32). Packing copies B (by design, the only copy the façade
/// makes); the source may be freed afterwards.
///
/// `~Copyable`: one owner; `deinit` frees the packed copy, ``close()`` frees it early.
/// Thread-safety: immutable once packed; may be shared by reference (`borrowing`) across threads
/// and used with every context whose ISA path equals the one it was packed for.
public struct PackedB: ~Copyable, @unchecked Sendable {
  let raw: OpaquePointer
  /// Inner dimension (rows of B).
  public let k: Int
  /// Columns of B (and of C).
  public let n: Int
  /// Process-unique serial number, for lifetime tracking in tests.
  let serial: UInt64

  /// Packs the `k × n` matrix B, element `(p, j)` at `b[p * strides.row + j * strides.column]`
  /// (`nil` strides: contiguous row-major `(n, 1)`), for `context`'s ISA path (`nil`: the host's
  /// best). `B` is `Float` (f32) or `UInt16` (bf16 bit patterns).
  /// - Throws: ``SubQError/Code/invalidArgument`` before any C call for negative sizes, a stride
  ///   below 1 for a dimension larger than one, or `b` shorter than the shape and strides address;
  ///   from the library as `subq_gemm_pack_b` (``SubQError/Code/outOfMemory``, ...).
  public init<B: GEMMInputElement>(
    k: Int, n: Int, b: Span<B>, strides: MatrixStrides? = nil, context: Context? = nil
  ) throws(SubQError) {
    let made = try b.withUnsafeBufferPointer { (b) throws(SubQError) in
      try PackedB.pack(k: k, n: n, b: b, strides: strides, context: context)
    }
    self.init(raw: made, k: k, n: n)
  }

  /// The `Span` initializer `init(k:n:b:strides:context:)` over an unsafe buffer (mmap'd or foreign memory).
  public init<B: GEMMInputElement>(
    k: Int, n: Int, b: UnsafeBufferPointer<B>, strides: MatrixStrides? = nil, context: Context? = nil
  ) throws(SubQError) {
    let made = try PackedB.pack(k: k, n: n, b: b, strides: strides, context: context)
    self.init(raw: made, k: k, n: n)
  }

  private init(raw: OpaquePointer, k: Int, n: Int) {
    self.raw = raw
    self.k = k
    self.n = n
    self.serial = PackedBRegistry.register()
  }

  private static func pack<B: GEMMInputElement>(
    k: Int, n: Int, b: UnsafeBufferPointer<B>, strides: MatrixStrides?, context: Context?
  ) throws(SubQError) -> OpaquePointer {
    let fn = "PackedB"
    try checkShape(fn, m: 0, n: n, k: k, batchCount: 1)
    let type = try inputType(B.self, fn, "b")
    let s = strides ?? .rowMajor(leadingDimension: max(1, n))
    try checkExtent(
      fn, "b", count: b.count, rows: (k, "k"), cols: (n, "n"), strides: s, stridesName: "strides",
      batchCount: 1, batchStride: 0, batchStrideName: "", touched: k > 0 && n > 0)
    var out: OpaquePointer? = nil
    let status = withExtendedLifetime(context) {
      subq_gemm_pack_b(
        context.cPointer, Int64(k), Int64(n), type.cValue, UnsafeRawPointer(b.baseAddress) ?? DummyStorage.b,
        Int64(s.row), Int64(s.column), &out)
    }
    guard status == .ok, let out else { throw SubQError(status) }
    return out
  }

  deinit {
    subq_gemm_packed_b_destroy(raw)
    PackedBRegistry.unregister(serial)
  }

  /// Frees the packed copy now (what `deinit` would do later).
  public consuming func close() {
    let raw = self.raw, serial = self.serial
    discard self
    subq_gemm_packed_b_destroy(raw)
    PackedBRegistry.unregister(serial)
  }

  /// Bytes held by the packed copy (`subq_gemm_packed_b_size`).
  public var byteCount: Int { Int(subq_gemm_packed_b_size(raw)) }
}

/// Serial numbers of live `PackedB` values: lets tests observe that `deinit`/`close()` ran for a
/// particular value (also in optimised builds) without racing other tests.
enum PackedBRegistry {
  nonisolated(unsafe) private static var next: UInt64 = 0
  nonisolated(unsafe) private static var live: Set<UInt64> = []
  private static let queue = DispatchQueue(label: "SubQ.PackedBRegistry")

  static func register() -> UInt64 {
    queue.sync {
      next += 1
      live.insert(next)
      return next
    }
  }

  static func unregister(_ serial: UInt64) {
    _ = queue.sync { live.remove(serial) }
  }

  static func isLive(_ serial: UInt64) -> Bool {
    queue.sync { live.contains(serial) }
  }
}

// MARK: - gemm with a packed B

/// `C = alpha * A * B + beta * C` with B prepacked (`subq_gemm_packed`); `n` and `k` come from
/// `packedB`, which is shared by every product of a batch (`batch.strideB` is ignored).
///
/// A is `m × k` with `aStrides` (`nil`: `(k, 1)`), f32 or bf16; C is `m × n` with `cStrides`
/// (`nil`: `(n, 1)`). Semantics, determinism and thread-safety as
/// the `Span` overload of `gemm(m:n:k:alpha:a:aStrides:b:bStrides:beta:c:cStrides:batch:context:)`;
/// results are bitwise identical for any thread count, pool or executor of the same ISA path.
/// - Throws: as that function; from the library ``SubQError/Code/invalidArgument`` when the packed
///   ISA path is not allowed by `context`.
public func gemm<A: GEMMInputElement>(
  m: Int,
  alpha: Float = 1,
  a: Span<A>, aStrides: MatrixStrides? = nil,
  packedB: borrowing PackedB,
  beta: Float = 0,
  c: inout MutableSpan<Float>, cStrides: MatrixStrides? = nil,
  batch: GEMMBatch = .single,
  context: Context? = nil
) throws(SubQError) {
  try a.withUnsafeBufferPointer { (a) throws(SubQError) in
    try c.withUnsafeMutableBufferPointer { (c) throws(SubQError) in
      try gemm(
        m: m, alpha: alpha, a: a, aStrides: aStrides, packedB: packedB, beta: beta, c: c, cStrides: cStrides,
        batch: batch, context: context)
    }
  }
}

/// The packed-B GEMM over unsafe buffers. Same semantics and errors.
public func gemm<A: GEMMInputElement>(
  m: Int,
  alpha: Float = 1,
  a: UnsafeBufferPointer<A>, aStrides: MatrixStrides? = nil,
  packedB: borrowing PackedB,
  beta: Float = 0,
  c: UnsafeMutableBufferPointer<Float>, cStrides: MatrixStrides? = nil,
  batch: GEMMBatch = .single,
  context: Context? = nil
) throws(SubQError) {
  try gemmPacked(
    m: m, n: packedB.n, k: packedB.k, alpha: alpha, a: a, aStrides: aStrides, packed: packedB.raw, beta: beta,
    c: c, cStrides: cStrides, batch: batch, context: context)
}

/// The shared body; `n`/`k` are the shape the caller claims (from the packed object in the
/// public API, arbitrary in tests of the library's mismatch check).
func gemmPacked<A: GEMMInputElement>(
  m: Int, n: Int, k: Int, alpha: Float,
  a: UnsafeBufferPointer<A>, aStrides: MatrixStrides?,
  packed: OpaquePointer,
  beta: Float,
  c: UnsafeMutableBufferPointer<Float>, cStrides: MatrixStrides?,
  batch: GEMMBatch, context: Context?
) throws(SubQError) {
  let fn = "gemm(packedB:)"
  try checkShape(fn, m: m, n: n, k: k, batchCount: batch.count)
  let aType = try inputType(A.self, fn, "a")
  let aS = aStrides ?? .rowMajor(leadingDimension: max(1, k))
  let cS = cStrides ?? .rowMajor(leadingDimension: max(1, n))
  try checkExtent(
    fn, "a", count: a.count, rows: (m, "m"), cols: (k, "k"), strides: aS, stridesName: "aStrides",
    batchCount: batch.count, batchStride: batch.strideA, batchStrideName: "batch.strideA",
    touched: m > 0 && n > 0 && k > 0 && batch.count > 0)
  try checkExtent(
    fn, "c", count: c.count, rows: (m, "m"), cols: (n, "n"), strides: cS, stridesName: "cStrides",
    batchCount: batch.count, batchStride: batch.strideC, batchStrideName: "batch.strideC",
    touched: m > 0 && n > 0 && batch.count > 0)
  var args = defaultGEMMArgs()
  args.m = Int64(m)
  args.n = Int64(n)
  args.k = Int64(k)
  args.alpha = alpha
  args.beta = beta
  args.a_dtype = aType.cValue
  args.a = UnsafeRawPointer(a.baseAddress) ?? DummyStorage.a
  args.a_rs = Int64(aS.row)
  args.a_cs = Int64(aS.column)
  args.c = c.baseAddress ?? DummyStorage.c
  args.c_rs = Int64(cS.row)
  args.c_cs = Int64(cS.column)
  args.batch_count = Int64(batch.count)
  args.a_bs = Int64(batch.strideA)
  args.c_bs = Int64(batch.strideC)
  let status = withExtendedLifetime(context) { subq_gemm_packed(context.cPointer, &args, packed) }
  try SubQError.check(status)
}
