internal import CSubQ
import Foundation

/// BitNet b1.58 as transformers 5.23 runs a quantized checkpoint (ternary spec §8): Llama-shaped
/// attention (GQA, RoPE, KV cache: TransformerBody's pieces) and MLP whose projections are
/// BitLinear layers (per-token int8 absmax activations × ternary weights), an RMSNorm in front of
/// every BitLinear (input_layernorm → q|k|v, attn_sub_norm → o, post_attention_layernorm →
/// gate|up, ffn_sub_norm → down; each fused into `subq_bitlinear`), relu(gate)² · up, and the
/// dense (tied) head. Activations are quantized in f32 with ties to even, as HF's f32 BitLinear /
/// ActQuant do; the int8 codes then agree with transformers' except where a value lies within
/// float32 noise of a rounding edge (the test fixtures keep ≥ 1e-4 away, spec §11.20).
struct BitNetBody: ModelBody, @unchecked Sendable {
  struct Layer {
    let inputNorm: FloatBuffer
    let qkv: TernaryLinear  // rows [q | k | v], one γ per part
    let attnSubNorm: FloatBuffer
    let o: TernaryLinear
    let postNorm: FloatBuffer
    let gateUp: TernaryLinear  // rows [gate (I) | up (I)]
    let ffnSubNorm: FloatBuffer
    let down: TernaryLinear
  }

  let config: ModelConfig
  let t: ModelConfig.Transformer
  let embed: EmbeddingAndHead
  var headError: Double? { embed.int8HeadError }
  let layers: [Layer]
  let finalNorm: FloatBuffer

  init(
    config: ModelConfig, checkpoint ck: Checkpoint, context: Context?, int8Head: Bool = false,
    progress: ((Int, Int) -> Void)?
  ) throws(SubQError) {
    self.config = config
    let t = config.transformer!
    self.t = t
    let quant = config.bitnet!
    let h = config.hiddenSize, d = t.headDim, qd = t.numHeads * d, kvd = t.numKVHeads * d, inter = t.intermediateSize
    embed = try EmbeddingAndHead(
      ck, embeddingName: "model.embed_tokens.weight", vocab: config.vocabSize, hidden: h, tied: config.tieWordEmbeddings,
      int8Head: int8Head, context: context)
    var layers: [Layer] = []
    for i in 0..<config.numLayers {
      let p = "model.layers.\(i)."
      layers.append(
        Layer(
          inputNorm: try ck.floats(p + "input_layernorm.weight", [h]),
          qkv: try TernaryLinear(
            ck, parts: [(p + "self_attn.q_proj", qd), (p + "self_attn.k_proj", kvd), (p + "self_attn.v_proj", kvd)], in: h,
            quant: quant, context: context),
          attnSubNorm: try ck.floats(p + "self_attn.attn_sub_norm.weight", [h]),
          o: try TernaryLinear(ck, parts: [(p + "self_attn.o_proj", h)], in: qd, quant: quant, context: context),
          postNorm: try ck.floats(p + "post_attention_layernorm.weight", [h]),
          gateUp: try TernaryLinear(
            ck, parts: [(p + "mlp.gate_proj", inter), (p + "mlp.up_proj", inter)], in: h, quant: quant, context: context),
          ffnSubNorm: try ck.floats(p + "mlp.ffn_sub_norm.weight", [inter]),
          down: try TernaryLinear(ck, parts: [(p + "mlp.down_proj", h)], in: inter, quant: quant, context: context)))
      progress?(i + 1, config.numLayers)
    }
    self.layers = layers
    finalNorm = try ck.floats("model.norm.weight", [h])
  }

  func makeState(capacity: Int, maxChunk: Int, kvStorage: KVStorage) throws(SubQError) -> AnyObject {
    try TransformerBody.makeAttentionState(config: config, capacity: capacity, maxChunk: maxChunk, kvStorage: kvStorage)
  }

