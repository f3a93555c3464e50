internal import CSubQ

// Mamba-2 kernels over Include/subq/subq_ssm.h: the SSD scan (recurrent and chunked algorithms,
// uniform and packed variable-length batches), its decode step, the state layout conversion and
// the grouped gated RMSNorm, f32. Activations are contiguous and token-major; states are updated
// in place.

/// The algorithm of ``ssdScan(batch:seqlen:heads:headDim:dState:groups:x:dt:a:aForm:b:c:dtBias:dSkip:dSkipPerChannel:softplus:dtMin:dtMax:algorithm:chunk:state:y:context:)``.
public enum SSDAlgorithm: Sendable, Hashable {
  /// The library's choice by shape and ISA: chunked for sequences of at least
  /// `SUBQ_SSM2_AUTO_MIN_CHUNKED_LEN` tokens on a SIMD path, recurrent otherwise.
  case auto
  /// The token-by-token recurrence: chunked prefill and decode steps equal one call bitwise.
  case recurrent
  /// The SSD block form (masked C·Bᵀ per chunk plus state passing); within 1e-3 of the recurrence.
  case chunked

  var cValue: Int32 {
    switch self {
    case .auto: Int32(SUBQ_SSM2_ALGO_AUTO.rawValue)
    case .recurrent: Int32(SUBQ_SSM2_ALGO_RECURRENT.rawValue)
    case .chunked: Int32(SUBQ_SSM2_ALGO_CHUNKED.rawValue)
    }
  }
}

/// Floats of one sequence's Mamba-2 state, `heads · dState · headDim` (SubQ layout
/// `[head][n][p]`); 0 for sizes < 1 or on overflow.
public func ssm2StateCount(heads: Int, headDim: Int, dState: Int) -> Int {
  Int(subq_ssm2_state_floats(Int64(heads), Int64(headDim), Int64(dState)))
}

/// Mamba-2 SSD scan over `seqlen` tokens of `batch` sequences, the state updated in place
/// (`subq_ssm2_scan_f32` with `h_in == h_out`).
///
/// Per token `t` and head `h` in group `g = h / (heads / groups)`:
/// `dt = min(max(softplus(dt[t,h] + dtBias[h]), dtMin), dtMax)`, `a = exp(dt·A[h])`,
/// `S[h,n,p] = a·S[h,n,p] + (dt·x[t,h,p])·B[t,g,n]`, `y[t,h,p] = Σ_n C[t,g,n]·S[h,n,p] + D·x[t,h,p]`.
///
/// - `x`, `y`: `[batch][seqlen][heads·headDim]`; `dt`: `[batch][seqlen][heads]`; `b`, `c`:
///   `[batch][seqlen][groups·dState]`; `a`, `dtBias`: `[heads]`; `dSkip`: `[heads]`, or
///   `[heads·headDim]` with `dSkipPerChannel`.
/// - `state`: `batch` × ``ssm2StateCount(heads:headDim:dState:)`` floats, `[head][n][p]` per
///   sequence (zeros for a new sequence; ``ssm2StateImport(batch:heads:headDim:dState:from:to:)``
///   converts HF `(batch, heads, headDim, dState)` states).
/// - Results are bitwise identical for any thread count.
///
/// Thread-safety: reentrant; concurrent calls must not share `y` or `state`.
/// - Throws: ``SubQError/Code/invalidArgument`` before any C call for negative sizes or buffers
///   shorter than their shapes; from the library for `dState` outside 1…256, `groups` not dividing
///   `heads`, `chunk` outside 0…1024, `dtMin > dtMax`, or overlapping buffers.
public func ssdScan(
  batch: Int, seqlen: Int, heads: Int, headDim: Int, dState: Int, groups: Int = 1,
  x: Span<Float>, dt: Span<Float>, a: Span<Float>, aForm: SSM1AForm = .aLog,
  b: Span<Float>, c: Span<Float>,
  dtBias: Span<Float>? = nil, dSkip: Span<Float>? = nil, dSkipPerChannel: Bool = false,
  softplus: Bool = true, dtMin: Float = 0, dtMax: Float = .infinity,
  algorithm: SSDAlgorithm = .auto, chunk: Int = 0,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  let shape = SSDShape(batch: batch, rows: batch * max(0, seqlen), seqlen: seqlen, heads: heads, headDim: headDim,
                       dState: dState, groups: groups)
  try ssdCall(
    "ssdScan", step: false, shape, cu: nil, slots: nil, hasInit: nil, slotCount: batch,
    x: x, dt: dt, a: a, aForm: aForm, b: b, c: c, dtBias: dtBias, dSkip: dSkip, dSkipPerChannel: dSkipPerChannel,
    softplus: softplus, dtMin: dtMin, dtMax: dtMax, algorithm: algorithm, chunk: chunk, state: &state, y: &y,
    context: context)
}

