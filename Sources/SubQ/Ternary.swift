internal import CSubQ

// Ternary (1.58-bit) kernels over Include/subq/subq_ternary.h: SQ2 packed weights, per-token int8
// activation quantization fused with RMSNorm, the fused BitLinear matmul, and the HGRN-Bit token
// mixer recurrence of the MatMul-free LM. Row-major, contiguous buffers.

/// How `round(y · s)` breaks ties in the activation quantizer.
public enum TernaryRounding: Sendable, Hashable {
  /// Ties to even (torch.round, HF BitNet, bitnet.cpp).
  case halfEven
  /// Ties away from zero (mmfreelm's fused Triton kernel).
  case halfAway
  var c: subq_round { self == .halfEven ? .halfEven : .halfAway }
}

/// Granularity of the weight scale γ.
public enum TernaryScale: Sendable, Hashable {
  /// One γ for the tensor.
  case tensor
  /// One γ per output row.
  case row
  var c: subq_ternary_scale { self == .tensor ? .tensor : .row }
}

/// How an HF packed checkpoint's `weight_scale` becomes γ (config `quantization_config.linear_class`).
public enum TernaryHFScaleRule: Sendable, Hashable {
  /// `"bitlinear"` (the default): γ = 1 / weight_scale.
  case divide
  /// `"autobitlinear"` offline: γ = weight_scale.
  case multiply
}

private func needCount(_ fn: String, _ name: String, _ have: Int, _ a: Int, _ b: Int) throws(SubQError) {
  let (p, o) = a.multipliedReportingOverflow(by: b)
  if o { throw .invalidArgument("\(fn): the size of \(name) overflows Int") }
  if have < p { throw .invalidArgument("\(fn): \(name) holds \(have) elements, needs \(p)") }
}

/// Ternary weights `t[rows][cols] ∈ {−1, 0, +1}` with scales γ, packed in SubQ's SQ2 layout (2 bits
/// per weight, padded to 16-row panels and 64-column blocks). Wraps `subq_ternary`.
///
/// Thread-safety: immutable after creation; may be shared by threads and contexts.
public final class TernaryWeights: @unchecked Sendable {
  let raw: OpaquePointer
  /// Output rows N.
  public let rows: Int
  /// Input columns K.
  public let cols: Int

  private init(raw: OpaquePointer) {
    self.raw = raw
    self.rows = Int(subq_ternary_rows(raw))
    self.cols = Int(subq_ternary_cols(raw))
  }

  /// Takes ownership of a `subq_ternary` made by the C API (the runner's loaders).
  convenience init(adopting raw: OpaquePointer) { self.init(raw: raw) }

  deinit { subq_ternary_destroy(raw) }

  /// Moves the packed weights into memory placed by `context`'s NUMA mode, copied by its own
  /// workers (`distribute`: each node's rows on that node; `mirror`: a copy per node; `isolate`:
  /// the context's node); a no-op unless ``Context/placesWeights``. Results never change. Call it
  /// before the weights are shared with other threads (`subq_ternary_place`).
  public func place(context: Context?) throws(SubQError) {
    try SubQError.check(withExtendedLifetime(context) { subq_ternary_place(context?.raw, raw) })
  }

  /// absmean-quantizes dense f32 weights `w[rows][cols]` (γ = max(mean |W|, 1e-5), t = clamp(rint(W / γ))).
  /// - Throws: ``SubQError/Code/invalidArgument`` for sizes < 1 or `w` too short; library errors.
  public convenience init(
    quantizing w: Span<Float>, rows: Int, cols: Int, scale: TernaryScale = .tensor, context: Context? = nil
  ) throws(SubQError) {
    if rows < 1 || cols < 1 { throw .invalidArgument("TernaryWeights: rows (\(rows)) and cols (\(cols)) must be >= 1") }
    try needCount("TernaryWeights", "w", w.count, rows, cols)
    var out: OpaquePointer? = nil
    let status = w.withUnsafeBufferPointer { (p) in
      withExtendedLifetime(context) {
        subq_ternary_quantize(
          context.cPointer, Int64(rows), Int64(cols), .f32, UnsafeRawPointer(p.baseAddress!), Int64(cols), scale.c, &out)
      }
    }
    guard status == .ok, let out else { throw SubQError(status) }
    self.init(raw: out)
  }

