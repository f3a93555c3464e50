internal import CSubQ

/// A linear layer's weight `W[rows][columns]` (outputs × inputs, as PyTorch stores it) quantized
/// once to int8 for memory-bound products such as decode and LM heads. Wraps `subq_q8_weights`.
///
/// Quantization, per row and per block of 32 columns: scale `s = max|w| / 127` rounded up to bf16,
/// code `c = round-half-even(w / s)`; the weight used is `c · s` (within `s / 2` of `w`). Activations
/// and accumulation stay f32. This changes a model's numerics: it is an opt-in, not a lossless
/// packing. 1.0625 bytes per weight (bf16 scales included) against 2 for bf16.
///
/// Thread-safety: immutable once made; share it across threads and contexts.
public final class Int8Weights: @unchecked Sendable {
  let raw: OpaquePointer
  /// Output features (rows of W).
  public let rows: Int
  /// Input features (columns of W).
  public let columns: Int

  /// Quantizes `weights` (`rows × columns`, row-major; `Float` = f32, `UInt16` = bf16 bit
  /// patterns) on `context`'s workers, placed by its NUMA mode (`nil`: the calling thread).
  /// - Throws: ``SubQError/Code/invalidArgument`` for sizes below 1, a buffer of another length, or
  ///   a NaN / infinite weight (the message names its row and column); ``SubQError/Code/outOfMemory``.
  public convenience init<W: GEMMInputElement>(
    rows: Int, columns: Int, weights: Span<W>, context: Context? = nil
  ) throws(SubQError) {
    guard rows >= 1, columns >= 1 else {
      throw .invalidArgument("Int8Weights: rows (\(rows)) and columns (\(columns)) must be >= 1")
    }
    guard rows.multipliedReportingOverflow(by: columns) == (weights.count, false) else {
      throw .invalidArgument("Int8Weights: weights has \(weights.count) elements, want rows x columns = \(rows) x \(columns)")
    }
    let dtype: subq_dtype = W.gemmInputType == .f32 ? .f32 : .bf16
    let made = try weights.withUnsafeBufferPointer { (w) throws(SubQError) in
      try Int8Weights.make(rows: rows, columns: columns, dtype: dtype, data: UnsafeRawPointer(w.baseAddress!), rowStride: columns, context: context)
    }
    self.init(raw: made, rows: rows, columns: columns)
  }

  /// From raw storage (memory-mapped checkpoints): `dtype` f32, bf16 or f16, row r at
  /// `data + r * rowStride` elements.
  init(rows: Int, columns: Int, dtype: subq_dtype, data: UnsafeRawPointer, rowStride: Int, context: Context?) throws(SubQError) {
    let made = try Int8Weights.make(rows: rows, columns: columns, dtype: dtype, data: data, rowStride: rowStride, context: context)
    self.raw = made
    self.rows = rows
    self.columns = columns
  }

  private init(raw: OpaquePointer, rows: Int, columns: Int) {
    self.raw = raw
    self.rows = rows
    self.columns = columns
  }

  private static func make(
    rows: Int, columns: Int, dtype: subq_dtype, data: UnsafeRawPointer, rowStride: Int, context: Context?
  ) throws(SubQError) -> OpaquePointer {
    var out: OpaquePointer? = nil
    let status = withExtendedLifetime(context) {
      subq_q8_weights_create(context.cPointer, Int64(rows), Int64(columns), dtype, data, Int64(rowStride), &out)
    }
    guard status == .ok, let out else { throw SubQError(status) }
    return out
  }

  deinit { subq_q8_weights_destroy(raw) }

  /// Bytes held (every NUMA replica counted).
  public var byteCount: Int { Int(subq_q8_weights_size(raw)) }

  /// The weights as the products use them (`c · s`), rows `range`, row-major.
  public func dequantized(rows range: Range<Int>) throws(SubQError) -> [Float] {
    guard range.lowerBound >= 0, range.upperBound <= rows else {
      throw .invalidArgument("Int8Weights.dequantized: rows \(range) are not inside 0..<\(rows)")
    }
    var out = [Float](repeating: 0, count: range.count * columns)
    let status = out.withUnsafeMutableBufferPointer { o in
      subq_q8_weights_dequantize(raw, Int64(range.lowerBound), Int64(range.count), o.baseAddress, Int64(columns))
    }
    try SubQError.check(status)
    return out
  }

  /// `y = x Wᵀ` for `m` rows of `x` (`m × columns`, row-major): returns `m × rows`.
  public func apply(_ x: Span<Float>, m: Int, context: Context? = nil) throws(SubQError) -> [Float] {
    guard m >= 0, m.multipliedReportingOverflow(by: columns) == (x.count, false) else {
      throw .invalidArgument("Int8Weights.apply: x has \(x.count) elements, want m x columns = \(m) x \(columns)")
    }
    var y = [Float](repeating: 0, count: m * rows)
    try x.withUnsafeBufferPointer { (x) throws(SubQError) in
      try y.withUnsafeMutableBufferPointer { (y) throws(SubQError) in
        try apply(x.baseAddress, xStride: columns, m: m, into: y.baseAddress, yStride: rows, context: context)
      }
    }
    return y
  }

  /// The pointer form (model code): rows of x `xStride` apart, of y `yStride` apart.
  func apply(
    _ x: UnsafePointer<Float>?, xStride: Int, m: Int, into y: UnsafeMutablePointer<Float>?, yStride: Int, context: Context?
  ) throws(SubQError) {
    let status = withExtendedLifetime(context) {
      subq_q8_linear(context.cPointer, Int64(m), x, Int64(xStride), raw, y, Int64(yStride))
    }
    try SubQError.check(status)
  }
}
