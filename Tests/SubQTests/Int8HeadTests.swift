import Foundation
import Testing

@testable import SubQ

/// `Int8Weights` (subq_q8_*) and `Model.LoadOptions.int8Head` (subq-run --int8-head).
@Suite struct Int8HeadTests {
  /// The façade: products against float64 over the dequantized weights, the quantization's bound,
  /// bf16 input, and bad input.
  @Test func int8WeightsProducts() throws {
    let rows = 37, cols = 70, m = 3
    var w = [Float](repeating: 0, count: rows * cols), x = [Float](repeating: 0, count: m * cols)
    var s: UInt64 = 12345
    func next() -> Float {
      s = s &* 6364136223846793005 &+ 1442695040888963407
      return Float(Int64(bitPattern: s >> 11) % 2001 - 1000) / 1000
    }
    for i in w.indices { w[i] = next() }
    for i in x.indices { x[i] = next() }
    let ctx = try Context(.init(threads: 2))
    let q = try Int8Weights(rows: rows, columns: cols, weights: w.span, context: ctx)
    #expect(q.rows == rows && q.columns == cols && q.byteCount >= rows * 3 * 34)
    let deq = try q.dequantized(rows: 0..<rows)
    for r in 0..<rows {
      for b0 in stride(from: 0, to: cols, by: 32) {
        let blk = (b0..<min(cols, b0 + 32)).map { r * cols + $0 }
        let amax = blk.map { abs(w[$0]) }.max()!
        for i in blk { #expect(abs(deq[i] - w[i]) <= amax / 254 * (1 + 0x1p-7) + amax * 1e-6, "row \(r) col \(i - r * cols)") }
      }
    }
    let y = try q.apply(x.span, m: m, context: ctx)
    for i in 0..<m {
      for j in 0..<rows {
        var ref = 0.0, mag = 0.0
        for p in 0..<cols {
          ref += Double(x[i * cols + p]) * Double(deq[j * cols + p])
          mag += abs(Double(x[i * cols + p]) * Double(deq[j * cols + p]))
        }
        #expect(abs(Double(y[i * rows + j]) - ref) <= Double(cols + 16) * 0x1p-24 * mag, "y[\(i)][\(j)]")
      }
    }
    // bf16 input (the values of w rounded to bf16) quantizes like their f32 widening
    let wb = w.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
    let wbWide = wb.map { Float(bitPattern: UInt32($0) << 16) }
    let qb = try Int8Weights(rows: rows, columns: cols, weights: wb.span)
    let qw = try Int8Weights(rows: rows, columns: cols, weights: wbWide.span)
    #expect(try qb.dequantized(rows: 0..<rows) == qw.dequantized(rows: 0..<rows))
    // bad input
    var bad = w
    bad[5 * cols + 7] = .nan
    #expect(throws: SubQError.self) { try Int8Weights(rows: rows, columns: cols, weights: bad.span) }
    do {
      _ = try Int8Weights(rows: rows, columns: cols, weights: bad.span)
    } catch {
      #expect(error.code == .invalidArgument && error.message.contains("row 5, column 7"), "\(error)")
    }
    do {
      _ = try Int8Weights(rows: rows, columns: cols + 1, weights: w.span)
      Issue.record("a short buffer was accepted")
    } catch {
      #expect(error.code == .invalidArgument && error.message.contains("elements"), "\(error)")
    }
    do {
      _ = try q.apply(x.span, m: m + 1)
      Issue.record("a short x was accepted")
    } catch {
      #expect(error.code == .invalidArgument, "\(error)")
    }
    do {
      _ = try q.dequantized(rows: 30..<40)
      Issue.record("rows past the end were accepted")
    } catch {
      #expect(error.code == .invalidArgument, "\(error)")
    }
  }

  /// Untied heads: the model with an int8 head behaves like the dense model whose lm_head.weight
  /// is the dequantized head (made here through the public `Int8Weights`), over a prefill and
  /// decode steps, and reports the head's relative weight error as computed here.
  @Test(arguments: ["llama", "mamba2"])
  func int8HeadEqualsItsDenseTwin(model: String) throws {
    let src = modelsDirectory.appendingPathComponent(model)
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-int8head-\(getpid())-\(model)")
    defer { try? FileManager.default.removeItem(at: tmp) }
    let config = try ModelConfig.load(directory: src)
    let (vocab, h) = (config.vocabSize, config.hiddenSize)
    var expectedError = -1.0
    var failure: Error? = nil
    try ModelTests.writeCheckpoint(from: src, to: tmp) { name, xs in
      var out = xs
      if name == "lm_head.weight" {
        do {
          let deq = try Int8Weights(rows: vocab, columns: h, weights: xs.span).dequantized(rows: 0..<vocab)
          var e2 = 0.0, n2 = 0.0
          for i in xs.indices {
            e2 += (Double(deq[i]) - Double(xs[i])) * (Double(deq[i]) - Double(xs[i]))
            n2 += Double(xs[i]) * Double(xs[i])
          }
          expectedError = (e2 / n2).squareRoot()
          out = deq
        } catch {
          failure = error
        }
      }
      return (out.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }, "F32")
    }
    if let failure { throw failure }
    #expect(expectedError > 0 && expectedError < 0.01, "random weights move by about 0.3%: \(expectedError)")

    let ctx = try Context(.init(threads: 2))
    let q8 = try Model.load(directory: src, context: ctx, options: .init(int8Head: true))
    let twin = try Model.load(directory: tmp, context: ctx)
    let e = try #require(q8.int8HeadError)
    #expect(abs(e - expectedError) <= 1e-9 * expectedError, "reported \(e), computed \(expectedError)")
    #expect(twin.int8HeadError == nil)

    let g = try ModelTests.golden(model)
    let sq = try q8.makeSession(capacity: g.prompt.count + 4), st = try twin.makeSession(capacity: g.prompt.count + 4)
    var lq = try sq.forward(g.prompt, allLogits: true), lt = try st.forward(g.prompt, allLogits: true)
    for step in 0...4 {
      let scale = max(1, lt.map { abs($0) }.max()!)
      let d = zip(lq, lt).map { abs($0 - $1) }.max()!
      #expect(d <= 1e-4 * scale, "step \(step): int8 head vs dense twin differ by \(d) (scale \(scale))")
      if step == 4 { break }
      let next = Array(lt.suffix(vocab)).withUnsafeBufferPointer { Sampler.argmax($0) }
      lq = try sq.forward([next])
      lt = try st.forward([next])
    }
    // and the head did change (the comparison is not between two copies of the original)
    let orig = try Model.load(directory: src, context: ctx).makeSession(capacity: g.prompt.count).forward(g.prompt)
    let moved = zip(orig, try q8.makeSession(capacity: g.prompt.count).forward(g.prompt)).map { abs($0 - $1) }.max()!
    #expect(moved > 0)
  }

