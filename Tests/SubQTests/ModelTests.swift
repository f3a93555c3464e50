import Foundation
import Testing

@testable import SubQ

/// The tiny random checkpoints of tools/make_tiny_models.py against transformers 5.23's logits.
@Suite struct ModelTests {
  struct Golden {
    let text: String
    let prompt: [Int]
    let greedy: [Int]
    let logits: [Float]  // [prompt.count, vocab]
  }

  static func golden(_ name: String) throws -> Golden {
    let dir = modelsDirectory.appendingPathComponent(name)
    let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("prompt.json"))) as! [String: Any]
    let npy = try NPY.readFloat32(Data(contentsOf: dir.appendingPathComponent("logits.npy")))
    return Golden(text: meta["text"] as! String, prompt: meta["prompt"] as! [Int], greedy: meta["greedy"] as! [Int], logits: npy.values)
  }

  /// (hgrn_bit: against the float64 reference of tools/make_tiny_hgrn_bit.py; based: against
  /// tools/make_tiny_based.py's float64 reference; no transformers class exists for either)
  static let supported = ["llama", "llama3-tied", "mistral", "mamba", "mamba2", "llama-yarn", "bitnet", "bitnet-offline", "bitnet-online",
                          "hgrn_bit", "based"]

  @Test(arguments: supported, [1, 2])
  func logitsMatchTransformers(name: String, threads: Int) throws {
    let g = try Self.golden(name)
    let ctx = try Context(.init(threads: threads))
    let model = try Model.load(directory: modelsDirectory.appendingPathComponent(name), context: ctx)
    let s = try model.makeSession(capacity: g.prompt.count + g.greedy.count)
    let logits = try s.forward(g.prompt, allLogits: true)
    #expect(logits.count == g.logits.count)
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    var worst: Float = 0
    for i in 0..<logits.count { worst = max(worst, abs(logits[i] - g.logits[i])) }
    #expect(worst <= 1e-4 * scale, "\(name): max |Δlogit| = \(worst), scale \(scale)")
    // the same through pieces of 3 tokens: Mistral's cache is then a ring of W - 1 + 3 = 6 slots
    let small = try model.makeSession(capacity: g.prompt.count + g.greedy.count, maxChunk: 3)
    let chunked = try small.forward(g.prompt, allLogits: true)
    let d = zip(chunked, g.logits).map { abs($0 - $1) }.max()!
    #expect(d <= 1e-4 * scale, "\(name): logits through 3-token pieces differ by \(d)")
  }

  @Test(arguments: supported)
  func greedyContinuationMatchesAndDecodeEqualsPrefill(name: String) throws {
    let g = try Self.golden(name)
    let model = try Model.load(directory: modelsDirectory.appendingPathComponent(name), context: try Context(.init(threads: 2)))
    let vocab = model.config.vocabSize
    // prefill, then one token per step through the cache / state (maxChunk 4: Mistral's ring
    // holds 7 positions and wraps during the prompt and the decode)
    let s = try model.makeSession(capacity: g.prompt.count + g.greedy.count, maxChunk: 4)
    var last = try s.forward(g.prompt)
    var got: [Int] = []
    var stepLogits: [[Float]] = []
    for _ in 0..<g.greedy.count {
      let next = last.withUnsafeBufferPointer { Sampler.argmax($0) }
      got.append(next)
      last = try s.forward([next])
      stepLogits.append(last)
    }
    #expect(got == g.greedy, "\(name): greedy \(got), transformers \(g.greedy)")
    // one long prefill over prompt + generated tokens gives the same rows (rel. 1e-5)
    let whole = try model.makeSession(capacity: g.prompt.count + g.greedy.count)
    let all = try whole.forward(g.prompt + got, allLogits: true)
    for (j, row) in stepLogits.enumerated().dropLast() {
      let r = g.prompt.count + j
      let ref = Array(all[(r * vocab)..<((r + 1) * vocab)])
      let scale = max(1, ref.map { abs($0) }.max()!)
      let d = zip(row, ref).map { abs($0 - $1) }.max()!
      #expect(d <= 1e-5 * scale, "\(name): decode step \(j) differs from prefill by \(d)")
    }
  }

  @Test(arguments: supported)
  func generatorFromTextMatchesTransformers(name: String) throws {
    let g = try Self.golden(name)
    let dir = modelsDirectory.appendingPathComponent(name)
    let tok = try Tokenizer(contentsOfFile: dir.appendingPathComponent("tokenizer.json").path)
    let ids = tok.encode(g.text).map(Int.init)
    #expect(ids == g.prompt, "\(name): tokenizer ids differ from the tokenizers package's")
    let model = try Model.load(directory: dir, context: try Context(.init(threads: 2)))
    var opts = Generator.Options()
    opts.maxNewTokens = g.greedy.count
    opts.stopTokens = []
    opts.prefillChunk = 5  // several prefill chunks through the cache / state
    let gen = Generator(model: model, options: opts)
    var streamed: [Int] = []
    let r = try gen.generate(prompt: ids, promptLogits: true) { streamed.append($0); return true }
    #expect(r.tokens == g.greedy && streamed == g.greedy && r.stopReason == .maxTokens)
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    let d = zip(r.promptLogits!, g.logits).map { abs($0 - $1) }.max()!
    #expect(d <= 1e-4 * scale, "\(name): chunked-prefill logits differ by \(d)")
    #expect(r.prefillTokens == ids.count && r.decodeTokens == g.greedy.count - 1)
    // seeded sampling is reproducible; a stop token ends generation
    opts.temperature = 0.8
    opts.topK = 40
    opts.seed = 7
    let a = try Generator(model: model, options: opts).generate(prompt: ids).tokens
    let b = try Generator(model: model, options: opts).generate(prompt: ids).tokens
    #expect(a == b)
    opts.stopTokens = [a[2]]
    let c = try Generator(model: model, options: opts).generate(prompt: ids)
    #expect(c.tokens == Array(a.prefix(3)) && c.stopReason == .stopToken(a[2]))
    opts.maxNewTokens = 3
    opts.stopTokens = []
    let stop = try Generator(model: model, options: opts).generate(prompt: ids) { _ in false }
    #expect(stop.tokens.count == 1 && stop.stopReason == .callback)
  }

  @Test(arguments: ["llama", "mistral", "based"], [KVStorage.bf16, .f16])
  func sixteenBitKVCaches(name: String, kv: KVStorage) throws {
    let g = try Self.golden(name)
    let model = try Model.load(directory: modelsDirectory.appendingPathComponent(name), context: try Context(.init(threads: 2)))
    let s = try model.makeSession(capacity: g.prompt.count, maxChunk: 3, kvStorage: kv)
    let logits = try s.forward(g.prompt, allLogits: true)
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    let d = zip(logits, g.logits).map { abs($0 - $1) }.max()!
    // K and V rounded once to 8 (bf16) or 11 (f16) significant bits: the logits move by about
    // that relative amount, far above f32 noise, far below a real error (which moves them by O(1))
    // (measured: bf16 6–7.5e-3, f16 0.7–0.9e-3 of the largest logit)
    let tol: Float = kv == .bf16 ? 3e-2 : 4e-3
    #expect(d <= tol * scale && d > 1e-7, "\(name) \(kv): max |Δlogit| = \(d)")
  }

  /// The llama-yarn goldens see both halves of YaRN: the same weights with the default schedule,
  /// or with the YaRN frequencies but attention_factor 1, miss transformers' logits by far more
  /// than the 1e-4 that logitsMatchTransformers allows.
  @Test func yarnGoldensDependOnFrequenciesAndAttentionFactor() throws {
    let src = modelsDirectory.appendingPathComponent("llama-yarn")
    let g = try Self.golden("llama-yarn")
    let cfg = try String(contentsOf: src.appendingPathComponent("config.json"), encoding: .utf8)
    #expect(cfg.contains("\"rope_type\": \"yarn\""))
    let variants = [
      "default rope": cfg.replacingOccurrences(of: "\"rope_type\": \"yarn\"", with: "\"rope_type\": \"default\""),
      "attention_factor 1": cfg.replacingOccurrences(of: "\"rope_type\": \"yarn\"", with: "\"rope_type\": \"yarn\", \"attention_factor\": 1.0"),
    ]
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    for (what, text) in variants {
      #expect(text != cfg)
      let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-yarn-\(getpid())")
      try? FileManager.default.removeItem(at: tmp)
      try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: tmp) }
      try text.write(to: tmp.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
      try FileManager.default.copyItem(at: src.appendingPathComponent("model.safetensors"), to: tmp.appendingPathComponent("model.safetensors"))
      let model = try Model.load(directory: tmp, context: try Context(.init(threads: 2)))
      let logits = try model.makeSession(capacity: g.prompt.count).forward(g.prompt, allLogits: true)
      let d = zip(logits, g.logits).map { abs($0 - $1) }.max()!
      #expect(d > 1e-2 * scale, "llama-yarn with \(what): max |Δlogit| only \(d)")
    }
  }

  /// BitNet: the packed weight_scale is 1/γ for linear_class "bitlinear" (spec ternary §2.1); the
  /// other reading (γ = weight_scale, AutoBitLinear offline) misses the goldens by far, and the
  /// model matches them on the forced-scalar path too, bitwise the same for any thread count.
  @Test func bitnetScaleRuleAndBitwiseAcrossISAsAndThreads() throws {
    let dir = modelsDirectory.appendingPathComponent("bitnet")
    let g = try Self.golden("bitnet")
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    var cfg = try ModelConfig.load(directory: dir)
    #expect(cfg.bitnet?.rule == .divide)
    cfg.bitnet!.rule = .multiply
    let wrong = try Model.load(directory: dir, config: cfg, context: try Context(.init(threads: 2)), progress: nil)
    let lw = try wrong.makeSession(capacity: g.prompt.count).forward(g.prompt, allLogits: true)
    let dw = zip(lw, g.logits).map { abs($0 - $1) }.max()!
    #expect(dw > 1e-2 * scale, "bitnet with γ = weight_scale: max |Δlogit| only \(dw)")
    // per ISA (forced scalar, the host's best) bitwise equal across thread counts, and each
    // within the goldens' tolerance (the dense head and attention differ by ISA in the last bits)
    for isa in [ISA.scalar, .auto] {
      var runs: [[Float]] = []
      for threads in [1, 3] {
        let m = try Model.load(directory: dir, context: try Context(.init(threads: threads, maxISA: isa)))
        runs.append(try m.makeSession(capacity: g.prompt.count).forward(g.prompt, allLogits: true))
      }
      #expect(runs[0] == runs[1], "bitnet \(isa): 1 and 3 threads differ")
      let d = zip(runs[0], g.logits).map { abs($0 - $1) }.max()!
      #expect(d <= 1e-4 * scale, "bitnet \(isa): max |Δlogit| = \(d)")
    }
  }

  /// A BitNet config whose form does not match the stored tensors fails with a message naming the
  /// tensor and the dtype it expected.
  @Test func bitnetFormMismatchGivesClearErrors() throws {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-bitnet-\(getpid())")
    try? FileManager.default.removeItem(at: tmp)
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    for (config, weights, want) in [("bitnet", "bitnet-offline", "U8 (packed ternary) expected"),
                                    ("bitnet-offline", "bitnet", "F32, BF16 or F16 expected")] {
      for f in ["config.json", "model.safetensors"] { try? FileManager.default.removeItem(at: tmp.appendingPathComponent(f)) }
      try FileManager.default.copyItem(
        at: modelsDirectory.appendingPathComponent(config).appendingPathComponent("config.json"), to: tmp.appendingPathComponent("config.json"))
      try FileManager.default.copyItem(
        at: modelsDirectory.appendingPathComponent(weights).appendingPathComponent("model.safetensors"),
        to: tmp.appendingPathComponent("model.safetensors"))
      do {
        _ = try Model.load(directory: tmp)
        Issue.record("\(config) config over \(weights) weights loaded")
      } catch {
        #expect(error.message.contains("q_proj.weight") && error.message.contains(want), "\(error)")
      }
    }
  }

  /// Writes `dir/model.safetensors` holding `src`'s tensors converted by `convert` (f32 -> bytes, dtype).
  static func writeCheckpoint(from src: URL, to dir: URL, convert: ([Float]) -> ([UInt8], String)) throws {
    try writeCheckpoint(from: src, to: dir) { (_: String, xs: [Float]) in convert(xs) }
  }

  /// The same with the tensor's name; `convert` returning nil leaves the tensor out.
  static func writeCheckpoint(from src: URL, to dir: URL, convert: (String, [Float]) -> ([UInt8], String)?) throws {
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for f in ["config.json", "tokenizer.json"] {
      try? FileManager.default.removeItem(at: dir.appendingPathComponent(f))
      try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dir.appendingPathComponent(f))
    }
    let st = try Safetensors(contentsOf: src.appendingPathComponent("model.safetensors").path)
    var header: [String] = []
    var data: [UInt8] = []
    for t in st.tensors.sorted(by: { $0.name < $1.name }) {
      let floats = Array(st.data(t).bindMemory(to: Float.self))
      guard let (bytes, dtype) = convert(t.name, floats) else { continue }
      header.append("\"\(t.name)\": {\"dtype\": \"\(dtype)\", \"shape\": \(t.shape), \"data_offsets\": [\(data.count), \(data.count + bytes.count)]}")
      data += bytes
    }
    var json = Array(("{" + header.joined(separator: ", ") + "}").utf8)
    while json.count % 8 != 0 { json.append(0x20) }
    var file = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
    file += json + data
    try Data(file).write(to: dir.appendingPathComponent("model.safetensors"))
  }

  /// A bf16 checkpoint runs its decode GEMVs on the mapped bf16 rows (not the packed f32 copy);
  /// both must agree with the same model stored as f32 holding the bf16-rounded values.
  @Test func bf16CheckpointMatchesItsF32Twin() throws {
    let src = modelsDirectory.appendingPathComponent("llama")
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-bf16-\(getpid())")
    defer { try? FileManager.default.removeItem(at: tmp) }
    func bf16(_ x: Float) -> UInt16 {  // round to nearest even (no NaNs in these weights)
      let b = x.bitPattern
      return UInt16((b + 0x7FFF + ((b >> 16) & 1)) >> 16)
    }
    try Self.writeCheckpoint(from: src, to: tmp.appendingPathComponent("bf16")) { xs in
      (xs.flatMap { v in let h = bf16(v); return [UInt8(h & 0xFF), UInt8(h >> 8)] }, "BF16")
    }
    try Self.writeCheckpoint(from: src, to: tmp.appendingPathComponent("f32")) { xs in
      (xs.flatMap { v in withUnsafeBytes(of: (UInt32(bf16(v)) << 16).littleEndian) { Array($0) } }, "F32")
    }
    let g = try Self.golden("llama")
    let ctx = try Context(.init(threads: 2))
    let a = try Model.load(directory: tmp.appendingPathComponent("bf16"), context: ctx)
    let b = try Model.load(directory: tmp.appendingPathComponent("f32"), context: ctx)
    let sa = try a.makeSession(capacity: g.prompt.count + 4), sb = try b.makeSession(capacity: g.prompt.count + 4)
    var la = try sa.forward(g.prompt), lb = try sb.forward(g.prompt)  // prefill: packed path for both
    for step in 0..<4 {
      let scale = max(1, lb.map { abs($0) }.max()!)
      let d = zip(la, lb).map { abs($0 - $1) }.max()!
      #expect(d <= 1e-5 * scale, "step \(step): bf16 vs f32 twin differ by \(d)")
      let next = lb.withUnsafeBufferPointer { Sampler.argmax($0) }
      la = try sa.forward([next])  // decode: bf16 rows for a, packed f32 for b
      lb = try sb.forward([next])
    }
    // and the rounding moved the logits away from the f32 originals (the test sees bf16 data)
    let orig = try Model.load(directory: src, context: ctx).makeSession(capacity: g.prompt.count).forward(g.prompt)
    let moved = zip(orig, try a.makeSession(capacity: g.prompt.count).forward(g.prompt)).map { abs($0 - $1) }.max()!
    #expect(moved > 1e-4)
  }

  /// A 4-thread context in NUMA `mode` on a synthetic machine of two one-node packages (threads
  /// are never bound to synthetic PUs), or nil in a build without hwloc.
  static func placingContext(_ mode: Context.NUMAMode) throws -> Context? {
    let topo: Topology
    do { topo = try Topology.synthetic("pack:2 numa:1 core:2 pu:1") } catch { return nil }
    var p = Context.Parameters(threads: 4)
    p.numa = mode
    p.flags = [.noSpin]
    p.topology = topo
    return try Context(p)
  }

  /// Logits of `prompt`, then of `steps` greedy decode steps, of the model in `dir`.
  static func greedyLogits(
    _ dir: URL, prompt: [Int], steps: Int, context: Context, options: Model.LoadOptions = .init()
  ) throws -> [[Float]] {
    let s = try Model.load(directory: dir, context: context, options: options).makeSession(capacity: prompt.count + steps)
    var out = [try s.forward(prompt)]
    for _ in 0..<steps { out.append(try s.forward([out.last!.withUnsafeBufferPointer { Sampler.argmax($0) }])) }
    return out
  }

  /// A bf16 checkpoint runs every product (prefill and decode) on its packed bf16 copy, which
  /// gives the bits of the pack of the same weights widened to f32: its logits equal, bit for bit,
  /// those of its f32 twin, on a plain context and under a NUMA mode that places the weights (here
  /// on a synthetic 2-node machine; packed products do not depend on threads or placement).
  @Test(arguments: [Context.NUMAMode.distribute, .mirror])
  func bf16WeightsGiveTheirF32TwinsLogits(_ mode: Context.NUMAMode) throws {
    guard let placedCtx = try Self.placingContext(mode) else { return }
    let src = modelsDirectory.appendingPathComponent("llama")
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-placed-\(getpid())-\(mode)")
    defer { try? FileManager.default.removeItem(at: tmp) }
    func bf16(_ x: Float) -> UInt16 { UInt16((x.bitPattern + 0x7FFF + ((x.bitPattern >> 16) & 1)) >> 16) }
    try Self.writeCheckpoint(from: src, to: tmp.appendingPathComponent("bf16")) { xs in
      (xs.flatMap { v in let h = bf16(v); return [UInt8(h & 0xFF), UInt8(h >> 8)] }, "BF16")
    }
    try Self.writeCheckpoint(from: src, to: tmp.appendingPathComponent("f32")) { xs in
      (xs.flatMap { v in withUnsafeBytes(of: (UInt32(bf16(v)) << 16).littleEndian) { Array($0) } }, "F32")
    }
    let plainCtx = try Context(.init(threads: 2))
    #expect(placedCtx.placesWeights)
    #expect(!plainCtx.placesWeights)
    let g = try Self.golden("llama")
    func decode(_ dir: String, _ ctx: Context) throws -> [[Float]] {
      try Self.greedyLogits(tmp.appendingPathComponent(dir), prompt: g.prompt, steps: 3, context: ctx)
    }
    let twin = try decode("f32", plainCtx)
    #expect(try decode("bf16", placedCtx) == twin, "placed bf16 model differs from its f32 twin")
    #expect(try decode("f32", placedCtx) == twin)
    #expect(try decode("bf16", plainCtx) == twin, "bf16 model on a plain context differs from its f32 twin")
  }

  /// Every architecture loads and runs on a context that places its weights (mirror: one copy
  /// per node of a synthetic 2-node machine; the ternary blobs through `subq_ternary_place`):
  /// prefill and decode logits are bitwise those of a plain context.
  @Test(arguments: ["llama", "mistral", "mamba", "mamba2", "bitnet", "bitnet-online", "hgrn_bit", "based"])
  func placedWeightsGiveTheSameLogits(_ name: String) throws {
    guard let placed = try Self.placingContext(.mirror) else { return }
    let g = try Self.golden(name), dir = modelsDirectory.appendingPathComponent(name)
    let plain = try Context(.init(threads: 2))
    #expect(
      try Self.greedyLogits(dir, prompt: g.prompt, steps: 2, context: placed)
        == Self.greedyLogits(dir, prompt: g.prompt, steps: 2, context: plain),
      "\(name): placed weights changed the logits")
  }

  @Test func badCheckpointsAndTokensGiveClearErrors() throws {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-model-\(getpid())")
    try? FileManager.default.removeItem(at: tmp)
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    let src = modelsDirectory.appendingPathComponent("llama")
    // a config that lies about the width
    var cfg = try String(contentsOf: src.appendingPathComponent("config.json"), encoding: .utf8)
    cfg = cfg.replacingOccurrences(of: "\"intermediate_size\": 96", with: "\"intermediate_size\": 97")
    #expect(cfg.contains("\"intermediate_size\": 97"))
    try cfg.write(to: tmp.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    try FileManager.default.copyItem(at: src.appendingPathComponent("model.safetensors"), to: tmp.appendingPathComponent("model.safetensors"))
    do {
      _ = try Model.load(directory: tmp)
      Issue.record("a mis-shaped checkpoint loaded")
    } catch {
      #expect(error.message.contains("mlp.gate_proj.weight") && error.message.contains("[96, 64]"), "\(error)")
    }
    // a truncated weights file
    try FileManager.default.removeItem(at: tmp.appendingPathComponent("model.safetensors"))
    try FileManager.default.copyItem(at: src.appendingPathComponent("config.json"), to: tmp.appendingPathComponent("config2.json"))
    let bytes = try Data(contentsOf: src.appendingPathComponent("model.safetensors"))
    try bytes.prefix(bytes.count - 100).write(to: tmp.appendingPathComponent("model.safetensors"))
    #expect(throws: SubQError.self) { try Model.load(directory: tmp) }
    // token ids and capacity
    let model = try Model.load(directory: src)
    let s = try model.makeSession(capacity: 4)
    #expect(throws: SubQError.self) { try s.forward([model.config.vocabSize]) }
    #expect(throws: SubQError.self) { try s.forward([-1]) }
    #expect(throws: SubQError.self) { try s.forward([1, 2, 3, 4, 5]) }
    #expect(throws: SubQError.self) { try s.forward([]) }
  }

  static func f32Bytes(_ xs: [Float]) -> [UInt8] { xs.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } } }

  /// hgrn_bit: the goldens see the forget-gate lower bounds (the model without them misses by far),
  /// and the model matches them within 1e-5 on the forced-scalar path too, bitwise the same for any
  /// thread count.
  @Test func hgrnBitLowerBoundsAndBitwiseAcrossISAsAndThreads() throws {
    let dir = modelsDirectory.appendingPathComponent("hgrn_bit")
    let g = try Self.golden("hgrn_bit")
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    var cfg = try ModelConfig.load(directory: dir)
    #expect(cfg.hgrnBit?.useLowerBound == true)
    cfg.hgrnBit!.useLowerBound = false
    let wrong = try Model.load(directory: dir, config: cfg, context: try Context(.init(threads: 2)), progress: nil)
    let lw = try wrong.makeSession(capacity: g.prompt.count).forward(g.prompt, allLogits: true)
    let dw = zip(lw, g.logits).map { abs($0 - $1) }.max()!
    #expect(dw > 1e-2 * scale, "hgrn_bit without lower bounds: max |Δlogit| only \(dw)")
    for isa in [ISA.scalar, .auto] {
      var runs: [[Float]] = []
      for threads in [1, 3] {
        let m = try Model.load(directory: dir, context: try Context(.init(threads: threads, maxISA: isa)))
        runs.append(try m.makeSession(capacity: g.prompt.count).forward(g.prompt, allLogits: true))
      }
      #expect(runs[0] == runs[1], "hgrn_bit \(isa): 1 and 3 threads differ")
      // spec ternary §9 asks 1e-5 of the float64 reference for MMfreeLM (measured: 1.9e-6 of 10.75)
      let d = zip(runs[0], g.logits).map { abs($0 - $1) }.max()!
      #expect(d <= 1e-5 * scale, "hgrn_bit \(isa): max |Δlogit| = \(d)")
    }
  }

  /// i, f and g run as one fused ternary matrix (per-row γ) when their inner norm weights are the
  /// same, bitwise equal to three calls; the fixture's differ, so it runs three.
  @Test func hgrnBitFusedIFGEqualsSeparateCalls() throws {
    let src = modelsDirectory.appendingPathComponent("hgrn_bit")
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-hgrn-fuse-\(getpid())")
    defer { try? FileManager.default.removeItem(at: tmp) }
    let st = try Safetensors(contentsOf: src.appendingPathComponent("model.safetensors").path)
    var iNorms: [String: [Float]] = [:]
    for t in st.tensors where t.name.hasSuffix("attn.i_proj.norm.weight") {
      iNorms[String(t.name.dropLast("i_proj.norm.weight".count))] = Array(st.data(t).bindMemory(to: Float.self))
    }
    try Self.writeCheckpoint(from: src, to: tmp) { name, xs in
      for suffix in ["f_proj.norm.weight", "g_proj.norm.weight"] where name.hasSuffix(suffix) {
        return (Self.f32Bytes(iNorms[String(name.dropLast(suffix.count))]!), "F32")
      }
      return (Self.f32Bytes(xs), "F32")
    }
    let ctx = try Context(.init(threads: 2))
    let cfg = try ModelConfig.load(directory: tmp)
    let fused = try HGRNBitBody(config: cfg, checkpoint: try Checkpoint(directory: tmp), context: ctx, progress: nil)
    let apart = try HGRNBitBody(config: cfg, checkpoint: try Checkpoint(directory: tmp), context: ctx, progress: nil, fuseIFG: false)
    let original = try HGRNBitBody(config: cfg, checkpoint: try Checkpoint(directory: src), context: ctx, progress: nil)
    #expect(fused.layers.allSatisfy { $0.ifg.count == 1 && $0.ifg[0].linear.weights.scale == .row })
    #expect(apart.layers.allSatisfy { $0.ifg.count == 3 } && original.layers.allSatisfy { $0.ifg.count == 3 })
    let g = try Self.golden("hgrn_bit")
    var outs: [[Float]] = []
    for body in [fused, apart, original] {
      let m = Model(config: cfg, context: ctx, body: body)
      let s = try m.makeSession(capacity: g.prompt.count + 2)
      outs.append(try s.forward(g.prompt, allLogits: true) + s.forward([g.greedy[0]]))
    }
    #expect(outs[0] == outs[1], "fused i|f|g differs from three calls")
    #expect(outs[0] != outs[2], "the shared norm weights did not change the model")
  }

  /// Missing and mis-shaped hgrn_bit tensors fail with messages naming the tensor.
  @Test func hgrnBitBadCheckpointsGiveClearErrors() throws {
    let src = modelsDirectory.appendingPathComponent("hgrn_bit")
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-hgrn-bad-\(getpid())")
    defer { try? FileManager.default.removeItem(at: tmp) }
    for missing in ["lm_head.norm.weight", "model.lower_bounds", "model.layers.2.attn.g_proj.weight"] {
      try Self.writeCheckpoint(from: src, to: tmp) { name, xs in name == missing ? nil : (Self.f32Bytes(xs), "F32") }
      do {
        _ = try Model.load(directory: tmp)
        Issue.record("a checkpoint without \(missing) loaded")
      } catch {
        #expect(error.message.contains("'\(missing)' is missing"), "\(error)")
      }
    }
    // a config that lies about the MLP width
    try Self.writeCheckpoint(from: src, to: tmp) { _, xs in (Self.f32Bytes(xs), "F32") }
    var cfg = try String(contentsOf: src.appendingPathComponent("config.json"), encoding: .utf8)
    cfg = cfg.replacingOccurrences(of: "\"intermediate_size\": 128", with: "\"intermediate_size\": 129")
    #expect(cfg.contains("\"intermediate_size\": 129"))
    try cfg.write(to: tmp.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    do {
      _ = try Model.load(directory: tmp)
      Issue.record("a mis-shaped hgrn_bit checkpoint loaded")
    } catch {
      #expect(error.message.contains("mlp.gate_proj.weight") && error.message.contains("[258, 64]"), "\(error)")
    }
  }

  /// hgrn_bit masters stored as bf16 (ternarized in place) or f16 (widened first) give bitwise the
  /// logits of the same values stored as f32.
  @Test(arguments: ["BF16", "F16"])
  func hgrnBitHalfMastersMatchTheirF32Twin(dtype: String) throws {
    let src = modelsDirectory.appendingPathComponent("hgrn_bit")
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-hgrn-\(dtype)-\(getpid())")
    defer { try? FileManager.default.removeItem(at: tmp) }
    func half(_ x: Float) -> UInt16 {
      if dtype == "F16" { return Float16(x).bitPattern }
      let b = x.bitPattern  // bf16, round to nearest even (no NaNs here)
      return UInt16((b + 0x7FFF + ((b >> 16) & 1)) >> 16)
    }
    func widen(_ h: UInt16) -> Float { dtype == "F16" ? Float(Float16(bitPattern: h)) : Float(bitPattern: UInt32(h) << 16) }
    try Self.writeCheckpoint(from: src, to: tmp.appendingPathComponent("half")) { _, xs in
      (xs.flatMap { v in let h = half(v); return [UInt8(h & 0xFF), UInt8(h >> 8)] }, dtype)
    }
    try Self.writeCheckpoint(from: src, to: tmp.appendingPathComponent("f32")) { _, xs in
      (Self.f32Bytes(xs.map { widen(half($0)) }), "F32")
    }
    let g = try Self.golden("hgrn_bit")
    let ctx = try Context(.init(threads: 2))
    var outs: [[Float]] = []
    for sub in ["half", "f32"] {
      let s = try Model.load(directory: tmp.appendingPathComponent(sub), context: ctx).makeSession(capacity: g.prompt.count + 1)
      outs.append(try s.forward(g.prompt, allLogits: true) + s.forward([g.greedy[0]]))
    }
    #expect(outs[0] == outs[1], "\(dtype) masters differ from their f32 twin")
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    let moved = zip(outs[0], g.logits).map { abs($0 - $1) }.max()!
    #expect(moved > 1e-4 * scale, "the \(dtype) rounding did not reach the logits")
  }

  /// Copies the based fixture to a temporary directory with its config.json text edited.
  static func basedVariant(_ tag: String, _ edit: (String) -> String) throws -> URL {
    let src = modelsDirectory.appendingPathComponent("based")
    let cfg = try String(contentsOf: src.appendingPathComponent("config.json"), encoding: .utf8)
    let text = edit(cfg)
    #expect(text != cfg, "\(tag): the edit changed nothing")
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-based-\(tag)-\(getpid())")
    try? FileManager.default.removeItem(at: tmp)
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    try text.write(to: tmp.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    try FileManager.default.copyItem(at: src.appendingPathComponent("model.safetensors"), to: tmp.appendingPathComponent("model.safetensors"))
    return tmp
  }

  /// BASED's window is (window_size / 2, 0): window_size 9 is the same model as 8, 7 and 10 are
  /// not (the goldens see the window); the hub's GPT2Config dump form ("gpt2") loads the same model;
  /// a session whose every token goes through the decode kernels (maxChunk 1: linear-attention
  /// decode step, conv update, the ring cache wrapping every 5 tokens) matches the goldens.
  @Test func basedWindowHalfRuleHubFormAndTokenByTokenPrefill() throws {
    let g = try Self.golden("based")
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    let ctx = try Context(.init(threads: 2))
    func maxDiff(_ dir: URL, maxChunk: Int = 512) throws -> Float {
      let m = try Model.load(directory: dir, context: ctx)
      let l = try m.makeSession(capacity: g.prompt.count, maxChunk: maxChunk).forward(g.prompt, allLogits: true)
      return zip(l, g.logits).map { abs($0 - $1) }.max()!
    }
    let w = #""window_size": 8"#
    for (tag, text, same) in [("w9", #""window_size": 9"#, true), ("w7", #""window_size": 7"#, false),
                              ("w10", #""window_size": 10"#, false)] {
      let dir = try Self.basedVariant(tag) { $0.replacingOccurrences(of: w, with: text) }
      defer { try? FileManager.default.removeItem(at: dir) }
      let d = try maxDiff(dir)
      if same { #expect(d <= 1e-4 * scale, "\(tag): max |Δlogit| = \(d)") } else { #expect(d > 1e-2 * scale, "\(tag): max |Δlogit| only \(d)") }
    }
    let hub = try Self.basedVariant("gpt2") { $0.replacingOccurrences(of: #""model_type": "based""#, with: #""model_type": "gpt2""#) }
    defer { try? FileManager.default.removeItem(at: hub) }
    #expect(try ModelConfig.load(directory: hub).architecture == .based)
    #expect(try maxDiff(hub) <= 1e-4 * scale)
    let one = try maxDiff(modelsDirectory.appendingPathComponent("based"), maxChunk: 1)
    #expect(one <= 1e-4 * scale, "token by token: max |Δlogit| = \(one)")
    // per ISA path (forced scalar, the host's best): 1 and 3 threads bitwise equal, within tolerance
    for isa in [ISA.scalar, .auto] {
      var runs: [[Float]] = []
      for threads in [1, 3] {
        let m = try Model.load(
          directory: modelsDirectory.appendingPathComponent("based"), context: try Context(.init(threads: threads, maxISA: isa)))
        runs.append(try m.makeSession(capacity: g.prompt.count, maxChunk: 7).forward(g.prompt, allLogits: true))
      }
      #expect(runs[0] == runs[1], "based \(isa): 1 and 3 threads differ")
      let d = zip(runs[0], g.logits).map { abs($0 - $1) }.max()!
      #expect(d <= 1e-4 * scale, "based \(isa): max |Δlogit| = \(d)")
    }
  }

  /// Configs that disagree with the BASED checkpoint fail with messages naming the tensor.
  @Test func basedCheckpointMismatchesGiveClearErrors() throws {
    for (tag, edit, want) in [
      // layer 2 holds a SlidingAttention; as a BaseConv its in_proj is missing
      ("missing", { (s: String) in s.replacingOccurrences(of: "\"alt_mixer_2_layers\": [\n    2,\n    5\n  ]", with: "\"alt_mixer_2_layers\": [\n    5\n  ]") },
       "tensor 'transformer.layers.2.mixer.in_proj.weight' is missing"),
      // layer 3 holds a BaseConv (out_proj with a bias); LinearAttention has none
      ("conv-as-linear", { (s: String) in s.replacingOccurrences(of: "\"alt_mixer_layers\": [\n    1,\n    4\n  ]", with: "\"alt_mixer_layers\": [\n    1,\n    3\n  ]") },
       "tensor 'transformer.layers.3.mixer.out_proj.bias' is present but LinearAttention's projections have no bias"),
      ("shape", { (s: String) in s.replacingOccurrences(of: "\"n_inner\": 96", with: "\"n_inner\": 97") },
       "tensor 'transformer.layers.0.mlp.fc1.weight' has shape [192, 64], the config implies [194, 64]"),
      ("bias", { (s: String) in s.replacingOccurrences(of: "\"use_bias\": true", with: "\"use_bias\": false") },
       "tensor 'transformer.layers.0.mixer.in_proj.bias' is present but mixer.use_bias is false"),
      ("untied", { (s: String) in s.replacingOccurrences(of: "\"tie_word_embeddings\": true", with: "\"tie_word_embeddings\": false") },
       "'lm_head.weight' is missing"),
    ] as [(String, (String) -> String, String)] {
      let dir = try Self.basedVariant(tag, edit)
      defer { try? FileManager.default.removeItem(at: dir) }
      do {
        _ = try Model.load(directory: dir)
        Issue.record("\(tag): loaded")
      } catch {
        #expect(error.message.contains(want), "\(tag): \(error)")
      }
    }
  }

  /// A tied BASED checkpoint that stores the shared table as lm_head.weight only loads the same model.
  @Test func basedTiedTableUnderLmHeadName() throws {
    let src = modelsDirectory.appendingPathComponent("based")
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("subq-based-lmhead-\(getpid())")
    defer { try? FileManager.default.removeItem(at: dir) }
    try? FileManager.default.removeItem(at: dir)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try FileManager.default.copyItem(at: src.appendingPathComponent("config.json"), to: dir.appendingPathComponent("config.json"))
    let st = try Safetensors(contentsOf: src.appendingPathComponent("model.safetensors").path)
    var header: [String] = []
    var data: [UInt8] = []
    for t in st.tensors.sorted(by: { $0.name < $1.name }) {
      let bytes = Array(st.data(t))
      let name = t.name == "transformer.embeddings.word_embeddings.weight" ? "lm_head.weight" : t.name
      header.append("\"\(name)\": {\"dtype\": \"F32\", \"shape\": \(t.shape), \"data_offsets\": [\(data.count), \(data.count + bytes.count)]}")
      data += bytes
    }
    var json = Array(("{" + header.joined(separator: ", ") + "}").utf8)
    while json.count % 8 != 0 { json.append(0x20) }
    try Data(withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json + data)
      .write(to: dir.appendingPathComponent("model.safetensors"))
    let g = try Self.golden("based")
    let m = try Model.load(directory: dir, context: try Context(.init(threads: 2)))
    let l = try m.makeSession(capacity: g.prompt.count).forward(g.prompt, allLogits: true)
    let scale = max(1, g.logits.map { abs($0) }.max()!)
    let d = zip(l, g.logits).map { abs($0 - $1) }.max()!
    #expect(d <= 1e-4 * scale, "max |Δlogit| = \(d)")
  }
}
