import Foundation
import Testing

@testable import SubQ

/// Double reference of the Mamba-2 recurrence (mamba spec §3.2) with A_log, dt bias, softplus and
/// per-head Dskip; `s` is the HF layout `[head][p][n]`.
private func refSSD(
  t: Int, h: Int, p: Int, n: Int, g: Int, x: [Float], dt: [Float], aLog: [Float], b: [Float], c: [Float],
  dtBias: [Float], d: [Float], s: inout [Double]
) -> [Double] {
  var y = [Double](repeating: 0, count: t * h * p)
  for tt in 0..<t {
    for hh in 0..<h {
      let grp = hh / (h / g)
      let v = Double(dt[tt * h + hh]) + Double(dtBias[hh])
      let dv = v > 20 ? v : log1p(exp(v))
      let da = exp(dv * -exp(Double(aLog[hh])))
      for pp in 0..<p {
        let xv = Double(x[tt * h * p + hh * p + pp])
        var acc = 0.0
        for k in 0..<n {
          let bi = tt * g * n + grp * n + k
          let si = (hh * p + pp) * n + k
          s[si] = da * s[si] + dv * xv * Double(b[bi])
          acc += Double(c[bi]) * s[si]
        }
        y[tt * h * p + hh * p + pp] = acc + Double(d[hh]) * xv
      }
    }
  }
  return y
}

private func within(_ got: [Float], _ ref: [Double], rtol: Double, atol: Double) -> Int {
  let mx = ref.map(abs).max() ?? 0
  var bad = 0
  for (gv, r) in zip(got, ref) where !(abs(Double(gv) - r) <= rtol * abs(r) + atol * mx) { bad += 1 }
  return got.count == ref.count ? bad : -1
}

@Suite(.serialized) struct SSDTests {
  static func context(_ isa: ISA, threads: Int = 2) throws -> Context {
    var p = Context.Parameters(threads: threads, maxISA: isa)
    p.flags = [.noSpin]
    return try Context(p)
  }

  struct Problem {
    let t = 37, h = 4, p = 12, n = 16, g = 2
    var e: Int { h * p }
    var sf: Int { ssm2StateCount(heads: h, headDim: p, dState: n) }
    let x: [Float], dt: [Float], aLog: [Float], b: [Float], c: [Float], dtBias: [Float], d: [Float], h0: [Float]
    init() {
      x = randomFloats(37 * 48, seed: 1)
      dt = randomFloats(37 * 4, seed: 2)
      aLog = randomFloats(4, seed: 3).map { abs($0) }
      b = randomFloats(37 * 32, seed: 4)
      c = randomFloats(37 * 32, seed: 5)
      dtBias = randomFloats(4, seed: 6).map { $0 - 3 }
      d = randomFloats(4, seed: 7)
      h0 = randomFloats(4 * 12 * 16, seed: 8)
    }
  }

