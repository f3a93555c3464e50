import Foundation
import Testing

@testable import SubQ

/// Checks got against a Double reference with |got - ref| <= rel * |ref| + abs.
private func expectNear(_ got: [Float], _ ref: [Double], rel: Double, abs absTol: Double = 0, _ what: String) {
  var bad = 0
  for (g, r) in zip(got, ref) where !(Swift.abs(Double(g) - r) <= rel * Swift.abs(r) + absTol) { bad += 1 }
  #expect(bad == 0 && got.count == ref.count, "\(what): \(bad) of \(ref.count) elements outside tolerance")
}

private func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

@Suite(.serialized) struct NNTests {
  static func context(_ isa: ISA, threads: Int = 2) throws -> Context {
    var p = Context.Parameters(threads: threads, maxISA: isa)
    p.flags = [.noSpin]
    return try Context(p)
  }

  /// RMSNorm (f32 and bf16 weights, the gated grouped form) against Double; the fused
  /// residual form updates the stream to x + delta exactly.
  @Test(arguments: hostISAs)
  func rmsNormMatchesReference(isa: ISA) throws {
    let ctx = try Self.context(isa)
    let (rows, cols) = (5, 67)
    let x = randomFloats(rows * cols, seed: 1), w = randomFloats(cols, seed: 2), z = randomFloats(rows * cols, seed: 3)
    func ref(_ xs: [Float], gate: [Float]?, group: Int, weight: [Float]) -> [Double] {
      var out = [Double](repeating: 0, count: rows * cols)
      for r in 0..<rows {
        for g0 in stride(from: 0, to: cols, by: group) {
          var v = (g0..<(g0 + group)).map { Double(xs[r * cols + $0]) }
          if let gate { for i in 0..<group { v[i] *= silu(Double(gate[r * cols + g0 + i])) } }
          let inv = 1 / sqrt(v.reduce(0) { $0 + $1 * $1 } / Double(group) + Double(Float(1e-5)))
          for i in 0..<group { out[r * cols + g0 + i] = Double(weight[g0 + i]) * (v[i] * inv) }
        }
      }
      return out
    }
    var y = [Float](repeating: .nan, count: rows * cols)
    var ys = y.mutableSpan
    try rmsNorm(rows: rows, cols: cols, x: x.span, weight: w.span, eps: 1e-5, y: &ys, context: ctx)
    _ = consume ys
    expectNear(y, ref(x, gate: nil, group: cols, weight: w), rel: 1.5e-6, abs: 1e-7, "\(isa) rmsNorm")

    let wb = BF16.encode(w)
    ys = y.mutableSpan
    try rmsNorm(rows: rows, cols: cols, x: x.span, weight: wb.span, weightType: .bf16, eps: 1e-5, y: &ys, context: ctx)
    _ = consume ys
    expectNear(y, ref(x, gate: nil, group: cols, weight: BF16.decode(wb)), rel: 1.5e-6, abs: 1e-7, "\(isa) bf16 weight")

    let (gcols, group) = (64, 16)
    let gx = Array(x.prefix(rows * gcols)), gz = Array(z.prefix(rows * gcols)), gw = Array(w.prefix(gcols))
    var gy = [Float](repeating: .nan, count: rows * gcols)
    var gys = gy.mutableSpan
    try rmsNorm(rows: rows, cols: gcols, x: gx.span, weight: gw.span, eps: 1e-5, groupSize: group, gate: gz.span,
                y: &gys, context: ctx)
    _ = consume gys
    var gref = [Double](repeating: 0, count: rows * gcols)
    for r in 0..<rows {
      for g0 in stride(from: 0, to: gcols, by: group) {
        let v = (g0..<(g0 + group)).map { Double(gx[r * gcols + $0]) * silu(Double(gz[r * gcols + $0])) }
        let inv = 1 / sqrt(v.reduce(0) { $0 + $1 * $1 } / Double(group) + Double(Float(1e-5)))
        for i in 0..<group { gref[r * gcols + g0 + i] = Double(gw[g0 + i]) * v[i] * inv }
      }
    }
    expectNear(gy, gref, rel: 1.5e-6, abs: 1e-7, "\(isa) gated grouped rmsNorm")

    let delta = randomFloats(rows * cols, seed: 4)
    var stream = x
    var ss = stream.mutableSpan
    ys = y.mutableSpan
    try addRMSNorm(rows: rows, cols: cols, stream: &ss, delta: delta.span, weight: w.span, eps: 1e-5, y: &ys, context: ctx)
    _ = consume ss
    _ = consume ys
    let sum = zip(x, delta).map { $0 + $1 }
    #expect(stream == sum, "\(isa) addRMSNorm stream")
    expectNear(y, ref(sum, gate: nil, group: cols, weight: w), rel: 1.5e-6, abs: 1e-7, "\(isa) addRMSNorm y")
  }