/// Packed variable-length form of ``ssdScan(batch:seqlen:heads:headDim:dState:groups:x:dt:a:aForm:b:c:dtBias:dSkip:dSkipPerChannel:softplus:dtMin:dtMax:algorithm:chunk:state:y:context:)``:
/// sequence `s` is rows `cuSeqlens[s] ..< cuSeqlens[s+1]` of `x`, `dt`, `b`, `c` and `y`
/// (`cuSeqlens.count - 1` sequences). `stateSlots[s]` (default `s`) picks its state among
/// `slotCount` states in `state`; `hasInitialState[s] == 0` starts it from zeros. A sequence of
/// length 0 leaves its state untouched. Equals one call per sequence bitwise. With `step: true`
/// it is the decode step (every length ≤ 1, always the recurrence). Errors as the uniform call,
/// plus decreasing offsets and out-of-range or repeated slots.
public func ssdScanPacked(
  cuSeqlens: Span<Int32>, stateSlots: Span<Int32>? = nil, hasInitialState: Span<UInt8>? = nil, slotCount: Int,
  heads: Int, headDim: Int, dState: Int, groups: Int = 1,
  x: Span<Float>, dt: Span<Float>, a: Span<Float>, aForm: SSM1AForm = .aLog,
  b: Span<Float>, c: Span<Float>,
  dtBias: Span<Float>? = nil, dSkip: Span<Float>? = nil, dSkipPerChannel: Bool = false,
  softplus: Bool = true, dtMin: Float = 0, dtMax: Float = .infinity,
  algorithm: SSDAlgorithm = .auto, chunk: Int = 0, step: Bool = false,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  let fn = "ssdScanPacked"
  let n = cuSeqlens.count - 1
  if n < 0 { throw .invalidArgument("\(fn): cuSeqlens is empty") }
  if let stateSlots, stateSlots.count < n { throw .invalidArgument("\(fn): stateSlots holds \(stateSlots.count) entries, needs \(n)") }
  if let hasInitialState, hasInitialState.count < n {
    throw .invalidArgument("\(fn): hasInitialState holds \(hasInitialState.count) entries, needs \(n)")
  }
  let rows = n > 0 ? Int(cuSeqlens[n]) : 0
  let shape = SSDShape(batch: n, rows: max(0, rows), seqlen: 0, heads: heads, headDim: headDim, dState: dState, groups: groups)
  try cuSeqlens.withUnsafeBufferPointer { (cu) throws(SubQError) in
    try withOptionalSpan(stateSlots) { (sl) throws(SubQError) in
      try withOptionalSpan(hasInitialState) { (hi) throws(SubQError) in
        try ssdCall(
          fn, step: step, shape, cu: cu.baseAddress, slots: sl?.baseAddress, hasInit: hi?.baseAddress,
          slotCount: slotCount, x: x, dt: dt, a: a, aForm: aForm, b: b, c: c, dtBias: dtBias, dSkip: dSkip,
          dSkipPerChannel: dSkipPerChannel, softplus: softplus, dtMin: dtMin, dtMax: dtMax, algorithm: algorithm,
          chunk: chunk, state: &state, y: &y, context: context)
      }
    }
  }
}

