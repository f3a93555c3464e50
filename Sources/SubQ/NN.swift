internal import CSubQ

// Layer ops between GEMMs, attention and scans (Include/subq/subq_nn.h): RMSNorm (with the fused
// residual add and Mamba-2's gated, grouped form), RoPE with Hugging Face's frequency schedules,
// SwiGLU, SiLU, add, the embedding gather and f16 conversions. Activations are contiguous
// row-major `[rows][cols]` Float. For a fixed ISA path every result is bitwise identical for any
// thread count; SwiGLU, SiLU, add, RoPE, the gather and conversions give the same bits on every
// path. Thread-safety: every function is reentrant; concurrent calls must not share outputs.

/// The 16-bit storage type of a weight or embedding table given as `UInt16` bit patterns.
public enum HalfType: Sendable, Hashable {
  /// bfloat16 (the upper half of an IEEE binary32).
  case bf16
  /// IEEE binary16.
  case f16

  var dtype: subq_dtype { self == .bf16 ? .bf16 : .f16 }
}

private func nnNeed(_ fn: String, _ name: String, _ have: Int, _ a: Int, _ b: Int) throws(SubQError) {
  let (p, o) = a.multipliedReportingOverflow(by: b)
  if o { throw .invalidArgument("\(fn): the size of \(name) overflows Int") }
  if have < p { throw .invalidArgument("\(fn): \(name) holds \(have) elements, needs \(p)") }
}

private func nnSizes(_ fn: String, _ rows: Int, _ cols: Int) throws(SubQError) {
  if rows < 0 || cols < 0 { throw .invalidArgument("\(fn): rows (\(rows)) and cols (\(cols)) must be >= 0") }
}

// MARK: - RMSNorm

/// RMSNorm of `rows` rows (`subq_rmsnorm`): per row and per group of `groupSize` columns
/// (0 = the whole row), `v = x · silu(gate)` (`v = x` without a gate),
/// `y = weight · (v / sqrt(mean(v²) + eps))` in f32, HF's order (normalise first, then the weight).
///
/// - `x`, `gate`, `y`: `[rows][cols]`; `weight`: `[cols]` or `nil` (no weight).
/// - Llama / Mistral / Mamba norms: no gate, `groupSize` 0. Mamba-2's gated norm: `gate = z`,
///   `groupSize = E / nGroups`.
/// - Throws: ``SubQError/Code/invalidArgument`` for negative sizes or short buffers (before the C
///   call), and from the library for a bad `eps` or a `groupSize` not dividing `cols`.
public func rmsNorm(
  rows: Int, cols: Int, x: Span<Float>, weight: Span<Float>?, eps: Float, groupSize: Int = 0,
  gate: Span<Float>? = nil, y: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  try nnSizes("rmsNorm", rows, cols)
  if let weight { try nnNeed("rmsNorm", "weight", weight.count, cols, rows > 0 ? 1 : 0) }
  try withOptionalSpan(weight) { (wp) throws(SubQError) in
    try rmsNormCall(
      "rmsNorm", rows: rows, cols: cols, x: x, weight: UnsafeRawPointer(wp?.baseAddress), weightType: .f32, eps: eps, groupSize: groupSize, gate: gate,
      y: &y, context: context)
  }
}

/// ``rmsNorm(rows:cols:x:weight:eps:groupSize:gate:y:context:)`` with a bf16 or f16 weight given as
/// `UInt16` bit patterns (widened exactly to f32).
public func rmsNorm(
  rows: Int, cols: Int, x: Span<Float>, weight: Span<UInt16>, weightType: HalfType, eps: Float, groupSize: Int = 0,
  gate: Span<Float>? = nil, y: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  try nnSizes("rmsNorm", rows, cols)
  try nnNeed("rmsNorm", "weight", weight.count, cols, rows > 0 ? 1 : 0)
  try weight.withUnsafeBufferPointer { (w) throws(SubQError) in
    try rmsNormCall(
      "rmsNorm", rows: rows, cols: cols, x: x, weight: UnsafeRawPointer(w.baseAddress), weightType: weightType.dtype,
      eps: eps, groupSize: groupSize, gate: gate, y: &y, context: context)
  }
}

