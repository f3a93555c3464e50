internal import CSubQ
import Foundation

/// The MatMul-free LM (matmulfreellm `HGRNBitForCausalLM`, model_type "hgrn_bit", ternary spec §7):
/// per layer an HGRN token mixer (i, f, g BitLinear projections, the gated linear recurrence
/// s = f·s + silu(i)·(1 − f) with per-layer forget-gate lower bounds, RMSNorm(g)·silu(s), o_proj)
/// and a GLU channel mixer (gate_proj [2I, d] whose first half is the gate, down_proj), each behind
/// a pre-norm and a residual add; the final norm and a ternary lm_head. No positions, no KV cache:
/// the decode state is one D-float vector per layer.
///
/// Every projection, lm_head included, is a BitLinear with its own RMSNorm weight (`P.norm.weight`)
/// in front of the int8 quantizer, eps 1e-6 and ties rounded away from zero, as the released fused
/// Triton kernel does (spec §6 "Model bindings"); its float masters are ternarized at load with
/// absmean per tensor (§1.1). The outer norms (attn_norm, mlp_norm, g_norm, model.norm) use
/// rms_norm_eps.
struct HGRNBitBody: ModelBody, @unchecked Sendable {
  /// A BitLinear with its own inner RMSNorm weight.
  struct Projection {
    let linear: TernaryLinear
    let norm: FloatBuffer

    init(_ ck: Checkpoint, _ name: String, out: Int, in inF: Int, context: Context?) throws(SubQError) {
      norm = try ck.floats(name + ".norm.weight", [inF])
      linear = try TernaryLinear(ck, masters: [(name, out)], in: inF, context: context)
    }

    init(linear: TernaryLinear, norm: FloatBuffer) {
      self.linear = linear
      self.norm = norm
    }

    func apply(
      _ x: UnsafePointer<Float>, xStride: Int, rows: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
      residual: Bool = false, context: Context?
    ) throws(SubQError) {
      try linear.apply(
        x, xStride: xStride, rows: rows, norm: norm, eps: HGRNBitBody.bitLinearEps, into: out, outStride: outStride,
        residual: residual, rounding: .halfAway, context: context)
    }
  }

  struct Layer {
    let attnNorm: FloatBuffer
    /// [i | f | g] as one call when the three inner norm weights are identical, else three.
    let ifg: [Projection]
    let gNorm: FloatBuffer
    let o: Projection
    let mlpNorm: FloatBuffer
    let gate: Projection  // rows [gate (I) | up (I)]
    let down: Projection
    /// lb for layers > 0 with use_lower_bound, else nil.
    let lowerBound: FloatBuffer?
  }

  /// The fused BitLinear's default eps, which matmulfreellm's BitLinear modules use (their
  /// RMSNorm(eps=1e-8) is never passed to the kernel; spec §11.9).
  static let bitLinearEps: Float = 1e-6

  let config: ModelConfig
  let h: ModelConfig.HGRNBit
  let checkpoint: Checkpoint  // keeps the mapping that `embedding` points into alive
  let embedding: Checkpoint.Tensor
  let layers: [Layer]
  let finalNorm: FloatBuffer
  let head: Projection

  /// `fuseIFG: false` keeps i, f, g as three calls even when their norms agree (tests).
  init(
    config: ModelConfig, checkpoint ck: Checkpoint, context: Context?, progress: ((Int, Int) -> Void)?, fuseIFG: Bool = true
  ) throws(SubQError) {
    self.config = config
    let h = config.hgrnBit!
    self.h = h
    let d = config.hiddenSize, e = h.mixerWidth, inter = h.intermediateSize, nl = config.numLayers
    checkpoint = ck
    embedding = try ck.tensor("model.embeddings.weight", [config.vocabSize, d])
    // lb = softmax over the layer axis, cumsum, minus lb[0] (so lb_0 = 0), in f64 once
    var bounds: [FloatBuffer?] = Array(repeating: nil, count: nl)
    if h.useLowerBound {
      let p = try ck.floats("model.lower_bounds", [nl, d])
      for l in 1..<nl { bounds[l] = FloatBuffer(count: d) }
      for c in 0..<d {
        var m = -Double.infinity
        for l in 0..<nl { m = max(m, Double(p[l * d + c])) }
        var ex = [Double](repeating: 0, count: nl)
        var sum = 0.0
        for l in 0..<nl {
          ex[l] = exp(Double(p[l * d + c]) - m)
          sum += ex[l]
        }
        var cum = 0.0
        for l in 0..<nl {
          cum += ex[l] / sum
          if l > 0 { bounds[l]![c] = Float(cum - ex[0] / sum) }
        }
      }
    }
    var layers: [Layer] = []
    for l in 0..<nl {
      let p = "model.layers.\(l)."
      let names = ["attn.i_proj", "attn.f_proj", "attn.g_proj"].map { p + $0 }
      let norms = try names.map { (n) throws(SubQError) in try ck.floats(n + ".norm.weight", [d]) }
      let ifg: [Projection]
      if fuseIFG, norms.dropFirst().allSatisfy({ memcmp($0.base, norms[0].base, d * 4) == 0 }) {
        let fused = try TernaryLinear(ck, masters: names.map { ($0, e) }, in: d, context: context)
        ifg = [Projection(linear: fused, norm: norms[0])]
      } else {
        ifg = try zip(names, norms).map { (n, w) throws(SubQError) in
          Projection(linear: try TernaryLinear(ck, masters: [(n, e)], in: d, context: context), norm: w)
        }
      }
      layers.append(
        Layer(
          attnNorm: try ck.floats(p + "attn_norm.weight", [d]), ifg: ifg,
          gNorm: try ck.floats(p + "attn.g_norm.weight", [e]),
          o: try Projection(ck, p + "attn.o_proj", out: d, in: e, context: context),
          mlpNorm: try ck.floats(p + "mlp_norm.weight", [d]),
          gate: try Projection(ck, p + "mlp.gate_proj", out: 2 * inter, in: d, context: context),
          down: try Projection(ck, p + "mlp.down_proj", out: d, in: inter, context: context),
          lowerBound: bounds[l]))
      progress?(l + 1, nl)
    }
    self.layers = layers
    finalNorm = try ck.floats("model.norm.weight", [d])
    head = try Projection(ck, "lm_head", out: config.vocabSize, in: d, context: context)
  }

