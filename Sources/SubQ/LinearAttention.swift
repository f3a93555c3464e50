internal import CSubQ

// Linear attention over Include/subq/subq_linattn.h: BASED's Taylor feature map (compact 153-term
// form), identity and elu+1 maps, the normalising denominator or a per-head RMSNorm, scalar and
// per-key-dimension gates in log space; chunked causal prefill with the state updated in place,
// the single-token decode step and the non-causal form, f32. Tensors are dense `[batch][token]
// [head][dim]`.

/// The feature map `phi` of linear attention (`kappa(q, k) = phi(q)·phi(k)`).
public enum LinearAttentionFeatureMap: Sendable, Hashable {
  /// `phi_q(x) = scale·x`, `phi_k(x) = x` (fla `linear_attn`); D = dimQK.
  case identity
  /// `phi(x) = elu(x) + 1` (Katharopoulos et al.); D = dimQK; `scale` is not used.
  case elu1
  /// BASED's second-order Taylor map, `kappa = 1 + s + s²/2` with `s = scale·q·k`, in the compact
  /// form `[1, x̃, x̃ᵢ²/√2, x̃ᵢx̃ⱼ (i<j)]`, `x̃ = √scale·x`; D = 1 + d + d(d+1)/2 (153 for d = 16).
  case taylor

  var cValue: Int32 {
    switch self {
    case .identity: Int32(SUBQ_LINATTN_FMAP_IDENTITY)
    case .elu1: Int32(SUBQ_LINATTN_FMAP_ELU1)
    case .taylor: Int32(SUBQ_LINATTN_FMAP_TAYLOR2)
    }
  }
}

/// How the output is formed from the numerator `y` and denominator `z`.
public enum LinearAttentionNormalization: Sendable, Hashable {
  /// `out = y` (no denominator state is kept).
  case none
  /// `out = y / (z + eps)` (BASED checkpoints).
  case denominator
  /// `out = rmsnorm(y)·normWeight` per head over dimV (ThunderKittens-trained BASED).
  case rmsNorm

  var cValue: Int32 {
    switch self {
    case .none: Int32(SUBQ_LINATTN_NORM_NONE)
    case .denominator: Int32(SUBQ_LINATTN_NORM_DENOM)
    case .rmsNorm: Int32(SUBQ_LINATTN_NORM_RMSNORM)
    }
  }
}

/// Decay gates, given as natural logs `g ≤ 0` (`a = exp(g)`).
public enum LinearAttentionGate: Sendable, Hashable {
  case none
  /// One gate per token and head, `[batch][token][head]` (simple GLA; a constant per head is RetNet).
  case scalar
  /// One gate per token, head and key dimension, `[batch][token][head][dimQK]` (GLA); identity and
  /// elu+1 maps only.
  case perKey

  var cValue: Int32 {
    switch self {
    case .none: Int32(SUBQ_LINATTN_GATE_NONE)
    case .scalar: Int32(SUBQ_LINATTN_GATE_SCALAR)
    case .perKey: Int32(SUBQ_LINATTN_GATE_PER_KEY)
    }
  }
}

/// The shape and flavour of a linear-attention layer.
public struct LinearAttentionConfig: Sendable, Hashable {
  public var heads: Int
  public var dimQK: Int
  public var dimV: Int
  public var featureMap: LinearAttentionFeatureMap
  public var normalization: LinearAttentionNormalization
  public var gate: LinearAttentionGate
  /// `false`: every token of a prefill sees every token of the call (no gates).
  public var causal: Bool
  /// 0 = dimQK^-1/2.
  public var scale: Float
  public var eps: Float
  public var normEps: Float
  /// Chunk length of the prefill, 0 = 64.
  public var chunk: Int

  public init(
    heads: Int, dimQK: Int, dimV: Int, featureMap: LinearAttentionFeatureMap = .taylor,
    normalization: LinearAttentionNormalization = .denominator, gate: LinearAttentionGate = .none,
    causal: Bool = true, scale: Float = 0, eps: Float = 1e-6, normEps: Float = 1e-5, chunk: Int = 0
  ) {
    self.heads = heads
    self.dimQK = dimQK
    self.dimV = dimV
    self.featureMap = featureMap
    self.normalization = normalization
    self.gate = gate
    self.causal = causal
    self.scale = scale
    self.eps = eps
    self.normEps = normEps
    self.chunk = chunk
  }

  /// D of the feature map (0 when dimQK is out of its range).
  public var featureDim: Int { Int(subq_linattn_feature_dim(featureMap.cValue, Int64(dimQK))) }