/// Single-token decode step of the SSD scan (`subq_ssm2_step_f32`): `x`, `y` are
/// `[batch][heads·headDim]`, `dt` `[batch][heads]`, `b`, `c` `[batch][groups·dState]`; always the
/// recurrence, so prefill(k) + steps equals a recurrent prefill(k + m) bitwise. Errors as
/// ``ssdScan(batch:seqlen:heads:headDim:dState:groups:x:dt:a:aForm:b:c:dtBias:dSkip:dSkipPerChannel:softplus:dtMin:dtMax:algorithm:chunk:state:y:context:)``.
public func ssdScanStep(
  batch: Int, heads: Int, headDim: Int, dState: Int, groups: Int = 1,
  x: Span<Float>, dt: Span<Float>, a: Span<Float>, aForm: SSM1AForm = .aLog,
  b: Span<Float>, c: Span<Float>,
  dtBias: Span<Float>? = nil, dSkip: Span<Float>? = nil, dSkipPerChannel: Bool = false,
  softplus: Bool = true, dtMin: Float = 0, dtMax: Float = .infinity,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  let shape = SSDShape(batch: batch, rows: batch, seqlen: 1, heads: heads, headDim: headDim, dState: dState, groups: groups)
  try ssdCall(
    "ssdScanStep", step: true, shape, cu: nil, slots: nil, hasInit: nil, slotCount: batch,
    x: x, dt: dt, a: a, aForm: aForm, b: b, c: c, dtBias: dtBias, dSkip: dSkip, dSkipPerChannel: dSkipPerChannel,
    softplus: softplus, dtMin: dtMin, dtMax: dtMax, algorithm: .recurrent, chunk: 0, state: &state, y: &y,
    context: context)
}

private struct SSDShape {
  var batch, rows, seqlen, heads, headDim, dState, groups: Int
}

private func needCount(_ fn: String, _ name: String, _ have: Int, _ a: Int, _ b: Int) throws(SubQError) {
  let (p, o) = a.multipliedReportingOverflow(by: b)
  if o { throw .invalidArgument("\(fn): the size of \(name) overflows Int") }
  if have < p { throw .invalidArgument("\(fn): \(name) holds \(have) elements, needs \(p)") }
}

private func ssdCall(
  _ fn: String, step: Bool, _ s: SSDShape, cu: UnsafePointer<Int32>?, slots: UnsafePointer<Int32>?,
  hasInit: UnsafePointer<UInt8>?, slotCount: Int,
  x: Span<Float>, dt: Span<Float>, a: Span<Float>, aForm: SSM1AForm, b: Span<Float>, c: Span<Float>,
  dtBias: Span<Float>?, dSkip: Span<Float>?, dSkipPerChannel: Bool, softplus: Bool, dtMin: Float, dtMax: Float,
  algorithm: SSDAlgorithm, chunk: Int,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>, context: Context?
) throws(SubQError) {
  if s.batch < 0 || s.seqlen < 0 || s.heads < 0 || s.headDim < 0 || s.dState < 0 || s.groups < 0 || slotCount < 0 {
    throw .invalidArgument(
      "\(fn): batch (\(s.batch)), seqlen (\(s.seqlen)), heads (\(s.heads)), headDim (\(s.headDim)), dState (\(s.dState)), groups (\(s.groups)) and slotCount (\(slotCount)) must be >= 0")
  }
  if aForm == .packed { throw .invalidArgument("\(fn): aForm .packed is Mamba-1 only (use .a or .aLog)") }
  if s.batch > 0 && s.rows > 0 && s.heads > 0 && s.headDim > 0 && s.dState > 0 && s.groups > 0 {
    let (e, o1) = s.heads.multipliedReportingOverflow(by: s.headDim)
    let (gn, o2) = s.groups.multipliedReportingOverflow(by: s.dState)
    if o1 || o2 { throw .invalidArgument("\(fn): a size overflows Int") }
    try needCount(fn, "x", x.count, s.rows, e)
    try needCount(fn, "y", y.count, s.rows, e)
    try needCount(fn, "dt", dt.count, s.rows, s.heads)
    try needCount(fn, "b", b.count, s.rows, gn)
    try needCount(fn, "c", c.count, s.rows, gn)
    try needCount(fn, "a", a.count, s.heads, 1)
    if let dtBias { try needCount(fn, "dtBias", dtBias.count, s.heads, 1) }
    if let dSkip { try needCount(fn, "dSkip", dSkip.count, dSkipPerChannel ? e : s.heads, 1) }
    try needCount(fn, "state", state.count, slotCount, ssm2StateCount(heads: s.heads, headDim: s.headDim, dState: s.dState))
  }
  try x.withUnsafeBufferPointer { (xp) throws(SubQError) in
  try dt.withUnsafeBufferPointer { (dtp) throws(SubQError) in
  try a.withUnsafeBufferPointer { (ap) throws(SubQError) in
  try b.withUnsafeBufferPointer { (bp) throws(SubQError) in
  try c.withUnsafeBufferPointer { (cp) throws(SubQError) in
  try withOptionalSpan(dtBias) { (dbp) throws(SubQError) in
  try withOptionalSpan(dSkip) { (dsp) throws(SubQError) in
  try state.withUnsafeMutableBufferPointer { (hp) throws(SubQError) in
  try y.withUnsafeMutableBufferPointer { (yp) throws(SubQError) in
    var args = subq_ssm2_args()
    subq_ssm2_args_default(&args, MemoryLayout<subq_ssm2_args>.size)
    args.batch = Int64(s.batch)
    args.seqlen = Int64(s.seqlen)
    args.n_heads = Int64(s.heads)
    args.head_dim = Int64(s.headDim)
    args.d_state = Int64(s.dState)
    args.n_groups = Int64(s.groups)
    args.flags = (softplus ? UInt32(SUBQ_SSM2_DT_SOFTPLUS) : 0) | (aForm == .aLog ? UInt32(SUBQ_SSM2_A_LOG) : 0)
      | (dSkipPerChannel ? UInt32(SUBQ_SSM2_D_PER_CHANNEL) : 0)
    args.algo = algorithm.cValue
    args.chunk = Int64(chunk)
    args.dt_min = dtMin
    args.dt_max = dtMax
    args.x = xp.baseAddress
    args.dt = dtp.baseAddress
    args.a = ap.baseAddress
    args.b = bp.baseAddress
    args.c = cp.baseAddress
    args.dt_bias = dbp?.baseAddress
    args.d_skip = dsp?.baseAddress
    args.h_in = UnsafePointer(hp.baseAddress)
    args.h_out = hp.baseAddress
    args.y = yp.baseAddress
    args.cu_seqlens = cu
    args.state_slots = slots
    args.has_initial_state = hasInit
    args.n_slots = Int64(slotCount)
    let status = withExtendedLifetime(context) {
      step ? subq_ssm2_step_f32(context.cPointer, &args) : subq_ssm2_scan_f32(context.cPointer, &args)
    }
    try SubQError.check(status)
  }}}}}}}}}
}

