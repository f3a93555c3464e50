internal import CSubQ

// Dense GEMM, C = alpha * A * B + beta * C, over subq_gemm / subq_sgemm (Include/subq/subq_gemm.h).

/// Element type of a GEMM input operand (`subq_dtype`).
public enum GEMMInputType: Sendable, Hashable {
  /// IEEE binary32 (`Float`), 4 bytes.
  case f32
  /// bfloat16 stored as its `UInt16` bit pattern (the upper half of an IEEE binary32), 2 bytes.
  /// The values are used exactly (widened to f32 without rounding).
  case bf16

  /// Bytes per element.
  public var byteCount: Int {
    switch self {
    case .f32: 4
    case .bf16: 2
    }
  }

  var cValue: subq_dtype {
    switch self {
    case .f32: .f32
    case .bf16: .bf16
    }
  }
}

/// A Swift element type usable as a GEMM input (A or B): `Float` (f32) or `UInt16` (bf16 bit
/// patterns, see ``BF16``). Other conformances are rejected at run time unless their size matches
/// ``gemmInputType``'s.
public protocol GEMMInputElement: BitwiseCopyable {
  /// How SubQ interprets elements of this type.
  static var gemmInputType: GEMMInputType { get }
}

/// `Float` is the f32 GEMM input type.
extension Float: GEMMInputElement {
  /// `Float` elements are f32.
  public static var gemmInputType: GEMMInputType { .f32 }
}

/// `UInt16` is the bf16 GEMM input type: each value is a bfloat16 bit pattern, not an integer.
extension UInt16: GEMMInputElement {
  /// `UInt16` elements are bf16 bit patterns (not integers).
  public static var gemmInputType: GEMMInputType { .bf16 }
}

/// Element strides of a matrix: element (i, j) is at `base + i * row + j * column`.
///
/// Strides are in elements, not bytes. A stride must be ≥ 1 for a dimension larger than one;
/// for a dimension of size one it is ignored. Row-major storage with leading dimension `ld` is
/// `(row: ld, column: 1)`; column-major is `(row: 1, column: ld)`; a transposed view swaps them.
/// Thread-safety: a plain value.
public struct MatrixStrides: Sendable, Hashable, CustomStringConvertible {
  /// Elements between consecutive rows.
  public var row: Int
  /// Elements between consecutive columns.
  public var column: Int

  /// Strides `(row, column)`.
  public init(row: Int, column: Int) {
    self.row = row
    self.column = column
  }

  /// Row-major with `leadingDimension` elements per stored row: `(leadingDimension, 1)`.
  public static func rowMajor(leadingDimension: Int) -> MatrixStrides {
    MatrixStrides(row: leadingDimension, column: 1)
  }

  /// Column-major with `leadingDimension` elements per stored column: `(1, leadingDimension)`.
  public static func columnMajor(leadingDimension: Int) -> MatrixStrides {
    MatrixStrides(row: 1, column: leadingDimension)
  }

  /// The same memory read as the transposed matrix: `(column, row)`.
  public var transposed: MatrixStrides { MatrixStrides(row: column, column: row) }

  /// `"(row R, column C)"`.
  public var description: String { "(row \(row), column \(column))" }
}

/// A strided batch of independent GEMMs: product `t` (0 ≤ t < `count`) uses the matrices starting
/// `t * strideA`, `t * strideB` and `t * strideC` elements after the bases of A, B and C.
///
/// A batch stride of 0 shares that operand across the batch (allowed for A and B, not for C when
/// `count > 1`). Batch strides must not be negative. Thread-safety: a plain value.
public struct GEMMBatch: Sendable, Hashable {
  /// Number of products (≥ 0; 0 touches nothing).
  public var count: Int
  /// Elements between consecutive A matrices.
  public var strideA: Int
  /// Elements between consecutive B matrices (ignored with a ``PackedB``, which is shared).
  public var strideB: Int
  /// Elements between consecutive C matrices.
  public var strideC: Int