  /// Both algorithms against the Double reference (states exported to the HF layout); prefill
  /// then decode steps equal one recurrent prefill bitwise.
  @Test(arguments: hostISAs)
  func ssdMatchesReference(isa: ISA) throws {
    let pr = Problem()
    let ctx = try Self.context(isa)
    var s0 = [Float](repeating: 0, count: pr.sf)
    var s0s = s0.mutableSpan
    try ssm2StateImport(batch: 1, heads: pr.h, headDim: pr.p, dState: pr.n, from: pr.h0.span, to: &s0s)
    _ = consume s0s
    var refS = pr.h0.map(Double.init)
    let ref = refSSD(t: pr.t, h: pr.h, p: pr.p, n: pr.n, g: pr.g, x: pr.x, dt: pr.dt, aLog: pr.aLog, b: pr.b, c: pr.c,
                     dtBias: pr.dtBias, d: pr.d, s: &refS)
    var outs: [[Float]] = []
    for algo in [SSDAlgorithm.recurrent, .chunked] {
      var y = [Float](repeating: 0, count: pr.t * pr.e), st = s0
      var ys = y.mutableSpan, ss = st.mutableSpan
      try ssdScan(
        batch: 1, seqlen: pr.t, heads: pr.h, headDim: pr.p, dState: pr.n, groups: pr.g, x: pr.x.span, dt: pr.dt.span,
        a: pr.aLog.span, b: pr.b.span, c: pr.c.span, dtBias: pr.dtBias.span, dSkip: pr.d.span, algorithm: algo,
        chunk: 8, state: &ss, y: &ys, context: ctx)
      _ = consume ys
      _ = consume ss
      let tol = algo == .recurrent ? (1e-4, 1e-5) : (1e-3, 1e-4)
      #expect(within(y, ref, rtol: tol.0, atol: tol.1) == 0, "\(isa) \(algo) y")
      var hf = [Float](repeating: 0, count: pr.sf)
      var hfs = hf.mutableSpan
      try ssm2StateExport(batch: 1, heads: pr.h, headDim: pr.p, dState: pr.n, from: st.span, to: &hfs)
      _ = consume hfs
      #expect(within(hf, refS, rtol: tol.0, atol: tol.1) == 0, "\(isa) \(algo) state")
      outs.append(y + st)
    }
    // prefill 30 tokens, then 7 decode steps: the recurrent result bit for bit
    var y2 = [Float](repeating: 0, count: pr.t * pr.e), st2 = s0
    let k = 30
    do {
      var ys = y2.mutableSpan, ss = st2.mutableSpan
      try ssdScan(
        batch: 1, seqlen: k, heads: pr.h, headDim: pr.p, dState: pr.n, groups: pr.g, x: pr.x.span, dt: pr.dt.span,
        a: pr.aLog.span, b: pr.b.span, c: pr.c.span, dtBias: pr.dtBias.span, dSkip: pr.d.span, algorithm: .recurrent,
        state: &ss, y: &ys, context: ctx)
    }
    for tt in k..<pr.t {
      let xs = Array(pr.x[(tt * pr.e)..<((tt + 1) * pr.e)]), dts = Array(pr.dt[(tt * pr.h)..<((tt + 1) * pr.h)])
      let bs = Array(pr.b[(tt * 32)..<((tt + 1) * 32)]), cs = Array(pr.c[(tt * 32)..<((tt + 1) * 32)])
      var yt = [Float](repeating: 0, count: pr.e)
      var ys = yt.mutableSpan, ss = st2.mutableSpan
      try ssdScanStep(
        batch: 1, heads: pr.h, headDim: pr.p, dState: pr.n, groups: pr.g, x: xs.span, dt: dts.span, a: pr.aLog.span,
        b: bs.span, c: cs.span, dtBias: pr.dtBias.span, dSkip: pr.d.span, state: &ss, y: &ys, context: ctx)
      _ = consume ys
      y2.replaceSubrange((tt * pr.e)..<((tt + 1) * pr.e), with: yt)
    }
    #expect(sameBits(y2 + st2, outs[0]), "\(isa): prefill + decode steps differ from one prefill")
  }

  /// A packed batch of three sequences (lengths 5, 0, 32; permuted slots) equals separate calls.
  @Test(arguments: hostISAs)
  func packedEqualsSeparate(isa: ISA) throws {
    let pr = Problem()
    let ctx = try Self.context(isa, threads: 3)
    let cu: [Int32] = [0, 5, 5, 37], slots: [Int32] = [2, 0, 1]
    let pool0 = randomFloats(3 * pr.sf, seed: 9)
    var pool = pool0, y = [Float](repeating: 0, count: pr.t * pr.e)
    do {
      var ys = y.mutableSpan, ps = pool.mutableSpan
      try ssdScanPacked(
        cuSeqlens: cu.span, stateSlots: slots.span, slotCount: 3, heads: pr.h, headDim: pr.p, dState: pr.n,
        groups: pr.g, x: pr.x.span, dt: pr.dt.span, a: pr.aLog.span, b: pr.b.span, c: pr.c.span,
        dtBias: pr.dtBias.span, dSkip: pr.d.span, algorithm: .chunked, chunk: 16, state: &ps, y: &ys, context: ctx)
    }
    #expect(sameBits(Array(pool[0..<pr.sf]), Array(pool0[0..<pr.sf])), "\(isa): empty sequence touched its slot")
    for s in [0, 2] {
      let r0 = Int(cu[s]), r1 = Int(cu[s + 1]), sl = Int(slots[s])
      var st = Array(pool0[(sl * pr.sf)..<((sl + 1) * pr.sf)]), ys1 = [Float](repeating: 0, count: (r1 - r0) * pr.e)
      var ys = ys1.mutableSpan, ss = st.mutableSpan
      try ssdScan(
        batch: 1, seqlen: r1 - r0, heads: pr.h, headDim: pr.p, dState: pr.n, groups: pr.g,
        x: Array(pr.x[(r0 * pr.e)..<(r1 * pr.e)]).span, dt: Array(pr.dt[(r0 * pr.h)..<(r1 * pr.h)]).span,
        a: pr.aLog.span, b: Array(pr.b[(r0 * 32)..<(r1 * 32)]).span, c: Array(pr.c[(r0 * 32)..<(r1 * 32)]).span,
        dtBias: pr.dtBias.span, dSkip: pr.d.span, algorithm: .chunked, chunk: 16, state: &ss, y: &ys, context: ctx)
      _ = consume ys
      _ = consume ss
      #expect(sameBits(ys1, Array(y[(r0 * pr.e)..<(r1 * pr.e)])), "\(isa): packed y of sequence \(s)")
      #expect(sameBits(st, Array(pool[(sl * pr.sf)..<((sl + 1) * pr.sf)])), "\(isa): packed state of sequence \(s)")
    }
  }

