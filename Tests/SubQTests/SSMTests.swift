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

  /// Packed variable-length conv1d and scan (prefill and decode step) equal one call per
  /// sequence bitwise, through permuted slots, an empty sequence (its slot untouched) and a
  /// sequence started from zeros by `hasInitialState`.
  @Test(arguments: hostISAs)
  func packedEqualsPerSequence(isa: ISA) throws {
    let (ch, n, w) = (40, 6, 4), cu: [Int32] = [0, 7, 7, 30], slots: [Int32] = [3, 0, 1], hasInit: [UInt8] = [1, 1, 0]
    let rows = Int(cu[3]), nSlots = 4
    let ctx = try Self.context(isa, threads: 3)
    let x = randomFloats(rows * ch, seed: 1), weight = randomFloats(ch * w, seed: 2), bias = randomFloats(ch, seed: 3)
    let dt = randomFloats(rows * ch, seed: 4), a = randomFloats(ch * n, seed: 5).map { -abs($0) - 0.1 }
    let b = randomFloats(rows * n, seed: 6), c = randomFloats(rows * n, seed: 7), z = randomFloats(rows * ch, seed: 8)
    let cs = conv1dStateCount(channels: ch, width: w), hs = ssm1StateCount(channels: ch, dState: n)
    let cpool0 = randomFloats(nSlots * cs, seed: 9), hpool0 = randomFloats(nSlots * hs, seed: 10)
    for step in [false, true] {
      // One token per sequence for the step (lengths <= 1): rows 0, -, 7 of the prefill data.
      let cuS: [Int32] = step ? [0, 1, 1, 2] : cu
      let pick: (Int) -> Range<Int> = { s in step ? (s == 0 ? 0..<1 : s == 2 ? 7..<8 : 0..<0) : Int(cu[s])..<Int(cu[s + 1]) }
      let take: ([Float], Int) -> [Float] = { v, width in (0..<3).flatMap { s in Array(v[(pick(s).lowerBound * width)..<(pick(s).upperBound * width)]) } }
      let px = take(x, ch), pdt = take(dt, ch), pz = take(z, ch), pb = take(b, n), pc = take(c, n)
      let prow = Int(cuS[3])
      var cpool = cpool0, hpool = hpool0
      var yc = [Float](repeating: 0, count: prow * ch), ys = yc
      do {
        var cps = cpool.mutableSpan, ycs = yc.mutableSpan
        try causalConv1dPacked(
          cuSeqlens: cuS.span, stateSlots: slots.span, hasInitialState: hasInit.span, slotCount: nSlots, channels: ch,
          width: w, x: px.span, weight: weight.span, bias: bias.span, activation: .silu, step: step, state: &cps,
          y: &ycs, context: ctx)
        var hps = hpool.mutableSpan, yss = ys.mutableSpan
        try selectiveScanPacked(
          cuSeqlens: cuS.span, stateSlots: slots.span, hasInitialState: hasInit.span, slotCount: nSlots, channels: ch,
          dState: n, u: px.span, dt: pdt.span, a: a.span, b: pb.span, c: pc.span, z: pz.span, step: step,
          state: &hps, y: &yss, context: ctx)
      }
      for s in 0..<3 {
        let sl = Int(slots[s]), r0 = Int(cuS[s]), r1 = Int(cuS[s + 1]), len = r1 - r0
        var cst = hasInit[s] != 0 ? Array(cpool0[(sl * cs)..<((sl + 1) * cs)]) : [Float](repeating: 0, count: cs)
        var hst = hasInit[s] != 0 ? Array(hpool0[(sl * hs)..<((sl + 1) * hs)]) : [Float](repeating: 0, count: hs)
        if len == 0 {
          cst = Array(cpool0[(sl * cs)..<((sl + 1) * cs)])
          hst = Array(hpool0[(sl * hs)..<((sl + 1) * hs)])
        } else {
          var y1 = [Float](repeating: 0, count: len * ch), y2 = y1
          var cstS = cst.mutableSpan, y1s = y1.mutableSpan
          try causalConv1d(
            batch: 1, seqlen: len, channels: ch, width: w, x: Array(px[(r0 * ch)..<(r1 * ch)]).span,
            weight: weight.span, bias: bias.span, activation: .silu, state: &cstS, y: &y1s, context: ctx)
          var hstS = hst.mutableSpan, y2s = y2.mutableSpan
          try selectiveScan(
            batch: 1, seqlen: len, channels: ch, dState: n, u: Array(px[(r0 * ch)..<(r1 * ch)]).span,
            dt: Array(pdt[(r0 * ch)..<(r1 * ch)]).span, a: a.span, b: Array(pb[(r0 * n)..<(r1 * n)]).span,
            c: Array(pc[(r0 * n)..<(r1 * n)]).span, z: Array(pz[(r0 * ch)..<(r1 * ch)]).span, state: &hstS,
            y: &y2s, context: ctx)
          _ = consume cstS
          _ = consume y1s
          _ = consume hstS
          _ = consume y2s
          #expect(sameBits(y1, Array(yc[(r0 * ch)..<(r1 * ch)])), "\(isa) step \(step): conv y of sequence \(s)")
          #expect(sameBits(y2, Array(ys[(r0 * ch)..<(r1 * ch)])), "\(isa) step \(step): scan y of sequence \(s)")
        }
        #expect(sameBits(cst, Array(cpool[(sl * cs)..<((sl + 1) * cs)])), "\(isa) step \(step): conv state \(s)")
        #expect(sameBits(hst, Array(hpool[(sl * hs)..<((sl + 1) * hs)])), "\(isa) step \(step): scan state \(s)")
      }
      // The slot no sequence names (2) is untouched.
      #expect(sameBits(Array(cpool[(2 * cs)..<(3 * cs)]), Array(cpool0[(2 * cs)..<(3 * cs)])))
      #expect(sameBits(Array(hpool[(2 * hs)..<(3 * hs)]), Array(hpool0[(2 * hs)..<(3 * hs)])))
    }
    expectSubQError(.invalidArgument, containing: ["selectiveScanPacked", "slotCount"]) {
      var hpm = hpool0
      var hp = hpm.mutableSpan
      var y = [Float](repeating: 0, count: rows * ch)
      var yy = y.mutableSpan
      try selectiveScanPacked(
        cuSeqlens: cu.span, slotCount: 2, channels: ch, dState: n, u: x.span, dt: dt.span, a: a.span, b: b.span,
        c: c.span, state: &hp, y: &yy)
    }
    expectSubQError(.invalidArgument, containing: ["causalConv1dPacked", "x holds"]) {
      var cpm = cpool0
      var cp = cpm.mutableSpan
      var y = [Float](repeating: 0, count: rows * ch)
      var yy = y.mutableSpan
      try causalConv1dPacked(
        cuSeqlens: cu.span, slotCount: 4, channels: ch, width: w, x: Array(x[0..<10]).span, weight: weight.span,
        state: &cp, y: &yy)
    }
    expectSubQError(.invalidArgument, containing: ["cu_seqlens"]) {
      var cpm = cpool0
      var cp = cpm.mutableSpan
      var y = [Float](repeating: 0, count: rows * ch)
      var yy = y.mutableSpan
      let bad: [Int32] = [0, 9, 4, 30]
      try causalConv1dPacked(
        cuSeqlens: bad.span, slotCount: 4, channels: ch, width: w, x: x.span, weight: weight.span, state: &cp, y: &yy)
    }
  }

  /// A packed once (`ssm1PackA`, `aForm: .packed`) reproduces the scan given A_log, bitwise.
  @Test(arguments: hostISAs)
  func packedAMatchesALog(isa: ISA) throws {
    let (t, e, n) = (9, 21, 4)
    let ctx = try Self.context(isa)
    let u = randomFloats(t * e, seed: 1), dt = randomFloats(t * e, seed: 2), z = randomFloats(t * e, seed: 3)
    let b = randomFloats(t * n, seed: 4), c = randomFloats(t * n, seed: 5)
    let aLog = randomFloats(e * n, seed: 6).map { abs($0) }
    var packed = [Float](repeating: .nan, count: ssm1StateCount(channels: e, dState: n))
    var ps = packed.mutableSpan
    try ssm1PackA(channels: e, dState: n, a: aLog.span, aForm: .aLog, into: &ps)
    _ = consume ps
    var outs: [[Float]] = []
    for form in [SSM1AForm.aLog, .packed] {
      var h = [Float](repeating: 0, count: ssm1StateCount(channels: e, dState: n)), y = [Float](repeating: 0, count: t * e)
      var hs = h.mutableSpan, ys = y.mutableSpan
      try selectiveScan(
        batch: 1, seqlen: t, channels: e, dState: n, u: u.span, dt: dt.span, a: (form == .packed ? packed : aLog).span,
        aForm: form, b: b.span, c: c.span, z: z.span, state: &hs, y: &ys, context: ctx)
      _ = consume hs
      _ = consume ys
      outs.append(y + h)
    }
    #expect(sameBits(outs[0], outs[1]), "\(isa): packed A differs from A_log")
    #expect(outs[0].allSatisfy { $0.isFinite })
    expectSubQError(.invalidArgument, containing: ["ssm1PackA", "aForm"]) {
      var d = packed.mutableSpan
      try ssm1PackA(channels: e, dState: n, a: aLog.span, aForm: .packed, into: &d)
    }
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