  /// Short buffers are rejected before the C call; library errors carry its message.
  @Test func rmsNormErrors() throws {
    let x = [Float](repeating: 1, count: 8)
    var y = [Float](repeating: 0, count: 7)
    var ys = y.mutableSpan
    #expect(throws: SubQError.invalidArgument("rmsNorm: y holds 7 elements, needs 8")) {
      try rmsNorm(rows: 2, cols: 4, x: x.span, weight: nil, eps: 1e-5, y: &ys)
    }
    _ = consume ys
    var y2 = [Float](repeating: 0, count: 8)
    var y2s = y2.mutableSpan
    do {
      try rmsNorm(rows: 2, cols: 4, x: x.span, weight: nil, eps: -1, y: &y2s)
      Issue.record("negative eps accepted")
    } catch {
      #expect(error.code == .invalidArgument && error.message.contains("subq_rmsnorm: eps"))
    }
    _ = consume y2s
  }

  /// llama3 frequencies equal PyTorch's float32 values (tools/gen_rope_goldens.py) at the spec's
  /// golden indices; the rotation matches a Double reference on the f32 angle; the fused qkv form
  /// equals separate q/k buffers bitwise.
  @Test(arguments: hostISAs)
  func ropeMatchesReference(isa: ISA) throws {
    let ctx = try Self.context(isa)
    let inv = try RoPETable.inverseFrequencies(rotDim: 128, theta: 500000, scaling: .llama3(factor: 8))
    #expect(inv.count == 64)
    #expect(inv[29].bitPattern == 0x3b0d_fd06 && inv[34].bitPattern == 0x393b_2dd2 && inv[63].bitPattern == 0x34a4_c2ff)
    let (tokens, d, hq, hk) = (9, 64, 4, 2)
    let table = try RoPETable(rotDim: d, theta: 500000, scaling: .llama3(factor: 8), cachedPositions: 4, context: ctx)
    let invd = try RoPETable.inverseFrequencies(rotDim: d, theta: 500000, scaling: .llama3(factor: 8))
    let positions: [Int64] = [0, 1, 2, 3, 4, 100, 5000, 70000, 131071]
    let q0 = randomFloats(tokens * hq * d, seed: 5), k0 = randomFloats(tokens * hk * d, seed: 6)
    var q = q0, k = k0
    var qs = q.mutableSpan, ks = k.mutableSpan
    try table.apply(tokens: tokens, headDim: d, positions: positions.span, q: &qs, qHeads: hq, k: &ks, kHeads: hk,
                    context: ctx)
    _ = consume qs
    _ = consume ks
    func ref(_ src: [Float], heads: Int) -> [Double] {
      var out = [Double](repeating: 0, count: src.count)
      let half = d / 2
      for t in 0..<tokens {
        for h in 0..<heads {
          let base = (t * heads + h) * d
          for i in 0..<half {
            let a = Double(Float(positions[t]) * invd[i])
            let (c, s) = (cos(a), sin(a))
            let x1 = Double(src[base + i]), x2 = Double(src[base + i + half])
            out[base + i] = x1 * c - x2 * s
            out[base + i + half] = x2 * c + x1 * s
          }
        }
      }
      return out
    }
    expectNear(q, ref(q0, heads: hq), rel: 0, abs: 6e-7, "\(isa) rope q")
    expectNear(k, ref(k0, heads: hk), rel: 0, abs: 6e-7, "\(isa) rope k")

    var qkv = [Float](repeating: 0, count: tokens * (hq + 2 * hk) * d)
    let v0 = randomFloats(tokens * hk * d, seed: 7)
    for t in 0..<tokens {
      let row = t * (hq + 2 * hk) * d
      for i in 0..<(hq * d) { qkv[row + i] = q0[t * hq * d + i] }
      for i in 0..<(hk * d) { qkv[row + hq * d + i] = k0[t * hk * d + i] }
      for i in 0..<(hk * d) { qkv[row + (hq + hk) * d + i] = v0[t * hk * d + i] }
    }
    var fs = qkv.mutableSpan
    try table.applyFused(tokens: tokens, headDim: d, positions: positions.span, qkv: &fs, qHeads: hq, kvHeads: hk,
                         context: ctx)
    _ = consume fs
    var same = true
    for t in 0..<tokens {
      let row = t * (hq + 2 * hk) * d
      for i in 0..<(hq * d) { same = same && qkv[row + i].bitPattern == q[t * hq * d + i].bitPattern }
      for i in 0..<(hk * d) { same = same && qkv[row + hq * d + i].bitPattern == k[t * hk * d + i].bitPattern }
      for i in 0..<(hk * d) { same = same && qkv[row + (hq + hk) * d + i] == v0[t * hk * d + i] }
    }
    #expect(same, "\(isa) fused qkv differs from separate q/k")
    let cs = try table.cosSin(position: 1000)
    #expect(cs.cos.count == 32 && abs(cs.cos[0] - 0.5623791) < 1e-7 && abs(cs.sin[0] - 0.8268796) < 1e-7)
    #expect(throws: SubQError.self) { _ = try table.cosSin(position: -1) }
    #expect(throws: SubQError.self) { _ = try RoPETable(rotDim: 7) }
  }

  /// YaRN frequencies equal transformers 5.23's _compute_yarn_parameters (tools/gen_rope_goldens.py,
  /// bits at a kept, a ramped and a divided index), the inferred attention factor is HF's, and the
  /// table scales cos/sin by the attentionScaling given.
  @Test func ropeYarnMatchesTransformers() throws {
    let inv = try RoPETable.inverseFrequencies(
      rotDim: 128, theta: 10000, scaling: .yarn(factor: 4, originalMaxPositionEmbeddings: 2048))
    #expect(inv.count == 64)
    #expect(inv[1].bitPattern == 0x3f5d_afd7 && inv[20].bitPattern == 0x3d4a_b1de && inv[63].bitPattern == 0x37f2_2ce2)
    let nt = try RoPETable.inverseFrequencies(
      rotDim: 64, theta: 10000,
      scaling: .yarn(factor: 16, originalMaxPositionEmbeddings: 4096, betaFast: 16, betaSlow: 2, truncate: false))
    #expect(nt[12].bitPattern == 0x3d01_86e3 && nt[19].bitPattern == 0x3a63_a0c6 && nt[31].bitPattern == 0x370b_d472)
    let af = RoPETable.yarnAttentionFactor(factor: 4)
    #expect(af == 1.138629436111989)
    #expect(RoPETable.yarnAttentionFactor(factor: 40, mscale: 1, mscaleAllDim: 0.707) == 1.0857263992561355)
    #expect(RoPETable.yarnAttentionFactor(factor: 0).isNaN)
    let s = RoPEScaling.yarn(factor: 4, originalMaxPositionEmbeddings: 2048)
    let scaled = try RoPETable(rotDim: 128, scaling: s, attentionScaling: af).cosSin(position: 4000)
    let plain = try RoPETable(rotDim: 128, scaling: s).cosSin(position: 4000)
    #expect(scaled.cos == plain.cos.map { $0 * Float(af) } && scaled.sin == plain.sin.map { $0 * Float(af) })
    #expect(throws: SubQError.self) {
      _ = try RoPETable(rotDim: 8, scaling: .yarn(factor: 4, originalMaxPositionEmbeddings: 64, betaFast: 0))
    }
  }

  /// dynamic and longrope frequencies follow the header's formulas (evaluated here in the same
  /// f32 steps, powers correctly rounded via Double), cos/sin are those of the f32 angle, and
  /// invalid input throws with the C message (the factor count with the façade's).
  @Test func ropeDynamicAndLongropeFollowHeaderFormula() throws {
    let (d, theta) = (8, 10000.0)
    func defaultInv(_ base: Float) -> [Float] {
      (0..<(d / 2)).map { i in 1 / Float(pow(Double(base), Double(Float(2 * i) / Float(d)))) }
    }
    // dynamic: S = 48 > L = 32 grows the base; S <= L keeps theta.
    let (f, l, sLen) = (Float(2), Float(32), 48)
    let b = f * Float(sLen) / l - Float(2.0 - 1.0)
    let grown = Float(theta) * Float(pow(Double(b), Double(d) / (Double(d) - 2.0)))
    let dyn = RoPEScaling.dynamic(factor: 2, originalMaxPositionEmbeddings: 32, seqLen: sLen)
    let inv = try RoPETable.inverseFrequencies(rotDim: d, theta: theta, scaling: dyn)
    #expect(inv == defaultInv(grown) && inv != defaultInv(Float(theta)))
    #expect(try RoPETable.inverseFrequencies(
      rotDim: d, theta: theta, scaling: .dynamic(factor: 2, originalMaxPositionEmbeddings: 32, seqLen: 20))
      == defaultInv(Float(theta)))
    let table = try RoPETable(rotDim: d, theta: theta, scaling: dyn, cachedPositions: 2)
    for pos in [1, 37] {  // a cached row and one computed per call
      let cs = try table.cosSin(position: pos)
      let a = inv.map { Double(Float(pos) * $0) }
      #expect(cs.cos == a.map { Float(cos($0)) } && cs.sin == a.map { Float(sin($0)) }, "dynamic cos/sin at \(pos)")
    }
    // longrope: default / factors[i]
    let factors: [Float] = [1, 1.5, 3.25, 7]
    let lr = try RoPETable.inverseFrequencies(rotDim: d, theta: theta, scaling: .longrope(factors: factors))
    let expected = (0..<(d / 2)).map { i in
      1 / (factors[i] * Float(pow(theta, Double(Float(2 * i) / Float(d)))))
    }
    #expect(lr == expected)
    let lt = try RoPETable(rotDim: d, theta: theta, scaling: .longrope(factors: factors), attentionScaling: 1.25)
    let cs = try lt.cosSin(position: 5)
    let a = lr.map { Double(Float(5) * $0) }
    #expect(cs.cos == a.map { Float(Float(cos($0)) * 1.25) } && cs.sin == a.map { Float(Float(sin($0)) * 1.25) })

    func message(_ body: () throws -> Void) -> String {
      do { try body() } catch let e as SubQError { return e.message } catch { return "\(error)" }
      return ""
    }
    let neg = message {
      _ = try RoPETable(rotDim: d, scaling: .dynamic(factor: 2, originalMaxPositionEmbeddings: 32, seqLen: -1))
    }
    #expect(neg.contains("subq_rope_table_create: dynamic_seq_len (-1) < 0"), "\(neg)")
    let nonPos = message { _ = try RoPETable.inverseFrequencies(rotDim: d, scaling: .longrope(factors: [1, 0, 1, 1])) }
    #expect(nonPos.contains("subq_rope_inv_freq: longrope_factors[1] (0) is not a finite value > 0"), "\(nonPos)")
    let count = message { _ = try RoPETable(rotDim: d, scaling: .longrope(factors: [1, 1, 1])) }
    #expect(count == "RoPETable.init: longrope factors has 3 entries, rotDim / 2 is 4", "\(count)")
    let two = message {
      _ = try RoPETable(rotDim: 2, scaling: .dynamic(factor: 2, originalMaxPositionEmbeddings: 32))
    }
    #expect(two.contains("DYNAMIC needs rot_dim > 2"), "\(two)")
  }

  /// SwiGLU (separate and fused rows), SiLU and add against Double; every ISA path gives the same bits.
  @Test func elementwiseMatchesReferenceOnEveryPath() throws {
    let (rows, cols) = (3, 131)
    let g = randomFloats(rows * cols, seed: 8).map { $0 * 6 }, u = randomFloats(rows * cols, seed: 9)
    var firstBits: [UInt32]? = nil
    for isa in hostISAs {
      let ctx = try Self.context(isa)
      var out = [Float](repeating: .nan, count: rows * cols)
      var os = out.mutableSpan
      try swiGLU(rows: rows, cols: cols, gate: g.span, up: u.span, out: &os, context: ctx)
      _ = consume os
      expectNear(out, zip(g, u).map { silu(Double($0)) * Double($1) }, rel: 4e-7, abs: 1e-30, "\(isa) swiGLU")
      var gu = [Float]()
      for r in 0..<rows {
        let lo = r * cols, hi = (r + 1) * cols
        gu.append(contentsOf: g[lo..<hi])
        gu.append(contentsOf: u[lo..<hi])
      }
      var fused = [Float](repeating: .nan, count: rows * cols)
      var fsp = fused.mutableSpan
      try swiGLU(rows: rows, cols: cols, gateUp: gu.span, out: &fsp, context: ctx)
      _ = consume fsp
      #expect(fused.map(\.bitPattern) == out.map(\.bitPattern), "\(isa) fused [gate|up]")
      if let firstBits { #expect(firstBits == out.map(\.bitPattern), "\(isa) bits differ from the first path") }
      firstBits = out.map(\.bitPattern)
      var s = g
      var ss = s.mutableSpan
      try siluInPlace(&ss, context: ctx)
      _ = consume ss
      expectNear(s, g.map { silu(Double($0)) }, rel: 3e-7, abs: 1e-30, "\(isa) silu")
      var acc = g
      var accs = acc.mutableSpan
      try addInPlace(&accs, u.span, context: ctx)
      _ = consume accs
      #expect(acc == zip(g, u).map { $0 + $1 }, "\(isa) add")
    }
  }

  /// The gather from f32, bf16 and f16 tables; an id out of range is an error naming it.
  @Test func embeddingGatherAndErrors() throws {
    let (vocab, dim) = (11, 19)
    let table = randomFloats(vocab * dim, seed: 10)
    let ids: [Int64] = [3, 0, 10, 3]
    var out = [Float](repeating: .nan, count: ids.count * dim)
    var os = out.mutableSpan
    try embeddingGather(table: table.span, vocab: vocab, dim: dim, ids: ids.span, out: &os)
    _ = consume os
    let want = ids.flatMap { table[(Int($0) * dim)..<((Int($0) + 1) * dim)] }
    #expect(out == want)
    let h = F16.encode(table)
    os = out.mutableSpan
    try embeddingGather(table: h.span, type: .f16, vocab: vocab, dim: dim, ids: ids.span, out: &os)
    _ = consume os
    #expect(out == ids.flatMap { F16.decode(Array(h[(Int($0) * dim)..<((Int($0) + 1) * dim)])) })
    let b = BF16.encode(table)
    os = out.mutableSpan
    try embeddingGather(table: b.span, type: .bf16, vocab: vocab, dim: dim, ids: ids.span, out: &os)
    _ = consume os
    #expect(out == ids.flatMap { BF16.decode(Array(b[(Int($0) * dim)..<((Int($0) + 1) * dim)])) })
    let bad: [Int64] = [1, 11]
    os = out.mutableSpan
    do {
      try embeddingGather(table: table.span, vocab: vocab, dim: dim, ids: bad.span, out: &os)
      Issue.record("id 11 accepted")
    } catch {
      #expect(error.code == .invalidArgument && error.message.contains("ids[1] (11) is outside [0, 11)"))
    }
    _ = consume os
    // dim 0 gathers nothing, but the ids are still checked (as subq_embedding does)
    var none = [Float]()
    var ns = none.mutableSpan
    do {
      try embeddingGather(table: [Float]().span, vocab: vocab, dim: 0, ids: bad.span, out: &ns)
      Issue.record("id 11 accepted with dim 0")
    } catch {
      #expect(error.code == .invalidArgument && error.message.contains("ids[1] (11) is outside [0, 11)"))
    }
    try embeddingGather(table: [Float]().span, vocab: vocab, dim: 0, ids: ids.span, out: &ns)
    _ = consume ns
  }

  /// f16 round trips: every finite f16 survives decode then encode; rounding is nearest-even.
  @Test func f16Conversions() throws {
    let all = (0...UInt16.max).filter { ($0 & 0x7c00) != 0x7c00 }
    #expect(F16.encode(F16.decode(all)) == all)
    #expect(F16.encode([1.0, 65504, 65520, 1e-8, 2.98023224e-08, 1 + 1.0 / 2048]) == [0x3c00, 0x7bff, 0x7c00, 0, 0, 0x3c00])
    #expect(F16.decode([0x0001, 0xc000, 0x7c00])[0] == 5.9604645e-08)
    #expect(F16.decode([0x7e00])[0].isNaN)
    // Spans of equal length, and the count check (both directions).
    var half = [UInt16](repeating: 0, count: 3)
    var hspan = half.mutableSpan
    expectSubQError(.invalidArgument, containing: ["F16.convert", "destination has 3", "source has 2"]) {
      try F16.convert([Float(1), 2].span, to: &hspan)
    }
    try F16.convert([Float(1), 2, 3].span, to: &hspan)
    _ = consume hspan
    #expect(half == [0x3c00, 0x4000, 0x4200])
    var wide = [Float](repeating: 0, count: 2)
    var wspan = wide.mutableSpan
    expectSubQError(.invalidArgument, containing: ["destination has 2", "source has 3"]) {
      try F16.convert(half.span, to: &wspan)
    }
    _ = consume wspan
  }
}