  /// Imports ternary codes `t[rows][cols]` in {−1, 0, 1} with their scales (1 value for `.tensor`,
  /// `rows` values for `.row`), without re-quantizing.
  public convenience init(codes: Span<Int8>, rows: Int, cols: Int, gammas: [Float], scale: TernaryScale = .tensor)
    throws(SubQError)
  {
    if rows < 1 || cols < 1 { throw .invalidArgument("TernaryWeights: rows (\(rows)) and cols (\(cols)) must be >= 1") }
    try needCount("TernaryWeights", "codes", codes.count, rows, cols)
    try needCount("TernaryWeights", "gammas", gammas.count, scale == .tensor ? 1 : rows, 1)
    var out: OpaquePointer? = nil
    let status = codes.withUnsafeBufferPointer { (p) in
      gammas.withUnsafeBufferPointer { (g) in
        subq_ternary_from_codes(Int64(rows), Int64(cols), p.baseAddress!, Int64(cols), scale.c, g.baseAddress!, &out)
      }
    }
    guard status == .ok, let out else { throw SubQError(status) }
    self.init(raw: out)
  }

  /// Imports an HF transformers packed BitNet weight: `packed` is `[rows / 4][cols]` bytes
  /// (`rows % 4 == 0`), `weightScale` the checkpoint's `.weight_scale`, turned into γ by `rule`.
  public convenience init(
    hfPacked packed: Span<UInt8>, rows: Int, cols: Int, weightScale: Float, rule: TernaryHFScaleRule = .divide
  ) throws(SubQError) {
    if rows < 1 || cols < 1 { throw .invalidArgument("TernaryWeights: rows (\(rows)) and cols (\(cols)) must be >= 1") }
    try needCount("TernaryWeights", "packed", packed.count, rows / 4, cols)
    var out: OpaquePointer? = nil
    let status = packed.withUnsafeBufferPointer { (p) in
      subq_ternary_from_hf(
        Int64(rows), Int64(cols), p.baseAddress!, weightScale, rule == .divide ? .divide : .multiply, &out)
    }
    guard status == .ok, let out else { throw SubQError(status) }
    self.init(raw: out)
  }

  /// Validates and copies an SQ2 blob (as returned by ``blob``).
  public convenience init(blob: [UInt8]) throws(SubQError) {
    var out: OpaquePointer? = nil
    let status = blob.withUnsafeBytes { (p) in
      subq_ternary_from_blob(p.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!, p.count, &out)
    }
    guard status == .ok, let out else { throw SubQError(status) }
    self.init(raw: out)
  }

  /// Scale granularity.
  public var scale: TernaryScale { subq_ternary_scale_mode(raw) == .row ? .row : .tensor }

  /// A copy of the SQ2 blob (128-byte header, codes, scales; layout in subq_ternary.h).
  public var blob: [UInt8] {
    var size = 0
    let p = subq_ternary_blob(raw, &size)
    return Array(UnsafeRawBufferPointer(start: p, count: size))
  }

  /// The codes `t[rows][cols]` and the scales (1 or `rows` values).
  public func codes() -> (codes: [Int8], gammas: [Float]) {
    var t = [Int8](repeating: 0, count: rows * cols)
    var g = [Float](repeating: 0, count: scale == .tensor ? 1 : rows)
    let st = t.withUnsafeMutableBufferPointer { (tp) in
      g.withUnsafeMutableBufferPointer { (gp) in subq_ternary_to_codes(raw, tp.baseAddress, Int64(cols), gp.baseAddress) }
    }
    precondition(st == .ok, "subq_ternary_to_codes failed on a valid object")
    return (t, g)
  }

  /// The exact integer product `d[t][n] = Σ_k t[n][k] · q[t][k]` for `tokens` rows of int8
  /// activations in [−127, 127] (`q`: `[tokens][cols]`, `d`: `[tokens][rows]`).
  public func matmulInt32(
    tokens: Int, q: Span<Int8>, d: inout MutableSpan<Int32>, context: Context? = nil
  ) throws(SubQError) {
    if tokens < 0 { throw .invalidArgument("TernaryWeights.matmulInt32: tokens (\(tokens)) < 0") }
    if tokens == 0 { return }
    try needCount("TernaryWeights.matmulInt32", "q", q.count, tokens, cols)
    try needCount("TernaryWeights.matmulInt32", "d", d.count, tokens, rows)
    try q.withUnsafeBufferPointer { (qp) throws(SubQError) in
      try d.withUnsafeMutableBufferPointer { (dp) throws(SubQError) in
        let status = withExtendedLifetime(context) {
          subq_ternary_matmul_i32(context.cPointer, raw, Int64(tokens), qp.baseAddress, Int64(cols), dp.baseAddress, Int64(rows))
        }
        try SubQError.check(status)
      }
    }
  }

