internal import CSubQ

/// Conversions between `Float` and bfloat16, which SubQ carries as `UInt16` bit patterns (the
/// upper 16 bits of an IEEE binary32).
///
/// Thread-safety: every member may be used from any thread.
public enum BF16 {
  /// Converts `source` to bf16 with round-to-nearest-even (NaN stays NaN) into `destination`
  /// (`subq_f32_to_bf16`).
  /// - Throws: ``SubQError/Code/invalidArgument`` when the counts differ (checked before the C call).
  public static func convert(_ source: Span<Float>, to destination: inout MutableSpan<UInt16>) throws(SubQError) {
    try HalfConversion.run("BF16.convert", source, &destination) { subq_f32_to_bf16($0, $1, $2) }
  }

  /// Widens bf16 `source` to `Float` exactly into `destination` (`subq_bf16_to_f32`).
  /// - Throws: ``SubQError/Code/invalidArgument`` when the counts differ (checked before the C call).
  public static func convert(_ source: Span<UInt16>, to destination: inout MutableSpan<Float>) throws(SubQError) {
    try HalfConversion.run("BF16.convert", source, &destination) { subq_bf16_to_f32($0, $1, $2) }
  }

  /// `values` rounded to bf16 (round-to-nearest-even), as a new array.
  public static func encode(_ values: [Float]) -> [UInt16] {
    HalfConversion.array(values, zero: 0) { (src, dst) throws(SubQError) in try convert(src, to: &dst) }
  }

  /// bf16 bit patterns widened exactly to `Float`, as a new array.
  public static func decode(_ bits: [UInt16]) -> [Float] {
    HalfConversion.array(bits, zero: 0) { (src, dst) throws(SubQError) in try convert(src, to: &dst) }
  }
}

/// What ``BF16`` and ``F16`` share: a count check, then one C call over both buffers.
enum HalfConversion {
  static func run<S, D>(
    _ api: String, _ source: Span<S>, _ destination: inout MutableSpan<D>,
    _ c: (UnsafePointer<S>, UnsafeMutablePointer<D>, Int64) -> subq_status
  ) throws(SubQError) {
    guard source.count == destination.count else {
      throw .invalidArgument("\(api): destination has \(destination.count) elements, source has \(source.count)")
    }
    if source.isEmpty { return }
    let status = source.withUnsafeBufferPointer { src in
      destination.withUnsafeMutableBufferPointer { dst in c(src.baseAddress!, dst.baseAddress!, Int64(src.count)) }
    }
    try SubQError.check(status)
  }

  /// `values` converted into a new array. The counts are equal by construction: the only error
  /// `convert` can report.
  static func array<S, D>(
    _ values: [S], zero: D, _ convert: (Span<S>, inout MutableSpan<D>) throws(SubQError) -> Void
  ) -> [D] {
    var out = [D](repeating: zero, count: values.count)
    var dst = out.mutableSpan
    try? convert(values.span, &dst)
    _ = consume dst
    return out
  }
}