  /// Tied heads (the embedding matrix is the head; embeddings themselves stay as stored): the
  /// logits stay close to the unquantized model's, the bitnet and mamba tiny models.
  @Test(arguments: ["bitnet", "mamba"])
  func tiedInt8HeadStaysClose(model: String) throws {
    let dir = modelsDirectory.appendingPathComponent(model)
    let g = try ModelTests.golden(model)
    let ctx = try Context(.init(threads: 2))
    let q8 = try Model.load(directory: dir, context: ctx, options: .init(int8Head: true))
    let e = try #require(q8.int8HeadError)
    #expect(e > 0 && e < 0.01, "\(e)")
    let lq = try q8.makeSession(capacity: g.prompt.count).forward(g.prompt, allLogits: true)
    let lo = try Model.load(directory: dir, context: ctx).makeSession(capacity: g.prompt.count).forward(g.prompt, allLogits: true)
    let scale = max(1, lo.map { abs($0) }.max()!)
    let d = zip(lq, lo).map { abs($0 - $1) }.max()!
    #expect(d > 0 && d <= 0.05 * scale, "int8 head moved the logits by \(d) (scale \(scale))")
  }

  @Test func int8HeadErrors() throws {
    do {
      _ = try Model.load(directory: modelsDirectory.appendingPathComponent("hgrn_bit"), options: .init(int8Head: true))
      Issue.record("an int8 head on hgrn_bit loaded")
    } catch {
      #expect(error.code == .unsupported && error.message.contains("hgrn_bit"), "\(error)")
    }
    // placed int8 heads (mirror over a synthetic 2-node machine) give the same logits as plain ones
    guard let placed = try ModelTests.placingContext(.mirror) else { return }
    let g = try ModelTests.golden("llama"), dir = modelsDirectory.appendingPathComponent("llama")
    let plain = try Context(.init(threads: 2))
    #expect(
      try ModelTests.greedyLogits(dir, prompt: g.prompt, steps: 2, context: placed, options: .init(int8Head: true))
        == ModelTests.greedyLogits(dir, prompt: g.prompt, steps: 2, context: plain, options: .init(int8Head: true)))
  }
}
