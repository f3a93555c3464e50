import Foundation
import Testing

@testable import SubQ

/// Double parallel (quadratic) reference of causal linear attention for one sequence, dense
/// `[t][h][d]` inputs: Taylor `1 + s + s²/2` or identity `scale·q·k` kernels, optional scalar log
/// gates `[t][h]` (weights `exp(G_i - G_j)`), DENOM or no normalisation, zero initial state.
private func refLinearAttention(
  t: Int, h: Int, dk: Int, dv: Int, taylor: Bool, denom: Bool, q: [Float], k: [Float], v: [Float], g: [Float]?
) -> [Double] {
  let scale = Double(Float(1.0 / Double(dk).squareRoot()))
  var out = [Double](repeating: 0, count: t * h * dv)
  for hh in 0..<h {
    var G = [Double](repeating: 0, count: t)
    var run = 0.0
    for i in 0..<t {
      run += g.map { Double($0[i * h + hh]) } ?? 0
      G[i] = run
    }
    for i in 0..<t {
      var y = [Double](repeating: 0, count: dv)
      var z = 0.0
      for j in 0...i {
        var s = 0.0
        for d in 0..<dk { s += Double(q[(i * h + hh) * dk + d]) * Double(k[(j * h + hh) * dk + d]) }
        s *= scale
        var w = taylor ? 1 + s + s * s / 2 : s
        if g != nil { w *= exp(G[i] - G[j]) }
        for e in 0..<dv { y[e] += w * Double(v[(j * h + hh) * dv + e]) }
        z += w
      }
      for e in 0..<dv { out[(i * h + hh) * dv + e] = denom ? y[e] / (z + 1e-6) : y[e] }
    }
  }
  return out
}

private func relRMS(_ got: [Float], _ ref: [Double]) -> Double {
  var num = 0.0, den = 0.0
  for (a, b) in zip(got, ref) {
    num += (Double(a) - b) * (Double(a) - b)
    den += b * b
  }
  return (num / max(den, 1e-300)).squareRoot()
}

@Suite(.serialized) struct LinearAttentionTests {
  static func context(_ isa: ISA, threads: Int = 2) throws -> Context {
    var p = Context.Parameters(threads: threads, maxISA: isa)
    p.flags = [.noSpin]
    return try Context(p)
  }

  /// BASED Taylor (DENOM) and a simple-GLA identity layer against the Double reference; prefill
  /// of 50 tokens then decode steps agree with one prefill of 77 tokens.
  @Test(arguments: hostISAs)
  func matchesReference(isa: ISA) throws {
    let ctx = try Self.context(isa)
    let t = 77, h = 3, dk = 16, dv = 20
    let q = randomFloats(t * h * dk, seed: 1).map { $0 * 2 }, k = randomFloats(t * h * dk, seed: 2).map { $0 * 2 }
    let v = randomFloats(t * h * dv, seed: 3)
    let gates = randomFloats(t * h, seed: 4).map { -0.3 - 0.2 * abs($0) }
    for gated in [false, true] {
      let cfg = LinearAttentionConfig(
        heads: h, dimQK: dk, dimV: dv, featureMap: gated ? .identity : .taylor,
        normalization: gated ? .none : .denominator, gate: gated ? .scalar : .none, chunk: 16)
      #expect(cfg.featureDim == (gated ? 16 : 153))
      let ref = refLinearAttention(
        t: t, h: h, dk: dk, dv: dv, taylor: !gated, denom: !gated, q: q, k: k, v: v, g: gated ? gates : nil)
      var out = [Float](repeating: 0, count: t * h * dv), st = [Float](repeating: 0, count: cfg.stateCount)
      do {
        var os = out.mutableSpan, ss = st.mutableSpan
        try linearAttentionPrefill(
          cfg, batch: 1, seqlen: t, q: q.span, k: k.span, v: v.span, logGate: gated ? gates.span : nil, state: &ss,
          out: &os, context: ctx)
      }
      #expect(relRMS(out, ref) <= 1e-5, "\(isa) gated \(gated): rel-RMS \(relRMS(out, ref))")
      // prefill 50 tokens, then one decode step per token
      let p = 50
      var out2 = [Float](repeating: 0, count: t * h * dv), st2 = [Float](repeating: 0, count: cfg.stateCount)
      do {
        var os = out2.mutableSpan, ss = st2.mutableSpan
        try linearAttentionPrefill(
          cfg, batch: 1, seqlen: p, q: q.span, k: k.span, v: v.span, logGate: gated ? gates.span : nil, state: &ss,
          out: &os, context: ctx)
      }
      for tt in p..<t {
        let qs = Array(q[(tt * h * dk)..<((tt + 1) * h * dk)]), ks = Array(k[(tt * h * dk)..<((tt + 1) * h * dk)])
        let vs = Array(v[(tt * h * dv)..<((tt + 1) * h * dv)]), gs = Array(gates[(tt * h)..<((tt + 1) * h)])
        var ot = [Float](repeating: 0, count: h * dv)
        do {
          var os = ot.mutableSpan, ss = st2.mutableSpan
          try linearAttentionDecode(
            cfg, batch: 1, q: qs.span, k: ks.span, v: vs.span, logGate: gated ? gs.span : nil, state: &ss, out: &os,
            context: ctx)
        }
        out2.replaceSubrange((tt * h * dv)..<((tt + 1) * h * dv), with: ot)
      }
      #expect(relRMS(out2, out.map(Double.init)) <= 1e-5, "\(isa) gated \(gated): prefill + decode differ")
      #expect(relRMS(st2, st.map(Double.init)) <= 1e-5, "\(isa) gated \(gated): states differ")
    }
  }

