internal import CSubQ
import Foundation

/// BASED (HazyResearch/based `GPTLMHeadModel`, linear_attention spec §6, §7, §11): embeddings,
/// then per layer x += mixer(rmsnorm(x; norm1)); x += fc2(a ⊙ silu(g)) with (a, g) the halves of
/// fc1(rmsnorm(x; norm2)) (the SECOND half is the gate); ln_f; the (tied) head. Mixers:
/// - BaseConv: u = in_proj(h) (d -> expand·d, bias); c = causal depthwise conv (width 3, no bias)
///   over the first half of u; out_proj(silu(c) ⊙ second half). State: the last width-1 conv
///   inputs (`subq_conv1d_f32`).
/// - LinearAttention: q|k|v = proj_q|proj_k|proj_v(h) (one fused GEMM); Taylor kernel
///   1 + s + s²/2 with s = q·k / sqrt(feature_dim), out = y / (z + eps) per head
///   (`subq_linattn_*`: chunked prefill continuing the state S [H][153][dv] + s [H][153], decode
///   step for one token); out_proj.
/// - SlidingAttention: Wqkv (rows q | k | v, head-major), RoPE (rotate_half), softmax attention
///   with window (window_size / 2, 0) over a ring KV cache of window_size / 2 + maxChunk
///   positions (TransformerBody.attend with an HF-style window W = window_size / 2 + 1); out_proj.
/// A decode step after a prefill equals one long prefill (within f32 rounding): every state is
/// carried across calls. With `monarchBlocks` each layer's fc1 and fc2 are projected onto Monarch
/// matrices at load time, as stored (fc1 whole: [a | gate] is one matrix; `subq-run --monarch`).
struct BasedBody: ModelBody, @unchecked Sendable {
  enum Mixer {
    /// `slot`: the layer's index among the layers of its kind (its state).
    case conv(inProj: Linear, weight: FloatBuffer, bias: FloatBuffer?, outProj: Linear, slot: Int)
    case linear(qkv: Linear, outProj: Linear, slot: Int)
    case sliding(qkv: Linear, outProj: Linear, slot: Int)
  }

  struct Layer {
    let norm1: FloatBuffer
    let mixer: Mixer
    let norm2: FloatBuffer
    let fc1: any LinearMap  // rows [a (I) | gate (I)]
    let fc2: any LinearMap
  }

  let config: ModelConfig
  let b: ModelConfig.Based
  let embed: EmbeddingAndHead
  var headError: Double? { embed.int8HeadError }
  let layers: [Layer]
  let finalNorm: FloatBuffer
  let linearAttention: LinearAttentionConfig
  let counts: (conv: Int, linear: Int, sliding: Int)
  /// Per projected MLP matrix (layer order, fc1, fc2), when loaded with `monarchBlocks`.
  let monarchReports: [MonarchProjectionReport]

  var convChannels: Int { b.convExpand * config.hiddenSize / 2 }
  var linearWidth: Int { 2 * b.linearHeads * b.featureDim + b.linearHeads * b.linearHeadDim }
  var slidingWidth: Int { (b.slidingHeads + 2 * b.slidingKVHeads) * b.slidingHeadDim }