/// The pre-norm block step fused (`subq_rmsnorm` with `residual` and `sum_out`): `stream += delta`
/// (the residual stream, in place), then `y = weight · rmsnorm(stream)`. This is
/// `x = x + sublayer(...); h = norm(x)` of Llama, Mistral and Mamba blocks in one pass.
/// - Throws: as ``rmsNorm(rows:cols:x:weight:eps:groupSize:gate:y:context:)``.
public func addRMSNorm(
  rows: Int, cols: Int, stream: inout MutableSpan<Float>, delta: Span<Float>, weight: Span<Float>?, eps: Float,
  y: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  let fn = "addRMSNorm"
  try nnSizes(fn, rows, cols)
  if rows == 0 || cols == 0 { return }
  try nnNeed(fn, "stream", stream.count, rows, cols)
  try nnNeed(fn, "delta", delta.count, rows, cols)
  try nnNeed(fn, "y", y.count, rows, cols)
  if let weight { try nnNeed(fn, "weight", weight.count, cols, 1) }
  try withOptionalSpan(weight) { (wp) throws(SubQError) in
    try stream.withUnsafeMutableBufferPointer { (s) throws(SubQError) in
      try delta.withUnsafeBufferPointer { (d) throws(SubQError) in
        try y.withUnsafeMutableBufferPointer { (yp) throws(SubQError) in
          var a = subq_rmsnorm_args()
          subq_rmsnorm_args_default(&a, MemoryLayout<subq_rmsnorm_args>.size)
          a.rows = Int64(rows)
          a.cols = Int64(cols)
          a.eps = eps
          a.weight = UnsafeRawPointer(wp?.baseAddress)
          a.x = UnsafePointer(s.baseAddress)
          a.sum_out = s.baseAddress
          a.residual = d.baseAddress
          a.y = yp.baseAddress
          let status = withExtendedLifetime(context) { subq_rmsnorm(context.cPointer, &a) }
          try SubQError.check(status)
        }
      }
    }
  }
}

private func rmsNormCall(
  _ fn: String, rows: Int, cols: Int, x: Span<Float>, weight: UnsafeRawPointer?, weightType: subq_dtype, eps: Float,
  groupSize: Int, gate: Span<Float>?, y: inout MutableSpan<Float>, context: Context?
) throws(SubQError) {
  if rows == 0 { return }
  try nnNeed(fn, "x", x.count, rows, cols)
  try nnNeed(fn, "y", y.count, rows, cols)
  if let gate { try nnNeed(fn, "gate", gate.count, rows, cols) }
  try x.withUnsafeBufferPointer { (xp) throws(SubQError) in
    try withOptionalSpan(gate) { (gp) throws(SubQError) in
      try y.withUnsafeMutableBufferPointer { (yp) throws(SubQError) in
        var a = subq_rmsnorm_args()
        subq_rmsnorm_args_default(&a, MemoryLayout<subq_rmsnorm_args>.size)
        a.rows = Int64(rows)
        a.cols = Int64(cols)
        a.group_size = Int64(groupSize)
        a.eps = eps
        a.weight_dtype = weightType
        a.weight = weight
        a.x = xp.baseAddress
        a.gate = gp?.baseAddress
        a.y = yp.baseAddress
        let status = withExtendedLifetime(context) { subq_rmsnorm(context.cPointer, &a) }
        try SubQError.check(status)
      }
    }
  }
}

// MARK: - RoPE

