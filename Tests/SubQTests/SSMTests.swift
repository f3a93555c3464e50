import Foundation
import Testing

@testable import SubQ

/// Double references of the Mamba kernels (mamba spec §1.1, §2).
private func refConv(
  t: Int, ch: Int, w: Int, x: [Float], weight: [Float], bias: [Float]?, state: [Float], silu: Bool
) -> (y: [Double], state: [Double]) {
  func win(_ i: Int, _ c: Int) -> Double { i < w - 1 ? Double(state[i * ch + c]) : Double(x[(i - (w - 1)) * ch + c]) }
  var y = [Double](repeating: 0, count: t * ch)
  for tt in 0..<t {
    for c in 0..<ch {
      var acc = bias.map { Double($0[c]) } ?? 0
      for k in 0..<w { acc += Double(weight[c * w + k]) * win(tt + k, c) }
      y[tt * ch + c] = silu ? acc / (1 + exp(-acc)) : acc
    }
  }
  var s = [Double](repeating: 0, count: (w - 1) * ch)
  for k in 0..<(w - 1) { for c in 0..<ch { s[k * ch + c] = win(t + k, c) } }
  return (y, s)
}

private func refScan(
  t: Int, e: Int, n: Int, g: Int, u: [Float], dt: [Float], a: [Float], b: [Float], c: [Float], z: [Float],
  dtBias: [Float], dSkip: [Float], h: inout [Double]
) -> [Double] {
  var y = [Double](repeating: 0, count: t * e)
  let gs = e / g
  for tt in 0..<t {
    for d in 0..<e {
      let grp = d / gs
      let x = Double(dt[tt * e + d]) + Double(dtBias[d])
      let dv = x > 20 ? x : log1p(exp(x))
      var acc = 0.0
      for k in 0..<n {
        let bi = tt * g * n + grp * n + k
        h[d * n + k] = exp(dv * Double(a[d * n + k])) * h[d * n + k] + dv * Double(b[bi]) * Double(u[tt * e + d])
        acc += Double(c[bi]) * h[d * n + k]
      }
      acc += Double(dSkip[d]) * Double(u[tt * e + d])
      let zz = Double(z[tt * e + d])
      y[tt * e + d] = acc * zz / (1 + exp(-zz))
    }
  }
  return y
}

private func expectNear(_ got: [Float], _ ref: [Double], _ what: String) {
  let mx = ref.map(abs).max() ?? 0
  var bad = 0
  for (g, r) in zip(got, ref) where !(abs(Double(g) - r) <= 1e-4 * abs(r) + 1e-5 * mx) { bad += 1 }
  #expect(bad == 0 && got.count == ref.count, "\(what): \(bad) elements outside tolerance")
}

@Suite(.serialized) struct SSMTests {
  static func context(_ isa: ISA, threads: Int = 2) throws -> Context {
    var p = Context.Parameters(threads: threads, maxISA: isa)
    p.flags = [.noSpin]
    return try Context(p)
  }

  /// conv1d with bias and SiLU against the Double reference; chunked prefill and decode updates
  /// reproduce one call bitwise.
  @Test(arguments: hostISAs)
  func conv1dMatchesReference(isa: ISA) throws {
    let (t, ch, w) = (19, 37, 4)
    let x = randomFloats(t * ch, seed: 1), weight = randomFloats(ch * w, seed: 2), bias = randomFloats(ch, seed: 3)
    let s0 = randomFloats((w - 1) * ch, seed: 4)
    let ctx = try Self.context(isa)
    var y = [Float](repeating: 0, count: t * ch), state = s0
    var ys = y.mutableSpan, ss = state.mutableSpan
    try causalConv1d(
      batch: 1, seqlen: t, channels: ch, width: w, x: x.span, weight: weight.span, bias: bias.span,
      activation: .silu, state: &ss, y: &ys, context: ctx)
    _ = consume ys
    _ = consume ss
    let ref = refConv(t: t, ch: ch, w: w, x: x, weight: weight, bias: bias, state: s0, silu: true)
    expectNear(y, ref.y, "\(isa) conv y")
    expectNear(state, ref.state, "\(isa) conv state")

    // 5 tokens of prefill, then 14 decode updates.
    var y2 = [Float](repeating: 0, count: t * ch), st2 = s0
    try x.withUnsafeBufferPointer { xb in
      try y2.withUnsafeMutableBufferPointer { yb in
        var sp = st2.mutableSpan
        let x0 = Span(_unsafeElements: UnsafeBufferPointer(rebasing: xb[0..<(5 * ch)]))
        var y0 = MutableSpan(_unsafeElements: UnsafeMutableBufferPointer(rebasing: yb[0..<(5 * ch)]))
        try causalConv1d(
          batch: 1, seqlen: 5, channels: ch, width: w, x: x0, weight: weight.span, bias: bias.span,
          activation: .silu, state: &sp, y: &y0, context: ctx)
        for tt in 5..<t {
          let xt = Span(_unsafeElements: UnsafeBufferPointer(rebasing: xb[(tt * ch)..<((tt + 1) * ch)]))
          var yt = MutableSpan(_unsafeElements: UnsafeMutableBufferPointer(rebasing: yb[(tt * ch)..<((tt + 1) * ch)]))
          try causalConv1dUpdate(
            batch: 1, channels: ch, width: w, x: xt, weight: weight.span, bias: bias.span, activation: .silu,
            state: &sp, y: &yt, context: ctx)
        }
      }
    }
    #expect(sameBits(y, y2), "\(isa): prefill + updates differ from one prefill")
    #expect(sameBits(state, st2), "\(isa): conv state after updates differs")
  }