  /// Floats of one sequence's state: `heads·D·dimV` (S, `[head][D][dimV]`), plus `heads·D` (s) with
  /// ``LinearAttentionNormalization/denominator``; 0 for invalid fields.
  public var stateCount: Int {
    var a = cArgs(batch: 0, seqlen: 0)
    return Int(subq_linattn_state_floats(&a))
  }

  func cArgs(batch: Int, seqlen: Int) -> subq_linattn_args {
    var a = subq_linattn_args()
    subq_linattn_args_default(&a, MemoryLayout<subq_linattn_args>.size)
    a.batch = Int64(batch)
    a.seqlen = Int64(seqlen)
    a.n_heads = Int64(heads)
    a.dim_qk = Int64(dimQK)
    a.dim_v = Int64(dimV)
    a.feature_map = featureMap.cValue
    a.normalize = normalization.cValue
    a.gate = gate.cValue
    a.causal = causal ? 1 : 0
    a.scale = scale
    a.eps = eps
    a.norm_eps = normEps
    a.chunk = Int64(chunk)
    return a
  }
}

/// Prefill over `seqlen` tokens of `batch` sequences (`subq_linattn_prefill_f32`), continuing from
/// and updating `state` in place (zeros for new sequences), so prefill(A) then prefill(B) equals
/// prefill(A + B) within f32 rounding.
///
/// - `q`, `k`: `[batch][seqlen][heads][dimQK]`; `v`, `out`: `[batch][seqlen][heads][dimV]`;
///   `logGate`: `[batch][seqlen][heads]` (``LinearAttentionGate/scalar``) or `[...][dimQK]`
///   (``LinearAttentionGate/perKey``), every value ≤ 0; `normWeight`: `[dimV]` (RMSNorm only).
/// - `state`: `batch` × ``LinearAttentionConfig/stateCount`` floats.
/// - Results are bitwise identical for any thread count.
///
/// Thread-safety: reentrant; concurrent calls must not share `out` or `state`.
/// - Throws: ``SubQError/Code/invalidArgument`` before any C call for negative sizes or short
///   buffers; from the library for unsupported combinations (per-key gates with the Taylor map,
///   gates without `causal`), log gates > 0, out-of-range dimensions or chunk.
public func linearAttentionPrefill(
  _ config: LinearAttentionConfig, batch: Int, seqlen: Int,
  q: Span<Float>, k: Span<Float>, v: Span<Float>, logGate: Span<Float>? = nil, normWeight: Span<Float>? = nil,
  state: inout MutableSpan<Float>, out: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  try linattnCall(
    "linearAttentionPrefill", config, decode: false, batch: batch, seqlen: seqlen, q: q, k: k, v: v,
    logGate: logGate, normWeight: normWeight, state: &state, out: &out, context: context)
}

/// Single-token decode step (`subq_linattn_decode_f32`): `S = a·S + phi(k)vᵀ`, `s = a·s + phi(k)`,
/// the output read from the updated state. `q`, `k`: `[batch][heads][dimQK]`, `v`, `out`:
/// `[batch][heads][dimV]`, `logGate` `[batch][heads]` or `[batch][heads][dimQK]`. The cost does not
/// depend on the position. Errors as ``linearAttentionPrefill(_:batch:seqlen:q:k:v:logGate:normWeight:state:out:context:)``
/// plus `causal == false`.
public func linearAttentionDecode(
  _ config: LinearAttentionConfig, batch: Int,
  q: Span<Float>, k: Span<Float>, v: Span<Float>, logGate: Span<Float>? = nil, normWeight: Span<Float>? = nil,
  state: inout MutableSpan<Float>, out: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  try linattnCall(
    "linearAttentionDecode", config, decode: true, batch: batch, seqlen: 1, q: q, k: k, v: v,
    logGate: logGate, normWeight: normWeight, state: &state, out: &out, context: context)
}

