internal import CSubQ
import Foundation

/// HF `mamba` (MambaForCausalLM, mamba spec §11.1): residual stream in f32, each layer
/// h += out_proj(scan(conv(in_proj(rmsnorm(h))))) with the SiLU(z) gate inside the scan.
struct MambaBody: ModelBody, @unchecked Sendable {
  struct Layer {
    let norm: FloatBuffer
    let inProj: Linear
    let convWeight: FloatBuffer  // (E, W)
    let convBias: FloatBuffer?
    let xProj: Linear
    let dtProj: Linear
    let dtBias: FloatBuffer
    let a: FloatBuffer  // A = -exp(A_log) times log2(e), packed once for the scan (subq_ssm1_pack_a)
    let d: FloatBuffer
    let outProj: Linear
  }

  let config: ModelConfig
  let m: ModelConfig.Mamba
  let embed: EmbeddingAndHead
  var headError: Double? { embed.int8HeadError }
  let layers: [Layer]
  let finalNorm: FloatBuffer

  init(
    config: ModelConfig, checkpoint ck: Checkpoint, context: Context?, int8Head: Bool = false,
    progress: ((Int, Int) -> Void)?
  ) throws(SubQError) {
    self.config = config
    let m = config.mamba!
    self.m = m
    let h = config.hiddenSize, e = m.intermediateSize, n = m.stateSize, r = m.timeStepRank, w = m.convKernel
    // mamba_ssm's original checkpoints name the embeddings backbone.embedding.weight (spec §11.3).
    let embName = ck.has("backbone.embeddings.weight") || !ck.has("backbone.embedding.weight")
      ? "backbone.embeddings.weight" : "backbone.embedding.weight"
    embed = try EmbeddingAndHead(
      ck, embeddingName: embName, vocab: config.vocabSize, hidden: h, tied: config.tieWordEmbeddings, int8Head: int8Head,
      context: context)
    var layers: [Layer] = []
    for i in 0..<config.numLayers {
      let p = "backbone.layers.\(i)."
      let aLog = try ck.floats(p + "mixer.A_log", [e, n])
      let a = FloatBuffer(count: Int(subq_ssm1_state_floats(Int64(e), Int64(n))))
      try SubQError.check(subq_ssm1_pack_a(Int64(e), Int64(n), UnsafePointer(aLog.base), true, a.base))
      let conv = try ck.floats(p + "mixer.conv1d.weight", [e, 1, w])
      layers.append(
        Layer(
          norm: try ck.floats(p + "norm.weight", [h]),
          inProj: try Linear(ck, p + "mixer.in_proj", out: 2 * e, in: h, bias: m.useBias, context: context),
          convWeight: conv,
          convBias: m.useConvBias ? try ck.floats(p + "mixer.conv1d.bias", [e]) : nil,
          xProj: try Linear(ck, p + "mixer.x_proj", out: r + 2 * n, in: e, bias: false, context: context),
          dtProj: try Linear(ck, p + "mixer.dt_proj", out: e, in: r, bias: false, context: context),
          dtBias: try ck.floats(p + "mixer.dt_proj.bias", [e]),
          a: a,
          d: try ck.floats(p + "mixer.D", [e]),
          outProj: try Linear(ck, p + "mixer.out_proj", out: h, in: e, bias: m.useBias, context: context)))
      progress?(i + 1, config.numLayers)
    }
    self.layers = layers
    finalNorm = try ck.floats("backbone.norm_f.weight", [h])
  }

  func makeState(capacity: Int, maxChunk: Int, kvStorage: KVStorage) throws(SubQError) -> AnyObject {
    RecurrentState(
      layers: config.numLayers, convFloats: (m.convKernel - 1) * m.intermediateSize,
      ssmFloats: Int(subq_ssm1_state_floats(Int64(m.intermediateSize), Int64(m.stateSize))))
  }

  func forward(
    _ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, wantLogits: Bool, context: Context?
  ) throws(SubQError) -> [Float] {
    let st = state as! RecurrentState
    let t = tokens.count, h = config.hiddenSize, e = m.intermediateSize, n = m.stateSize, r = m.timeStepRank
    let dbl = r + 2 * n
    let eps = Float(config.normEps)
    let x = FloatBuffer(count: t * h), hn = FloatBuffer(count: t * h)
    let xz = FloatBuffer(count: t * 2 * e), xc = FloatBuffer(count: t * e), xd = FloatBuffer(count: t * dbl)
    let dt = FloatBuffer(count: t * e), y = FloatBuffer(count: t * e)
    try embed.gather(tokens, into: x.base, context: context)
    for (li, L) in layers.enumerated() {
      try Ops.rmsnorm(x.base, xStride: h, rows: t, n: h, weight: L.norm.base, eps: eps, into: hn.base, yStride: h, context: context)
      try L.inProj.apply(hn.base, xStride: h, rows: t, into: xz.base, outStride: 2 * e, context: context)
      try st.conv1d(
        layer: li, tokens: t, channels: e, width: m.convKernel, x: xz.base, xStride: 2 * e, weight: L.convWeight,
        bias: L.convBias, into: xc.base, context: context)
      try L.xProj.apply(xc.base, xStride: e, rows: t, into: xd.base, outStride: dbl, context: context)
      try L.dtProj.apply(xd.base, xStride: dbl, rows: t, into: dt.base, outStride: e, context: context)
      var s = subq_ssm1_args()
      subq_ssm1_args_default(&s, MemoryLayout<subq_ssm1_args>.size)
      s.batch = 1
      s.seqlen = Int64(t)
      s.channels = Int64(e)
      s.d_state = Int64(n)
      s.u = UnsafePointer(xc.base); s.u_ld = Int64(e)
      s.dt = UnsafePointer(dt.base); s.dt_ld = Int64(e)
      s.b = UnsafePointer(xd.base + r); s.b_ld = Int64(dbl)
      s.c = UnsafePointer(xd.base + r + n); s.c_ld = Int64(dbl)
      s.z = UnsafePointer(xz.base + e); s.z_ld = Int64(2 * e)
      s.a = UnsafePointer(L.a.base)
      s.flags |= UInt32(SUBQ_SSM1_A_PACKED)
      s.dt_bias = UnsafePointer(L.dtBias.base)
      s.d_skip = UnsafePointer(L.d.base)
      s.h_in = UnsafePointer(st.ssm[li].base)
      s.h_out = st.ssm[li].base
      s.y = y.base; s.y_ld = Int64(e)
      try SubQError.check(subq_ssm1_scan_f32(context?.raw, &s))
      try L.outProj.apply(y.base, xStride: e, rows: t, into: x.base, outStride: h, accumulate: true, context: context)
    }
    guard wantLogits else { return [] }
    return try embed.finish(x.base, rows: t, norm: finalNorm, eps: eps, scratch: hn.base, allLogits: allLogits, context: context)
  }
}
