import Foundation
import Testing

@testable import SubQ

/// `Model.LoadOptions.monarchBlocks` (subq-run --monarch): the MLP matrices projected onto
/// Monarch at load time and run with the Monarch kernels must behave exactly like the dense model
/// whose MLP weights are those projections (computed here independently through the public fp64
/// API and stored as an ordinary f32 checkpoint), and the reported errors must be the projections'.
@Suite struct MonarchModelTests {
  /// Blocks 2 divide the tiny llama's widths (64, 96); blocks 3 make fly's padding rule pad the
  /// 64-wide side to 66 (gate/up inputs, down outputs). The tiny BASED's fc1 is 192 × 64 and its
  /// fc2 64 × 96 (projected as stored: fc1's halves a | gate are one matrix), three mixer kinds.
  @Test(arguments: [("llama", 2), ("llama", 3), ("based", 2), ("based", 3)])
  func monarchMLPsEqualTheirDenseTwin(model: String, blocks: Int) throws {
    let src = modelsDirectory.appendingPathComponent(model)
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-monarch-\(getpid())-\(model)-\(blocks)")
    defer { try? FileManager.default.removeItem(at: tmp) }
    let config = try ModelConfig.load(directory: src)
    let h = config.hiddenSize
    // the MLP matrices of one layer (names inside the layer, rows × columns) and the tensor prefix
    let (prefix, mlp): (String, [(name: String, rows: Int, cols: Int)])
    if model == "based" {
      let inner = config.based!.innerSize
      (prefix, mlp) = ("transformer.layers.", [("mlp.fc1", 2 * inner, h), ("mlp.fc2", h, inner)])
    } else {
      let inter = config.transformer!.intermediateSize
      (prefix, mlp) = ("model.layers.", [("mlp.gate_proj", inter, h), ("mlp.up_proj", inter, h), ("mlp.down_proj", h, inter)])
    }

    // The twin: every MLP weight replaced by dense(project(W)) over its own rows and columns.
    var expectedError: [String: Double] = [:]
    var failure: Error? = nil
    try ModelTests.writeCheckpoint(from: src, to: tmp) { name, xs in
      var out = xs
      if let m = mlp.first(where: { name.hasSuffix(".\($0.name).weight") }) {
        let (rows, cols) = (m.rows, m.cols)
        do {
          let shape = try MonarchShape.linear(inFeatures: cols, outFeatures: rows, blocks: blocks)
          let (ni, no) = (shape.inputWidth, shape.outputWidth)
          #expect(ni >= cols && no >= rows && (blocks == 2) == (ni == cols && no == rows))
          var m = [Double](repeating: 0, count: no * ni)
          for j in 0..<rows { for e in 0..<cols { m[j * ni + e] = Double(xs[j * cols + e]) } }
          let p = try Monarch.project(m, rows: no, columns: ni, shape: shape)
          let d = try Monarch.dense(shape: shape, w1: p.w1, w2: p.w2)
          var err2 = 0.0, norm2 = 0.0
          for j in 0..<rows {
            for e in 0..<cols {
              out[j * cols + e] = Float(d[j * ni + e])
              err2 += (d[j * ni + e] - m[j * ni + e]) * (d[j * ni + e] - m[j * ni + e])
              norm2 += m[j * ni + e] * m[j * ni + e]
            }
          }
          expectedError[name] = (err2 / norm2).squareRoot()
        } catch {
          failure = error
        }
      }
      return (out.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }, "F32")
    }
    if let failure { throw failure }
    #expect(expectedError.count == mlp.count * config.numLayers)

    let ctx = try Context(.init(threads: 2))
    var calls = 0
    let mon = try Model.load(directory: src, context: ctx, options: .init(monarchBlocks: blocks)) { _, total in
      calls += 1
      #expect(total == mlp.count * config.numLayers)
    }
    #expect(calls == mlp.count * config.numLayers)
    let twin = try Model.load(directory: tmp, context: ctx)

    // reports: one per matrix, layer order (gate, up, down / fc1, fc2), with the projection's error
    let reports = mon.monarchProjections
    #expect(reports.map(\.layer) == (0..<config.numLayers).flatMap { Array(repeating: $0, count: mlp.count) })
    #expect(reports.map(\.name) == Array(repeating: mlp.map(\.name), count: config.numLayers).flatMap { $0 })
    for r in reports {
      let want = try #require(expectedError["\(prefix)\(r.layer).\(r.name).weight"])
      #expect(abs(r.relativeError - want) <= 1e-9 * want, "\(r.name) of layer \(r.layer): \(r.relativeError) vs \(want)")
      #expect(r.relativeError > 0.01 && r.relativeError < 1, "random weights are far from Monarch: \(r.relativeError)")
      #expect(r.shape.k == blocks && r.shape.l == blocks)
      #expect(r.monarchParameters == r.shape.w1Count + r.shape.w2Count && r.denseParameters == r.rows * r.columns)
    }