  func forward(
    _ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, wantLogits: Bool, context: Context?
  ) throws(SubQError) -> [Float] {
    let st = state as! TransformerBody.State
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
      try L.qkv.apply(x.base, xStride: h, rows: n, norm: L.inputNorm, eps: eps, into: qkv.base, outStride: qkvW, context: context)
      try TransformerBody.attend(
        t: t, qkv: qkv.base, tokens: n, positions: positions, layer: li, state: st, into: att.base, context: context)
      try L.o.apply(att.base, xStride: qd, rows: n, norm: L.attnSubNorm, eps: eps, into: x.base, outStride: h, residual: true, context: context)
      try L.gateUp.apply(x.base, xStride: h, rows: n, norm: L.postNorm, eps: eps, into: gu.base, outStride: 2 * inter, context: context)
      // relu2(gate) * up as HF evaluates it: (relu(g) * relu(g)) * u, in place over the gate half
      for r in 0..<n {
        let g = gu.base + r * 2 * inter, u = g + inter
        for j in 0..<inter {
          let a = max(g[j], 0)
          g[j] = a * a * u[j]
        }
      }
      try L.down.apply(gu.base, xStride: 2 * inter, rows: n, norm: L.ffnSubNorm, eps: eps, into: x.base, outStride: h, residual: true, context: context)
    }
    guard wantLogits else { return [] }
    return try embed.finish(x.base, rows: n, norm: finalNorm, eps: eps, scratch: hn.base, allLogits: allLogits, context: context)
  }
}

/// One or more projections over the same input (rows concatenated in `parts` order), as one SQ2
/// ternary matrix: per-tensor γ for one part, per-row γ (each part's γ repeated) for fused parts,
/// so q|k|v and gate|up share one activation quantization and one call. Made from HF BitNet
/// tensors (any of the three `ModelConfig.BitNet.Form`s) or from float masters (MMfreeLM).
final class TernaryLinear: @unchecked Sendable {
  let weights: TernaryWeights
  let inFeatures: Int
  let outFeatures: Int

  /// Places the weights as `context`'s NUMA mode asks (a no-op on one node).
  private init(weights: TernaryWeights, in inF: Int, context: Context?) throws(SubQError) {
    try weights.place(context: context)
    self.weights = weights
    inFeatures = inF
    outFeatures = weights.rows
  }

  /// HF BitNet projections in `q.form`.
  convenience init(_ ck: Checkpoint, parts: [(String, Int)], in inF: Int, quant q: ModelConfig.BitNet, context: Context?)
    throws(SubQError)
  {
    if q.form == .online {
      // AutoBitLinear online is WeightQuant (absmean per tensor) of float masters: the masters path
      // quantizes on the context's threads and keeps a single part as quantized (no codes → repack
      // round trip), which cuts the load of a 2B-shape checkpoint (BENCHMARKS "BitNet b1.58 2B shape").
      try self.init(ck, masters: parts, in: inF, context: context)
      return
    }
    var pieces: [(codes: [Int8], gamma: Float)] = []
    for (name, n) in parts {
      let w: TernaryWeights
      var factor: Float = 1
      if q.form == .packed {
        guard n % 4 == 0 else {
          throw SubQError(code: .unsupported, message: "\(ck.directory): '\(name)' has \(n) rows, not a multiple of 4 (HF packing)")
        }
        let packed = try ck.bytes(name + ".weight", [n / 4, inF])
        let ws = try ck.floats(name + ".weight_scale", [1])[0]
        let bytes = Array(UnsafeBufferPointer(start: packed, count: n / 4 * inF))
        w = try TernaryWeights(hfPacked: bytes.span, rows: n, cols: inF, weightScale: ws, rule: q.rule)
      } else {
        // .ternarized, AutoBitLinear offline: F.linear(x_q, W) * weight_scale with W in {0, ±c}: γ = c · weight_scale
        let f = try ck.floats(name + ".weight", [n, inF])
        var out: OpaquePointer? = nil
        try SubQError.check(subq_ternary_from_ternarized(Int64(n), Int64(inF), .f32, f.base, Int64(inF), .tensor, &out))
        w = TernaryWeights(adopting: out!)
        factor = try ck.floats(name + ".weight_scale", [1])[0]
      }
      let (c, g) = w.codes()
      pieces.append((c, g[0] * factor))
    }
    try self.init(weights: try Self.fuse(pieces, rows: parts.map(\.1), cols: inF), in: inF, context: context)
  }