/// A RoPE frequency schedule (HF `rope_type`).
public enum RoPEScaling: Sendable, Hashable {
  /// `inv_freq[i] = 1 / theta^(2i / rotDim)`.
  case none
  /// The default frequencies divided by `factor`.
  case linear(factor: Double)
  /// Llama 3.1 wavelength-banded scaling (`rope_scaling` with `rope_type: "llama3"`).
  case llama3(factor: Double, lowFreqFactor: Double = 1, highFreqFactor: Double = 4,
              originalMaxPositionEmbeddings: Double = 8192)
  /// YaRN (`rope_type: "yarn"`): a linear ramp over the correction dims of `betaFast` /
  /// `betaSlow` from the default frequencies to default / `factor`; `truncate` rounds the range
  /// outwards to whole dims. Pass HF's `attention_factor` as `attentionScaling`
  /// (``RoPETable/yarnAttentionFactor(factor:mscale:mscaleAllDim:)`` when the config infers it).
  case yarn(factor: Double, originalMaxPositionEmbeddings: Double, betaFast: Double = 32, betaSlow: Double = 1,
            truncate: Bool = true)
  /// Dynamic NTK (`rope_type: "dynamic"`): the default frequencies of a base grown for the
  /// sequence length `seqLen` (≥ 0): with L = `originalMaxPositionEmbeddings` (HF's
  /// `max_position_embeddings`) and S = max(`seqLen`, L), the base
  /// theta · (factor · S / L − (factor − 1))^(rotDim / (rotDim − 2)), in HF's float32 steps.
  /// `seqLen` ≤ L keeps theta. A table is fixed to one `seqLen`: build a new one as S grows.
  /// Needs rotDim > 2.
  case dynamic(factor: Double, originalMaxPositionEmbeddings: Double, seqLen: Int = 0)
  /// LongRoPE (`rope_type: "longrope"`): `inv_freq[i] = 1 / (factors[i] · theta^(2i / rotDim))`,
  /// `factors` being HF's `short_factor` or `long_factor` (`rotDim / 2` entries, each finite and
  /// > 0). Choosing between them by sequence length is the caller's; pass HF's
  /// `attention_factor` as `attentionScaling`.
  case longrope(factors: [Float])
}

/// Rotary position embedding tables (`subq_rope_table`): the inverse frequencies HF computes in
/// float32 and, optionally, cos/sin rows for positions `0..<cachedPositions` (later positions are
/// computed per call with the same bits).
///
/// Thread-safety: immutable after creation; `Sendable`, usable from concurrent calls.
public final class RoPETable: @unchecked Sendable {
  let raw: OpaquePointer
  /// Rotary dimensions (`head_dim * partial_rotary_factor`).
  public let rotDim: Int

  /// - Parameters:
  ///   - rotDim: even, 2…65536.
  ///   - theta: `rope_theta` (> 0).
  ///   - attentionScaling: multiplies cos and sin (HF `attention_scaling`, 1 for Llama/Mistral).
  ///   - cachedPositions: positions tabulated now (`cachedPositions * rotDim` floats).
  /// - Throws: ``SubQError/Code/invalidArgument`` for invalid parameters (longrope factors not
  ///   `rotDim / 2` in number included); ``SubQError/Code/outOfMemory``.
  public init(
    rotDim: Int, theta: Double = 10000, scaling: RoPEScaling = .none, attentionScaling: Double = 1,
    cachedPositions: Int = 0, context: Context? = nil
  ) throws(SubQError) {
    var t: OpaquePointer?
    try Self.withParams(
      "RoPETable.init", rotDim: rotDim, theta: theta, scaling: scaling, attentionScaling: attentionScaling,
      cachedPositions: cachedPositions
    ) { p in withExtendedLifetime(context) { subq_rope_table_create(context.cPointer, p, &t) } }
    raw = t!
    self.rotDim = rotDim
  }

  deinit { subq_rope_table_destroy(raw) }

