import Foundation
import Testing

@testable import SubQ

/// The Swift façade of the ternary family against small double / integer references.
@Suite struct TernaryTests {
  private func rand(_ n: Int, seed: UInt64, scale: Float) -> [Float] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<n).map { _ in
      s ^= s << 13
      s ^= s >> 7
      s ^= s << 17
      return scale * (Float(s >> 40) / Float(1 << 24) - 0.5)
    }
  }

  @Test func quantizeMatchesAbsmean() throws {
    let n = 5, k = 70
    let w = rand(n * k, seed: 1, scale: 0.1)
    let tw = try TernaryWeights(quantizing: w.span, rows: n, cols: k)
    #expect(tw.rows == n && tw.cols == k && tw.scale == .tensor)
    let (t, g) = tw.codes()
    let mean = w.reduce(0.0) { $0 + Double(abs($1)) } / Double(n * k)
    #expect(g[0] == max(Float(mean), 1e-5))
    let inv = 1 / g[0]
    for e in 0..<(n * k) {
      let want = Int8(max(-1, min(1, (w[e] * inv).rounded(.toNearestOrEven))))
      #expect(t[e] == want)
    }
    // blob and codes round trips give the same packed bytes
    let b = tw.blob
    #expect(Array(b[0..<4]) == Array("SQT2".utf8))
    #expect(try TernaryWeights(blob: b).blob == b)
    #expect(try TernaryWeights(codes: t.span, rows: n, cols: k, gammas: g).blob == b)
  }

  @Test func hfPackedVector() throws {
    // ternary spec §2.1 test vector
    let packed: [UInt8] = [0b1010_0001, 0b0001_1000, 0b1001_0000, 0b0000_1010]
    let tw = try TernaryWeights(hfPacked: packed.span, rows: 8, cols: 2, weightScale: 0.5)
    let (t, g) = tw.codes()
    #expect(t == [0, -1, -1, 1, -1, 1, -1, 1, 1, 0, 0, -1, 1, -1, 1, -1])
    #expect(g == [2])
    #expect(throws: SubQError.self) { try TernaryWeights(hfPacked: packed.span, rows: 6, cols: 2, weightScale: 1) }
  }

  @Test func bitLinearMatchesReference() throws {
    let n = 17, k = 100, tokens = 3
    let w = rand(n * k, seed: 2, scale: 0.1), x = rand(tokens * k, seed: 3, scale: 4), nw = rand(k, seed: 4, scale: 2)
    let tw = try TernaryWeights(quantizing: w.span, rows: n, cols: k, scale: .row)
    var out = [Float](repeating: 0, count: tokens * n)
    var os = out.mutableSpan
    try tw.bitLinear(tokens: tokens, x: x.span, out: &os, rmsNorm: true, normWeight: nw.span)
    var q = [Int8](repeating: 0, count: tokens * k)
    var sums = [Int32](repeating: 0, count: tokens), scales = [Float](repeating: 0, count: tokens)
    var qs = q.mutableSpan, ss = sums.mutableSpan, sc = scales.mutableSpan
    try ternaryQuantizeActivations(
      rows: tokens, cols: k, x: x.span, q: &qs, sums: &ss, scales: &sc, rmsNorm: true, normWeight: nw.span)
    #expect(sums[0] == q[0..<k].reduce(Int32(0)) { $0 + Int32($1) })
    var d = [Int32](repeating: 0, count: tokens * n)
    var ds = d.mutableSpan
    try tw.matmulInt32(tokens: tokens, q: q.span, d: &ds)
    let (t, g) = tw.codes()
    for tt in 0..<tokens {
      for r in 0..<n {
        var D = 0
        for c in 0..<k { D += Int(t[r * k + c]) * Int(q[tt * k + c]) }
        #expect(Int(d[tt * n + r]) == D)
        let want = Double(D) * Double(g[r]) * Double(scales[tt]) / 127
        #expect(abs(Double(out[tt * n + r]) - want) <= 1e-6 * abs(want) + 1e-30)
      }
    }
    var bad = [Float](repeating: 0, count: 1)
    var bs = bad.mutableSpan
    #expect(throws: SubQError.self) { try tw.bitLinear(tokens: tokens, x: x.span, out: &bs) }
  }

  @Test func hgrnPrefillThenDecodeEqualsPrefill() throws {
    let tokens = 9, ch = 20
    let i = rand(tokens * ch, seed: 5, scale: 4), f = rand(tokens * ch, seed: 6, scale: 6)
    let g = rand(tokens * ch, seed: 7, scale: 2), lb = rand(ch, seed: 8, scale: 1).map { $0 + 0.5 }
    var state = [Float](repeating: 0, count: ch), out = [Float](repeating: 0, count: tokens * ch)
    var ss = state.mutableSpan, os = out.mutableSpan
    try hgrnRecurrence(
      tokens: tokens, channels: ch, i: i.span, f: f.span, lowerBound: lb.span, gate: g.span, state: &ss, out: &os)
    // float64 reference of the state and the gated output
    var s = [Double](repeating: 0, count: ch)
    for t in 0..<tokens {
      var o = [Double](repeating: 0, count: ch)
      var sq = 0.0
      for c in 0..<ch {
        var fv = 1 / (1 + exp(-Double(f[t * ch + c])))
        fv = Double(lb[c]) + (1 - Double(lb[c])) * fv
        let iv = Double(i[t * ch + c])
        s[c] = fv * s[c] + iv / (1 + exp(-iv)) * (1 - fv)
        sq += Double(g[t * ch + c]) * Double(g[t * ch + c])
      }
      let r = 1 / (sq / Double(ch) + 1e-6).squareRoot()
      for c in 0..<ch {
        o[c] = Double(g[t * ch + c]) * r * s[c] / (1 + exp(-s[c]))
        #expect(abs(Double(out[t * ch + c]) - o[c]) <= 2e-5 * abs(o[c]) + 1e-6)
      }
    }
    // prefill 4 tokens, then 5 decode steps: the same bits
    let k0 = 4
    var st2 = [Float](repeating: 0, count: ch)
    var out2: [Float] = []
    for (t0, t1) in [(0, k0)] + (k0..<tokens).map({ ($0, $0 + 1) }) {
      let r = (t0 * ch)..<(t1 * ch)
      var chunk = [Float](repeating: 0, count: r.count)
      var s2 = st2.mutableSpan
      var o2 = chunk.mutableSpan
      try hgrnRecurrence(
        tokens: t1 - t0, channels: ch, i: i.span.extracting(r), f: f.span.extracting(r), lowerBound: lb.span,
        gate: g.span.extracting(r), state: &s2, out: &o2)
      out2 += chunk
    }
    #expect(out2 == out)
    #expect(st2 == state)
  }
}