/// Converts `batch` Mamba-2 states from the HF / mamba_ssm layout `[batch][heads][headDim][dState]`
/// into SubQ's `[batch][heads][dState][headDim]` (`subq_ssm2_state_import`).
/// - Throws: ``SubQError/Code/invalidArgument`` for negative sizes or short buffers.
public func ssm2StateImport(
  batch: Int, heads: Int, headDim: Int, dState: Int, from src: Span<Float>, to dst: inout MutableSpan<Float>
) throws(SubQError) {
  try ssm2Convert("ssm2StateImport", importing: true, batch, heads, headDim, dState, src, &dst)
}

/// The inverse of ``ssm2StateImport(batch:heads:headDim:dState:from:to:)`` (`subq_ssm2_state_export`).
public func ssm2StateExport(
  batch: Int, heads: Int, headDim: Int, dState: Int, from src: Span<Float>, to dst: inout MutableSpan<Float>
) throws(SubQError) {
  try ssm2Convert("ssm2StateExport", importing: false, batch, heads, headDim, dState, src, &dst)
}

private func ssm2Convert(
  _ fn: String, importing: Bool, _ batch: Int, _ heads: Int, _ headDim: Int, _ dState: Int, _ src: Span<Float>,
  _ dst: inout MutableSpan<Float>
) throws(SubQError) {
  if batch < 0 || heads < 0 || headDim < 0 || dState < 0 {
    throw .invalidArgument("\(fn): batch, heads, headDim and dState must be >= 0")
  }
  if batch == 0 || heads == 0 || headDim == 0 || dState == 0 { return }
  let per = ssm2StateCount(heads: heads, headDim: headDim, dState: dState)
  if per == 0 { throw .invalidArgument("\(fn): the state size overflows") }
  try needCount(fn, "src", src.count, batch, per)
  try needCount(fn, "dst", dst.count, batch, per)
  try src.withUnsafeBufferPointer { (s) throws(SubQError) in
    try dst.withUnsafeMutableBufferPointer { (d) throws(SubQError) in
      let status =
        importing
        ? subq_ssm2_state_import(Int64(batch), Int64(heads), Int64(headDim), Int64(dState), s.baseAddress!, d.baseAddress!)
        : subq_ssm2_state_export(Int64(batch), Int64(heads), Int64(headDim), Int64(dState), s.baseAddress!, d.baseAddress!)
      try SubQError.check(status)
    }
  }
}