  /// Calls `body` with the C params of a schedule (longrope factors valid during the call) and
  /// checks its status.
  static func withParams(
    _ fn: String, rotDim: Int, theta: Double, scaling: RoPEScaling, attentionScaling: Double, cachedPositions: Int,
    _ body: (UnsafePointer<subq_rope_params>) -> subq_status
  ) throws(SubQError) {
    var p = subq_rope_params()
    subq_rope_params_default(&p, MemoryLayout<subq_rope_params>.size)
    p.rot_dim = Int64(rotDim)
    p.theta = theta
    p.attention_scaling = attentionScaling
    p.cached_positions = Int64(cachedPositions)
    var factors: [Float] = []
    switch scaling {
    case .none: p.type = .default
    case .linear(let f):
      p.type = .linear
      p.factor = f
    case .llama3(let f, let lo, let hi, let l0):
      p.type = .llama3
      p.factor = f
      p.low_freq_factor = lo
      p.high_freq_factor = hi
      p.original_max_position_embeddings = l0
    case .yarn(let f, let l0, let betaFast, let betaSlow, let truncate):
      p.type = .yarn
      p.factor = f
      p.original_max_position_embeddings = l0
      p.beta_fast = betaFast
      p.beta_slow = betaSlow
      p.yarn_truncate = truncate ? 1 : 0
    case .dynamic(let f, let l0, let seqLen):
      p.type = .dynamic
      p.factor = f
      p.original_max_position_embeddings = l0
      p.dynamic_seq_len = Int64(seqLen)
    case .longrope(let fs):
      p.type = .longrope
      // C reads rot_dim / 2 entries; a valid rotDim with another count would be read out of bounds.
      if rotDim >= 2 && rotDim % 2 == 0 && fs.count != rotDim / 2 {
        throw .invalidArgument("\(fn): longrope factors has \(fs.count) entries, rotDim / 2 is \(rotDim / 2)")
      }
      factors = fs
    }
    let status = factors.withUnsafeBufferPointer { f in
      p.longrope_factors = f.isEmpty ? nil : f.baseAddress
      return body(&p)
    }
    try SubQError.check(status)
  }

  /// HF's inferred YaRN `attention_factor` (`subq_rope_yarn_attention_factor`): with
  /// m(s, k) = s <= 1 ? 1 : 0.1 k ln(s) + 1, m(factor, mscale) / m(factor, mscaleAllDim) when both
  /// are nonzero, else m(factor, 1). NaN for a factor not finite and > 0.
  public static func yarnAttentionFactor(factor: Double, mscale: Double = 0, mscaleAllDim: Double = 0) -> Double {
    subq_rope_yarn_attention_factor(factor, mscale, mscaleAllDim)
  }

  /// The `rotDim / 2` inverse frequencies of a schedule, exactly as HF computes them in float32
  /// (`subq_rope_inv_freq`).
  public static func inverseFrequencies(
    rotDim: Int, theta: Double = 10000, scaling: RoPEScaling = .none
  ) throws(SubQError) -> [Float] {
    var out = [Float](repeating: 0, count: max(rotDim / 2, 1))
    try out.withUnsafeMutableBufferPointer { (o) throws(SubQError) in
      try withParams(
        "RoPETable.inverseFrequencies", rotDim: rotDim, theta: theta, scaling: scaling, attentionScaling: 1,
        cachedPositions: 0
      ) { p in subq_rope_inv_freq(p, o.baseAddress!) }
    }
    return Array(out.prefix(rotDim / 2))
  }

  /// cos and sin (`rotDim / 2` each) at `position` (`subq_rope_table_cos_sin`).
  /// - Throws: ``SubQError/Code/invalidArgument`` for a negative position.
  public func cosSin(position: Int) throws(SubQError) -> (cos: [Float], sin: [Float]) {
    var c = [Float](repeating: 0, count: rotDim / 2), s = c
    let status = c.withUnsafeMutableBufferPointer { cp in
      s.withUnsafeMutableBufferPointer { sp in
        subq_rope_table_cos_sin(raw, Int64(position), cp.baseAddress!, sp.baseAddress!)
      }
    }
    try SubQError.check(status)
    return (c, s)
  }

