internal import CSubQ
import Foundation

/// Llama and Mistral (attention spec §8): pre-norm blocks, GQA attention with RoPE, SwiGLU MLP.
struct TransformerBody: ModelBody, @unchecked Sendable {
  struct Layer {
    let inputNorm: FloatBuffer
    let q, k, v, o: Linear
    let postNorm: FloatBuffer
    let gate, up, down: Linear
  }

  let config: ModelConfig
  let t: ModelConfig.Transformer
  let embed: EmbeddingAndHead
  let layers: [Layer]
  let finalNorm: FloatBuffer
  let rope: RotaryTable

  init(config: ModelConfig, checkpoint ck: Checkpoint, context: Context?, progress: ((Int, Int) -> Void)?) throws(SubQError) {
    self.config = config
    let t = config.transformer!
    self.t = t
    let h = config.hiddenSize, d = t.headDim, qd = t.numHeads * d, kvd = t.numKVHeads * d, inter = t.intermediateSize
    embed = try EmbeddingAndHead(
      ck, embeddingName: "model.embed_tokens.weight", vocab: config.vocabSize, hidden: h, tied: config.tieWordEmbeddings,
      context: context)
    var layers: [Layer] = []
    for i in 0..<config.numLayers {
      let p = "model.layers.\(i)."
      layers.append(
        Layer(
          inputNorm: try ck.floats(p + "input_layernorm.weight", [h]),
          q: try Linear(ck, p + "self_attn.q_proj", out: qd, in: h, bias: t.attentionBias, context: context),
          k: try Linear(ck, p + "self_attn.k_proj", out: kvd, in: h, bias: t.attentionBias, context: context),
          v: try Linear(ck, p + "self_attn.v_proj", out: kvd, in: h, bias: t.attentionBias, context: context),
          o: try Linear(ck, p + "self_attn.o_proj", out: h, in: qd, bias: t.attentionBias, context: context),
          postNorm: try ck.floats(p + "post_attention_layernorm.weight", [h]),
          gate: try Linear(ck, p + "mlp.gate_proj", out: inter, in: h, bias: t.mlpBias, context: context),
          up: try Linear(ck, p + "mlp.up_proj", out: inter, in: h, bias: t.mlpBias, context: context),
          down: try Linear(ck, p + "mlp.down_proj", out: h, in: inter, bias: t.mlpBias, context: context)))
      progress?(i + 1, config.numLayers)
    }
    self.layers = layers
    finalNorm = try ck.floats("model.norm.weight", [h])
    rope = RotaryTable(t.rope, headDim: d)
  }

  /// Per-layer K and V caches, [capacity][kv heads][head dim] f32 each.
  final class State {
    let k: [FloatBuffer]
    let v: [FloatBuffer]
    init(layers: Int, capacity: Int, rowFloats: Int) {
      k = (0..<layers).map { _ in FloatBuffer(count: capacity * rowFloats) }
      v = (0..<layers).map { _ in FloatBuffer(count: capacity * rowFloats) }
    }
  }

  func makeState(capacity: Int) throws(SubQError) -> AnyObject {
    let (bytes, o) = (capacity * t.numKVHeads * t.headDim).multipliedReportingOverflow(by: 8 * config.numLayers)
    guard !o, bytes < 1 << 40 else { throw .invalidArgument("Model.makeSession: a KV cache for \(capacity) tokens is too large") }
    return State(layers: config.numLayers, capacity: capacity, rowFloats: t.numKVHeads * t.headDim)
  }

  func forward(_ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, context: Context?) throws(SubQError) -> [Float] {
    let st = state as! State
    let n = tokens.count, h = config.hiddenSize, d = t.headDim
    let qd = t.numHeads * d, kvd = t.numKVHeads * d, inter = t.intermediateSize
    let eps = Float(config.normEps)
    let x = FloatBuffer(count: n * h), hn = FloatBuffer(count: n * h)
    let q = FloatBuffer(count: n * qd), att = FloatBuffer(count: n * qd)
    let g = FloatBuffer(count: n * inter), u = FloatBuffer(count: n * inter)
    let positions = Array(start..<(start + n))
    embed.gather(tokens, into: x.base)
    for (li, L) in layers.enumerated() {
      Ops.rmsnorm(x.base, xStride: h, rows: n, n: h, weight: L.inputNorm.base, eps: eps, into: hn.base, yStride: h)
      let kRows = st.k[li].base + start * kvd, vRows = st.v[li].base + start * kvd
      try L.q.apply(hn.base, xStride: h, rows: n, into: q.base, outStride: qd, context: context)
      try L.k.apply(hn.base, xStride: h, rows: n, into: kRows, outStride: kvd, context: context)
      try L.v.apply(hn.base, xStride: h, rows: n, into: vRows, outStride: kvd, context: context)
      rope.apply(q.base, tokenStride: qd, tokens: n, heads: t.numHeads, headDim: d, positions: positions)
      rope.apply(kRows, tokenStride: kvd, tokens: n, heads: t.numKVHeads, headDim: d, positions: positions)
      var a = subq_fattn_args()
      subq_fattn_args_default(&a, MemoryLayout<subq_fattn_args>.size)
      a.batch = 1
      a.hq = Int64(t.numHeads)
      a.hkv = Int64(t.numKVHeads)
      a.sq = Int64(n)
      a.sk = Int64(start + n)
      a.dk = Int64(d)
      a.dv = Int64(d)
      a.window_right = 0
      if let w = t.slidingWindow { a.window_left = Int64(w - 1) }  // HF sliding_window W = W keys incl. self
      a.q = UnsafePointer(q.base)
      a.q_bs = Int64(n * qd); a.q_ss = Int64(qd); a.q_hs = Int64(d)
      a.k = UnsafePointer(st.k[li].base)
      a.k_bs = Int64((start + n) * kvd); a.k_ss = Int64(kvd); a.k_hs = Int64(d)
      a.v = UnsafePointer(st.v[li].base)
      a.v_bs = a.k_bs; a.v_ss = Int64(kvd); a.v_hs = Int64(d)
      a.out = att.base
      a.o_bs = Int64(n * qd); a.o_ss = Int64(qd); a.o_hs = Int64(d)
      try SubQError.check(subq_fattn(context?.raw, &a))
      try L.o.apply(att.base, xStride: qd, rows: n, into: x.base, outStride: h, accumulate: true, context: context)
      Ops.rmsnorm(x.base, xStride: h, rows: n, n: h, weight: L.postNorm.base, eps: eps, into: hn.base, yStride: h)
      try L.gate.apply(hn.base, xStride: h, rows: n, into: g.base, outStride: inter, context: context)
      try L.up.apply(hn.base, xStride: h, rows: n, into: u.base, outStride: inter, context: context)
      Ops.swiglu(gate: g.base, up: u.base, stride: inter, rows: n, n: inter, into: g.base, outStride: inter)
      try L.down.apply(g.base, xStride: inter, rows: n, into: x.base, outStride: h, accumulate: true, context: context)
    }
    Ops.rmsnorm(x.base, xStride: h, rows: n, n: h, weight: finalNorm.base, eps: eps, into: hn.base, yStride: h)
    return try embed.logits(hn.base, rows: n, allLogits: allLogits, context: context)
  }
}
