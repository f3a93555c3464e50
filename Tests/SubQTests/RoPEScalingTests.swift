import Foundation
import Testing

@testable import SubQ

/// dynamic and longrope RoPE in the runner (RotaryTable) against transformers 5.23's own
/// LlamaRotaryEmbedding run over the same call sequence (tools/gen_rope_goldens.py --json:
/// Fixtures/rope_dynamic_longrope.json), and their config parsing.
@Suite struct RoPEScalingTests {
  struct Call { let positions: [Int64]; let cos: [Double]; let sin: [Double] }
  struct Case { let config: String; let headDim: Int; let calls: [Call] }

  static func goldens() throws -> [String: Case] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("Fixtures/rope_dynamic_longrope.json")
    let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    var out: [String: Case] = [:]
    for (name, v) in root["cases"] as! [String: Any] {
      let c = v as! [String: Any]
      let d = c["head_dim"] as! Int
      let rp = try JSONSerialization.data(withJSONObject: c["rope_parameters"]!)
      let config = #"{"model_type": "llama", "vocab_size": 10, "hidden_size": \#(2 * d), "num_hidden_layers": 1,"#
        + #" "num_attention_heads": 2, "head_dim": \#(d), "intermediate_size": 16,"#
        + #" "max_position_embeddings": \#(c["max_position_embeddings"] as! Int), "rope_parameters": "#
        + String(decoding: rp, as: UTF8.self) + "}"
      let calls = (c["calls"] as! [[String: Any]]).map {
        Call(positions: ($0["positions"] as! [Int]).map(Int64.init), cos: $0["cos"] as! [Double], sin: $0["sin"] as! [Double])
      }
      out[name] = Case(config: config, headDim: d, calls: calls)
    }
    return out
  }

  /// Runs the calls through one RotaryTable (one session) with q = k = (1, .., 1, 0, .., 0) per
  /// token, so the rotated halves are exactly the cos and sin applied; returns max |Δ| vs HF.
  static func maxError(_ g: Case, rope: ModelConfig.RoPE) throws -> Double {
    let d = g.headDim, half = d / 2
    let table = try RotaryTable(rope, headDim: d, positions: 64, context: nil)
    var worst = 0.0
    for call in g.calls {
      let n = call.positions.count
      var q = [Float](repeating: 0, count: n * d)
      for t in 0..<n { for i in 0..<half { q[t * d + i] = 1 } }
      var k = q
      try q.withUnsafeMutableBufferPointer { qb throws(SubQError) in
        try k.withUnsafeMutableBufferPointer { kb throws(SubQError) in
          try table.apply(q: qb.baseAddress!, qHeads: 1, k: kb.baseAddress!, kHeads: 1, tokenStride: d,
                          positions: call.positions, context: nil)
        }
      }
      #expect(q == k)
      for t in 0..<n {
        for i in 0..<half {
          worst = max(worst, abs(Double(q[t * d + i]) - call.cos[t * half + i]),
                      abs(Double(q[t * d + half + i]) - call.sin[t * half + i]))
        }
      }
    }
    return worst
  }

  @Test func runnerMatchesTransformersOverPrefillAndDecode() throws {
    let goldens = try Self.goldens()
    #expect(Set(goldens.keys) == ["dynamic_long_prefill", "dynamic_short_prefill", "longrope_long_prefill",
                                  "longrope_short_prefill"])
    for (name, g) in goldens.sorted(by: { $0.key < $1.key }) {
      let rope = try #require(ModelConfig.parse(Data(g.config.utf8)).transformer?.rope)
      let err = try Self.maxError(g, rope: rope)
      print("rope goldens \(name): max |Δ| \(err)")
      #expect(err <= 6e-7, "\(name): max |Δcos/sin| \(err)")
      // the goldens see the scaling: the plain default schedule misses them by far
      let plain = try Self.maxError(g, rope: .init(theta: rope.theta, scaling: .none, partialRotaryFactor: 1))
      #expect(plain > 1e-2, "\(name): the default schedule is within \(plain)")
    }
  }
}

@Suite struct RoPEScalingConfigTests {
  static let base = #""model_type": "llama", "vocab_size": 10, "hidden_size": 16, "num_hidden_layers": 1,"#
    + #" "num_attention_heads": 2, "intermediate_size": 16"#  // head_dim 8: 4 factors

  static func rope(_ extra: String) throws(SubQError) -> ModelConfig.RoPE {
    try ModelConfig.parse(Data("{\(base), \(extra)}".utf8)).transformer!.rope
  }

  static func message(_ extra: String) -> String {
    do {
      _ = try rope(extra)
      return "parsed"
    } catch { return error.message }
  }