  /// A batch of `count` products with the given element strides.
  public init(count: Int, strideA: Int, strideB: Int, strideC: Int) {
    self.count = count
    self.strideA = strideA
    self.strideB = strideB
    self.strideC = strideC
  }

  /// One product (count 1, strides 0).
  public static let single = GEMMBatch(count: 1, strideA: 0, strideB: 0, strideC: 0)
}

// MARK: - gemm

/// General matrix product `C = alpha * A * B + beta * C` with arbitrary element strides and an
/// optional strided batch (`subq_gemm`).
///
/// - A is `m × k`, element `(i, p)` at `a[i * aStrides.row + p * aStrides.column]`;
///   B is `k × n`, element `(p, j)` at `b[p * bStrides.row + j * bStrides.column]`;
///   C is `m × n`, element `(i, j)` at `c[i * cStrides.row + j * cStrides.column]`;
///   `nil` strides mean contiguous row-major (`(k, 1)`, `(n, 1)`, `(n, 1)`; a 0 leading dimension becomes 1).
///   BLAS's `op(A) = Aᵀ` is expressed by passing the stored matrix's strides ``MatrixStrides/transposed``.
/// - A and B are each f32 (`Float`) or bf16 (`UInt16` bit patterns); C is f32; accumulation is f32.
/// - `beta == 0` writes C without reading it (NaN/Inf in C do not propagate); `alpha == 0` or
///   `k == 0` scales C by `beta`. Empty problems (`m`, `n` or `batch.count` 0) touch nothing.
/// - No copies: the spans are passed to the kernel in place. C must not overlap A or B.
/// - Results are bitwise identical for any thread count, pool or executor of contexts with the
///   same ISA path (work is split over tiles of C, never over k). `context == nil` runs on the
///   calling thread with the host's best ISA.
///
/// Thread-safety: may be called from any thread; calls on one context are serialised. Synchronous
/// and CPU-bound: do not call it on the main actor.
///
/// - Throws: ``SubQError/Code/invalidArgument`` before any C call when `m`, `n`, `k` or the batch
///   count is negative, a stride is below 1 for a dimension larger than one, a batch stride is
///   negative, the offsets overflow, or a buffer holds fewer elements than the shape and strides
///   address; from the library ``SubQError/Code/invalidArgument`` for C strides under which two
///   elements of C share an address, a C batch stride of 0 with `count > 1`, or C overlapping A or B;
///   ``SubQError/Code/outOfMemory`` for scratch.
public func gemm<A: GEMMInputElement, B: GEMMInputElement>(
  m: Int, n: Int, k: Int,
  alpha: Float = 1,
  a: Span<A>, aStrides: MatrixStrides? = nil,
  b: Span<B>, bStrides: MatrixStrides? = nil,
  beta: Float = 0,
  c: inout MutableSpan<Float>, cStrides: MatrixStrides? = nil,
  batch: GEMMBatch = .single,
  context: Context? = nil
) throws(SubQError) {
  try a.withUnsafeBufferPointer { (a) throws(SubQError) in
    try b.withUnsafeBufferPointer { (b) throws(SubQError) in
      try c.withUnsafeMutableBufferPointer { (c) throws(SubQError) in
        try gemm(
          m: m, n: n, k: k, alpha: alpha, a: a, aStrides: aStrides, b: b, bStrides: bStrides,
          beta: beta, c: c, cStrides: cStrides, batch: batch, context: context)
      }
    }
  }
}