  init(
    config: ModelConfig, checkpoint ck: Checkpoint, context: Context?, monarchBlocks: Int? = nil, int8Head: Bool = false,
    progress: ((Int, Int) -> Void)?
  ) throws(SubQError) {
    self.config = config
    let b = config.based!
    self.b = b
    let d = config.hiddenSize, inner = b.innerSize
    let di = b.convExpand * d / 2
    let lh = b.linearHeads, f = b.featureDim, dv = b.linearHeadDim
    let sh = b.slidingHeads, skv = b.slidingKVHeads, sd = b.slidingHeadDim
    // A tensor the config says is absent but the checkpoint holds would be silently ignored.
    func absent(_ name: String, _ why: String) throws(SubQError) {
      if ck.has(name) { throw .invalidArgument("\(ck.directory): tensor '\(name)' is present but \(why)") }
    }
    try absent("transformer.embeddings.position_embeddings.weight", "BASED has no learned positions (n_positions 0)")
    // Tied checkpoints hold the shared table under either name (safetensors keeps one of the two;
    // candle's BASED reads lm_head.weight).
    let wordEmbeddings = "transformer.embeddings.word_embeddings.weight"
    let table = config.tieWordEmbeddings && !ck.has(wordEmbeddings) && ck.has("lm_head.weight") ? "lm_head.weight" : wordEmbeddings
    embed = try EmbeddingAndHead(
      ck, embeddingName: table, vocab: config.vocabSize, hidden: d, tied: config.tieWordEmbeddings, int8Head: int8Head,
      context: context)
    for i in 0..<config.numLayers {
      let p = "transformer.layers.\(i)."
      if !b.mlpFc1Bias { try absent(p + "mlp.fc1.bias", "mlp_fc1_bias is false") }
      if !b.mlpFc2Bias { try absent(p + "mlp.fc2.bias", "mlp_fc2_bias is false") }
    }
    // Monarch MLPs: every fc1/fc2 projected up front, in parallel (the slow part).
    var monarch: [MonarchLinear] = []
    if let blocks = monarchBlocks {
      let jobs = (0..<config.numLayers).flatMap { i in
        let p = "transformer.layers.\(i).mlp."
        return [
          (tensor: p + "fc1", out: 2 * inner, in: d, bias: b.mlpFc1Bias, layer: i, name: "mlp.fc1"),
          (tensor: p + "fc2", out: d, in: inner, bias: b.mlpFc2Bias, layer: i, name: "mlp.fc2"),
        ]
      }
      monarch = try MonarchLinear.projectAll(ck, jobs: jobs, blocks: blocks, context: context, progress: progress)
    }
    monarchReports = monarch.map(\.report)
    var layers: [Layer] = []
    var nConv = 0, nLinear = 0, nSliding = 0
    for i in 0..<config.numLayers {
      let p = "transformer.layers.\(i)."
      let mixer: Mixer
      switch b.mixers[i] {
      case .baseConv:
        if !b.convProjBias {
          try absent(p + "mixer.in_proj.bias", "mixer.use_bias is false")
          try absent(p + "mixer.out_proj.bias", "mixer.use_bias is false")
        }
        // ShortConvolution has a conv bias only when trained with use_cuda (causal_conv1d)
        let convBias = ck.has(p + "mixer.conv.conv.bias") ? try ck.floats(p + "mixer.conv.conv.bias", [di]) : nil
        mixer = .conv(
          inProj: try Linear(ck, p + "mixer.in_proj", out: 2 * di, in: d, bias: b.convProjBias, context: context),
          weight: try ck.floats(p + "mixer.conv.conv.weight", [di, 1, b.convKernel]), bias: convBias,
          outProj: try Linear(ck, p + "mixer.out_proj", out: d, in: di, bias: b.convProjBias, context: context), slot: nConv)
        nConv += 1
      case .linearAttention:
        for n in ["proj_q", "proj_k", "proj_v", "out_proj"] {
          try absent(p + "mixer.\(n).bias", "LinearAttention's projections have no bias")
        }
        try absent(p + "mixer.g_norm.weight", "it belongs to the ThunderKittens flavour (no denominator), which is not supported")
        mixer = .linear(
          qkv: try Linear(
            ck, parts: [(p + "mixer.proj_q", lh * f), (p + "mixer.proj_k", lh * f), (p + "mixer.proj_v", lh * dv)], in: d,
            bias: false, context: context),
          outProj: try Linear(ck, p + "mixer.out_proj", out: d, in: lh * dv, bias: false, context: context), slot: nLinear)
        nLinear += 1
      case .slidingAttention:
        if !b.qkvBias { try absent(p + "mixer.Wqkv.bias", "qkv_proj_bias is false") }
        if !b.outBias { try absent(p + "mixer.out_proj.bias", "out_proj_bias is false") }
        mixer = .sliding(
          qkv: try Linear(ck, p + "mixer.Wqkv", out: (sh + 2 * skv) * sd, in: d, bias: b.qkvBias, context: context),
          outProj: try Linear(ck, p + "mixer.out_proj", out: d, in: sh * sd, bias: b.outBias, context: context), slot: nSliding)
        nSliding += 1
      }
      let fc1: any LinearMap, fc2: any LinearMap
      if monarch.isEmpty {
        fc1 = try Linear(ck, p + "mlp.fc1", out: 2 * inner, in: d, bias: b.mlpFc1Bias, context: context)
        fc2 = try Linear(ck, p + "mlp.fc2", out: d, in: inner, bias: b.mlpFc2Bias, context: context)
      } else {
        fc1 = monarch[2 * i]
        fc2 = monarch[2 * i + 1]
      }
      layers.append(
        Layer(
          norm1: try ck.floats(p + "norm1.weight", [d]), mixer: mixer, norm2: try ck.floats(p + "norm2.weight", [d]),
          fc1: fc1, fc2: fc2))
      if monarch.isEmpty { progress?(i + 1, config.numLayers) }
    }
    self.layers = layers
    counts = (nConv, nLinear, nSliding)
    finalNorm = try ck.floats("transformer.ln_f.weight", [d])
    linearAttention = LinearAttentionConfig(
      heads: lh, dimQK: f, dimV: dv, featureMap: .taylor, normalization: .denominator, eps: Float(b.linearEps))
  }

  /// Conv states of the BaseConv layers, S + s of the linear-attention layers, ring KV caches and
  /// the RoPE table of the sliding-window layers; each indexed by the layer's slot.
  final class State {
    let conv: RecurrentState
    let linear: [FloatBuffer]
    let attention: TransformerBody.State?
    init(conv: RecurrentState, linear: [FloatBuffer], attention: TransformerBody.State?) {
      self.conv = conv
      self.linear = linear
      self.attention = attention
    }
  }

