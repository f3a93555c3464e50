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
    guard source.count == destination.count else {
      throw .invalidArgument(
        "BF16.convert: destination has \(destination.count) elements, source has \(source.count)")
    }
    if source.isEmpty { return }
    let status = source.withUnsafeBufferPointer { src in
      destination.withUnsafeMutableBufferPointer { dst in
        subq_f32_to_bf16(src.baseAddress!, dst.baseAddress!, Int64(src.count))
      }
    }
    try SubQError.check(status)
  }

  /// Widens bf16 `source` to `Float` exactly into `destination` (`subq_bf16_to_f32`).
  /// - Throws: ``SubQError/Code/invalidArgument`` when the counts differ (checked before the C call).
  public static func convert(_ source: Span<UInt16>, to destination: inout MutableSpan<Float>) throws(SubQError) {
    guard source.count == destination.count else {
      throw .invalidArgument(
        "BF16.convert: destination has \(destination.count) elements, source has \(source.count)")
    }
    if source.isEmpty { return }
    let status = source.withUnsafeBufferPointer { src in
      destination.withUnsafeMutableBufferPointer { dst in
        subq_bf16_to_f32(src.baseAddress!, dst.baseAddress!, Int64(src.count))
      }
    }
    try SubQError.check(status)
  }

  /// `values` rounded to bf16 (round-to-nearest-even), as a new array.
  public static func encode(_ values: [Float]) -> [UInt16] {
    var out = [UInt16](repeating: 0, count: values.count)
    var dst = out.mutableSpan
    // Counts are equal by construction: the only error convert can report.
    try? convert(values.span, to: &dst)
    _ = consume dst
    return out
  }

  /// bf16 bit patterns widened exactly to `Float`, as a new array.
  public static func decode(_ bits: [UInt16]) -> [Float] {
    var out = [Float](repeating: 0, count: bits.count)
    var dst = out.mutableSpan
    try? convert(bits.span, to: &dst)
    _ = consume dst
    return out
  }
}
