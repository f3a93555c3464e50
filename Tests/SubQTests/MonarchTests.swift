import Testing

@testable import SubQ

/// Float64 Monarch forward of spec §1 (four loops), the Swift-side oracle.
func referenceMonarch(_ sh: MonarchShape, w1: [Double], w2: [Double], x: [Double], tokens: Int) -> [Double] {
  let (n, m, nn) = (sh.inputWidth, sh.outputWidth, sh.k * sh.q)
  var y = [Double](repeating: 0, count: tokens * m)
  for t in 0..<tokens {
    var u = [Double](repeating: 0, count: nn)
    for i in 0..<sh.k {
      for a in 0..<sh.q {
        var acc = 0.0
        for e in 0..<sh.p { acc += w1[(i * sh.q + a) * sh.p + e] * x[t * n + i * sh.p + e] }
        u[i * sh.q + a] = acc
      }
    }
    if sh.isBlockDiagonal {
      for o in 0..<m { y[t * m + o] = u[o] }
      continue
    }
    for j in 0..<sh.l {
      for c in 0..<sh.s {
        var acc = 0.0
        for tt in 0..<sh.r { acc += w2[(j * sh.s + c) * sh.r + tt] * u[tt * sh.l + j] }  // P1 then stage 2
        y[t * m + c * sh.l + j] = acc  // P2
      }
    }
  }
  return y
}

private func relF(_ got: [Float], _ want: [Double]) -> Double {
  var e = 0.0, w = 0.0
  for (g, v) in zip(got, want) {
    e += (Double(g) - v) * (Double(g) - v)
    w += v * v
  }
  return w > 0 ? (e / w).squareRoot() : e.squareRoot()
}

@Suite(.serialized) struct MonarchTests {
  static let shapes = [
    MonarchShape(k: 4, q: 6, p: 3, l: 4, s: 5, r: 6), MonarchShape(k: 3, q: 6, p: 5, l: 2, s: 7, r: 9),
    MonarchShape(k: 16, q: 8, p: 8, l: 16, s: 8, r: 8), MonarchShape(k: 13, q: 6, p: 5, l: 13, s: 7, r: 6),
  ]

  /// Forward (with bias) against the Double reference on every host ISA, f32 and bf16 weights.
  @Test(arguments: shapes)
  func forwardMatchesReference(shape: MonarchShape) throws {
    let tokens = 9
    let w1 = randomFloats(shape.w1Count, seed: 1), w2 = randomFloats(shape.w2Count, seed: 2)
    let x = randomFloats(tokens * shape.inputWidth, seed: 3), bias = randomFloats(shape.outputWidth, seed: 4)
    for isa in hostISAs {
      let ctx = try Context(Context.Parameters(threads: 2, maxISA: isa))
      let w = try MonarchWeights(shape: shape, w1: w1, w2: w2, context: ctx)
      let y = try w.forward(x, tokens: tokens, bias: bias, context: ctx)
      var ref = referenceMonarch(shape, w1: w1.map(Double.init), w2: w2.map(Double.init), x: x.map(Double.init), tokens: tokens)
      for t in 0..<tokens { for o in 0..<shape.outputWidth { ref[t * shape.outputWidth + o] += Double(bias[o]) } }
      #expect(relF(y, ref) <= 1e-5, "\(isa) \(shape)")
      // bf16 weights: exact against the reference on the rounded values
      let h1 = BF16.encode(w1), h2 = BF16.encode(w2)
      let wb = try MonarchWeights(shape: shape, bf16W1: h1, bf16W2: h2, context: ctx)
      let yb = try wb.forward(x, tokens: tokens, context: ctx)
      let refb = referenceMonarch(
        shape, w1: BF16.decode(h1).map(Double.init), w2: BF16.decode(h2).map(Double.init), x: x.map(Double.init),
        tokens: tokens)
      #expect(relF(yb, refb) <= 1e-5, "bf16 \(isa) \(shape)")
    }
  }