    // prefill (all positions), then decode steps: Monarch GEMM / GEMV paths against the twin's dense ones
    let g = try ModelTests.golden(model)
    let sm = try mon.makeSession(capacity: g.prompt.count + 4), st = try twin.makeSession(capacity: g.prompt.count + 4)
    var lm = try sm.forward(g.prompt, allLogits: true), lt = try st.forward(g.prompt, allLogits: true)
    for step in 0...4 {
      let scale = max(1, lt.map { abs($0) }.max()!)
      let d = zip(lm, lt).map { abs($0 - $1) }.max()!
      #expect(d <= 1e-4 * scale, "step \(step): Monarch model vs dense twin differ by \(d) (scale \(scale))")
      if step == 4 { break }
      let next = Array(lt.suffix(config.vocabSize)).withUnsafeBufferPointer { Sampler.argmax($0) }
      lm = try sm.forward([next])
      lt = try st.forward([next])
    }
    // and the projection changed the model (the comparison is not between two copies of the original)
    let orig = try Model.load(directory: src, context: ctx).makeSession(capacity: g.prompt.count).forward(g.prompt)
    let moved = zip(orig, try mon.makeSession(capacity: g.prompt.count).forward(g.prompt)).map { abs($0 - $1) }.max()!
    #expect(moved > 1e-3)
  }

  /// `--monarch` on a context that places weights (mirror over a synthetic 2-node machine: the
  /// factors are packed once per node): the same logits, bit for bit, as on a plain context.
  @Test func placedMonarchFactorsGiveTheSameLogits() throws {
    guard let placed = try ModelTests.placingContext(.mirror) else { return }
    let g = try ModelTests.golden("llama"), dir = modelsDirectory.appendingPathComponent("llama")
    let plain = try Context(.init(threads: 2))
    #expect(
      try ModelTests.greedyLogits(dir, prompt: g.prompt, steps: 2, context: placed, options: .init(monarchBlocks: 2))
        == ModelTests.greedyLogits(dir, prompt: g.prompt, steps: 2, context: plain, options: .init(monarchBlocks: 2)))
  }

  @Test func monarchOptionErrors() throws {
    let llama = modelsDirectory.appendingPathComponent("llama")
    for b in [0, -2] {
      do {
        _ = try Model.load(directory: llama, options: .init(monarchBlocks: b))
        Issue.record("monarchBlocks \(b) loaded")
      } catch {
        #expect(error.code == .invalidArgument && error.message.contains("monarchBlocks"), "\(error)")
      }
    }
    do {
      _ = try Model.load(directory: modelsDirectory.appendingPathComponent("mamba"), options: .init(monarchBlocks: 2))
      Issue.record("Monarch MLPs on mamba loaded")
    } catch {
      #expect(error.code == .unsupported && error.message.contains("mamba"), "\(error)")
    }
    // more blocks than the width: fly's rule still gives a valid (heavily padded) shape
    let wide = try Model.load(directory: llama, options: .init(monarchBlocks: 100))
    #expect(wide.monarchProjections.allSatisfy { $0.shape.k == 100 && $0.relativeError.isFinite })
    // a mis-shaped MLP tensor is named before any projection runs
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-monarch-bad-\(getpid())")
    try? FileManager.default.removeItem(at: tmp)
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    var cfg = try String(contentsOf: llama.appendingPathComponent("config.json"), encoding: .utf8)
    cfg = cfg.replacingOccurrences(of: "\"intermediate_size\": 96", with: "\"intermediate_size\": 97")
    try cfg.write(to: tmp.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    try FileManager.default.copyItem(at: llama.appendingPathComponent("model.safetensors"), to: tmp.appendingPathComponent("model.safetensors"))
    do {
      _ = try Model.load(directory: tmp, options: .init(monarchBlocks: 2))
      Issue.record("a mis-shaped checkpoint loaded")
    } catch {
      #expect(error.message.contains("mlp.gate_proj.weight") && error.message.contains("[96, 64]"), "\(error)")
    }
  }
}
