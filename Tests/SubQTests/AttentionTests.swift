#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing

@testable import SubQ

/// Double reference: naive attention on dense BSHD inputs (returns out BSHD and lse [B][Hq][Sq]).
func referenceAttention(
  _ s: AttentionShape, q: [Float], k: [Float], v: [Float], mask: AttentionMask, scale: Double? = nil,
  softcap: Double = 0
) -> (out: [Double], lse: [Double]) {
  let (B, Hq, Hkv, Sq, Sk, DK, DV) = (s.batch, s.queryHeads, s.kvHeads, s.queryLength, s.keyLength, s.headDimQK, s.headDimV)
  let G = Hq / Hkv
  let off = mask.alignment == .bottomRight ? Sk - Sq : 0
  let sc = scale ?? 1 / Double(DK).squareRoot()
  var out = [Double](repeating: 0, count: B * Sq * Hq * DV)
  var lse = [Double](repeating: -.infinity, count: B * Hq * Sq)
  for b in 0..<B {
    for h in 0..<Hq {
      for i in 0..<Sq {
        let p = i + off
        var scores = [Double](repeating: -.infinity, count: Sk)
        for j in 0..<Sk {
          if mask.windowLeft >= 0 && j < p - mask.windowLeft { continue }
          if mask.windowRight >= 0 && j > p + mask.windowRight { continue }
          var dot = 0.0
          for d in 0..<DK {
            dot += Double(q[((b * Sq + i) * Hq + h) * DK + d]) * Double(k[((b * Sk + j) * Hkv + h / G) * DK + d])
          }
          var x = sc * dot
          if softcap > 0 { x = softcap * tanh(x / softcap) }
          scores[j] = x
        }
        let m = scores.max() ?? -.infinity
        if m == -.infinity { continue }
        let l = scores.reduce(0.0) { $0 + ($1 == -.infinity ? 0 : exp($1 - m)) }
        for j in 0..<Sk where scores[j] != -.infinity {
          let w = exp(scores[j] - m) / l
          for d in 0..<DV {
            out[((b * Sq + i) * Hq + h) * DV + d] += w * Double(v[((b * Sk + j) * Hkv + h / G) * DV + d])
          }
        }
        lse[(b * Hq + h) * Sq + i] = m + log(l)
      }
    }
  }
  return (out, lse)
}

@Suite(.serialized) struct AttentionTests {
  static let masks: [AttentionMask] = [
    .none, .causal, .slidingWindow(keys: 5), AttentionMask(alignment: .topLeft, windowLeft: -1, windowRight: 0),
  ]

  /// GQA prefill against the Double reference on every host ISA path, every mask; lse too.
  @Test(arguments: hostISAs, 0..<4)
  func matchesReference(isa: ISA, maskIndex: Int) throws {
    let mask = Self.masks[maskIndex]
    let shape = AttentionShape(batch: 2, queryHeads: 4, kvHeads: 2, queryLength: 13, keyLength: 21, headDimQK: 24, headDimV: 20)
    let q = randomFloats(2 * 13 * 4 * 24, seed: 11), k = randomFloats(2 * 21 * 2 * 24, seed: 12)
    let v = randomFloats(2 * 21 * 2 * 20, seed: 13)
    let ref = referenceAttention(shape, q: q, k: k, v: v, mask: mask)
    var out = [Float](repeating: .nan, count: 2 * 13 * 4 * 20)
    var lse = [Float](repeating: .nan, count: 2 * 4 * 13)
    let ctx = try Context(Context.Parameters(threads: 2, maxISA: isa))
    var os = out.mutableSpan
    var ls = lse.mutableSpan
    try Attention.forward(shape: shape, q: q.span, k: k.span, v: v.span, out: &os, lse: &ls, mask: mask, context: ctx)
    _ = consume os
    _ = consume ls
    for (x, r) in zip(out, ref.out) {
      #expect(abs(Double(x) - r) <= 1e-5 + 1e-5 * abs(r), "\(isa) \(mask): \(x) vs \(r)")
    }
    for (x, r) in zip(lse, ref.lse) {
      if r == -.infinity {
        #expect(x == -.infinity)
      } else {
        #expect(abs(Double(x) - r) <= 1e-5 * (1 + abs(r)))
      }
    }
  }

