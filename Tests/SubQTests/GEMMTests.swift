import Dispatch
import Testing

@testable import SubQ

/// Hands a buffer to concurrent test closures that write disjoint slices.
struct SendableBuffer: @unchecked Sendable {
  let buffer: UnsafeMutableBufferPointer<Float>
  init(_ buffer: UnsafeMutableBufferPointer<Float>) { self.buffer = buffer }
}

/// Contexts per ISA path and thread count; creates pools, hence serialised.
@Suite(.serialized) struct GEMMTests {
  static let threadCounts = [1, 2, 3, 5]
  static let shapes = [
    Shape(m: 1, n: 1, k: 1), Shape(m: 7, n: 5, k: 3), Shape(m: 33, n: 17, k: 65), Shape(m: 13, n: 67, k: 9),
    Shape(m: 100, n: 37, k: 129),
  ]

  static func context(threads: Int, isa: ISA) throws -> Context {
    var p = Context.Parameters(threads: threads, maxISA: isa)
    p.flags = [.noSpin]  // other suites may run in parallel on 2 cores
    return try Context(p)
  }

  /// Row-major f32 GEMM against the Double reference for every host ISA path; every thread count
  /// gives the 1-thread context's bits.
  @Test(arguments: threadCounts, shapes)
  func f32MatchesReference(threads: Int, shape: Shape) throws {
    let (m, n, k) = (shape.m, shape.n, shape.k)
    let a = randomFloats(m * k, seed: 1), b = randomFloats(k * n, seed: 2), c0 = randomFloats(m * n, seed: 3)
    let ref = referenceGEMM(
      m: m, n: n, k: k, alpha: 0.75, a: doubles(a), av: View(rs: k, cs: 1), b: doubles(b), bv: View(rs: n, cs: 1),
      beta: -0.5, c: doubles(c0), cv: View(rs: n, cs: 1))
    for isa in hostISAs {
      let ctx = try Self.context(threads: threads, isa: isa)
      var c = c0
      var cs = c.mutableSpan
      try gemm(m: m, n: n, k: k, alpha: 0.75, a: a.span, b: b.span, beta: -0.5, c: &cs, context: ctx)
      _ = consume cs
      expectClose(c, cv: View(rs: n, cs: 1), m: m, n: n, k: k, reference: ref, "\(isa) threads=\(threads)")
      var c1 = c0
      var cs1 = c1.mutableSpan
      try gemm(m: m, n: n, k: k, alpha: 0.75, a: a.span, b: b.span, beta: -0.5, c: &cs1,
               context: try Self.context(threads: 1, isa: isa))
      _ = consume cs1
      #expect(sameBits(c, c1), "\(isa): \(threads) threads differ from 1 thread")
    }
  }

