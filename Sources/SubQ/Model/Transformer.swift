internal import CSubQ
import Foundation

/// Llama and Mistral (attention spec §8): pre-norm blocks, GQA attention with RoPE over a
/// per-layer KV cache (a ring buffer of window + chunk positions for Mistral's sliding window),
/// SwiGLU MLP. q|k|v and gate|up are each one fused GEMM; with `monarchBlocks` the MLP's three
/// matrices are instead projected onto Monarch matrices at load time (`subq-run --monarch`).
struct TransformerBody: ModelBody, @unchecked Sendable {
  struct Layer {
    let inputNorm: FloatBuffer
    let qkv: Linear  // rows [q (Hq·D) | k (Hkv·D) | v (Hkv·D)]
    let o: Linear
    let postNorm: FloatBuffer
    let gateUp: any LinearMap  // rows [gate (I) | up (I)]
    let down: any LinearMap
  }

  let config: ModelConfig
  let t: ModelConfig.Transformer
  let embed: EmbeddingAndHead
  var headError: Double? { embed.int8HeadError }
  let layers: [Layer]
  let finalNorm: FloatBuffer
  let ropeParams: ModelConfig.RoPE
  /// Per projected MLP matrix (layer order, gate, up, down), when loaded with `monarchBlocks`.
  let monarchReports: [MonarchProjectionReport]

  init(
    config: ModelConfig, checkpoint ck: Checkpoint, context: Context?, monarchBlocks: Int? = nil, int8Head: Bool = false,
    progress: ((Int, Int) -> Void)?
  ) throws(SubQError) {
    self.config = config
    let t = config.transformer!
    self.t = t
    let h = config.hiddenSize, d = t.headDim, qd = t.numHeads * d, kvd = t.numKVHeads * d, inter = t.intermediateSize
    embed = try EmbeddingAndHead(
      ck, embeddingName: "model.embed_tokens.weight", vocab: config.vocabSize, hidden: h, tied: config.tieWordEmbeddings,
      int8Head: int8Head, context: context)
    // Monarch MLPs: every gate/up/down matrix projected up front, in parallel (the slow part).
    var monarch: [MonarchLinear] = []
    if let blocks = monarchBlocks {
      let jobs = (0..<config.numLayers).flatMap { i in
        let p = "model.layers.\(i).mlp."
        return [
          (tensor: p + "gate_proj", out: inter, in: h, bias: t.mlpBias, layer: i, name: "mlp.gate_proj"),
          (tensor: p + "up_proj", out: inter, in: h, bias: t.mlpBias, layer: i, name: "mlp.up_proj"),
          (tensor: p + "down_proj", out: h, in: inter, bias: t.mlpBias, layer: i, name: "mlp.down_proj"),
        ]
      }
      monarch = try MonarchLinear.projectAll(ck, jobs: jobs, blocks: blocks, context: context, progress: progress)
    }
    monarchReports = monarch.map(\.report)
    var layers: [Layer] = []
    for i in 0..<config.numLayers {
      let p = "model.layers.\(i)."
      let gateUp: any LinearMap, down: any LinearMap
      if monarch.isEmpty {
        gateUp = try Linear(
          ck, parts: [(p + "mlp.gate_proj", inter), (p + "mlp.up_proj", inter)], in: h, bias: t.mlpBias, context: context)
        down = try Linear(ck, p + "mlp.down_proj", out: h, in: inter, bias: t.mlpBias, context: context)
      } else {
        gateUp = StackedLinear([monarch[3 * i], monarch[3 * i + 1]])
        down = monarch[3 * i + 2]
      }
      layers.append(
        Layer(
          inputNorm: try ck.floats(p + "input_layernorm.weight", [h]),
          qkv: try Linear(
            ck, parts: [(p + "self_attn.q_proj", qd), (p + "self_attn.k_proj", kvd), (p + "self_attn.v_proj", kvd)], in: h,
            bias: t.attentionBias, context: context),
          o: try Linear(ck, p + "self_attn.o_proj", out: h, in: qd, bias: t.attentionBias, context: context),
          postNorm: try ck.floats(p + "post_attention_layernorm.weight", [h]),
          gateUp: gateUp, down: down))
      if monarch.isEmpty { progress?(i + 1, config.numLayers) }
    }
    self.layers = layers
    finalNorm = try ck.floats("model.norm.weight", [h])
    ropeParams = t.rope
  }

  /// Per-layer KV caches and the RoPE table for the session's positions.
  final class State {
    let caches: [OpaquePointer]
    let rope: RotaryTable
    init(caches: [OpaquePointer], rope: RotaryTable) {
      self.caches = caches
      self.rope = rope
    }
    deinit { for c in caches { subq_kv_cache_destroy(c) } }
  }

  func makeState(capacity: Int, maxChunk: Int, kvStorage: KVStorage) throws(SubQError) -> AnyObject {
    try Self.makeAttentionState(config: config, capacity: capacity, maxChunk: maxChunk, kvStorage: kvStorage)
  }