/// The `Span` overload of `gemm(m:n:k:alpha:a:aStrides:b:bStrides:beta:c:cStrides:batch:context:)`
/// over unsafe buffers (mmap'd or foreign memory). Same shapes, strides, semantics and errors; the
/// buffers' counts bound what may be addressed, and the pointers are used only during the call.
public func gemm<A: GEMMInputElement, B: GEMMInputElement>(
  m: Int, n: Int, k: Int,
  alpha: Float = 1,
  a: UnsafeBufferPointer<A>, aStrides: MatrixStrides? = nil,
  b: UnsafeBufferPointer<B>, bStrides: MatrixStrides? = nil,
  beta: Float = 0,
  c: UnsafeMutableBufferPointer<Float>, cStrides: MatrixStrides? = nil,
  batch: GEMMBatch = .single,
  context: Context? = nil
) throws(SubQError) {
  let fn = "gemm"
  try checkShape(fn, m: m, n: n, k: k, batchCount: batch.count)
  let aType = try inputType(A.self, fn, "a")
  let bType = try inputType(B.self, fn, "b")
  let aS = aStrides ?? .rowMajor(leadingDimension: max(1, k))
  let bS = bStrides ?? .rowMajor(leadingDimension: max(1, n))
  let cS = cStrides ?? .rowMajor(leadingDimension: max(1, n))
  let readsInputs = m > 0 && n > 0 && k > 0 && batch.count > 0
  let writesC = m > 0 && n > 0 && batch.count > 0
  try checkExtent(
    fn, "a", count: a.count, rows: (m, "m"), cols: (k, "k"), strides: aS, stridesName: "aStrides",
    batchCount: batch.count, batchStride: batch.strideA, batchStrideName: "batch.strideA", touched: readsInputs)
  try checkExtent(
    fn, "b", count: b.count, rows: (k, "k"), cols: (n, "n"), strides: bS, stridesName: "bStrides",
    batchCount: batch.count, batchStride: batch.strideB, batchStrideName: "batch.strideB", touched: readsInputs)
  try checkExtent(
    fn, "c", count: c.count, rows: (m, "m"), cols: (n, "n"), strides: cS, stridesName: "cStrides",
    batchCount: batch.count, batchStride: batch.strideC, batchStrideName: "batch.strideC", touched: writesC)

  var args = defaultGEMMArgs()
  args.m = Int64(m)
  args.n = Int64(n)
  args.k = Int64(k)
  args.alpha = alpha
  args.beta = beta
  args.a_dtype = aType.cValue
  args.b_dtype = bType.cValue
  args.a = UnsafeRawPointer(a.baseAddress) ?? DummyStorage.a
  args.a_rs = Int64(aS.row)
  args.a_cs = Int64(aS.column)
  args.b = UnsafeRawPointer(b.baseAddress) ?? DummyStorage.b
  args.b_rs = Int64(bS.row)
  args.b_cs = Int64(bS.column)
  args.c = c.baseAddress ?? DummyStorage.c
  args.c_rs = Int64(cS.row)
  args.c_cs = Int64(cS.column)
  args.batch_count = Int64(batch.count)
  args.a_bs = Int64(batch.strideA)
  args.b_bs = Int64(batch.strideB)
  args.c_bs = Int64(batch.strideC)
  let status = withExtendedLifetime(context) { subq_gemm(context.cPointer, &args) }
  try SubQError.check(status)
}

// MARK: - sgemm

/// Row-major GEMM with transpose flags, as `cblas_sgemm(CblasRowMajor, …)` (`subq_sgemm`):
/// `C = alpha * op(A) * op(B) + beta * C`.
///
/// - A is stored `m × k` row-major (`k × m` when `transposeA`) with `lda` elements per stored row;
///   B is stored `k × n` (`n × k` when `transposeB`) with `ldb`; C is `m × n` with `ldc`.
///   `nil` leading dimensions mean the stored row length (contiguous storage; at least 1).
/// - Semantics, determinism, thread-safety and library errors as the `Span` overload of `gemm(m:n:k:alpha:a:aStrides:b:bStrides:beta:c:cStrides:batch:context:)`.
/// - Throws: ``SubQError/Code/invalidArgument`` before any C call for negative sizes, a leading
///   dimension smaller than its stored row length, or a buffer shorter than
///   `(storedRows - 1) * ld + rowLength` elements.
public func sgemm(
  transposeA: Bool = false, transposeB: Bool = false,
  m: Int, n: Int, k: Int,
  alpha: Float = 1,
  a: Span<Float>, lda: Int? = nil,
  b: Span<Float>, ldb: Int? = nil,
  beta: Float = 0,
  c: inout MutableSpan<Float>, ldc: Int? = nil,
  context: Context? = nil
) throws(SubQError) {
  try a.withUnsafeBufferPointer { (a) throws(SubQError) in
    try b.withUnsafeBufferPointer { (b) throws(SubQError) in
      try c.withUnsafeMutableBufferPointer { (c) throws(SubQError) in
        try sgemm(
          transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, context: context)
      }
    }
  }
}