  /// Split-K decode (BHSD K/V, explicit splits) matches the reference and the unsplit pass, and
  /// is bitwise identical across thread counts.
  @Test func decodeSplitK() throws {
    let shape = AttentionShape(queryHeads: 8, kvHeads: 2, queryLength: 1, keyLength: 700, headDimQK: 32)
    let q = randomFloats(8 * 32, seed: 21), kBHSD = randomFloats(2 * 700 * 32, seed: 22)
    let vBHSD = randomFloats(2 * 700 * 32, seed: 23)
    // the reference wants BSHD
    var k = [Float](repeating: 0, count: kBHSD.count), v = k
    for h in 0..<2 { for j in 0..<700 { for d in 0..<32 {
      k[(j * 2 + h) * 32 + d] = kBHSD[(h * 700 + j) * 32 + d]
      v[(j * 2 + h) * 32 + d] = vBHSD[(h * 700 + j) * 32 + d]
    } } }
    let ref = referenceAttention(shape, q: q, k: k, v: v, mask: .causal)
    let kvStrides = AttentionStrides.bhsd(sequenceLength: 700, heads: 2, headDim: 32)
    var first: [Float] = []
    for threads in [1, 2, 3] {
      var out = [Float](repeating: 0, count: 8 * 32)
      var os = out.mutableSpan
      try Attention.forward(
        shape: shape, q: q.span, k: kBHSD.span, kStrides: kvStrides, v: vBHSD.span, vStrides: kvStrides, out: &os,
        mask: .causal, kvSplit: 64, context: try Context(Context.Parameters(threads: threads)))
      _ = consume os
      for (x, r) in zip(out, ref.out) { #expect(abs(Double(x) - r) <= 1e-5 + 1e-5 * abs(r)) }
      if first.isEmpty { first = out } else { #expect(sameBits(first, out), "\(threads) threads differ") }
    }
  }

  /// Bad arguments throw invalidArgument naming the argument, before or inside the C call.
  @Test func badArguments() throws {
    let shape = AttentionShape(queryHeads: 4, kvHeads: 2, queryLength: 3, keyLength: 5, headDimQK: 8)
    let q = [Float](repeating: 0, count: 3 * 4 * 8), k = [Float](repeating: 0, count: 5 * 2 * 8)
    var out = [Float](repeating: 0, count: 3 * 4 * 8)
    func expectError(_ needle: String, _ body: (inout MutableSpan<Float>) throws(SubQError) -> Void) {
      var os = out.mutableSpan
      do throws(SubQError) {
        try body(&os)
        Issue.record("no error, expected \(needle)")
      } catch {
        #expect(error.code == .invalidArgument && error.message.contains(needle), "\(error.message)")
      }
    }
    expectError("kvHeads") { (o) throws(SubQError) in
      var s = shape
      s.kvHeads = 3
      try Attention.forward(shape: s, q: q.span, k: k.span, v: k.span, out: &o)
    }
    expectError("headDimQK") { (o) throws(SubQError) in
      var s = shape
      s.headDimQK = 300
      try Attention.forward(shape: s, q: q.span, k: k.span, v: k.span, out: &o)
    }
    expectError("windowLeft") { (o) throws(SubQError) in
      try Attention.forward(
        shape: shape, q: q.span, k: k.span, v: k.span, out: &o, mask: AttentionMask(windowLeft: -4, windowRight: 0))
    }
    expectError("k has") { (o) throws(SubQError) in
      try Attention.forward(shape: shape, q: q.span, k: k.span.extracting(0..<10), v: k.span, out: &o)
    }
    expectError("qStrides.head") { (o) throws(SubQError) in
      try Attention.forward(
        shape: shape, q: q.span, qStrides: AttentionStrides(batch: 0, sequence: 32, head: -8), k: k.span, v: k.span, out: &o)
    }
    expectError("o_hs") { (o) throws(SubQError) in  // heads of out overlap: the library's check
      try Attention.forward(
        shape: shape, q: q.span, k: k.span, v: k.span, out: &o, outStrides: AttentionStrides(batch: 0, sequence: 32, head: 4))
    }
  }
}