  /// Transposed A (stored k × m), column-major B, and C inside a padded buffer whose padding
  /// must stay untouched.
  @Test(arguments: hostISAs)
  func stridesAndPadding(isa: ISA) throws {
    let (m, n, k) = (9, 11, 14)
    let ldc = n + 5, cOffset = 0
    let a = randomFloats(k * m, seed: 4)  // A^T stored row-major: A(i,p) at p*m + i
    let b = randomFloats(n * k, seed: 5)  // column-major B: B(p,j) at j*k + p
    let sentinel = Float(bitPattern: 0x7FC0_1234)
    var c = [Float](repeating: sentinel, count: m * ldc)
    let c0 = randomFloats(m * n, seed: 6)
    for i in 0..<m { for j in 0..<n { c[cOffset + i * ldc + j] = c0[i * n + j] } }
    let cBefore = c
    let av = View(rs: 1, cs: m), bv = View(rs: 1, cs: k), cv = View(base: cOffset, rs: ldc, cs: 1)
    let ref = referenceGEMM(
      m: m, n: n, k: k, alpha: 1.25, a: doubles(a), av: av, b: doubles(b), bv: bv, beta: 2, c: doubles(cBefore), cv: cv)
    let ctx = try Self.context(threads: 2, isa: isa)
    var span = c.mutableSpan
    try gemm(
      m: m, n: n, k: k, alpha: 1.25, a: a.span, aStrides: MatrixStrides.rowMajor(leadingDimension: m).transposed,
      b: b.span, bStrides: .columnMajor(leadingDimension: k), beta: 2, c: &span,
      cStrides: .rowMajor(leadingDimension: ldc), context: ctx)
    _ = consume span
    expectClose(c, cv: cv, m: m, n: n, k: k, reference: ref, "\(isa)")
    for i in 0..<m {
      for j in n..<ldc { #expect(c[i * ldc + j].bitPattern == sentinel.bitPattern, "padding (\(i),\(j)) written") }
    }
    // Column-major C (rows 1 apart) too, via the UnsafeBufferPointer overload.
    var ccm = [Float](repeating: 0, count: m * n)
    try a.withUnsafeBufferPointer { ap in
      try b.withUnsafeBufferPointer { bp in
        try ccm.withUnsafeMutableBufferPointer { cp in
          try gemm(
            m: m, n: n, k: k, a: ap, aStrides: MatrixStrides(row: 1, column: m), b: bp,
            bStrides: MatrixStrides(row: 1, column: k), c: cp, cStrides: .columnMajor(leadingDimension: m), context: ctx)
        }
      }
    }
    let ref2 = referenceGEMM(
      m: m, n: n, k: k, alpha: 1, a: doubles(a), av: av, b: doubles(b), bv: bv, beta: 0, c: [], cv: cv)
    expectClose(ccm, cv: View(rs: 1, cs: m), m: m, n: n, k: k, reference: ref2, "\(isa) column-major C")
  }

  /// cblas-style row-major sgemm with every transpose combination and padded leading dimensions.
  @Test(arguments: [false, true], [false, true])
  func sgemmTransposes(transposeA: Bool, transposeB: Bool) throws {
    let (m, n, k) = (10, 7, 13)
    let aRows = transposeA ? k : m, aLen = transposeA ? m : k
    let bRows = transposeB ? n : k, bLen = transposeB ? k : n
    let lda = aLen + 3, ldb = bLen + 1, ldc = n + 2
    let a = randomFloats(aRows * lda, seed: 7), b = randomFloats(bRows * ldb, seed: 8)
    let c0 = randomFloats(m * ldc, seed: 9)
    let av = transposeA ? View(rs: 1, cs: lda) : View(rs: lda, cs: 1)
    let bv = transposeB ? View(rs: 1, cs: ldb) : View(rs: ldb, cs: 1)
    let cv = View(rs: ldc, cs: 1)
    let ref = referenceGEMM(
      m: m, n: n, k: k, alpha: -1, a: doubles(a), av: av, b: doubles(b), bv: bv, beta: 0.25, c: doubles(c0), cv: cv)
    for isa in hostISAs {
      var c = c0
      var span = c.mutableSpan
      try sgemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: -1, a: a.span, lda: lda,
        b: b.span, ldb: ldb, beta: 0.25, c: &span, ldc: ldc, context: try Self.context(threads: 2, isa: isa))
      _ = consume span
      expectClose(c, cv: cv, m: m, n: n, k: k, reference: ref, "\(isa) tA=\(transposeA) tB=\(transposeB)")
      for i in 0..<m { for j in n..<ldc { #expect(c[i * ldc + j] == c0[i * ldc + j]) } }
    }
    // nil leading dimensions = contiguous, context nil = calling thread.
    let ac = randomFloats(aRows * aLen, seed: 10), bc = randomFloats(bRows * bLen, seed: 11)
    var c = [Float](repeating: .nan, count: m * n)
    var span = c.mutableSpan
    try sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: ac.span, b: bc.span, c: &span)
    _ = consume span
    let ref2 = referenceGEMM(
      m: m, n: n, k: k, alpha: 1, a: doubles(ac), av: transposeA ? View(rs: 1, cs: aLen) : View(rs: aLen, cs: 1),
      b: doubles(bc), bv: transposeB ? View(rs: 1, cs: bLen) : View(rs: bLen, cs: 1), beta: 0, c: [], cv: cv)
    expectClose(c, cv: View(rs: n, cs: 1), m: m, n: n, k: k, reference: ref2, "contiguous, no context")
  }

  /// beta == 0 never reads C (NaN does not propagate); k == 0 scales C by beta; empty problems
  /// touch nothing, even with empty buffers.
  @Test func alphaBetaAndEmptyProblems() throws {
    let (m, n, k) = (5, 6, 7)
    let a = randomFloats(m * k, seed: 12), b = randomFloats(k * n, seed: 13)
    var c = [Float](repeating: .nan, count: m * n)
    var span = c.mutableSpan
    try gemm(m: m, n: n, k: k, a: a.span, b: b.span, c: &span)
    _ = consume span
    #expect(c.allSatisfy { $0.isFinite })
    let ref = referenceGEMM(
      m: m, n: n, k: k, alpha: 1, a: doubles(a), av: View(rs: k, cs: 1), b: doubles(b), bv: View(rs: n, cs: 1),
      beta: 0, c: [], cv: View(rs: n, cs: 1))
    expectClose(c, cv: View(rs: n, cs: 1), m: m, n: n, k: k, reference: ref, "beta 0 over NaN")

    // k == 0 with empty A and B: C = beta * C exactly.
    let c0 = randomFloats(m * n, seed: 14)
    var ck = c0
    var spanK = ck.mutableSpan
    try gemm(m: m, n: n, k: 0, a: [Float]().span, b: [Float]().span, beta: 0.5, c: &spanK)
    _ = consume spanK
    #expect(zip(ck, c0).allSatisfy { $0 == 0.5 * $1 })

    // Empty problems: nothing touched, empty buffers accepted.
    var empty = [Float]()
    var emptySpan = empty.mutableSpan
    try gemm(m: 0, n: 4, k: 3, a: [Float]().span, b: randomFloats(12, seed: 1).span, c: &emptySpan)
    try gemm(m: 3, n: 0, k: 3, a: randomFloats(9, seed: 1).span, b: [Float]().span, c: &emptySpan)
    _ = consume emptySpan
    var untouched = c0
    var span3 = untouched.mutableSpan
    try gemm(
      m: m, n: n, k: k, a: a.span, b: b.span, c: &span3,
      batch: GEMMBatch(count: 0, strideA: 0, strideB: 0, strideC: 0))
    _ = consume span3
    #expect(sameBits(untouched, c0))
  }

  /// bf16 A and/or B: the bf16 values are used exactly, so the reference uses the exact widened
  /// values (decoded independently of the library).
  @Test(arguments: hostISAs)
  func bf16Inputs(isa: ISA) throws {
    let (m, n, k) = (17, 23, 41)
    let a32 = randomFloats(m * k, seed: 15), b32 = randomFloats(k * n, seed: 16)
    let a16 = BF16.encode(a32), b16 = BF16.encode(b32)
    let ctx = try Self.context(threads: 3, isa: isa)
    let av = View(rs: k, cs: 1), bv = View(rs: n, cs: 1), cv = View(rs: n, cs: 1)
    // (bf16, bf16)
    var c = [Float](repeating: 0, count: m * n)
    var span = c.mutableSpan
    try gemm(m: m, n: n, k: k, a: a16.span, b: b16.span, c: &span, context: ctx)
    _ = consume span
    var ref = referenceGEMM(
      m: m, n: n, k: k, alpha: 1, a: bf16ToDouble(a16), av: av, b: bf16ToDouble(b16), bv: bv, beta: 0, c: [], cv: cv)
    expectClose(c, cv: cv, m: m, n: n, k: k, reference: ref, "\(isa) bf16 x bf16")
    // (f32, bf16)
    span = c.mutableSpan
    try gemm(m: m, n: n, k: k, a: a32.span, b: b16.span, c: &span, context: ctx)
    _ = consume span
    ref = referenceGEMM(
      m: m, n: n, k: k, alpha: 1, a: doubles(a32), av: av, b: bf16ToDouble(b16), bv: bv, beta: 0, c: [], cv: cv)
    expectClose(c, cv: cv, m: m, n: n, k: k, reference: ref, "\(isa) f32 x bf16")
    // (bf16, f32), transposed B storage
    let bT = randomFloats(n * k, seed: 17)
    span = c.mutableSpan
    try gemm(
      m: m, n: n, k: k, a: a16.span, b: bT.span, bStrides: .columnMajor(leadingDimension: k), c: &span,
      context: ctx)
    _ = consume span
    ref = referenceGEMM(
      m: m, n: n, k: k, alpha: 1, a: bf16ToDouble(a16), av: av, b: doubles(bT), bv: View(rs: 1, cs: k), beta: 0,
      c: [], cv: cv)
    expectClose(c, cv: cv, m: m, n: n, k: k, reference: ref, "\(isa) bf16 x f32")
  }

  /// Strided batches, including a B shared across the batch (stride 0) and gaps between matrices.
  @Test(arguments: hostISAs)
  func batched(isa: ISA) throws {
    let (m, n, k, count) = (6, 9, 11, 4)
    let sa = m * k + 3, sc = m * n + 2
    let a = randomFloats(sa * count, seed: 18)
    let bShared = randomFloats(k * n, seed: 19)
    let bAll = randomFloats(k * n * count, seed: 20)
    let c0 = randomFloats(sc * count, seed: 21)
    let ctx = try Self.context(threads: 2, isa: isa)
    for (b, sb) in [(bShared, 0), (bAll, k * n)] {
      var c = c0
      var span = c.mutableSpan
      try gemm(
        m: m, n: n, k: k, alpha: 0.5, a: a.span, b: b.span, beta: 1, c: &span,
        batch: GEMMBatch(count: count, strideA: sa, strideB: sb, strideC: sc), context: ctx)
      _ = consume span
      for t in 0..<count {
        let cv = View(base: t * sc, rs: n, cs: 1)
        let ref = referenceGEMM(
          m: m, n: n, k: k, alpha: 0.5, a: doubles(a), av: View(base: t * sa, rs: k, cs: 1), b: doubles(b),
          bv: View(base: t * sb, rs: n, cs: 1), beta: 1, c: doubles(c0), cv: cv)
        expectClose(c, cv: cv, m: m, n: n, k: k, reference: ref, "\(isa) batch \(t) strideB \(sb)")
        // The gap after each C matrix is untouched.
        for g in (t * sc + m * n)..<((t + 1) * sc) { #expect(c[g] == c0[g]) }
      }
    }
  }

  /// Packed B (f32, bf16, and a PyTorch Linear weight W[out][in]) against the reference, with
  /// bits independent of the thread count and of pool vs executor.
  @Test(arguments: hostISAs)
  func packedB(isa: ISA) throws {
    let (m, n, k) = (19, 45, 37)
    let ctx1 = try Self.context(threads: 1, isa: isa)
    let ctx3 = try Self.context(threads: 3, isa: isa)
    let exec = try Context(executor: .dispatch(maxConcurrency: 2), parameters: Context.Parameters(threads: 1, maxISA: isa))
    let a = randomFloats(m * k, seed: 22)
    let w = randomFloats(n * k, seed: 23)  // W[out = n][in = k]
    let b32 = randomFloats(k * n, seed: 24)
    let b16 = BF16.encode(b32)
    let cv = View(rs: n, cs: 1)

    let packedW = try PackedB(k: k, n: n, b: w.span, strides: MatrixStrides(row: 1, column: k), context: ctx1)
    #expect(packedW.k == k && packedW.n == n)
    #expect(packedW.byteCount >= k * n * 4)
    var c = [Float](repeating: 0, count: m * n)
    var span = c.mutableSpan
    try gemm(m: m, a: a.span, packedB: packedW, c: &span, context: ctx1)
    _ = consume span
    let refW = referenceGEMM(
      m: m, n: n, k: k, alpha: 1, a: doubles(a), av: View(rs: k, cs: 1), b: doubles(w), bv: View(rs: 1, cs: k),
      beta: 0, c: [], cv: cv)
    expectClose(c, cv: cv, m: m, n: n, k: k, reference: refW, "\(isa) packed Linear weight")
    for other in [ctx3, exec] {
      var c2 = [Float](repeating: 0, count: m * n)
      var span2 = c2.mutableSpan
      try gemm(m: m, a: a.span, packedB: packedW, c: &span2, context: other)
      _ = consume span2
      #expect(sameBits(c, c2), "\(isa): packed result depends on the runner (\(other))")
    }

    let packed16 = try PackedB(k: k, n: n, b: b16.span, context: ctx1)
    #expect(packed16.byteCount >= k * n * 2)
    let c0 = randomFloats(m * n, seed: 25)
    c = c0
    span = c.mutableSpan
    try gemm(m: m, alpha: 2, a: a.span, packedB: packed16, beta: -1, c: &span, context: ctx3)
    _ = consume span
    let ref16 = referenceGEMM(
      m: m, n: n, k: k, alpha: 2, a: doubles(a), av: View(rs: k, cs: 1), b: bf16ToDouble(b16), bv: cv, beta: -1,
      c: doubles(c0), cv: cv)
    expectClose(c, cv: cv, m: m, n: n, k: k, reference: ref16, "\(isa) packed bf16")

    // Batched with a shared packed B, bf16 A, via the unsafe-buffer overloads.
    let count = 3
    let aB = BF16.encode(randomFloats(m * k * count, seed: 26))
    var cB = [Float](repeating: 0, count: m * n * count)
    // Foreign memory: an unsafe buffer owned by the caller, freed right after packing.
    let foreign = UnsafeMutableBufferPointer<Float>.allocate(capacity: b32.count)
    _ = foreign.initialize(from: b32)
    let packed32 = try PackedB(k: k, n: n, b: UnsafeBufferPointer(foreign), context: ctx1)
    foreign.deallocate()
    try aB.withUnsafeBufferPointer { ap in
      try cB.withUnsafeMutableBufferPointer { cp in
        try gemm(
          m: m, a: ap, packedB: packed32, c: cp, batch: GEMMBatch(count: count, strideA: m * k, strideB: 0, strideC: m * n),
          context: ctx3)
      }
    }
    for t in 0..<count {
      let ref = referenceGEMM(
        m: m, n: n, k: k, alpha: 1, a: bf16ToDouble(aB), av: View(base: t * m * k, rs: k, cs: 1), b: doubles(b32),
        bv: cv, beta: 0, c: [], cv: cv)
      expectClose(cB, cv: View(base: t * m * n, rs: n, cs: 1), m: m, n: n, k: k, reference: ref, "\(isa) packed batch \(t)")
    }
    packed32.close()
  }

  /// Concurrent calls on one context from several threads are serialised by the library and
  /// each gets the same bits as a lone call.
  @Test func concurrentCallsOnOneContext() throws {
    let (m, n, k) = (40, 30, 50)
    let a = randomFloats(m * k, seed: 44), b = randomFloats(k * n, seed: 45)
    let ctx = try Self.context(threads: 2, isa: .auto)
    var expected = [Float](repeating: 0, count: m * n)
    var span = expected.mutableSpan
    try gemm(m: m, n: n, k: k, a: a.span, b: b.span, c: &span, context: ctx)
    _ = consume span
    let callers = 6
    let results = UnsafeMutableBufferPointer<Float>.allocate(capacity: callers * m * n)
    defer { results.deallocate() }
    results.initialize(repeating: .nan)
    let failures = Counter()
    let out = SendableBuffer(results)
    DispatchQueue.concurrentPerform(iterations: callers) { t in
      let slice = UnsafeMutableBufferPointer(rebasing: out.buffer[(t * m * n)..<((t + 1) * m * n)])
      do {
        try a.withUnsafeBufferPointer { ap in
          try b.withUnsafeBufferPointer { bp in try gemm(m: m, n: n, k: k, a: ap, b: bp, c: slice, context: ctx) }
        }
      } catch {
        failures.add()
      }
    }
    #expect(failures.current == 0)
    for t in 0..<callers {
      #expect(sameBits(Array(results[(t * m * n)..<((t + 1) * m * n)]), expected), "caller \(t)")
    }
  }

  /// `deinit` and `close()` free the packed copy (checked per value, also in release builds).
  @Test func packedBLifetime() throws {
    let b = randomFloats(8 * 5, seed: 27)
    var serial: UInt64 = 0
    do {
      let p = try PackedB(k: 8, n: 5, b: b.span)
      serial = p.serial
      #expect(PackedBRegistry.isLive(serial))
      #expect(p.byteCount > 0)
    }
    #expect(!PackedBRegistry.isLive(serial), "deinit did not run at the end of scope")

    let p2 = try PackedB(k: 8, n: 5, b: b.span)
    let s2 = p2.serial
    #expect(PackedBRegistry.isLive(s2))
    p2.close()
    #expect(!PackedBRegistry.isLive(s2), "close() did not free")

    var p3: PackedB? = try PackedB(k: 8, n: 5, b: b.span)
    let s3 = p3?.serial ?? 0
    #expect(PackedBRegistry.isLive(s3))
    p3 = nil
    #expect(!PackedBRegistry.isLive(s3), "deinit did not run when the optional was cleared")
  }

  /// A dispatch executor context, a pool context and a 1-thread context give identical bits, and
  /// a "shuffled sequential" custom executor (random task order, one thread) does too; the
  /// executors really run the work.
  @Test(arguments: hostISAs)
  func executorBitIdentical(isa: ISA) throws {
    let (m, n, k) = (150, 70, 90)
    let a = randomFloats(m * k, seed: 28), b = randomFloats(k * n, seed: 29), c0 = randomFloats(m * n, seed: 30)
    let calls = Counter(), tasks = Counter()
    let shuffled = Executor(maxConcurrency: 4) { count, body in
      calls.add()
      tasks.add(count)
      var rng = SplitMix64(seed: UInt64(count))
      for i in (0..<count).shuffled(using: &rng) { body(i) }
    }
    let dispatchCalls = Counter()
    let countingDispatch = Executor(maxConcurrency: 3) { count, body in
      dispatchCalls.add()
      Executor.dispatch(maxConcurrency: 3).parallelFor(count, body)
    }
    let contexts: [(String, Context)] = [
      ("1 thread", try Self.context(threads: 1, isa: isa)),
      ("pool 2", try Self.context(threads: 2, isa: isa)),
      ("pool 5", try Self.context(threads: 5, isa: isa)),
      ("dispatch", try Context(executor: .dispatch, parameters: Context.Parameters(threads: 1, maxISA: isa))),
      ("counting dispatch", try Context(executor: countingDispatch, parameters: Context.Parameters(threads: 1, maxISA: isa))),
      ("shuffled", try Context(executor: shuffled, parameters: Context.Parameters(threads: 1, maxISA: isa))),
    ]
    var results: [[Float]] = []
    for (name, ctx) in contexts {
      #expect(ctx.isa == contexts[0].1.isa, "\(name)")
      var c = c0
      var span = c.mutableSpan
      try gemm(m: m, n: n, k: k, alpha: 1.5, a: a.span, b: b.span, beta: 0.5, c: &span, context: ctx)
      _ = consume span
      results.append(c)
    }
    let ref = referenceGEMM(
      m: m, n: n, k: k, alpha: 1.5, a: doubles(a), av: View(rs: k, cs: 1), b: doubles(b), bv: View(rs: n, cs: 1),
      beta: 0.5, c: doubles(c0), cv: View(rs: n, cs: 1))
    expectClose(results[0], cv: View(rs: n, cs: 1), m: m, n: n, k: k, reference: ref, "\(isa)")
    for (i, (name, _)) in contexts.enumerated().dropFirst() {
      #expect(sameBits(results[i], results[0]), "\(isa): \(name) differs from the 1-thread context")
    }
    #expect(calls.current >= 1, "the custom executor was never called")
    #expect(tasks.current >= 1)
    #expect(dispatchCalls.current >= 1, "the dispatch executor was never called")
  }
}

@Suite struct BF16Tests {
  @Test func roundToNearestEven() throws {
    let inputs: [UInt32] = [
      0x3F80_0000,  // 1.0 exact
      0x3F80_8000,  // halfway, even below -> 0x3F80
      0x3F81_8000,  // halfway, odd below -> 0x3F82
      0x3F80_8001,  // above halfway -> 0x3F81
      0xC040_7FFF,  // below halfway, negative -> 0xC040
      0x7F80_0000,  // +inf
      0x0000_0000, 0x8000_0000,  // +-0
    ]
    let expected: [UInt16] = [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC040, 0x7F80, 0x0000, 0x8000]
    #expect(BF16.encode(inputs.map { Float(bitPattern: $0) }) == expected)
    let nan = BF16.encode([Float.nan, -Float.nan, Float(bitPattern: 0x7F80_0001)])
    let decoded = BF16.decode(nan)
    #expect(decoded.allSatisfy { $0.isNaN })
  }

  @Test func decodeIsExactAndRoundTripIsClose() throws {
    let bits: [UInt16] = [0x3F80, 0xBF80, 0x4049, 0x0001, 0xFF80]
    #expect(BF16.decode(bits).map(\.bitPattern) == bits.map { UInt32($0) << 16 })
    let x = randomFloats(1000, seed: 31)
    let back = BF16.decode(BF16.encode(x))
    for (v, r) in zip(x, back) { #expect(abs(Double(r) - Double(v)) <= abs(Double(v)) * 0x1p-8) }
    // Spans of equal length, and the count check.
    var out = [UInt16](repeating: 0, count: 3)
    var span = out.mutableSpan
    expectSubQError(.invalidArgument, containing: ["destination has 3", "source has 2"]) {
      try BF16.convert([Float(1), 2].span, to: &span)
    }
    try BF16.convert([Float(1), 2, 3].span, to: &span)
    _ = consume span
    #expect(out == [0x3F80, 0x4000, 0x4040])
  }
}

@Suite struct GEMMErrorTests {
  let a = randomFloats(12, seed: 40), b = randomFloats(20, seed: 41)

  @Test func negativeSizes() {
    var c = [Float](repeating: 0, count: 15)
    var span = c.mutableSpan
    expectSubQError(.invalidArgument, containing: ["gemm", "m (-1)"]) {
      try gemm(m: -1, n: 5, k: 4, a: a.span, b: b.span, c: &span)
    }
    expectSubQError(.invalidArgument, containing: ["k (-4)"]) {
      try gemm(m: 3, n: 5, k: -4, a: a.span, b: b.span, c: &span)
    }
    expectSubQError(.invalidArgument, containing: ["batch.count (-2)"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, b: b.span, c: &span, batch: GEMMBatch(count: -2, strideA: 0, strideB: 0, strideC: 15))
    }
    expectSubQError(.invalidArgument, containing: ["sgemm", "n (-5)"]) {
      try sgemm(m: 3, n: -5, k: 4, a: a.span, b: b.span, c: &span)
    }
    expectSubQError(.invalidArgument, containing: ["PackedB", "k (-1)"]) { _ = try PackedB(k: -1, n: 5, b: b.span) }
  }

  @Test func shortBuffers() {
    var c = [Float](repeating: 0, count: 15)
    var span = c.mutableSpan
    expectSubQError(.invalidArgument, containing: ["a has 11 elements", "address 12"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span.extracting(0..<11), b: b.span, c: &span)
    }
    expectSubQError(.invalidArgument, containing: ["b has 19 elements", "address 20"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, b: b.span.extracting(0..<19), c: &span)
    }
    var small = [Float](repeating: 0, count: 14)
    var smallSpan = small.mutableSpan
    expectSubQError(.invalidArgument, containing: ["c has 14 elements", "address 15"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, b: b.span, c: &smallSpan)
    }
    // Padded strides need more room: (m-1)*ldc + n = 2*7 + 5.
    expectSubQError(.invalidArgument, containing: ["c has 15 elements", "address 19"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, b: b.span, c: &span, cStrides: .rowMajor(leadingDimension: 7))
    }
    // Batches: the last matrix must fit.
    expectSubQError(.invalidArgument, containing: ["a has 12 elements", "batch.strideA=12"]) {
      try gemm(
        m: 3, n: 5, k: 4, a: a.span, b: b.span, c: &span, batch: GEMMBatch(count: 2, strideA: 12, strideB: 0, strideC: 15))
    }
    expectSubQError(.invalidArgument, containing: ["lda=6", "a has 12"]) {
      try sgemm(m: 3, n: 5, k: 4, a: a.span, lda: 6, b: b.span, c: &span)
    }
    expectSubQError(.invalidArgument, containing: ["PackedB", "b has 20 elements", "address 21"]) {
      _ = try PackedB(k: 3, n: 7, b: b.span)
    }
    // The unsafe-buffer overloads are checked the same way.
    expectSubQError(.invalidArgument, containing: ["a has 11 elements"]) {
      try a.withUnsafeBufferPointer { ap in
        try b.withUnsafeBufferPointer { bp in
          try c.withUnsafeMutableBufferPointer { cp in
            try gemm(m: 3, n: 5, k: 4, a: UnsafeBufferPointer(rebasing: ap[0..<11]), b: bp, c: cp)
          }
        }
      }
    }
  }

  @Test func badStrides() {
    var c = [Float](repeating: 0, count: 15)
    var span = c.mutableSpan
    expectSubQError(.invalidArgument, containing: ["aStrides.row (0)", "m (3)"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, aStrides: MatrixStrides(row: 0, column: 1), b: b.span, c: &span)
    }
    expectSubQError(.invalidArgument, containing: ["bStrides.column (-1)"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, b: b.span, bStrides: MatrixStrides(row: 5, column: -1), c: &span)
    }
    expectSubQError(.invalidArgument, containing: ["batch.strideB (-20)"]) {
      try gemm(
        m: 3, n: 5, k: 4, a: a.span, b: b.span, c: &span, batch: GEMMBatch(count: 2, strideA: 0, strideB: -20, strideC: 15))
    }
    expectSubQError(.invalidArgument, containing: ["overflow"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, aStrides: MatrixStrides(row: Int.max / 2, column: 1), b: b.span, c: &span)
    }
    expectSubQError(.invalidArgument, containing: ["ldc (4)", "5"]) {
      try sgemm(m: 3, n: 5, k: 4, a: a.span, b: b.span, c: &span, ldc: 4)
    }
    // Caught by the library, not the façade: C elements sharing an address, and a zero C batch stride.
    expectSubQError(.invalidArgument, containing: ["subq_gemm"]) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, b: b.span, c: &span, cStrides: MatrixStrides(row: 1, column: 1))
    }
    var c2 = [Float](repeating: 0, count: 30)
    var span2 = c2.mutableSpan
    expectSubQError(.invalidArgument, containing: ["subq_gemm"]) {
      try gemm(
        m: 3, n: 5, k: 4, a: a.span, b: b.span, c: &span2, batch: GEMMBatch(count: 2, strideA: 0, strideB: 0, strideC: 0))
    }
  }

  @Test func packedShapeMismatch() throws {
    let packed = try PackedB(k: 4, n: 5, b: b.span)
    var c = [Float](repeating: 0, count: 15)
    // Public API: k comes from the packed B, so an A built for another k is too short.
    var span = c.mutableSpan
    expectSubQError(.invalidArgument, containing: ["gemm(packedB:)", "a has 9 elements"]) {
      try gemm(m: 3, a: a.span.extracting(0..<9), packedB: packed, c: &span)
    }
    _ = consume span
    // The library's own check when a claimed shape differs from the packed one.
    let big = randomFloats(64, seed: 42)
    expectSubQError(.invalidArgument) {
      try big.withUnsafeBufferPointer { ap in
        try c.withUnsafeMutableBufferPointer { cp in
          try gemmPacked(
            m: 3, n: 5, k: 3, alpha: 1, a: ap, aStrides: nil, packed: packed.raw, beta: 0, c: cp, cStrides: nil,
            batch: .single, context: nil)
        }
      }
    }
  }

  /// C overlapping A is rejected by the library (only reachable through the unsafe overloads).
  @Test func overlappingOutputRejected() {
    var storage = randomFloats(64, seed: 43)
    expectSubQError(.invalidArgument, containing: ["subq_gemm"]) {
      try b.withUnsafeBufferPointer { bp in
        try storage.withUnsafeMutableBufferPointer { all in
          let aPart = UnsafeBufferPointer(rebasing: all[0..<12])
          let cPart = UnsafeMutableBufferPointer(rebasing: all[8..<23])
          try gemm(m: 3, n: 5, k: 4, a: aPart, b: bp, c: cPart)
        }
      }
    }
  }

  /// A B packed for a higher ISA path cannot be used by a context capped below it.
  @Test(.enabled(if: ISA.supported.count > 1)) func packedForAnotherISA() throws {
    let high = try Context(Context.Parameters(threads: 1, maxISA: ISA.host))
    let low = try Context(Context.Parameters(threads: 1, maxISA: .scalar))
    try #require(high.isa != low.isa)
    let packed = try PackedB(k: 4, n: 5, b: b.span, context: high)
    var c = [Float](repeating: 0, count: 15)
    var span = c.mutableSpan
    expectSubQError(.invalidArgument) { try gemm(m: 3, a: a.span, packedB: packed, c: &span, context: low) }
    try gemm(m: 3, a: a.span, packedB: packed, c: &span, context: high)
  }

  /// The thrown type is SubQError statically (typed throws), with the message read on this thread.
  @Test func typedThrows() {
    var c = [Float](repeating: 0, count: 15)
    var span = c.mutableSpan
    do throws(SubQError) {
      try gemm(m: 3, n: 5, k: 4, a: a.span, b: b.span.extracting(0..<3), c: &span)
      Issue.record("no error")
    } catch {
      let code: SubQError.Code = error.code
      #expect(code == .invalidArgument)
    }
  }
}
