import Foundation

/// Picks the next token from a row of logits: greedy (temperature 0) or seeded sampling with
/// temperature, top-k and top-p (nucleus), applied in that order as transformers' generate does
/// (temperature scaling, then top-k, then top-p over the renormalised distribution).
///
/// Deterministic for a given seed. Logit indices at or beyond `validVocab` are never chosen
/// (Mamba checkpoints pad the vocabulary: 50280 logits for 50277 tokens).
///
/// Thread-safety: a value with its own random state; use one per generation.
public struct Sampler: Sendable {
  public var temperature: Float
  public var topK: Int
  public var topP: Float
  private var rng: Xoshiro256

  /// temperature 0 = greedy (argmax, lowest index on ties); topK 0 = off; topP 1 = off.
  public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) throws(SubQError) {
    guard temperature >= 0, temperature.isFinite else { throw .invalidArgument("Sampler: temperature must be >= 0 and finite") }
    guard topK >= 0 else { throw .invalidArgument("Sampler: topK must be >= 0") }
    guard topP > 0, topP <= 1 else { throw .invalidArgument("Sampler: topP must be in (0, 1]") }
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    rng = Xoshiro256(seed: seed)
  }

  /// Greedy choice: the index of the largest logit (NaN logits are skipped).
  public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
    var best = 0
    var bestV = -Float.infinity
    for (i, v) in logits.enumerated() where v > bestV {
      best = i
      bestV = v
    }
    return best
  }

  public mutating func sample(_ logits: UnsafeBufferPointer<Float>, validVocab: Int? = nil) -> Int {
    let n = min(validVocab ?? logits.count, logits.count)
    let row = UnsafeBufferPointer(rebasing: logits[0..<n])
    if temperature == 0 { return Sampler.argmax(row) }
    // candidates sorted by logit, descending (stable: lower index first on ties)
    var idx = Array(0..<n).filter { !row[$0].isNaN }
    if idx.isEmpty { return 0 }
    idx.sort { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
    if topK > 0, topK < idx.count { idx.removeLast(idx.count - topK) }
    let maxL = Double(row[idx[0]])
    var probs = idx.map { exp((Double(row[$0]) - maxL) / Double(temperature)) }
    var total = probs.reduce(0, +)
    if topP < 1 {
      // keep the smallest prefix whose mass reaches topP (at least one token)
      var acc = 0.0
      var keep = probs.count
      for (i, p) in probs.enumerated() {
        acc += p / total
        if acc >= Double(topP) { keep = i + 1; break }
      }
      probs.removeLast(probs.count - keep)
      idx.removeLast(idx.count - keep)
      total = probs.reduce(0, +)
    }
    let u = rng.nextDouble() * total
    var acc = 0.0
    for (i, p) in probs.enumerated() {
      acc += p
      if u < acc { return idx[i] }
    }
    return idx[idx.count - 1]
  }
}

/// xoshiro256** seeded through SplitMix64: small, fast, and the same sequence on every platform.
struct Xoshiro256: Sendable {
  private var s: (UInt64, UInt64, UInt64, UInt64)

  init(seed: UInt64) {
    var x = seed
    func splitmix() -> UInt64 {
      x &+= 0x9E37_79B9_7F4A_7C15
      var z = x
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    s = (splitmix(), splitmix(), splitmix(), splitmix())
  }

  mutating func next() -> UInt64 {
    let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
    let t = s.1 << 17
    s.2 ^= s.0
    s.3 ^= s.1
    s.1 ^= s.2
    s.0 ^= s.3
    s.2 ^= t
    s.3 = (s.3 << 45) | (s.3 >> 19)
    return result
  }

  /// Uniform in [0, 1) with 53 random bits.
  mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