/// The feature map of `rows` vectors of `dimQK` floats (`subq_linattn_feature_map_f32`) into `out`
/// (`rows × D`); `isQuery` selects the query side (the identity map multiplies it by `scale`).
public func linearAttentionFeatureMap(
  _ map: LinearAttentionFeatureMap, dimQK: Int, scale: Float = 0, isQuery: Bool, rows: Int,
  x: Span<Float>, out: inout MutableSpan<Float>
) throws(SubQError) {
  let fn = "linearAttentionFeatureMap"
  if rows < 0 || dimQK < 1 { throw .invalidArgument("\(fn): rows (\(rows)) must be >= 0 and dimQK (\(dimQK)) >= 1") }
  let d = Int(subq_linattn_feature_dim(map.cValue, Int64(dimQK)))
  if d == 0 { throw .invalidArgument("\(fn): dimQK (\(dimQK)) is out of range for \(map)") }
  if rows == 0 { return }
  try laNeed(fn, "x", x.count, rows, dimQK)
  try laNeed(fn, "out", out.count, rows, d)
  try x.withUnsafeBufferPointer { (xp) throws(SubQError) in
    try out.withUnsafeMutableBufferPointer { (op) throws(SubQError) in
      try SubQError.check(
        subq_linattn_feature_map_f32(
          map.cValue, Int64(dimQK), scale, isQuery, Int64(rows), xp.baseAddress!, Int64(dimQK), op.baseAddress!,
          Int64(d)))
    }
  }
}

private func laNeed(_ fn: String, _ name: String, _ have: Int, _ a: Int, _ b: Int) throws(SubQError) {
  let (p, o) = a.multipliedReportingOverflow(by: b)
  if o { throw .invalidArgument("\(fn): the size of \(name) overflows Int") }
  if have < p { throw .invalidArgument("\(fn): \(name) holds \(have) elements, needs \(p)") }
}

private func laWithOptional(
  _ s: Span<Float>?, _ body: (UnsafeBufferPointer<Float>?) throws(SubQError) -> Void
) throws(SubQError) {
  if let s {
    try s.withUnsafeBufferPointer { (p) throws(SubQError) in try body(p) }
  } else {
    try body(nil)
  }
}

private func linattnCall(
  _ fn: String, _ cfg: LinearAttentionConfig, decode: Bool, batch: Int, seqlen: Int,
  q: Span<Float>, k: Span<Float>, v: Span<Float>, logGate: Span<Float>?, normWeight: Span<Float>?,
  state: inout MutableSpan<Float>, out: inout MutableSpan<Float>, context: Context?
) throws(SubQError) {
  if batch < 0 || seqlen < 0 || cfg.heads < 0 || cfg.dimQK < 0 || cfg.dimV < 0 {
    throw .invalidArgument(
      "\(fn): batch (\(batch)), seqlen (\(seqlen)), heads (\(cfg.heads)), dimQK (\(cfg.dimQK)) and dimV (\(cfg.dimV)) must be >= 0")
  }
  if batch > 0 && seqlen > 0 && cfg.heads > 0 && cfg.dimQK > 0 && cfg.dimV > 0 {
    let (bth, o) = (batch * seqlen).multipliedReportingOverflow(by: cfg.heads)
    if o || batch.multipliedReportingOverflow(by: seqlen).overflow { throw .invalidArgument("\(fn): a size overflows Int") }
    try laNeed(fn, "q", q.count, bth, cfg.dimQK)
    try laNeed(fn, "k", k.count, bth, cfg.dimQK)
    try laNeed(fn, "v", v.count, bth, cfg.dimV)
    try laNeed(fn, "out", out.count, bth, cfg.dimV)
    if let logGate { try laNeed(fn, "logGate", logGate.count, bth, cfg.gate == .perKey ? cfg.dimQK : 1) }
    if let normWeight { try laNeed(fn, "normWeight", normWeight.count, cfg.dimV, 1) }
    let sc = cfg.stateCount
    if sc > 0 { try laNeed(fn, "state", state.count, batch, sc) }
  }
  try q.withUnsafeBufferPointer { (qp) throws(SubQError) in
  try k.withUnsafeBufferPointer { (kp) throws(SubQError) in
  try v.withUnsafeBufferPointer { (vp) throws(SubQError) in
  try laWithOptional(logGate) { (gp) throws(SubQError) in
  try laWithOptional(normWeight) { (wp) throws(SubQError) in
  try state.withUnsafeMutableBufferPointer { (sp) throws(SubQError) in
  try out.withUnsafeMutableBufferPointer { (op) throws(SubQError) in
    var a = cfg.cArgs(batch: batch, seqlen: seqlen)
    a.q = qp.baseAddress
    a.k = kp.baseAddress
    a.v = vp.baseAddress
    a.log_gate = gp?.baseAddress
    a.norm_weight = wp?.baseAddress
    a.state_in = UnsafePointer(sp.baseAddress)
    a.state_out = sp.baseAddress
    a.out = op.baseAddress
    subq_linattn_args_dense(&a)
    let status = withExtendedLifetime(context) {
      decode ? subq_linattn_decode_f32(context.cPointer, &a) : subq_linattn_prefill_f32(context.cPointer, &a)
    }
    try SubQError.check(status)
  }}}}}}}
}