  func makeState(capacity: Int, maxChunk: Int, kvStorage: KVStorage) throws(SubQError) -> AnyObject {
    let conv = RecurrentState(layers: counts.conv, convFloats: (b.convKernel - 1) * convChannels, ssmFloats: 0)
    let floats = linearAttention.stateCount
    let linear = (0..<counts.linear).map { _ in FloatBuffer(count: floats) }
    let attention = counts.sliding == 0 ? nil : try TransformerBody.makeAttentionState(
      config: config, capacity: capacity, maxChunk: maxChunk, kvStorage: kvStorage, attention: b.slidingAttention,
      layers: counts.sliding)
    return State(conv: conv, linear: linear, attention: attention)
  }

  func forward(
    _ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, wantLogits: Bool, context: Context?
  ) throws(SubQError) -> [Float] {
    let st = state as! State
    let n = tokens.count, h = config.hiddenSize, inner = b.innerSize, di = convChannels
    let lh = b.linearHeads, f = b.featureDim, dv = b.linearHeadDim, lw = linearWidth, sw = slidingWidth
    let sd = b.slidingHeads * b.slidingHeadDim
    let eps = Float(config.normEps)
    let x = FloatBuffer(count: n * h), hn = FloatBuffer(count: n * h)
    let proj = FloatBuffer(count: n * max(2 * di, lw, sw)), mid = FloatBuffer(count: n * max(di, lh * dv, sd))
    let gu = FloatBuffer(count: n * 2 * inner)
    let positions = (start..<(start + n)).map(Int64.init)
    try embed.gather(tokens, into: x.base, context: context)
    for L in layers {
      try Ops.rmsnorm(x.base, xStride: h, rows: n, n: h, weight: L.norm1.base, eps: eps, into: hn.base, yStride: h, context: context)
      switch L.mixer {
      case .conv(let inProj, let weight, let bias, let outProj, let slot):
        try inProj.apply(hn.base, xStride: h, rows: n, into: proj.base, outStride: 2 * di, context: context)
        try st.conv.conv1d(
          layer: slot, tokens: n, channels: di, width: b.convKernel, x: proj.base, xStride: 2 * di, weight: weight, bias: bias,
          silu: false, into: mid.base, context: context)
        // silu(conv) ⊙ u2, in place over the conv output
        try SubQError.check(
          subq_swiglu(context?.raw, Int64(n), Int64(di), mid.base, Int64(di), proj.base + di, Int64(2 * di), mid.base, Int64(di)))
        try outProj.apply(mid.base, xStride: di, rows: n, into: x.base, outStride: h, accumulate: true, context: context)
      case .linear(let qkv, let outProj, let slot):
        try qkv.apply(hn.base, xStride: h, rows: n, into: proj.base, outStride: lw, context: context)
        var a = linearAttention.cArgs(batch: 1, seqlen: n)
        a.q = UnsafePointer(proj.base); a.q_bs = Int64(n * lw); a.q_ss = Int64(lw); a.q_hs = Int64(f)
        a.k = UnsafePointer(proj.base + lh * f); a.k_bs = Int64(n * lw); a.k_ss = Int64(lw); a.k_hs = Int64(f)
        a.v = UnsafePointer(proj.base + 2 * lh * f); a.v_bs = Int64(n * lw); a.v_ss = Int64(lw); a.v_hs = Int64(dv)
        a.state_in = UnsafePointer(st.linear[slot].base)
        a.state_out = st.linear[slot].base
        a.out = mid.base; a.o_bs = Int64(n * lh * dv); a.o_ss = Int64(lh * dv); a.o_hs = Int64(dv)
        try SubQError.check(n == 1 ? subq_linattn_decode_f32(context?.raw, &a) : subq_linattn_prefill_f32(context?.raw, &a))
        try outProj.apply(mid.base, xStride: lh * dv, rows: n, into: x.base, outStride: h, accumulate: true, context: context)
      case .sliding(let qkv, let outProj, let slot):
        try qkv.apply(hn.base, xStride: h, rows: n, into: proj.base, outStride: sw, context: context)
        try TransformerBody.attend(
          t: b.slidingAttention, qkv: proj.base, tokens: n, positions: positions, layer: slot, state: st.attention!,
          into: mid.base, context: context)
        try outProj.apply(mid.base, xStride: sd, rows: n, into: x.base, outStride: h, accumulate: true, context: context)
      }
      try Ops.rmsnorm(x.base, xStride: h, rows: n, n: h, weight: L.norm2.base, eps: eps, into: hn.base, yStride: h, context: context)
      try L.fc1.apply(hn.base, xStride: h, rows: n, into: gu.base, outStride: 2 * inner, accumulate: false, context: context)
      // a ⊙ silu(g): the gate is fc1's SECOND half (flash-attn swiglu(gate, y) order)
      try Ops.swiglu(
        gate: gu.base + inner, up: gu.base, stride: 2 * inner, rows: n, n: inner, into: gu.base, outStride: 2 * inner,
        context: context)
      try L.fc2.apply(gu.base, xStride: 2 * inner, rows: n, into: x.base, outStride: h, accumulate: true, context: context)
    }
    guard wantLogits else { return [] }
    return try embed.finish(x.base, rows: n, norm: finalNorm, eps: eps, scratch: hn.base, allLogits: allLogits, context: context)
  }
}