  @Test func dynamicForms() throws {
    // v4: rope_theta beside rope_scaling, the old `type` key; the threshold is max_position_embeddings
    let v4 = try Self.rope(#""max_position_embeddings": 2048, "rope_theta": 5e5, "rope_scaling": {"type": "dynamic", "factor": 2.0}"#)
    #expect(v4 == .init(theta: 5e5, scaling: .dynamic(factor: 2, maxPositions: 2048), partialRotaryFactor: 1))
    // v5 rope_parameters; an original_max_position_embeddings key is not dynamic's threshold (as HF)
    let v5 = try Self.rope(#""max_position_embeddings": 4096, "rope_parameters": {"rope_type": "dynamic", "rope_theta": 1e4, "factor": 4, "original_max_position_embeddings": 1024}"#)
    #expect(v5 == .init(theta: 1e4, scaling: .dynamic(factor: 4, maxPositions: 4096), partialRotaryFactor: 1))
    #expect(Self.message(#""rope_parameters": {"rope_type": "dynamic"}"#).contains("dynamic rope scaling needs factor > 0"))
    #expect(Self.message(#""rope_scaling": {"type": "dynamic", "factor": -1}"#).contains("dynamic rope scaling needs factor > 0"))
    #expect(Self.message(#""rope_scaling": {"type": "dynamic", "factor": "big"}"#).contains("'factor' is not a number"))
    #expect(Self.message(#""head_dim": 2, "rope_scaling": {"type": "dynamic", "factor": 2}"#).contains("more than 2 rotated dims"))
  }

  @Test func longropeForms() throws {
    let s = "[1.0, 1.1, 1.2, 1.3]", l = "[1, 2, 4, 8.5]"
    // Phi-3 v4 form: top-level original_max_position_embeddings, factor and attention_factor inferred
    let phi = try Self.rope(#""max_position_embeddings": 131072, "original_max_position_embeddings": 4096, "rope_scaling": {"type": "longrope", "short_factor": \#(s), "long_factor": \#(l)}"#)
    #expect(phi.scaling == .longrope(shortFactor: [1, 1.1, 1.2, 1.3], longFactor: [1, 2, 4, 8.5], originalMaxPositions: 4096,
                                     attentionFactor: (1 + log(32.0) / log(4096.0)).squareRoot()))
    // v5: the top-level original_max_position_embeddings still wins; factor given; attention_factor given
    let v5 = try Self.rope(#""max_position_embeddings": 8192, "original_max_position_embeddings": 2048, "rope_parameters": {"rope_type": "longrope", "rope_theta": 1e6, "short_factor": \#(s), "long_factor": \#(l), "original_max_position_embeddings": 1024, "factor": 8}"#)
    #expect(v5 == .init(theta: 1e6, scaling: .longrope(shortFactor: [1, 1.1, 1.2, 1.3], longFactor: [1, 2, 4, 8.5],
                                                        originalMaxPositions: 2048, attentionFactor: (1 + log(8.0) / log(2048.0)).squareRoot()),
                        partialRotaryFactor: 1))
    let given = try Self.rope(#""max_position_embeddings": 4096, "rope_parameters": {"rope_type": "longrope", "short_factor": \#(s), "long_factor": \#(l), "original_max_position_embeddings": 1024, "attention_factor": 1.25}"#)
    #expect(given.scaling == .longrope(shortFactor: [1, 1.1, 1.2, 1.3], longFactor: [1, 2, 4, 8.5], originalMaxPositions: 1024,
                                       attentionFactor: 1.25))
    // factor <= 1 (original absent: = max_position_embeddings) gives attention factor 1
    let same = try Self.rope(#""rope_parameters": {"rope_type": "longrope", "short_factor": \#(s), "long_factor": \#(l)}"#)
    #expect(same.scaling == .longrope(shortFactor: [1, 1.1, 1.2, 1.3], longFactor: [1, 2, 4, 8.5], originalMaxPositions: 4096,
                                      attentionFactor: 1))
    // partial rotary: the factor lists cover the rotated dims only (8 * 0.5 / 2 = 2)
    let partial = try Self.rope(#""partial_rotary_factor": 0.5, "rope_parameters": {"rope_type": "longrope", "short_factor": [1, 2], "long_factor": [3, 4]}"#)
    #expect(partial.scaling == .longrope(shortFactor: [1, 2], longFactor: [3, 4], originalMaxPositions: 4096, attentionFactor: 1))

    let bad: [(String, String)] = [
      (#"{"rope_type": "longrope", "long_factor": \#(l)}"#, "longrope rope scaling needs 'short_factor' (4 numbers)"),
      (#"{"rope_type": "longrope", "short_factor": \#(s)}"#, "longrope rope scaling needs 'long_factor' (4 numbers)"),
      (#"{"rope_type": "longrope", "short_factor": \#(s), "long_factor": [1, 2, 3]}"#,
       "longrope 'long_factor' must be a list of 4 numbers (rotated dims / 2), got 3"),
      (#"{"rope_type": "longrope", "short_factor": 1.5, "long_factor": \#(l)}"#, "'short_factor' must be a list of 4 numbers (rotated dims / 2), got no list"),
      (#"{"rope_type": "longrope", "short_factor": \#(s), "long_factor": [1, 0, 3, 4]}"#, "longrope 'long_factor'[1] must be a finite number > 0"),
      (#"{"rope_type": "longrope", "short_factor": [1, "x", 3, 4], "long_factor": \#(l)}"#, "longrope 'short_factor'[1] must be a finite number > 0"),
      (#"{"rope_type": "longrope", "short_factor": \#(s), "long_factor": [1, 2, 3, 1e300]}"#, "longrope 'long_factor'[3] must be a finite number > 0"),
      (#"{"rope_type": "longrope", "short_factor": \#(s), "long_factor": \#(l), "original_max_position_embeddings": 0}"#,
       "needs original_max_position_embeddings > 0 and factor > 0"),
      (#"{"rope_type": "longrope", "short_factor": \#(s), "long_factor": \#(l), "factor": 4, "original_max_position_embeddings": 1}"#,
       "factor 4.0 > 1 needs original_max_position_embeddings > 1"),
      (#"{"rope_type": "longrope", "short_factor": \#(s), "long_factor": \#(l), "attention_factor": -1}"#,
       "longrope attention_factor -1.0 must be finite and >= 0"),
    ]
    for (params, want) in bad {
      let m = Self.message(#""rope_parameters": "# + params)
      #expect(m.contains(want), "\(params): \(m)")
    }
  }

  /// The runner's state machine on its own: longrope switches per call, dynamic keeps the grown
  /// base until a call shorter than max_position_embeddings.
  @Test func schedulesFollowEachCall() throws {
    // q = 1 at dim 1 (0 at its pair 1 + half): the rotated q holds cos at dim 1 per token
    func cos1(_ t: RotaryTable, _ positions: [Int64]) throws -> [Float] {
      let d = 8, n = positions.count
      var q = [Float](repeating: 0, count: n * d)
      for i in 0..<n { q[i * d + 1] = 1 }
      var k: [Float] = [0]
      try q.withUnsafeMutableBufferPointer { qb throws(SubQError) in
        try k.withUnsafeMutableBufferPointer { kb throws(SubQError) in
          try t.apply(q: qb.baseAddress!, qHeads: 1, k: kb.baseAddress!, kHeads: 0, tokenStride: d, positions: positions,
                      context: nil)
        }
      }
      return (0..<n).map { q[$0 * d + 1] }
    }
    func table(_ s: ModelConfig.RoPE.Scaling) throws -> RotaryTable {
      try RotaryTable(.init(theta: 10000, scaling: s, partialRotaryFactor: 1), headDim: 8, positions: 32, context: nil)
    }
    let dyn = ModelConfig.RoPE.Scaling.dynamic(factor: 4, maxPositions: 16)
    let t = try table(dyn), plain = try table(.none)
    #expect(try cos1(t, [10]) == cos1(plain, [10]))  // S = 11 <= 16: default
    let s31 = try cos1(table(dyn), [20, 30])  // the base grown for S = 31, at positions 20 and 30
    #expect(try cos1(t, [30]) == [s31[1]])  // S = 31: grown
    #expect(s31[1] != (try cos1(plain, [30]))[0])
    #expect(try cos1(t, [20]) == [s31[0]])  // S = 21 <= 31 kept: still the S = 31 base
    #expect(try cos1(table(dyn), [20]) != [s31[0]])  // (a fresh table grows for S = 21 instead)
    #expect(try cos1(t, [14]) == cos1(plain, [14]))  // S = 15 < 16 after growth: back to default
    #expect(try cos1(t, [15]) == cos1(plain, [15]))  // S = 16: default kept
    #expect(try cos1(t, [16]) != cos1(plain, [16]))  // S = 17: grows again

    let lr = ModelConfig.RoPE.Scaling.longrope(shortFactor: [1, 1, 1, 1], longFactor: [1, 3, 3, 3], originalMaxPositions: 16,
                                               attentionFactor: 1)
    let l = try table(lr)
    #expect(try cos1(l, [15]) == cos1(plain, [15]))  // S = 16: short (all 1 here)
    let long = try cos1(l, [3, 16])  // S = 17: long for every position of the call
    #expect(long[0] != (try cos1(plain, [3]))[0])
    #expect(try cos1(l, [3]) == cos1(plain, [3]))  // S = 4: short again, no state kept
  }
}

/// A session's forward call is one transformers forward call however the session splits it:
/// the tiny llama with dynamic / longrope RoPE (max_position_embeddings 16 < the 28-token prompt)
/// gives the same logits prefilling in pieces of 5 as in one piece, while the same pieces sent as
/// separate calls (each choosing its own schedule, as HF would for separate calls) differ.
@Suite struct RoPEScalingSessionTests {
  @Test(arguments: [
    #""rope_parameters": {"rope_theta": 10000.0, "rope_type": "dynamic", "factor": 4.0}"#,
    #""rope_parameters": {"rope_theta": 10000.0, "rope_type": "longrope", "original_max_position_embeddings": 16,"#
      + #" "short_factor": [1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7], "long_factor": [1, 2, 3, 5, 8, 13, 21, 34]}"#,
  ])
  func chunkedPrefillIsOneCall(rope: String) throws {
    let model = try Self.tinyLlama(rope: rope)
    let prompt = try ModelTests.golden("llama").prompt
    #expect(prompt.count == 28)

    func run(maxChunk: Int, separateCalls: Int? = nil) throws -> [Float] {
      let s = try model.makeSession(capacity: prompt.count + 2, maxChunk: maxChunk)
      var out: [Float] = []
      if let piece = separateCalls {
        for i in stride(from: 0, to: prompt.count, by: piece) {
          out += try s.forward(Array(prompt[i..<min(prompt.count, i + piece)]), allLogits: true)
        }
      } else {
        out = try s.forward(prompt, allLogits: true)
      }
      out += try s.forward([5])  // a decode step past the prefill
      return out
    }
    let whole = try run(maxChunk: 28), pieces = try run(maxChunk: 5), calls = try run(maxChunk: 28, separateCalls: 5)
    let scale = max(1, whole.map { abs($0) }.max()!)
    let dPieces = zip(whole, pieces).map { abs($0 - $1) }.max()!, dCalls = zip(whole, calls).map { abs($0 - $1) }.max()!
    #expect(dPieces <= 1e-4 * scale, "pieces of one call differ by \(dPieces)")
    #expect(dCalls > 1e-3 * scale, "separate calls only differ by \(dCalls)")
  }

  /// Tests/Models/llama with `rope` (a "rope_parameters" member) and max_position_embeddings 16.
  static func tinyLlama(rope: String) throws -> Model {
    let src = modelsDirectory.appendingPathComponent("llama")
    var cfg = try String(contentsOf: src.appendingPathComponent("config.json"), encoding: .utf8)
    let plain = #""rope_parameters": {"# + "\n" + #"    "rope_theta": 10000.0,"# + "\n" + #"    "rope_type": "default""# + "\n  }"
    #expect(cfg.contains(plain) && cfg.contains("\"max_position_embeddings\": 256"))
    cfg = cfg.replacingOccurrences(of: plain, with: rope)
      .replacingOccurrences(of: "\"max_position_embeddings\": 256", with: "\"max_position_embeddings\": 16")
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("subq-rope-\(getpid())-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    try cfg.write(to: tmp.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    try FileManager.default.copyItem(at: src.appendingPathComponent("model.safetensors"), to: tmp.appendingPathComponent("model.safetensors"))
    let model = try Model.load(directory: tmp, context: try Context(.init(threads: 2)))
    #expect(model.config.transformer?.rope.scaling != ModelConfig.RoPE.Scaling.none)
    return model
  }

  /// The same tiny llama run by transformers' LlamaForCausalLM (tools/gen_rope_goldens.py
  /// --model-json: Fixtures/rope_scaled_llama.json): a 28-token prefill past
  /// max_position_embeddings 16, then 3 decode steps through the KV cache; the first 64 logits
  /// of each of those rows within the 1e-4 relative tolerance of logitsMatchTransformers, and
  /// the argmax equal.
  @Test func logitsMatchTransformersThroughPrefillAndDecode() throws {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/rope_scaled_llama.json")
    let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    let prompt = root["prompt"] as! [Int], decode = root["decode"] as! [Int]
    let cases = root["cases"] as! [String: [String: Any]]
    #expect(Set(cases.keys) == ["dynamic", "longrope"])
    for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
      let rp = try JSONSerialization.data(withJSONObject: c["rope_parameters"]!)
      let model = try Self.tinyLlama(rope: #""rope_parameters": "# + String(decoding: rp, as: UTF8.self))
      let head = c["head"] as! [[Double]], argmax = c["argmax"] as! [Int]
      let s = try model.makeSession(capacity: prompt.count + decode.count, maxChunk: 8)
      var rows = [try s.forward(prompt)]
      for t in decode { rows.append(try s.forward([t])) }
      #expect(rows.count == head.count)
      for (r, (row, want)) in zip(rows, head).enumerated() {
        let scale = max(1, want.map { abs($0) }.max()!)
        let worst = zip(row, want).map { abs(Double($0) - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "\(name) row \(r): max |Δlogit| \(worst)")
        #expect(row.indices.max(by: { row[$0] < row[$1] }) == argmax[r], "\(name) row \(r): argmax")
      }
    }
  }
}