/// The `Span` overload of `sgemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:context:)`
/// over unsafe buffers. Same semantics and errors; pointers are used only during the call.
public func sgemm(
  transposeA: Bool = false, transposeB: Bool = false,
  m: Int, n: Int, k: Int,
  alpha: Float = 1,
  a: UnsafeBufferPointer<Float>, lda: Int? = nil,
  b: UnsafeBufferPointer<Float>, ldb: Int? = nil,
  beta: Float = 0,
  c: UnsafeMutableBufferPointer<Float>, ldc: Int? = nil,
  context: Context? = nil
) throws(SubQError) {
  let fn = "sgemm"
  try checkShape(fn, m: m, n: n, k: k, batchCount: 1)
  // Stored shapes (rows × row length) of the three arrays.
  let aRows = transposeA ? k : m, aLen = transposeA ? m : k
  let bRows = transposeB ? n : k, bLen = transposeB ? k : n
  let ldA = lda ?? max(1, aLen), ldB = ldb ?? max(1, bLen), ldC = ldc ?? max(1, n)
  let readsInputs = m > 0 && n > 0 && k > 0
  let writesC = m > 0 && n > 0
  try checkLeading(fn, "a", count: a.count, rows: aRows, rowLength: aLen, ld: ldA, ldName: "lda", touched: readsInputs)
  try checkLeading(fn, "b", count: b.count, rows: bRows, rowLength: bLen, ld: ldB, ldName: "ldb", touched: readsInputs)
  try checkLeading(fn, "c", count: c.count, rows: m, rowLength: n, ld: ldC, ldName: "ldc", touched: writesC)
  let status = withExtendedLifetime(context) {
    subq_sgemm(
      context.cPointer, transposeA, transposeB, Int64(m), Int64(n), Int64(k), alpha,
      a.baseAddress ?? DummyStorage.a.assumingMemoryBound(to: Float.self), Int64(ldA),
      b.baseAddress ?? DummyStorage.b.assumingMemoryBound(to: Float.self), Int64(ldB), beta,
      c.baseAddress ?? DummyStorage.c, Int64(ldC))
  }
  try SubQError.check(status)
}

// MARK: - validation helpers (shared with PackedB)

func defaultGEMMArgs() -> subq_gemm_args {
  var args = subq_gemm_args()
  subq_gemm_args_default(&args, MemoryLayout<subq_gemm_args>.size)
  return args
}

/// Non-null, distinct, never-accessed addresses passed for empty buffers (whose base address is
/// `nil`) when the call touches no element of them: the C API rejects NULL, and distinct
/// addresses keep its overlap check quiet.
enum DummyStorage {
  nonisolated(unsafe) static let base = UnsafeMutableRawPointer.allocate(byteCount: 192, alignment: 64)
  static var a: UnsafeRawPointer { UnsafeRawPointer(base) }
  static var b: UnsafeRawPointer { UnsafeRawPointer(base + 64) }
  static var c: UnsafeMutablePointer<Float> { (base + 128).assumingMemoryBound(to: Float.self) }
}

func inputType<T: GEMMInputElement>(_: T.Type, _ fn: String, _ name: String) throws(SubQError) -> GEMMInputType {
  let type = T.gemmInputType
  guard MemoryLayout<T>.stride == type.byteCount else {
    throw .invalidArgument(
      "\(fn): \(name)'s element type \(T.self) has stride \(MemoryLayout<T>.stride) bytes, but \(type) needs \(type.byteCount)")
  }
  return type
}