  /// The KV caches and RoPE table of `config.transformer`'s attention (shared with BitNet; BASED
  /// passes its sliding-window layers' description `t` and their count).
  static func makeAttentionState(
    config: ModelConfig, capacity: Int, maxChunk: Int, kvStorage: KVStorage, attention: ModelConfig.Transformer? = nil,
    layers: Int? = nil
  ) throws(SubQError) -> State {
    let t = attention ?? config.transformer!
    var a = subq_kv_cache_args()
    subq_kv_cache_args_default(&a, MemoryLayout<subq_kv_cache_args>.size)
    switch kvStorage {
    case .f32: a.dtype = .f32
    case .bf16: a.dtype = .bf16
    case .f16: a.dtype = .f16
    }
    a.batch = 1
    a.hkv = Int64(t.numKVHeads)
    a.dk = Int64(t.headDim)
    a.dv = Int64(t.headDim)
    a.capacity = Int64(capacity)
    if let w = t.slidingWindow, w - 1 + maxChunk < capacity {
      // A query sees at most W - 1 earlier keys; a piece adds at most maxChunk.
      a.mode = Int32(SUBQ_KV_RING)
      a.capacity = Int64(w - 1 + maxChunk)
    }
    var caches: [OpaquePointer] = []
    for _ in 0..<(layers ?? config.numLayers) {
      var c: OpaquePointer?
      let s = subq_kv_cache_create(&a, &c)
      if s != .ok {
        let e = SubQError(s)
        for c in caches { subq_kv_cache_destroy(c) }
        throw e
      }
      caches.append(c!)
    }
    let rope = try RotaryTable(t.rope, headDim: t.headDim, positions: capacity, context: nil)
    return State(caches: caches, rope: rope)
  }

  func forward(
    _ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, wantLogits: Bool, context: Context?
  ) throws(SubQError) -> [Float] {
    let st = state as! State
    let n = tokens.count, h = config.hiddenSize, d = t.headDim
    let qd = t.numHeads * d, kvd = t.numKVHeads * d, inter = t.intermediateSize
    let qkvW = qd + 2 * kvd
    let eps = Float(config.normEps)
    let x = FloatBuffer(count: n * h), hn = FloatBuffer(count: n * h)
    let qkv = FloatBuffer(count: n * qkvW), att = FloatBuffer(count: n * qd)
    let gu = FloatBuffer(count: n * 2 * inter)
    let positions = (start..<(start + n)).map(Int64.init)
    try embed.gather(tokens, into: x.base, context: context)
    for (li, L) in layers.enumerated() {
      try Ops.rmsnorm(x.base, xStride: h, rows: n, n: h, weight: L.inputNorm.base, eps: eps, into: hn.base, yStride: h, context: context)
      try L.qkv.apply(hn.base, xStride: h, rows: n, into: qkv.base, outStride: qkvW, context: context)
      try Self.attend(t: t, qkv: qkv.base, tokens: n, positions: positions, layer: li, state: st, into: att.base, context: context)
      try L.o.apply(att.base, xStride: qd, rows: n, into: x.base, outStride: h, accumulate: true, context: context)
      try Ops.rmsnorm(x.base, xStride: h, rows: n, n: h, weight: L.postNorm.base, eps: eps, into: hn.base, yStride: h, context: context)
      try L.gateUp.apply(hn.base, xStride: h, rows: n, into: gu.base, outStride: 2 * inter, accumulate: false, context: context)
      try Ops.swiglu(gate: gu.base, up: gu.base + inter, stride: 2 * inter, rows: n, n: inter, into: gu.base, outStride: 2 * inter, context: context)
      try L.down.apply(gu.base, xStride: 2 * inter, rows: n, into: x.base, outStride: h, accumulate: true, context: context)
    }
    guard wantLogits else { return [] }
    return try embed.finish(x.base, rows: n, norm: finalNorm, eps: eps, scratch: hn.base, allLogits: allLogits, context: context)
  }

  /// RoPE on the q and k columns of `qkv` (rows [q | k | v], `tokens` rows), appends k and v to
  /// layer `layer`'s cache, and writes causal (windowed) GQA attention over the cache into `out`
  /// (rows Hq·D wide).
  static func attend(
    t: ModelConfig.Transformer, qkv: UnsafeMutablePointer<Float>, tokens n: Int, positions: [Int64], layer li: Int,
    state st: State, into out: UnsafeMutablePointer<Float>, context: Context?
  ) throws(SubQError) {
    let d = t.headDim, qd = t.numHeads * d, kvd = t.numKVHeads * d
    let qkvW = qd + 2 * kvd
    try st.rope.apply(
      q: qkv, qHeads: t.numHeads, k: qkv + qd, kHeads: t.numKVHeads, tokenStride: qkvW, positions: positions,
      context: context)
    let cache = st.caches[li]
    try SubQError.check(
      subq_kv_cache_append(
        context?.raw, cache, 0, 1, Int64(n), qkv + qd, 0, Int64(qkvW), Int64(d), qkv + qd + kvd, 0,
        Int64(qkvW), Int64(d)))
    var a = subq_fattn_args()
    subq_fattn_args_default(&a, MemoryLayout<subq_fattn_args>.size)
    a.batch = 1
    a.hq = Int64(t.numHeads)
    a.hkv = Int64(t.numKVHeads)
    a.sq = Int64(n)
    a.dk = Int64(d)
    a.dv = Int64(d)
    a.window_right = 0
    if let w = t.slidingWindow { a.window_left = Int64(w - 1) }  // HF sliding_window W = W keys incl. self
    a.q = UnsafePointer(qkv)
    a.q_bs = Int64(n * qkvW); a.q_ss = Int64(qkvW); a.q_hs = Int64(d)
    a.out = out
    a.o_bs = Int64(n * qd); a.o_ss = Int64(qd); a.o_hs = Int64(d)
    try SubQError.check(subq_fattn_kv(context?.raw, &a, cache))
  }
}
