// Helpers shared by the wrappers that hand Swift spans to the C library.

/// Calls `body` with the span's buffer, or with `nil` when there is no span (an optional C
/// argument).
func withOptionalSpan<T, R>(
  _ s: Span<T>?, _ body: (UnsafeBufferPointer<T>?) throws(SubQError) -> R
) throws(SubQError) -> R {
  if let s { return try s.withUnsafeBufferPointer { (p) throws(SubQError) in try body(p) } }
  return try body(nil)
}