  func makeState(capacity: Int, maxChunk: Int, kvStorage: KVStorage) throws(SubQError) -> AnyObject {
    RecurrentState(layers: config.numLayers, convFloats: 0, ssmFloats: h.mixerWidth)
  }

  func forward(
    _ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, wantLogits: Bool, context: Context?
  ) throws(SubQError) -> [Float] {
    let st = state as! RecurrentState
    let t = tokens.count, d = config.hiddenSize, e = h.mixerWidth, inter = h.intermediateSize
    let eps = Float(config.normEps)
    let x = FloatBuffer(count: t * d), xn = FloatBuffer(count: t * d)
    let ifg = FloatBuffer(count: t * 3 * e), o = FloatBuffer(count: t * e)
    let z = FloatBuffer(count: t * 2 * inter), m = FloatBuffer(count: t * inter)
    try EmbeddingAndHead.gather(table: embedding, vocab: config.vocabSize, hidden: d, tokens, into: x.base, context: context)
    for (li, L) in layers.enumerated() {
      try Ops.rmsnorm(x.base, xStride: d, rows: t, n: d, weight: L.attnNorm.base, eps: eps, into: xn.base, yStride: d, context: context)
      var col = 0
      for p in L.ifg {
        try p.apply(xn.base, xStride: d, rows: t, into: ifg.base + col, outStride: 3 * e, context: context)
        col += p.linear.outFeatures
      }
      var a = subq_hgrn_args()
      subq_hgrn_args_default(&a, MemoryLayout<subq_hgrn_args>.size)
      a.tokens = Int64(t)
      a.channels = Int64(e)
      a.i = UnsafePointer(ifg.base); a.i_ld = Int64(3 * e)
      a.f = UnsafePointer(ifg.base + e); a.f_ld = Int64(3 * e)
      a.gate = UnsafePointer(ifg.base + 2 * e); a.gate_ld = Int64(3 * e)
      a.gate_norm_weight = UnsafePointer(L.gNorm.base)
      a.eps = eps
      a.lower_bound = L.lowerBound.map { UnsafePointer($0.base) }
      a.state_in = UnsafePointer(st.ssm[li].base)
      a.state_out = st.ssm[li].base
      a.out = o.base; a.out_ld = Int64(e)
      try SubQError.check(withExtendedLifetime(context) { subq_hgrn_f32(context?.raw, &a) })
      try L.o.apply(o.base, xStride: e, rows: t, into: x.base, outStride: d, residual: true, context: context)
      try Ops.rmsnorm(x.base, xStride: d, rows: t, n: d, weight: L.mlpNorm.base, eps: eps, into: xn.base, yStride: d, context: context)
      try L.gate.apply(xn.base, xStride: d, rows: t, into: z.base, outStride: 2 * inter, context: context)
      try Ops.swiglu(gate: z.base, up: z.base + inter, stride: 2 * inter, rows: t, n: inter, into: m.base, outStride: inter, context: context)
      try L.down.apply(m.base, xStride: inter, rows: t, into: x.base, outStride: d, residual: true, context: context)
    }
    guard wantLogits else { return [] }
    let first = allLogits ? 0 : t - 1, rows = t - first
    try Ops.rmsnorm(
      x.base + first * d, xStride: d, rows: rows, n: d, weight: finalNorm.base, eps: eps, into: xn.base, yStride: d, context: context)
    var out = [Float](repeating: 0, count: rows * config.vocabSize)
    try out.withUnsafeMutableBufferPointer { (p) throws(SubQError) in
      try head.apply(xn.base, xStride: d, rows: rows, into: p.baseAddress!, outStride: config.vocabSize, context: context)
    }
    return out
  }
}