  /// Rotates `q` (`[tokens][qHeads][headDim]`) and `k` (`[tokens][kHeads][headDim]`) in place at
  /// `positions` (`[tokens]`, each ≥ 0), HF's "rotate_half" layout; dimensions `rotDim..<headDim`
  /// are left unchanged (`subq_rope`).
  /// - Throws: ``SubQError/Code/invalidArgument`` for short buffers, `headDim < rotDim` or a negative position.
  public func apply(
    tokens: Int, headDim: Int, positions: Span<Int64>, q: inout MutableSpan<Float>, qHeads: Int,
    k: inout MutableSpan<Float>, kHeads: Int, context: Context? = nil
  ) throws(SubQError) {
    let fn = "RoPETable.apply"
    if tokens < 0 || headDim < 0 || qHeads < 0 || kHeads < 0 {
      throw .invalidArgument("\(fn): tokens, headDim, qHeads and kHeads must be >= 0")
    }
    if tokens == 0 { return }
    try nnNeed(fn, "positions", positions.count, tokens, 1)
    try nnNeed(fn, "q", q.count, tokens, qHeads * headDim)
    try nnNeed(fn, "k", k.count, tokens, kHeads * headDim)
    try positions.withUnsafeBufferPointer { (pp) throws(SubQError) in
      try q.withUnsafeMutableBufferPointer { (qp) throws(SubQError) in
        try k.withUnsafeMutableBufferPointer { (kp) throws(SubQError) in
          var a = subq_rope_args()
          subq_rope_args_default(&a, MemoryLayout<subq_rope_args>.size)
          a.tokens = Int64(tokens)
          a.head_dim = Int64(headDim)
          a.table = raw
          a.positions = pp.baseAddress
          a.q = qHeads > 0 ? qp.baseAddress : nil
          a.q_heads = Int64(qHeads)
          a.k = kHeads > 0 ? kp.baseAddress : nil
          a.k_heads = Int64(kHeads)
          let status = withExtendedLifetime(context) { subq_rope(context.cPointer, &a) }
          try SubQError.check(status)
        }
      }
    }
  }

  /// Rotates the q and k parts of fused qkv rows in place: each token's row is
  /// `[q (qHeads·headDim) | k (kvHeads·headDim) | v (kvHeads·headDim)]`, as one GEMM against the
  /// concatenated q/k/v projections writes it; v is left unchanged.
  /// - Throws: as ``apply(tokens:headDim:positions:q:qHeads:k:kHeads:context:)``.
  public func applyFused(
    tokens: Int, headDim: Int, positions: Span<Int64>, qkv: inout MutableSpan<Float>, qHeads: Int, kvHeads: Int,
    context: Context? = nil
  ) throws(SubQError) {
    let fn = "RoPETable.applyFused"
    if tokens < 0 || headDim < 0 || qHeads < 0 || kvHeads < 0 {
      throw .invalidArgument("\(fn): tokens, headDim, qHeads and kvHeads must be >= 0")
    }
    if tokens == 0 { return }
    let row = (qHeads + 2 * kvHeads) * headDim
    try nnNeed(fn, "positions", positions.count, tokens, 1)
    try nnNeed(fn, "qkv", qkv.count, tokens, row)
    try positions.withUnsafeBufferPointer { (pp) throws(SubQError) in
      try qkv.withUnsafeMutableBufferPointer { (p) throws(SubQError) in
        var a = subq_rope_args()
        subq_rope_args_default(&a, MemoryLayout<subq_rope_args>.size)
        a.tokens = Int64(tokens)
        a.head_dim = Int64(headDim)
        a.table = raw
        a.positions = pp.baseAddress
        a.q = qHeads > 0 ? p.baseAddress : nil
        a.q_heads = Int64(qHeads)
        a.q_token_stride = Int64(row)
        a.k = kvHeads > 0 ? p.baseAddress! + qHeads * headDim : nil
        a.k_heads = Int64(kvHeads)
        a.k_token_stride = Int64(row)
        let status = withExtendedLifetime(context) { subq_rope(context.cPointer, &a) }
        try SubQError.check(status)
      }
    }
  }
}