  /// Fused BitLinear over `tokens` rows of `x` (`[tokens][cols]`): optional RMSNorm (`rmsNorm`, with
  /// `normWeight` when given), per-token int8 absmax quantization, the ternary matmul and
  /// `out = D · (γ · a / 127)` (+ `residual`, `[tokens][rows]`). `out`: `[tokens][rows]`.
  /// Bitwise identical on every ISA path and thread count.
  public func bitLinear(
    tokens: Int, x: Span<Float>, out: inout MutableSpan<Float>, rmsNorm: Bool = false,
    normWeight: Span<Float>? = nil, eps: Float = 1e-6, rounding: TernaryRounding = .halfEven,
    residual: Span<Float>? = nil, context: Context? = nil
  ) throws(SubQError) {
    let fn = "TernaryWeights.bitLinear"
    if tokens < 0 { throw .invalidArgument("\(fn): tokens (\(tokens)) < 0") }
    if tokens == 0 { return }
    try needCount(fn, "x", x.count, tokens, cols)
    try needCount(fn, "out", out.count, tokens, rows)
    if let normWeight { try needCount(fn, "normWeight", normWeight.count, cols, 1) }
    if let residual { try needCount(fn, "residual", residual.count, tokens, rows) }
    try x.withUnsafeBufferPointer { (xp) throws(SubQError) in
      try withOptionalSpan(normWeight) { (wp) throws(SubQError) in
        try withOptionalSpan(residual) { (rp) throws(SubQError) in
          try out.withUnsafeMutableBufferPointer { (op) throws(SubQError) in
            var a = subq_bitlinear_args()
            subq_bitlinear_args_default(&a, MemoryLayout<subq_bitlinear_args>.size)
            a.tokens = Int64(tokens)
            a.flags = rmsNorm ? UInt32(SUBQ_TERNARY_RMSNORM) : 0
            a.eps = eps
            a.rounding = rounding.c
            a.x = xp.baseAddress
            a.norm_weight = wp?.baseAddress
            a.residual = rp?.baseAddress
            a.out = op.baseAddress
            let status = withExtendedLifetime(context) { subq_bitlinear(context.cPointer, raw, &a) }
            try SubQError.check(status)
          }
        }
      }
    }
  }
}

private func withOptionalSpan<T>(
  _ s: Span<T>?, _ body: (UnsafeBufferPointer<T>?) throws(SubQError) -> Void
) throws(SubQError) {
  if let s {
    try s.withUnsafeBufferPointer { (p) throws(SubQError) in try body(p) }
  } else {
    try body(nil)
  }
}

/// Per-token int8 quantization of `rows` rows of `x` (`[rows][cols]`), optionally after RMSNorm:
/// `q` (`[rows][cols]`), `sums` (S = Σ q per row) and `scales` (a = max(max |y|, 1e-5) per row).
/// The BitLinear prologue on its own (`subq_ternary_act_quant`).
public func ternaryQuantizeActivations(
  rows: Int, cols: Int, x: Span<Float>, q: inout MutableSpan<Int8>, sums: inout MutableSpan<Int32>,
  scales: inout MutableSpan<Float>, rmsNorm: Bool = false, normWeight: Span<Float>? = nil, eps: Float = 1e-6,
  rounding: TernaryRounding = .halfEven, context: Context? = nil
) throws(SubQError) {
  let fn = "ternaryQuantizeActivations"
  if rows < 0 || cols < 1 { throw .invalidArgument("\(fn): rows (\(rows)) must be >= 0 and cols (\(cols)) >= 1") }
  if rows == 0 { return }
  try needCount(fn, "x", x.count, rows, cols)
  try needCount(fn, "q", q.count, rows, cols)
  try needCount(fn, "sums", sums.count, rows, 1)
  try needCount(fn, "scales", scales.count, rows, 1)
  if let normWeight { try needCount(fn, "normWeight", normWeight.count, cols, 1) }
  try x.withUnsafeBufferPointer { (xp) throws(SubQError) in
    try withOptionalSpan(normWeight) { (wp) throws(SubQError) in
      try q.withUnsafeMutableBufferPointer { (qp) throws(SubQError) in
        try sums.withUnsafeMutableBufferPointer { (sp) throws(SubQError) in
          try scales.withUnsafeMutableBufferPointer { (ap) throws(SubQError) in
            var a = subq_ternary_act_args()
            subq_ternary_act_args_default(&a, MemoryLayout<subq_ternary_act_args>.size)
            a.rows = Int64(rows)
            a.cols = Int64(cols)
            a.flags = rmsNorm ? UInt32(SUBQ_TERNARY_RMSNORM) : 0
            a.eps = eps
            a.rounding = rounding.c
            a.x = xp.baseAddress
            a.norm_weight = wp?.baseAddress
            a.q = qp.baseAddress
            a.sums = sp.baseAddress
            a.scales = ap.baseAddress
            let status = withExtendedLifetime(context) { subq_ternary_act_quant(context.cPointer, &a) }
            try SubQError.check(status)
          }
        }
      }
    }
  }
}