/// Grouped gated RMSNorm of Mamba-2 (`subq_gated_rmsnorm_f32`) over `rows` rows of `width`
/// channels in groups of `groupSize` contiguous channels (0 = the whole row):
/// `v = y·silu(z)`, `out = weight · v / sqrt(mean_group(v²) + eps)` (HF `MambaRMSNormGated`);
/// with `normBeforeGate` the gate multiplies after the norm; without `z` a plain grouped RMSNorm.
/// `out` may be `y`'s storage only through ``gatedRMSNormInPlace(rows:width:groupSize:eps:normBeforeGate:y:z:weight:context:)``.
/// Rows are independent: bitwise identical for any thread count.
/// - Throws: ``SubQError/Code/invalidArgument`` for negative sizes, short buffers, or a
///   `groupSize` that does not divide `width`; from the library for overlapping buffers.
public func gatedRMSNorm(
  rows: Int, width: Int, groupSize: Int = 0, eps: Float = 1e-5, normBeforeGate: Bool = false,
  y: Span<Float>, z: Span<Float>?, weight: Span<Float>?, out: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  try normCheck("gatedRMSNorm", rows, width, groupSize, y.count, z?.count, weight?.count, out.count)
  try y.withUnsafeBufferPointer { (yp) throws(SubQError) in
    try withOptionalSpan(z) { (zp) throws(SubQError) in
      try withOptionalSpan(weight) { (wp) throws(SubQError) in
        try out.withUnsafeMutableBufferPointer { (op) throws(SubQError) in
          try normRun(rows, width, groupSize, eps, normBeforeGate, yp.baseAddress, zp?.baseAddress, wp?.baseAddress,
                      op.baseAddress, context)
        }
      }
    }
  }
}

/// In-place form of ``gatedRMSNorm(rows:width:groupSize:eps:normBeforeGate:y:z:weight:out:context:)``:
/// `y` is overwritten by the result.
public func gatedRMSNormInPlace(
  rows: Int, width: Int, groupSize: Int = 0, eps: Float = 1e-5, normBeforeGate: Bool = false,
  y: inout MutableSpan<Float>, z: Span<Float>?, weight: Span<Float>?, context: Context? = nil
) throws(SubQError) {
  try normCheck("gatedRMSNormInPlace", rows, width, groupSize, y.count, z?.count, weight?.count, y.count)
  try withOptionalSpan(z) { (zp) throws(SubQError) in
    try withOptionalSpan(weight) { (wp) throws(SubQError) in
      try y.withUnsafeMutableBufferPointer { (yp) throws(SubQError) in
        try normRun(rows, width, groupSize, eps, normBeforeGate, UnsafePointer(yp.baseAddress), zp?.baseAddress,
                    wp?.baseAddress, yp.baseAddress, context)
      }
    }
  }
}

private func normCheck(
  _ fn: String, _ rows: Int, _ width: Int, _ groupSize: Int, _ yc: Int, _ zc: Int?, _ wc: Int?, _ oc: Int
) throws(SubQError) {
  if rows < 0 || width < 0 || groupSize < 0 {
    throw .invalidArgument("\(fn): rows (\(rows)), width (\(width)) and groupSize (\(groupSize)) must be >= 0")
  }
  if groupSize > 0 && width % groupSize != 0 {
    throw .invalidArgument("\(fn): groupSize (\(groupSize)) does not divide width (\(width))")
  }
  if rows == 0 || width == 0 { return }
  try needCount(fn, "y", yc, rows, width)
  try needCount(fn, "out", oc, rows, width)
  if let zc { try needCount(fn, "z", zc, rows, width) }
  if let wc { try needCount(fn, "weight", wc, width, 1) }
}

private func normRun(
  _ rows: Int, _ width: Int, _ groupSize: Int, _ eps: Float, _ normBeforeGate: Bool, _ y: UnsafePointer<Float>?,
  _ z: UnsafePointer<Float>?, _ w: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>?, _ context: Context?
) throws(SubQError) {
  var a = subq_gated_rmsnorm_args()
  subq_gated_rmsnorm_args_default(&a, MemoryLayout<subq_gated_rmsnorm_args>.size)
  a.rows = Int64(rows)
  a.width = Int64(width)
  a.group_size = Int64(groupSize)
  a.eps = eps
  a.flags = normBeforeGate ? UInt32(SUBQ_GATED_RMSNORM_NORM_BEFORE_GATE) : 0
  a.y = y
  a.z = z
  a.weight = w
  a.out = out
  let status = withExtendedLifetime(context) { subq_gated_rmsnorm_f32(context.cPointer, &a) }
  try SubQError.check(status)
}
