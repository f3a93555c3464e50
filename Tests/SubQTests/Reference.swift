import Dispatch
import Testing

@testable import SubQ

/// Deterministic SplitMix64 generator, so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// `count` values uniform in [-1, 1).
func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
  var rng = SplitMix64(seed: seed)
  return (0..<count).map { _ in Float.random(in: -1..<1, using: &rng) }
}

/// A strided matrix view for the reference: element (i, j) at base + i*rs + j*cs.
struct View {
  var base = 0
  var rs: Int
  var cs: Int
  func index(_ i: Int, _ j: Int) -> Int { base + i * rs + j * cs }
}

/// The Double reference of C = alpha*A*B + beta*C on one product, plus the error bound
/// |alpha| * sum_p |a_ip||b_pj| + |beta||c_ij| for each element (the magnitude that rounding
/// errors scale with).
func referenceGEMM(
  m: Int, n: Int, k: Int, alpha: Double, a: [Double], av: View, b: [Double], bv: View,
  beta: Double, c: [Double], cv: View
) -> (values: [Double], magnitudes: [Double]) {
  var out = [Double](repeating: 0, count: m * n)
  var mag = [Double](repeating: 0, count: m * n)
  for i in 0..<m {
    for j in 0..<n {
      var s = 0.0, sm = 0.0
      for p in 0..<k {
        let x = a[av.index(i, p)], y = b[bv.index(p, j)]
        s += x * y
        sm += abs(x * y)
      }
      let c0 = beta == 0 ? 0 : c[cv.index(i, j)]
      out[i * n + j] = alpha * s + beta * c0
      mag[i * n + j] = abs(alpha) * sm + abs(beta * c0)
    }
  }
  return (out, mag)
}

/// Checks every element of C (at `cv`) against the reference with an f32 error bound of
/// 2 (k + 2) u times the element's magnitude, u = 2^-24: any summation order and FMA use fit,
/// a wrong index or a missing term does not.
func expectClose(
  _ c: [Float], cv: View, m: Int, n: Int, k: Int,
  reference: (values: [Double], magnitudes: [Double]),
  _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
) {
  let u = 0x1p-24
  var failures = 0
  for i in 0..<m {
    for j in 0..<n {
      let got = Double(c[cv.index(i, j)])
      let want = reference.values[i * n + j]
      let tol = 2 * Double(k + 2) * u * reference.magnitudes[i * n + j] + 1e-30
      if !(abs(got - want) <= tol) {
        failures += 1
        if failures <= 3 {
          Issue.record(
            "\(what()): C[\(i),\(j)] = \(got), reference \(want), |diff| \(abs(got - want)) > \(tol)",
            sourceLocation: sourceLocation)
        }
      }
    }
  }
  #expect(failures == 0, "\(what()): \(failures) of \(m * n) elements outside the bound", sourceLocation: sourceLocation)
}

func doubles(_ x: [Float]) -> [Double] { x.map(Double.init) }

/// Exact bf16 values as Double (independent of the library's conversion).
func bf16ToDouble(_ bits: [UInt16]) -> [Double] {
  bits.map { Double(Float(bitPattern: UInt32($0) << 16)) }
}

/// Bitwise equality of two float arrays (NaNs compared by pattern).
func sameBits(_ x: [Float], _ y: [Float]) -> Bool {
  x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
}

/// Runs `body`, expecting it to throw a SubQError with `code` whose message contains every fragment.
func expectSubQError(
  _ code: SubQError.Code, containing fragments: [String] = [],
  sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) {
  let error = #expect(throws: SubQError.self, sourceLocation: sourceLocation) { try body() }
  guard let error else { return }
  #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
  #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
  for f in fragments {
    #expect(error.message.contains(f), "message '\(error.message)' lacks '\(f)'", sourceLocation: sourceLocation)
  }
}

/// The ISA paths to test: every known path the host supports.
let hostISAs: [ISA] = ISA.supported

/// A shape for parameterised tests.
struct Shape: Sendable, CustomTestStringConvertible {
  let m: Int, n: Int, k: Int
  var testDescription: String { "\(m)x\(n)x\(k)" }
}

/// A thread-safe counter for observing callbacks.
final class Counter: @unchecked Sendable {
  private var value = 0
  private let lock = SerialLock()
  func add(_ n: Int = 1) { lock.withLock { value += n } }
  var current: Int { lock.withLock { value } }
}

/// A tiny lock over a serial DispatchQueue (no Foundation dependency).
final class SerialLock: @unchecked Sendable {
  private let q = DispatchQueue(label: "SubQTests.lock")
  func withLock<R>(_ body: () -> R) -> R { q.sync(execute: body) }
}