/// The HGRN-Bit token mixer recurrence (MatMul-free LM, `subq_hgrn_f32`) over `tokens` tokens of
/// `channels` channels, state updated in place (`state`: `[channels]`, zeros for a new sequence):
/// `f = σ(f_raw)` (`lb + (1 − lb)·f` with `lowerBound`), `s = f·s + silu(i)·(1 − f)`, and
/// `out = s`, or with `gate` (`[tokens][channels]`, the g_proj output)
/// `out = RMSNorm(gate; gateNormWeight, eps) · silu(s)`. `tokens == 1` is the decode step; chunks
/// fed one after another give bitwise the result of one call.
public func hgrnRecurrence(
  tokens: Int, channels: Int, i: Span<Float>, f: Span<Float>, lowerBound: Span<Float>? = nil,
  gate: Span<Float>? = nil, gateNormWeight: Span<Float>? = nil, eps: Float = 1e-6,
  state: inout MutableSpan<Float>, out: inout MutableSpan<Float>, context: Context? = nil
) throws(SubQError) {
  let fn = "hgrnRecurrence"
  if tokens < 0 || channels < 1 { throw .invalidArgument("\(fn): tokens (\(tokens)) must be >= 0 and channels (\(channels)) >= 1") }
  if tokens == 0 { return }
  try needCount(fn, "i", i.count, tokens, channels)
  try needCount(fn, "f", f.count, tokens, channels)
  try needCount(fn, "out", out.count, tokens, channels)
  try needCount(fn, "state", state.count, channels, 1)
  if let gate { try needCount(fn, "gate", gate.count, tokens, channels) }
  if let lowerBound { try needCount(fn, "lowerBound", lowerBound.count, channels, 1) }
  if let gateNormWeight { try needCount(fn, "gateNormWeight", gateNormWeight.count, channels, 1) }
  try i.withUnsafeBufferPointer { (ip) throws(SubQError) in
    try f.withUnsafeBufferPointer { (fp) throws(SubQError) in
      try withOptionalSpan(lowerBound) { (lp) throws(SubQError) in
        try withOptionalSpan(gate) { (gp) throws(SubQError) in
          try withOptionalSpan(gateNormWeight) { (wp) throws(SubQError) in
            try state.withUnsafeMutableBufferPointer { (sp) throws(SubQError) in
              try out.withUnsafeMutableBufferPointer { (op) throws(SubQError) in
                var a = subq_hgrn_args()
                subq_hgrn_args_default(&a, MemoryLayout<subq_hgrn_args>.size)
                a.tokens = Int64(tokens)
                a.channels = Int64(channels)
                a.i = ip.baseAddress
                a.f = fp.baseAddress
                a.lower_bound = lp?.baseAddress
                a.state_in = UnsafePointer(sp.baseAddress)
                a.state_out = sp.baseAddress
                a.gate = gp?.baseAddress
                a.gate_norm_weight = wp?.baseAddress
                a.eps = eps
                a.out = op.baseAddress
                let status = withExtendedLifetime(context) { subq_hgrn_f32(context.cPointer, &a) }
                try SubQError.check(status)
              }
            }
          }
        }
      }
    }
  }
}