// MARK: - elementwise

/// `out = silu(gate) · up` with `silu(g) = g / (1 + exp(-g))` (HF's MLP activation; `subq_swiglu`).
/// `gate`, `up`, `out`: `[rows][cols]`.
/// - Throws: ``SubQError/Code/invalidArgument`` for negative sizes or short buffers.
public func swiGLU(
  rows: Int, cols: Int, gate: Span<Float>, up: Span<Float>, out: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  try nnSizes("swiGLU", rows, cols)
  if rows == 0 || cols == 0 { return }
  try nnNeed("swiGLU", "gate", gate.count, rows, cols)
  try nnNeed("swiGLU", "up", up.count, rows, cols)
  try nnNeed("swiGLU", "out", out.count, rows, cols)
  try gate.withUnsafeBufferPointer { (g) throws(SubQError) in
    try up.withUnsafeBufferPointer { (u) throws(SubQError) in
      try out.withUnsafeMutableBufferPointer { (o) throws(SubQError) in
        let status = withExtendedLifetime(context) {
          subq_swiglu(context.cPointer, Int64(rows), Int64(cols), g.baseAddress, 0, u.baseAddress, 0, o.baseAddress, 0)
        }
        try SubQError.check(status)
      }
    }
  }
}

/// SwiGLU of fused `[gate | up]` rows (`gateUp`: `[rows][2·cols]`, one GEMM against the
/// concatenated gate/up projections) into `out` (`[rows][cols]`).
public func swiGLU(
  rows: Int, cols: Int, gateUp: Span<Float>, out: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  try nnSizes("swiGLU", rows, cols)
  if rows == 0 || cols == 0 { return }
  try nnNeed("swiGLU", "gateUp", gateUp.count, rows, 2 * cols)
  try nnNeed("swiGLU", "out", out.count, rows, cols)
  try gateUp.withUnsafeBufferPointer { (g) throws(SubQError) in
    try out.withUnsafeMutableBufferPointer { (o) throws(SubQError) in
      let status = withExtendedLifetime(context) {
        subq_swiglu(
          context.cPointer, Int64(rows), Int64(cols), g.baseAddress, Int64(2 * cols), g.baseAddress! + cols,
          Int64(2 * cols), o.baseAddress, Int64(cols))
      }
      try SubQError.check(status)
    }
  }
}

/// `x = silu(x)` in place over `count` values (`subq_silu`).
public func siluInPlace(_ x: inout MutableSpan<Float>, context: Context? = nil) throws(SubQError) {
  if x.isEmpty { return }
  try x.withUnsafeMutableBufferPointer { (p) throws(SubQError) in
    let status = withExtendedLifetime(context) {
      subq_silu(context.cPointer, 1, Int64(p.count), p.baseAddress, 0, p.baseAddress, 0)
    }
    try SubQError.check(status)
  }
}

/// `acc += b` elementwise (the residual add; `subq_add` with `out == a`).
/// - Throws: ``SubQError/Code/invalidArgument`` when the counts differ.
public func addInPlace(_ acc: inout MutableSpan<Float>, _ b: Span<Float>, context: Context? = nil) throws(SubQError) {
  if acc.count != b.count { throw .invalidArgument("addInPlace: acc has \(acc.count) elements, b has \(b.count)") }
  if acc.isEmpty { return }
  try b.withUnsafeBufferPointer { (bp) throws(SubQError) in
    try acc.withUnsafeMutableBufferPointer { (a) throws(SubQError) in
      let status = withExtendedLifetime(context) {
        subq_add(context.cPointer, 1, Int64(a.count), a.baseAddress, 0, bp.baseAddress, 0, a.baseAddress, 0)
      }
      try SubQError.check(status)
    }
  }
}

// MARK: - embedding gather