  /// Block-diagonal layer and its backward (dX = G W, dW = G^T X per block).
  @Test func blockDiagonal() throws {
    let shape = try MonarchShape.blockDiagonal(inFeatures: 12, outFeatures: 20, blocks: 4)
    #expect(shape.k == 4 && shape.q == 5 && shape.p == 3)
    let tokens = 5
    let w1 = randomFloats(shape.w1Count, seed: 5), x = randomFloats(tokens * 12, seed: 6)
    let w = try MonarchWeights(shape: shape, w1: w1)
    let y = try w.forward(x, tokens: tokens)
    let ref = referenceMonarch(shape, w1: w1.map(Double.init), w2: [], x: x.map(Double.init), tokens: tokens)
    #expect(relF(y, ref) <= 1e-5)
    let g = randomFloats(tokens * 20, seed: 7)
    let grads = try w.backward(x: x, gradOutput: g, tokens: tokens)
    var dx = [Double](repeating: 0, count: tokens * 12), dw = [Double](repeating: 0, count: shape.w1Count)
    for t in 0..<tokens {
      for i in 0..<4 {
        for o in 0..<5 {
          for e in 0..<3 {
            dx[t * 12 + i * 3 + e] += Double(g[t * 20 + i * 5 + o]) * Double(w1[(i * 5 + o) * 3 + e])
            dw[(i * 5 + o) * 3 + e] += Double(g[t * 20 + i * 5 + o]) * Double(x[t * 12 + i * 3 + e])
          }
        }
      }
    }
    #expect(relF(grads.x, dx) <= 1e-5 && relF(grads.w1, dw) <= 1e-5 && grads.w2.isEmpty)
    expectSubQError(.invalidArgument, containing: ["in (1000) is not a multiple of nblocks (3)"]) {
      _ = try MonarchShape.blockDiagonal(inFeatures: 1000, outFeatures: 999, blocks: 3)
    }
  }

  /// Backward of a Monarch layer: dX against finite differences of the Double reference
  /// (the loss is linear in x, so differences are exact up to rounding).
  @Test func backwardMatchesDifferences() throws {
    let shape = MonarchShape(k: 3, q: 6, p: 5, l: 2, s: 7, r: 9), tokens = 2
    let w1 = randomFloats(shape.w1Count, seed: 8), w2 = randomFloats(shape.w2Count, seed: 9)
    let x = randomFloats(tokens * shape.inputWidth, seed: 10), g = randomFloats(tokens * shape.outputWidth, seed: 11)
    let w = try MonarchWeights(shape: shape, w1: w1, w2: w2)
    let grads = try w.backward(x: x, gradOutput: g, tokens: tokens)
    let w1d = w1.map(Double.init), w2d = w2.map(Double.init), gd = g.map(Double.init)
    func loss(_ xs: [Double]) -> Double {
      zip(referenceMonarch(shape, w1: w1d, w2: w2d, x: xs, tokens: tokens), gd).reduce(0) { $0 + $1.0 * $1.1 }
    }
    var fd = [Double](repeating: 0, count: x.count)
    for idx in 0..<x.count {
      var xp = x.map(Double.init), xm = xp
      xp[idx] += 1e-3
      xm[idx] -= 1e-3
      fd[idx] = (loss(xp) - loss(xm)) / 2e-3
    }
    #expect(relF(grads.x, fd) <= 1e-5)
    var gb = [Double](repeating: 0, count: shape.outputWidth)
    for t in 0..<tokens { for o in 0..<shape.outputWidth { gb[o] += gd[t * shape.outputWidth + o] } }
    #expect(relF(grads.bias, gb) <= 1e-6)
    #expect(grads.w1.count == shape.w1Count && grads.w2.count == shape.w2Count)
  }