  /// Mamba-1 scan (groups 2, A_log, z, dt bias, Dskip, non-zero initial state) against the Double
  /// reference, for y and the exported state; prefill + decode steps equal one prefill bitwise.
  @Test(arguments: hostISAs)
  func selectiveScanMatchesReference(isa: ISA) throws {
    let (t, e, n, g) = (23, 20, 16, 2)
    let u = randomFloats(t * e, seed: 11), z = randomFloats(t * e, seed: 12)
    let dt = randomFloats(t * e, seed: 13).map { 0.25 * ($0 + 1) }
    let dtBias = randomFloats(e, seed: 14).map { 0.25 * ($0 + 1) }
    let dSkip = randomFloats(e, seed: 15)
    let b = randomFloats(t * g * n, seed: 16), c = randomFloats(t * g * n, seed: 17)
    let aValues = (0..<(e * n)).map { -Float($0 % n + 1) }
    let aLog = aValues.map { log(-$0) }
    let h0 = randomFloats(e * n, seed: 18)
    let count = ssm1StateCount(channels: e, dState: n)
    #expect(count == 32 * n)
    var state = [Float](repeating: 0, count: count)
    var sspan = state.mutableSpan
    try ssm1StateImport(batch: 1, channels: e, dState: n, from: h0.span, to: &sspan)
    _ = consume sspan
    let start = state
    let ctx = try Self.context(isa)
    var y = [Float](repeating: 0, count: t * e)
    var ys = y.mutableSpan, hs = state.mutableSpan
    try selectiveScan(
      batch: 1, seqlen: t, channels: e, dState: n, groups: g, u: u.span, dt: dt.span, a: aLog.span, aForm: .aLog,
      b: b.span, c: c.span, z: z.span, dtBias: dtBias.span, dSkip: dSkip.span, state: &hs, y: &ys, context: ctx)
    _ = consume ys
    _ = consume hs
    var href = h0.map(Double.init)
    let yref = refScan(
      t: t, e: e, n: n, g: g, u: u, dt: dt, a: aValues, b: b, c: c, z: z, dtBias: dtBias, dSkip: dSkip, h: &href)
    expectNear(y, yref, "\(isa) scan y")
    var hOut = [Float](repeating: 0, count: e * n)
    var hos = hOut.mutableSpan
    try ssm1StateExport(batch: 1, channels: e, dState: n, from: state.span, to: &hos)
    _ = consume hos
    expectNear(hOut, href, "\(isa) scan state")

    // One token at a time with the step call.
    var st2 = start, y2 = [Float](repeating: 0, count: t * e)
    for tt in 0..<t {
      let ut = Array(u[(tt * e)..<((tt + 1) * e)]), dtt = Array(dt[(tt * e)..<((tt + 1) * e)])
      let zt = Array(z[(tt * e)..<((tt + 1) * e)])
      let bt = Array(b[(tt * g * n)..<((tt + 1) * g * n)]), ct = Array(c[(tt * g * n)..<((tt + 1) * g * n)])
      var yt = [Float](repeating: 0, count: e)
      var yts = yt.mutableSpan, s2 = st2.mutableSpan
      try selectiveScanStep(
        batch: 1, channels: e, dState: n, groups: g, u: ut.span, dt: dtt.span, a: aLog.span, aForm: .aLog,
        b: bt.span, c: ct.span, z: zt.span, dtBias: dtBias.span, dSkip: dSkip.span, state: &s2, y: &yts,
        context: ctx)
      _ = consume yts
      _ = consume s2
      y2.replaceSubrange((tt * e)..<((tt + 1) * e), with: yt)
    }
    #expect(sameBits(y, y2), "\(isa): decode steps differ from one prefill")
    #expect(sameBits(state, st2), "\(isa): state after steps differs")
  }

  /// Short buffers are refused in Swift before any C call; library checks surface as SubQError.
  @Test func errors() throws {
    let small = [Float](repeating: 0, count: 4)
    var out = [Float](repeating: 0, count: 4)
    var hBuf = [Float](repeating: 0, count: 16 * 300)
    var yBuf = [Float](repeating: 0, count: 8)
    expectSubQError(.invalidArgument, containing: ["selectiveScan", "u holds 4"]) {
      var ys = out.mutableSpan
      var hs = hBuf.mutableSpan
      try selectiveScan(
        batch: 1, seqlen: 2, channels: 8, dState: 4, u: small.span, dt: small.span, a: small.span, b: small.span,
        c: small.span, state: &hs, y: &ys)
    }
    expectSubQError(.invalidArgument, containing: ["causalConv1d", "width"]) {
      var ys = out.mutableSpan
      var ss = hBuf.mutableSpan
      try causalConv1d(
        batch: 1, seqlen: 1, channels: 4, width: 9, x: small.span, weight: small.span, state: &ss, y: &ys)
    }
    expectSubQError(.invalidArgument, containing: ["d_state"]) {
      let big = [Float](repeating: 0, count: 8 * 300)
      var ys = yBuf.mutableSpan
      var hs = hBuf.mutableSpan
      try selectiveScan(
        batch: 1, seqlen: 1, channels: 8, dState: 300, u: big.span, dt: big.span, a: big.span, b: big.span,
        c: big.span, state: &hs, y: &ys)
    }
    expectSubQError(.invalidArgument, containing: ["dst holds"]) {
      var d = out.mutableSpan
      try ssm1StateImport(batch: 1, channels: 2, dState: 2, from: small.span, to: &d)
    }
  }
}