/// `out[t] = table[ids[t]]` for `ids.count` tokens (`subq_embedding`): `table` is `[vocab][dim]`
/// Float; `out` `[ids.count][dim]`.
/// - Throws: ``SubQError/Code/invalidArgument`` for short buffers, or an id outside `0..<vocab`
///   (the message names its index and value; nothing is written).
public func embeddingGather(
  table: Span<Float>, vocab: Int, dim: Int, ids: Span<Int64>, out: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  try nnNeed("embeddingGather", "table", table.count, vocab, dim)
  try table.withUnsafeBufferPointer { (t) throws(SubQError) in
    try gatherCall(.f32, UnsafeRawPointer(t.baseAddress), vocab: vocab, dim: dim, ids: ids, out: &out, context: context)
  }
}

/// ``embeddingGather(table:vocab:dim:ids:out:context:)`` from a bf16 or f16 table (`UInt16` bit
/// patterns), widened exactly to Float.
public func embeddingGather(
  table: Span<UInt16>, type: HalfType, vocab: Int, dim: Int, ids: Span<Int64>, out: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  try nnNeed("embeddingGather", "table", table.count, vocab, dim)
  try table.withUnsafeBufferPointer { (t) throws(SubQError) in
    try gatherCall(type.dtype, UnsafeRawPointer(t.baseAddress), vocab: vocab, dim: dim, ids: ids, out: &out, context: context)
  }
}

private func gatherCall(
  _ dtype: subq_dtype, _ table: UnsafeRawPointer?, vocab: Int, dim: Int, ids: Span<Int64>,
  out: inout MutableSpan<Float>, context: Context?
) throws(SubQError) {
  if vocab < 0 || dim < 0 { throw .invalidArgument("embeddingGather: vocab (\(vocab)) and dim (\(dim)) must be >= 0") }
  if ids.isEmpty { return }  // with dim 0 the C call still checks the ids
  try nnNeed("embeddingGather", "out", out.count, ids.count, dim)
  try ids.withUnsafeBufferPointer { (ip) throws(SubQError) in
    try out.withUnsafeMutableBufferPointer { (o) throws(SubQError) in
      let status = withExtendedLifetime(context) {
        subq_embedding(
          context.cPointer, dtype, table, Int64(vocab), Int64(dim), 0, ip.baseAddress, Int64(ip.count), o.baseAddress, 0)
      }
      try SubQError.check(status)
    }
  }
}

// MARK: - f16

/// Conversions between `Float` and IEEE binary16 carried as `UInt16` bit patterns
/// (`subq_f32_to_f16`, `subq_f16_to_f32`): round to nearest even, subnormals exact, overflow to
/// infinity, NaN kept. The same bits on every ISA path (F16C, FCVT or portable code).
///
/// Thread-safety: every member may be used from any thread.
public enum F16 {
  /// Converts `source` to f16 into `destination`.
  /// - Throws: ``SubQError/Code/invalidArgument`` when the counts differ.
  public static func convert(_ source: Span<Float>, to destination: inout MutableSpan<UInt16>) throws(SubQError) {
    try HalfConversion.run("F16.convert", source, &destination) { subq_f32_to_f16($0, $1, $2) }
  }

  /// Widens f16 `source` to `Float` exactly into `destination`.
  /// - Throws: ``SubQError/Code/invalidArgument`` when the counts differ.
  public static func convert(_ source: Span<UInt16>, to destination: inout MutableSpan<Float>) throws(SubQError) {
    try HalfConversion.run("F16.convert", source, &destination) { subq_f16_to_f32($0, $1, $2) }
  }

  /// `values` rounded to f16, as a new array.
  public static func encode(_ values: [Float]) -> [UInt16] {
    HalfConversion.array(values, zero: 0) { (src, dst) throws(SubQError) in try convert(src, to: &dst) }
  }

  /// f16 bit patterns widened exactly to `Float`, as a new array.
  public static func decode(_ bits: [UInt16]) -> [Float] {
    HalfConversion.array(bits, zero: 0) { (src, dst) throws(SubQError) in try convert(src, to: &dst) }
  }
}