  /// Float masters `<name>.weight` [n, in] (f32, bf16 or f16), each ternarized with absmean per
  /// tensor (spec ternary §1.1), fused with per-row γ when there are several.
  convenience init(_ ck: Checkpoint, masters parts: [(String, Int)], in inF: Int, context: Context?) throws(SubQError) {
    if parts.count == 1 {
      try self.init(
        weights: try Self.absmean(ck, parts[0].0 + ".weight", rows: parts[0].1, cols: inF, context: context), in: inF,
        context: context)
      return
    }
    var pieces: [(codes: [Int8], gamma: Float)] = []
    for (name, n) in parts {
      let (c, g) = try Self.absmean(ck, name + ".weight", rows: n, cols: inF, context: context).codes()
      pieces.append((c, g[0]))
    }
    try self.init(weights: try Self.fuse(pieces, rows: parts.map(\.1), cols: inF), in: inF, context: context)
  }

  /// absmean per tensor of the float tensor `name` [rows, cols] (f32 / bf16 read in place, f16 widened).
  static func absmean(_ ck: Checkpoint, _ name: String, rows: Int, cols: Int, context: Context?) throws(SubQError) -> TernaryWeights {
    let t = try ck.tensor(name, [rows, cols])
    var out: OpaquePointer? = nil
    if t.dtype == .f16 {
      let f = FloatBuffer(count: t.count)
      try ck.widen(t, into: f.base)
      try SubQError.check(subq_ternary_quantize(context?.raw, Int64(rows), Int64(cols), .f32, f.base, Int64(cols), .tensor, &out))
    } else {
      let dt: subq_dtype = t.dtype == .f32 ? .f32 : .bf16
      try SubQError.check(
        withExtendedLifetime(context) { subq_ternary_quantize(context?.raw, Int64(rows), Int64(cols), dt, t.data, Int64(cols), .tensor, &out) })
    }
    return TernaryWeights(adopting: out!)
  }

  /// One matrix from per-part codes and γ: per tensor for one part, per row for several.
  private static func fuse(_ pieces: [(codes: [Int8], gamma: Float)], rows: [Int], cols: Int) throws(SubQError) -> TernaryWeights {
    if pieces.count == 1 {
      let codes = pieces[0].codes
      return try TernaryWeights(codes: codes.span, rows: rows[0], cols: cols, gammas: [pieces[0].gamma])
    }
    var codes: [Int8] = []
    var gammas: [Float] = []
    for (p, n) in zip(pieces, rows) {
      codes += p.codes
      gammas += [Float](repeating: p.gamma, count: n)
    }
    return try TernaryWeights(codes: codes.span, rows: gammas.count, cols: cols, gammas: gammas, scale: .row)
  }

  /// out[r] (= or += when `residual`) BitLinear(RMSNorm(x[r]; norm, eps)) for `rows` rows, the
  /// activations rounded by `rounding` (HF BitNet: ties to even, as torch.round).
  func apply(
    _ x: UnsafePointer<Float>, xStride: Int, rows: Int, norm: FloatBuffer, eps: Float,
    into out: UnsafeMutablePointer<Float>, outStride: Int, residual: Bool = false, rounding: TernaryRounding = .halfEven,
    context: Context?
  ) throws(SubQError) {
    var a = subq_bitlinear_args()
    subq_bitlinear_args_default(&a, MemoryLayout<subq_bitlinear_args>.size)
    a.tokens = Int64(rows)
    a.flags = UInt32(SUBQ_TERNARY_RMSNORM)
    a.eps = eps
    a.rounding = rounding.c
    a.x = x
    a.x_ld = Int64(xStride)
    a.norm_weight = UnsafePointer(norm.base)
    if residual {
      a.residual = UnsafePointer(out)
      a.residual_ld = Int64(outStride)
    }
    a.out = out
    a.out_ld = Int64(outStride)
    try SubQError.check(withExtendedLifetime(context) { subq_bitlinear(context?.raw, weights.raw, &a) })
  }
}