func checkShape(_ fn: String, m: Int, n: Int, k: Int, batchCount: Int) throws(SubQError) {
  for (value, name) in [(m, "m"), (n, "n"), (k, "k"), (batchCount, "batch.count")] where value < 0 {
    throw .invalidArgument("\(fn): \(name) (\(value)) must not be negative")
  }
  // The C ABI takes int64_t; Int is 64-bit on every supported platform, but be explicit.
  for (value, name) in [(m, "m"), (n, "n"), (k, "k"), (batchCount, "batch.count")] where Int64(exactly: value) == nil {
    throw .invalidArgument("\(fn): \(name) (\(value)) does not fit in Int64")
  }
}

/// Checks that a `rows × cols` matrix (times a batch) addressed with `strides` lies inside a
/// buffer of `count` elements. `touched == false` (the call reads/writes no element) skips the
/// extent check but still validates strides.
func checkExtent(
  _ fn: String, _ name: String, count: Int,
  rows: (Int, String), cols: (Int, String),
  strides: MatrixStrides, stridesName: String,
  batchCount: Int, batchStride: Int, batchStrideName: String,
  touched: Bool
) throws(SubQError) {
  if rows.0 > 1 && strides.row < 1 {
    throw .invalidArgument("\(fn): \(stridesName).row (\(strides.row)) must be >= 1 when \(rows.1) (\(rows.0)) > 1")
  }
  if cols.0 > 1 && strides.column < 1 {
    throw .invalidArgument(
      "\(fn): \(stridesName).column (\(strides.column)) must be >= 1 when \(cols.1) (\(cols.0)) > 1")
  }
  if batchCount > 1 && batchStride < 0 {
    throw .invalidArgument("\(fn): \(batchStrideName) (\(batchStride)) must not be negative")
  }
  guard touched else { return }
  // Largest offset: (batch-1)*bs + (rows-1)*rs + (cols-1)*cs; every term is >= 0 here.
  var last = 0
  for (extent, stride) in [(batchCount, batchStride), (rows.0, strides.row), (cols.0, strides.column)] where extent > 1 {
    let (term, o1) = (extent - 1).multipliedReportingOverflow(by: stride)
    let (sum, o2) = last.addingReportingOverflow(term)
    if o1 || o2 {
      throw .invalidArgument("\(fn): the offsets of \(name) overflow Int (\(rows.1)=\(rows.0), \(cols.1)=\(cols.0), \(stridesName) \(strides))")
    }
    last = sum
  }
  let needed = last + 1
  if count < needed {
    throw .invalidArgument(
      "\(fn): \(name) has \(count) elements, but \(rows.1)=\(rows.0), \(cols.1)=\(cols.0) with \(stridesName) \(strides)"
        + (batchCount > 1 ? " and \(batchStrideName)=\(batchStride) over \(batchCount) matrices" : "")
        + " address \(needed)")
  }
}

/// Row-major storage check for sgemm: `rows` stored rows of `rowLength` elements, `ld` apart.
func checkLeading(
  _ fn: String, _ name: String, count: Int, rows: Int, rowLength: Int, ld: Int, ldName: String, touched: Bool
) throws(SubQError) {
  if rows > 0 && ld < max(1, rowLength) {
    throw .invalidArgument("\(fn): \(ldName) (\(ld)) is smaller than the stored row length of \(name) (\(rowLength))")
  }
  guard touched, rows > 0, rowLength > 0 else { return }
  let (span, o1) = (rows - 1).multipliedReportingOverflow(by: ld)
  let (needed, o2) = span.addingReportingOverflow(rowLength)
  if o1 || o2 { throw .invalidArgument("\(fn): the offsets of \(name) overflow Int (\(ldName)=\(ld))") }
  if count < needed {
    throw .invalidArgument(
      "\(fn): \(name) has \(count) elements, but \(rows) rows of \(rowLength) with \(ldName)=\(ld) address \(needed)")
  }
}
