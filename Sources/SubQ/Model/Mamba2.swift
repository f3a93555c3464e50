internal import CSubQ
import Foundation

/// HF `mamba2` (Mamba2ForCausalLM, mamba spec §11.2): each layer
/// h += out_proj(gatedRMSNorm(SSD(conv(xBC)), z)) with in_proj rows [z | x | B | C | dt].
struct Mamba2Body: ModelBody, @unchecked Sendable {
  struct Layer {
    let norm: FloatBuffer
    let inProj: Linear
    let convWeight: FloatBuffer  // (E + 2GN, W)
    let convBias: FloatBuffer?
    let dtBias: FloatBuffer
    let a: FloatBuffer  // A = -exp(A_log) per head, f32
    let d: FloatBuffer
    let mixerNorm: FloatBuffer  // (E), grouped gated RMSNorm
    let outProj: Linear
  }

  let config: ModelConfig
  let m: ModelConfig.Mamba2
  let embed: EmbeddingAndHead
  var headError: Double? { embed.int8HeadError }
  let layers: [Layer]
  let finalNorm: FloatBuffer

  var inner: Int { m.numHeads * m.headDim }
  var convChannels: Int { inner + 2 * m.nGroups * m.stateSize }
  var projWidth: Int { 2 * inner + 2 * m.nGroups * m.stateSize + m.numHeads }

  init(
    config: ModelConfig, checkpoint ck: Checkpoint, context: Context?, int8Head: Bool = false,
    progress: ((Int, Int) -> Void)?
  ) throws(SubQError) {
    self.config = config
    let m = config.mamba2!
    self.m = m
    let h = config.hiddenSize, e = m.numHeads * m.headDim, heads = m.numHeads
    let convC = e + 2 * m.nGroups * m.stateSize
    embed = try EmbeddingAndHead(
      ck, embeddingName: "backbone.embeddings.weight", vocab: config.vocabSize, hidden: h, tied: config.tieWordEmbeddings,
      int8Head: int8Head, context: context)
    var layers: [Layer] = []
    for i in 0..<config.numLayers {
      let p = "backbone.layers.\(i).mixer."
      let aLog = try ck.floats(p + "A_log", [heads])
      let a = FloatBuffer(count: heads)
      for j in 0..<heads { a[j] = -expf(aLog[j]) }
      layers.append(
        Layer(
          norm: try ck.floats("backbone.layers.\(i).norm.weight", [h]),
          inProj: try Linear(ck, p + "in_proj", out: 2 * e + 2 * m.nGroups * m.stateSize + heads, in: h, bias: m.useBias, context: context),
          convWeight: try ck.floats(p + "conv1d.weight", [convC, 1, m.convKernel]),
          convBias: m.useConvBias ? try ck.floats(p + "conv1d.bias", [convC]) : nil,
          dtBias: try ck.floats(p + "dt_bias", [heads]),
          a: a,
          d: try ck.floats(p + "D", [heads]),
          mixerNorm: try ck.floats(p + "norm.weight", [e]),
          outProj: try Linear(ck, p + "out_proj", out: h, in: e, bias: m.useBias, context: context)))
      progress?(i + 1, config.numLayers)
    }
    self.layers = layers
    finalNorm = try ck.floats("backbone.norm_f.weight", [h])
  }

  func makeState(capacity: Int, maxChunk: Int, kvStorage: KVStorage) throws(SubQError) -> AnyObject {
    RecurrentState(
      layers: config.numLayers, convFloats: (m.convKernel - 1) * convChannels,
      ssmFloats: Int(subq_ssm2_state_floats(Int64(m.numHeads), Int64(m.headDim), Int64(m.stateSize))))
  }

  func forward(
    _ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, wantLogits: Bool, context: Context?
  ) throws(SubQError) -> [Float] {
    let st = state as! RecurrentState
    let t = tokens.count, h = config.hiddenSize, e = inner, gn = m.nGroups * m.stateSize, w = projWidth
    let eps = Float(config.normEps)
    let x = FloatBuffer(count: t * h), hn = FloatBuffer(count: t * h)
    let zx = FloatBuffer(count: t * w), xbc = FloatBuffer(count: t * convChannels), y = FloatBuffer(count: t * e)
    try embed.gather(tokens, into: x.base, context: context)
    for (li, L) in layers.enumerated() {
      try Ops.rmsnorm(x.base, xStride: h, rows: t, n: h, weight: L.norm.base, eps: eps, into: hn.base, yStride: h, context: context)
      try L.inProj.apply(hn.base, xStride: h, rows: t, into: zx.base, outStride: w, context: context)
      // conv1d + SiLU over [x | B | C] (columns e ..< 2e + 2GN of the projection)
      try st.conv1d(
        layer: li, tokens: t, channels: convChannels, width: m.convKernel, x: zx.base + e, xStride: w,
        weight: L.convWeight, bias: L.convBias, into: xbc.base, context: context)
      var s = subq_ssm2_args()
      subq_ssm2_args_default(&s, MemoryLayout<subq_ssm2_args>.size)
      s.batch = 1
      s.seqlen = Int64(t)
      s.n_heads = Int64(m.numHeads)
      s.head_dim = Int64(m.headDim)
      s.d_state = Int64(m.stateSize)
      s.n_groups = Int64(m.nGroups)
      s.dt_min = Float(m.timeStepLimit.0)
      s.dt_max = Float(m.timeStepLimit.1)
      s.x = UnsafePointer(xbc.base); s.x_ld = Int64(convChannels)
      s.b = UnsafePointer(xbc.base + e); s.b_ld = Int64(convChannels)
      s.c = UnsafePointer(xbc.base + e + gn); s.c_ld = Int64(convChannels)
      s.dt = UnsafePointer(zx.base + 2 * e + 2 * gn); s.dt_ld = Int64(w)
      s.a = UnsafePointer(L.a.base)
      s.dt_bias = UnsafePointer(L.dtBias.base)
      s.d_skip = UnsafePointer(L.d.base)
      s.h_in = UnsafePointer(st.ssm[li].base)
      s.h_out = st.ssm[li].base
      s.y = y.base; s.y_ld = Int64(e)
      try SubQError.check(t == 1 ? subq_ssm2_step_f32(context?.raw, &s) : subq_ssm2_scan_f32(context?.raw, &s))
      // y = rmsnorm(y * silu(z)) per group of E / G channels (HF MambaRMSNormGated)
      try Ops.rmsnorm(
        y.base, xStride: e, rows: t, n: e, weight: L.mixerNorm.base, eps: eps, into: y.base, yStride: e,
        gate: UnsafePointer(zx.base), gateStride: w, groupSize: e / m.nGroups, context: context)
      try L.outProj.apply(y.base, xStride: e, rows: t, into: x.base, outStride: h, accumulate: true, context: context)
    }
    guard wantLogits else { return [] }
    return try embed.finish(x.base, rows: t, norm: finalNorm, eps: eps, scratch: hn.base, allLogits: allLogits, context: context)
  }
}