  /// Grouped gated RMSNorm against a Double reference, out of place and in place.
  @Test(arguments: hostISAs)
  func gatedRMSNormMatchesReference(isa: ISA) throws {
    let (rows, width, gs) = (3, 96, 24)
    let y = randomFloats(rows * width, seed: 1), z = randomFloats(rows * width, seed: 2).map { $0 * 4 }
    let w = randomFloats(width, seed: 3)
    var ref = [Double](repeating: 0, count: rows * width)
    for r in 0..<rows {
      for g0 in stride(from: 0, to: width, by: gs) {
        var v = [Double](repeating: 0, count: gs)
        for i in 0..<gs {
          let zz = Double(z[r * width + g0 + i])
          v[i] = Double(y[r * width + g0 + i]) * zz / (1 + exp(-zz))
        }
        let rs = 1 / sqrt(v.map { $0 * $0 }.reduce(0, +) / Double(gs) + 1e-5)
        for i in 0..<gs { ref[r * width + g0 + i] = v[i] * rs * Double(w[g0 + i]) }
      }
    }
    let ctx = try Self.context(isa)
    var out = [Float](repeating: 0, count: rows * width)
    var os = out.mutableSpan
    try gatedRMSNorm(rows: rows, width: width, groupSize: gs, y: y.span, z: z.span, weight: w.span, out: &os, context: ctx)
    _ = consume os
    #expect(within(out, ref, rtol: 1e-5, atol: 1e-6) == 0, "\(isa) gated rmsnorm")
    var yi = y
    var yis = yi.mutableSpan
    try gatedRMSNormInPlace(rows: rows, width: width, groupSize: gs, y: &yis, z: z.span, weight: w.span, context: ctx)
    _ = consume yis
    #expect(sameBits(yi, out), "\(isa) in place differs")
  }

  /// Short buffers are refused in Swift before any C call; library checks surface as SubQError.
  @Test func errors() throws {
    let small = [Float](repeating: 0, count: 4)
    var yBuf = [Float](repeating: 0, count: 64)
    var hBuf = [Float](repeating: 0, count: 4096)
    expectSubQError(.invalidArgument, containing: ["ssdScan", "x holds 4"]) {
      var ys = yBuf.mutableSpan, hs = hBuf.mutableSpan
      try ssdScan(
        batch: 1, seqlen: 2, heads: 2, headDim: 4, dState: 4, x: small.span, dt: small.span, a: small.span,
        b: small.span, c: small.span, state: &hs, y: &ys)
    }
    expectSubQError(.invalidArgument, containing: ["n_groups"]) {
      let big = [Float](repeating: 0, count: 64)
      var ys = yBuf.mutableSpan, hs = hBuf.mutableSpan
      try ssdScan(
        batch: 1, seqlen: 1, heads: 2, headDim: 4, dState: 4, groups: 3, x: big.span, dt: big.span, a: big.span,
        b: big.span, c: big.span, state: &hs, y: &ys)
    }
    expectSubQError(.invalidArgument, containing: ["decreases"]) {
      let big = [Float](repeating: 0, count: 64), cu: [Int32] = [0, 2, 1]
      var ys = yBuf.mutableSpan, hs = hBuf.mutableSpan
      try ssdScanPacked(
        cuSeqlens: cu.span, slotCount: 2, heads: 2, headDim: 4, dState: 4, x: big.span, dt: big.span, a: big.span,
        b: big.span, c: big.span, state: &hs, y: &ys)
    }
    expectSubQError(.invalidArgument, containing: ["groupSize"]) {
      var os = yBuf.mutableSpan
      try gatedRMSNorm(rows: 1, width: 8, groupSize: 3, y: small.span, z: nil, weight: nil, out: &os)
    }
  }
}