  /// The compact Taylor map gives 1 + s + s²/2 as a 153-term dot product.
  @Test func taylorFeatureMap() throws {
    let x = randomFloats(2 * 16, seed: 7)
    var phi = [Float](repeating: 0, count: 2 * 153)
    do {
      var ps = phi.mutableSpan
      try linearAttentionFeatureMap(.taylor, dimQK: 16, isQuery: true, rows: 2, x: x.span, out: &ps)
    }
    var dot = 0.0, s = 0.0
    for d in 0..<153 { dot += Double(phi[d]) * Double(phi[153 + d]) }
    for d in 0..<16 { s += Double(x[d]) * Double(x[16 + d]) }
    s *= Double(Float(0.25))
    #expect(abs(dot - (1 + s + s * s / 2)) <= 1e-6)
  }

  /// Short buffers are refused in Swift; library checks surface as SubQError.
  @Test func errors() throws {
    let small = [Float](repeating: 0, count: 4), big = [Float](repeating: 0, count: 4096)
    var o = [Float](repeating: 0, count: 4096), st = [Float](repeating: 0, count: 4096)
    expectSubQError(.invalidArgument, containing: ["linearAttentionPrefill", "q holds 4"]) {
      var os = o.mutableSpan, ss = st.mutableSpan
      try linearAttentionPrefill(
        LinearAttentionConfig(heads: 2, dimQK: 4, dimV: 4), batch: 1, seqlen: 3, q: small.span, k: big.span,
        v: big.span, state: &ss, out: &os)
    }
    expectSubQError(.invalidArgument, containing: ["gate PER_KEY needs"]) {
      var os = o.mutableSpan, ss = st.mutableSpan
      try linearAttentionPrefill(
        LinearAttentionConfig(heads: 2, dimQK: 4, dimV: 4, gate: .perKey), batch: 1, seqlen: 3, q: big.span,
        k: big.span, v: big.span, logGate: big.span, state: &ss, out: &os)
    }
    expectSubQError(.invalidArgument, containing: ["log_gate (0.5"]) {
      var g = [Float](repeating: -1, count: 64)
      g[3] = 0.5
      var os = o.mutableSpan, ss = st.mutableSpan
      try linearAttentionPrefill(
        LinearAttentionConfig(heads: 2, dimQK: 4, dimV: 4, featureMap: .identity, gate: .scalar), batch: 1,
        seqlen: 3, q: big.span, k: big.span, v: big.span, logGate: g.span, state: &ss, out: &os)
    }
    expectSubQError(.invalidArgument, containing: ["causal must be 1"]) {
      var os = o.mutableSpan, ss = st.mutableSpan
      try linearAttentionDecode(
        LinearAttentionConfig(heads: 2, dimQK: 4, dimV: 4, causal: false), batch: 1, q: big.span, k: big.span,
        v: big.span, state: &ss, out: &os)
    }
  }
}