  /// The forward's saved stage 1: y unchanged, stage 1 = R x, and the backward given it returns the
  /// same gradients bit for bit; wrong counts and block-diagonal shapes are refused.
  @Test func savedStage1() throws {
    let shape = MonarchShape(k: 3, q: 6, p: 5, l: 2, s: 7, r: 9), tokens = 5
    let w1 = randomFloats(shape.w1Count, seed: 20), w2 = randomFloats(shape.w2Count, seed: 21)
    let x = randomFloats(tokens * shape.inputWidth, seed: 22), g = randomFloats(tokens * shape.outputWidth, seed: 23)
    let w = try MonarchWeights(shape: shape, w1: w1, w2: w2)
    let (y, u) = try w.forwardSavingStage1(x, tokens: tokens)
    #expect(y == (try w.forward(x, tokens: tokens)))
    #expect(u.count == tokens * shape.stage1Width)
    var uref = [Double](repeating: 0, count: u.count)
    for t in 0..<tokens {
      for i in 0..<shape.k {
        for a in 0..<shape.q {
          var acc = 0.0
          for e in 0..<shape.p {
            acc += Double(w1[(i * shape.q + a) * shape.p + e]) * Double(x[t * shape.inputWidth + i * shape.p + e])
          }
          uref[t * shape.stage1Width + i * shape.q + a] = acc
        }
      }
    }
    #expect(relF(u, uref) <= 1e-6)
    let plain = try w.backward(x: x, gradOutput: g, tokens: tokens)
    let saved = try w.backward(x: x, gradOutput: g, tokens: tokens, stage1: u)
    #expect(plain.x == saved.x && plain.w1 == saved.w1 && plain.w2 == saved.w2 && plain.bias == saved.bias)
    expectSubQError(.invalidArgument, containing: ["stage1 has 3 elements"]) {
      _ = try w.backward(x: x, gradOutput: g, tokens: tokens, stage1: [1, 2, 3])
    }
    let bd = try MonarchShape.blockDiagonal(inFeatures: 12, outFeatures: 8, blocks: 4)
    let wb = try MonarchWeights(shape: bd, w1: randomFloats(bd.w1Count, seed: 24))
    expectSubQError(.invalidArgument, containing: ["stage1 must be NULL for a block-diagonal layer"]) {
      _ = try wb.forwardSavingStage1(randomFloats(2 * bd.inputWidth, seed: 25), tokens: 2)
    }
  }

  /// Projection recovers an exact Monarch (round trip through dense) and the residual is 0.
  @Test func projectionRoundTrip() throws {
    let shape = MonarchShape(k: 4, q: 6, p: 3, l: 4, s: 5, r: 6)
    let w1 = randomFloats(shape.w1Count, seed: 12).map(Double.init), w2 = randomFloats(shape.w2Count, seed: 13).map(Double.init)
    let dense = try Monarch.dense(shape: shape, w1: w1, w2: w2)
    let (p1, p2, resid) = try Monarch.project(dense, rows: 20, columns: 12, shape: shape)
    let back = try Monarch.dense(shape: shape, w1: p1, w2: p2)
    let err = zip(dense, back).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    let norm = dense.reduce(0.0) { $0 + $1 * $1 }
    #expect(err <= 1e-24 * norm && resid <= 1e-24 * norm)
  }

  @Test func badInput() throws {
    let shape = MonarchShape(k: 4, q: 6, p: 3, l: 4, s: 5, r: 5)  // k q = 24 != l r = 20
    expectSubQError(.invalidArgument, containing: ["k*q (24) != l*r (20)"]) {
      _ = try MonarchWeights(shape: shape, w1: [Float](repeating: 0, count: 72), w2: [Float](repeating: 0, count: 100))
    }
    let good = MonarchShape(k: 4, q: 6, p: 3, l: 4, s: 5, r: 6)
    expectSubQError(.invalidArgument, containing: ["w2 has 3 elements"]) {
      _ = try MonarchWeights(shape: good, w1: [Float](repeating: 0, count: 72), w2: [0, 0, 0])
    }
    let w = try MonarchWeights(
      shape: good, w1: [Float](repeating: 0, count: 72), w2: [Float](repeating: 0, count: 120))
    expectSubQError(.invalidArgument, containing: ["x has 5 elements"]) { _ = try w.forward([0, 0, 0, 0, 0], tokens: 1) }
    expectSubQError(.invalidArgument, containing: ["bias has 2 elements"]) {
      _ = try w.forward([Float](repeating: 0, count: 12), tokens: 1, bias: [0, 0])
    }
    expectSubQError(.invalidArgument, containing: ["m (19) != l*s (20)"]) {
      _ = try Monarch.project([Double](repeating: 0, count: 19 * 12), rows: 19, columns: 12, shape: good)
    }
    expectSubQError(.invalidArgument, containing: ["blocks (3) must divide n (16)"]) {
      _ = try MonarchShape.square(n: 16, blocks: 3)
    }
    #expect(w.ukernel.contains("bdmm"))
  }
}
