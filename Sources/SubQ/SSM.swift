internal import CSubQ

// Mamba kernels over Include/subq/subq_ssm.h: causal depthwise conv1d and the Mamba-1 selective
// scan (S6), prefill and single-token decode, f32. Activations are contiguous and token-major
// (`[batch][seqlen][channels]`); states are updated in place.

/// Activation applied after the conv1d bias.
public enum Conv1dActivation: Sendable, Hashable {
  /// No activation: `y = bias + Σ w·x`.
  case none
  /// `y = silu(bias + Σ w·x)` with `silu(x) = x·sigmoid(x)`.
  case silu
}

/// Floats of one sequence's Mamba-1 state in SubQ's layout (`h[channel / 16][n][channel % 16]`,
/// channels padded to a multiple of 16): `ceil(channels / 16) * 16 * dState`; 0 for sizes < 1.
public func ssm1StateCount(channels: Int, dState: Int) -> Int {
  Int(subq_ssm1_state_floats(Int64(channels), Int64(dState)))
}

/// Floats of one sequence's conv1d state: `(width - 1) * channels` (the last `width - 1`
/// pre-conv input rows, oldest first).
public func conv1dStateCount(channels: Int, width: Int) -> Int { max(0, width - 1) * max(0, channels) }

// MARK: - conv1d

/// Causal depthwise conv1d over `seqlen` new tokens of `batch` sequences (prefill), with the conv
/// state updated in place (`subq_conv1d_f32` with `state_in == state_out`).
///
/// - `x` and `y`: `[batch][seqlen][channels]`; `weight`: `[channels][width]` (PyTorch
///   `conv1d.weight` squeezed; tap `width - 1` multiplies the current token); `bias`: `[channels]`.
/// - `state`: `[batch][width - 1][channels]`, the last `width - 1` pre-conv inputs, oldest first;
///   all zeros for a new sequence. After the call it holds the last `width - 1` rows of
///   `[state ; x]`, so feeding chunks one after another gives bitwise the result of one call.
/// - `y[t][c] = act(bias[c] + Σ_k weight[c][k] · win[t + k][c])` with `win = [state ; x]`.
/// - Results are bitwise identical for any thread count (conv1d work items are sequence × 256 channels × 256 tokens).
///
/// Thread-safety: reentrant; concurrent calls must not share `y` or `state`.
/// - Throws: ``SubQError/Code/invalidArgument`` before any C call for negative sizes, `width`
///   outside 1…8, or a buffer shorter than its shape; from the library for overlapping buffers.
public func causalConv1d(
  batch: Int, seqlen: Int, channels: Int, width: Int = 4,
  x: Span<Float>, weight: Span<Float>, bias: Span<Float>? = nil,
  activation: Conv1dActivation = .none,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  try conv1dCall(
    "causalConv1d", step: false, VarlenRows(batch: batch, seqlen: seqlen), channels: channels, width: width, x: x,
    weight: weight, bias: bias, activation: activation, state: &state, y: &y, context: context)
}

/// Single-token decode update of ``causalConv1d(batch:seqlen:channels:width:x:weight:bias:activation:state:y:context:)``
/// (`subq_conv1d_update_f32`): `x` and `y` are `[batch][channels]`; the same arithmetic as
/// prefill, so prefill(k) + steps equals prefill(k + m) bitwise. Errors as the prefill call.
public func causalConv1dUpdate(
  batch: Int, channels: Int, width: Int = 4,
  x: Span<Float>, weight: Span<Float>, bias: Span<Float>? = nil,
  activation: Conv1dActivation = .none,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  try conv1dCall(
    "causalConv1dUpdate", step: true, VarlenRows(batch: batch, seqlen: 1), channels: channels, width: width, x: x,
    weight: weight, bias: bias, activation: activation, state: &state, y: &y, context: context)
}

/// Packed variable-length form of ``causalConv1d(batch:seqlen:channels:width:x:weight:bias:activation:state:y:context:)``
/// (`cu_seqlens` in `subq_conv1d_args`): sequence `s` is rows `cuSeqlens[s] ..< cuSeqlens[s+1]` of
/// `x` and `y` (`[rows][channels]`, `cuSeqlens.count - 1` sequences). `stateSlots[s]` (default
/// `s`) picks its state among `slotCount` states `[slotCount][width - 1][channels]`;
/// `hasInitialState[s] == 0` starts it from zeros. A sequence of length 0 leaves its state
/// untouched. Equals one call per sequence bitwise. With `step: true` it is the decode update
/// (every length ≤ 1). Errors as the uniform call, plus decreasing offsets and out-of-range or
/// repeated slots.
public func causalConv1dPacked(
  cuSeqlens: Span<Int32>, stateSlots: Span<Int32>? = nil, hasInitialState: Span<UInt8>? = nil, slotCount: Int,
  channels: Int, width: Int = 4,
  x: Span<Float>, weight: Span<Float>, bias: Span<Float>? = nil,
  activation: Conv1dActivation = .none, step: Bool = false,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  let fn = "causalConv1dPacked"
  try withVarlen(fn, cuSeqlens, stateSlots, hasInitialState, slotCount) { (rows) throws(SubQError) in
    try conv1dCall(
      fn, step: step, rows, channels: channels, width: width, x: x, weight: weight, bias: bias,
      activation: activation, state: &state, y: &y, context: context)
  }
}

/// The sequences of a call: `batch` sequences of `seqlen` rows each, or packed ones (`cu` set:
/// `rows` in all, states picked by `slots` among `slotCount`).
private struct VarlenRows {
  var batch: Int, seqlen: Int, rows: Int, slotCount: Int
  var cu: UnsafePointer<Int32>? = nil
  var slots: UnsafePointer<Int32>? = nil
  var hasInit: UnsafePointer<UInt8>? = nil

  init(batch: Int, seqlen: Int) {
    self.batch = batch
    self.seqlen = seqlen
    let (r, o) = max(0, batch).multipliedReportingOverflow(by: max(0, seqlen))
    self.rows = o ? Int.max : r
    self.slotCount = batch
  }
}

/// Validates the packed-batch spans and calls `body` with their pointers.
private func withVarlen(
  _ fn: String, _ cuSeqlens: Span<Int32>, _ stateSlots: Span<Int32>?, _ hasInitialState: Span<UInt8>?,
  _ slotCount: Int, _ body: (VarlenRows) throws(SubQError) -> Void
) throws(SubQError) {
  let n = cuSeqlens.count - 1
  if n < 0 { throw .invalidArgument("\(fn): cuSeqlens is empty") }
  // Every sequence's state is written, so the slots are distinct: at least one slot per sequence.
  if slotCount < n { throw .invalidArgument("\(fn): slotCount (\(slotCount)) is smaller than the \(n) sequences") }
  if let stateSlots, stateSlots.count < n {
    throw .invalidArgument("\(fn): stateSlots holds \(stateSlots.count) entries, needs \(n)")
  }
  if let hasInitialState, hasInitialState.count < n {
    throw .invalidArgument("\(fn): hasInitialState holds \(hasInitialState.count) entries, needs \(n)")
  }
  var v = VarlenRows(batch: n, seqlen: 0)
  v.rows = n > 0 ? max(0, Int(cuSeqlens[n])) : 0
  v.slotCount = slotCount
  try cuSeqlens.withUnsafeBufferPointer { (cu) throws(SubQError) in
    try withOptionalSpan(stateSlots) { (sl) throws(SubQError) in
      try withOptionalSpan(hasInitialState) { (hi) throws(SubQError) in
        v.cu = cu.baseAddress
        v.slots = sl?.baseAddress
        v.hasInit = hi?.baseAddress
        try body(v)
      }
    }
  }
}

private func need(_ fn: String, _ name: String, _ have: Int, _ want: (Int, Int, Int)) throws(SubQError) -> Int {
  let (p1, o1) = want.0.multipliedReportingOverflow(by: want.1)
  let (p2, o2) = p1.multipliedReportingOverflow(by: want.2)
  if o1 || o2 { throw .invalidArgument("\(fn): the size of \(name) overflows Int") }
  if have < p2 { throw .invalidArgument("\(fn): \(name) holds \(have) elements, needs \(p2)") }
  return p2
}

private func conv1dCall(
  _ fn: String, step: Bool, _ v: VarlenRows, channels: Int, width: Int,
  x: Span<Float>, weight: Span<Float>, bias: Span<Float>?, activation: Conv1dActivation,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>, context: Context?
) throws(SubQError) {
  if v.batch < 0 || v.seqlen < 0 || channels < 0 {
    throw .invalidArgument("\(fn): batch (\(v.batch)), seqlen (\(v.seqlen)) and channels (\(channels)) must be >= 0")
  }
  if width < 1 || width > 8 { throw .invalidArgument("\(fn): width (\(width)) is not in 1...8") }
  let active = v.batch > 0 && v.rows > 0 && channels > 0
  if active {
    _ = try need(fn, "x", x.count, (v.rows, channels, 1))
    _ = try need(fn, "y", y.count, (v.rows, channels, 1))
    _ = try need(fn, "weight", weight.count, (channels, width, 1))
    if let bias { _ = try need(fn, "bias", bias.count, (channels, 1, 1)) }
    _ = try need(fn, "state", state.count, (v.slotCount, width - 1, channels))
  }
  try x.withUnsafeBufferPointer { (x) throws(SubQError) in
    try weight.withUnsafeBufferPointer { (w) throws(SubQError) in
      try withOptionalSpan(bias) { (b) throws(SubQError) in
        try state.withUnsafeMutableBufferPointer { (s) throws(SubQError) in
          try y.withUnsafeMutableBufferPointer { (yb) throws(SubQError) in
            var a = subq_conv1d_args()
            subq_conv1d_args_default(&a, MemoryLayout<subq_conv1d_args>.size)
            a.batch = Int64(v.batch)
            a.seqlen = Int64(v.seqlen)
            a.channels = Int64(channels)
            a.cu_seqlens = v.cu
            a.state_slots = v.slots
            a.has_initial_state = v.hasInit
            a.n_slots = v.cu != nil ? Int64(v.slotCount) : 0
            a.width = Int32(width)
            a.flags = activation == .silu ? UInt32(SUBQ_CONV1D_SILU) : 0
            a.x = x.baseAddress
            a.weight = w.baseAddress
            a.bias = b?.baseAddress
            let sp = width > 1 && s.count > 0 ? s.baseAddress : nil
            a.state_in = UnsafePointer(sp)
            a.state_out = sp
            a.y = yb.baseAddress
            let status = withExtendedLifetime(context) {
              step ? subq_conv1d_update_f32(context.cPointer, &a) : subq_conv1d_f32(context.cPointer, &a)
            }
            try SubQError.check(status)
          }
        }
      }
    }
  }
}

// MARK: - Mamba-1 selective scan

/// How the `a` argument of the selective scan is given.
public enum SSM1AForm: Sendable, Hashable {
  /// `a` holds A (`[channels][dState]`, normally negative).
  case a
  /// `a` holds A_log; A = −exp(A_log) is computed in f32 (Mamba checkpoints' `A_log`).
  case aLog
  /// `a` holds ``ssm1PackA(channels:dState:a:aForm:into:)``'s output (Mamba-1 only): A packed
  /// once for the kernels, so decode steps do not repack it on every call. Same results bitwise.
  case packed
}

/// Packs Mamba-1's A once (`subq_ssm1_pack_a`): `a` is `[channels][dState]` A or A_log
/// (`aForm` `.a` or `.aLog`); `dst` receives ``ssm1StateCount(channels:dState:)`` floats to pass
/// to the scan with `aForm: .packed`.
/// - Throws: ``SubQError/Code/invalidArgument`` for sizes < 1, `dState` > 256, short buffers or
///   `aForm: .packed`.
public func ssm1PackA(
  channels: Int, dState: Int, a: Span<Float>, aForm: SSM1AForm = .a, into dst: inout MutableSpan<Float>
) throws(SubQError) {
  let fn = "ssm1PackA"
  if aForm == .packed { throw .invalidArgument("\(fn): aForm must be .a or .aLog") }
  if channels < 1 || dState < 1 { throw .invalidArgument("\(fn): channels (\(channels)) and dState (\(dState)) must be >= 1") }
  _ = try need(fn, "a", a.count, (channels, dState, 1))
  _ = try need(fn, "dst", dst.count, (ssm1StateCount(channels: channels, dState: dState), 1, 1))
  try a.withUnsafeBufferPointer { (ap) throws(SubQError) in
    try dst.withUnsafeMutableBufferPointer { (dp) throws(SubQError) in
      try SubQError.check(
        subq_ssm1_pack_a(Int64(channels), Int64(dState), ap.baseAddress!, aForm == .aLog, dp.baseAddress!))
    }
  }
}

/// Mamba-1 selective scan (S6) over `seqlen` tokens of `batch` sequences, the state updated in
/// place (`subq_ssm1_scan_f32` with `h_in == h_out`).
///
/// Per token `t` and channel `d` in group `g = d / (channels / groups)`:
/// `dt = softplus(dt[t,d] + dtBias[d])` (softplus only when `softplus`),
/// `h[d,n] = exp(dt·A[d,n])·h[d,n] + (dt·u[t,d])·B[t,g,n]`,
/// `y[t,d] = Σ_n C[t,g,n]·h[d,n] + dSkip[d]·u[t,d]`, then `y *= silu(z[t,d])` when `z` is given.
///
/// - `u`, `dt`, `z`, `y`: `[batch][seqlen][channels]`; `b`, `c`: `[batch][seqlen][groups·dState]`;
///   `a`: `[channels][dState]` (A or A_log, see `aForm`); `dtBias`, `dSkip`: `[channels]`.
/// - `state`: `batch` × ``ssm1StateCount(channels:dState:)`` floats in SubQ's layout (zeros for a
///   new sequence; ``ssm1StateImport(batch:channels:dState:from:to:)`` converts HF states).
///   Chunked prefill and decode steps reproduce one call bitwise.
/// - `dState` ≤ 256; `groups` divides `channels`. Bitwise identical for any thread count.
///
/// Thread-safety: reentrant; concurrent calls must not share `y` or `state`.
/// - Throws: ``SubQError/Code/invalidArgument`` before any C call for negative sizes or buffers
///   shorter than their shapes; from the library for `dState` outside 1…256, `groups` not dividing
///   `channels`, or overlapping buffers.
public func selectiveScan(
  batch: Int, seqlen: Int, channels: Int, dState: Int, groups: Int = 1,
  u: Span<Float>, dt: Span<Float>, a: Span<Float>, aForm: SSM1AForm = .a,
  b: Span<Float>, c: Span<Float>,
  z: Span<Float>? = nil, dtBias: Span<Float>? = nil, dSkip: Span<Float>? = nil,
  softplus: Bool = true,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  try scanCall(
    "selectiveScan", step: false, VarlenRows(batch: batch, seqlen: seqlen), channels: channels, dState: dState,
    groups: groups, u: u, dt: dt, a: a, aForm: aForm, b: b, c: c, z: z, dtBias: dtBias, dSkip: dSkip,
    softplus: softplus, state: &state, y: &y, context: context)
}

/// Single-token decode step of ``selectiveScan(batch:seqlen:channels:dState:groups:u:dt:a:aForm:b:c:z:dtBias:dSkip:softplus:state:y:context:)``
/// (`subq_ssm1_step_f32`): activations are `[batch][channels]` and `[batch][groups·dState]`; the
/// same arithmetic as prefill. Errors as the prefill call.
public func selectiveScanStep(
  batch: Int, channels: Int, dState: Int, groups: Int = 1,
  u: Span<Float>, dt: Span<Float>, a: Span<Float>, aForm: SSM1AForm = .a,
  b: Span<Float>, c: Span<Float>,
  z: Span<Float>? = nil, dtBias: Span<Float>? = nil, dSkip: Span<Float>? = nil,
  softplus: Bool = true,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  try scanCall(
    "selectiveScanStep", step: true, VarlenRows(batch: batch, seqlen: 1), channels: channels, dState: dState,
    groups: groups, u: u, dt: dt, a: a, aForm: aForm, b: b, c: c, z: z, dtBias: dtBias, dSkip: dSkip,
    softplus: softplus, state: &state, y: &y, context: context)
}

/// Packed variable-length form of ``selectiveScan(batch:seqlen:channels:dState:groups:u:dt:a:aForm:b:c:z:dtBias:dSkip:softplus:state:y:context:)``
/// (`cu_seqlens` in `subq_ssm1_args`): sequence `s` is rows `cuSeqlens[s] ..< cuSeqlens[s+1]` of
/// `u`, `dt`, `z`, `y` (`[rows][channels]`) and `b`, `c` (`[rows][groups·dState]`).
/// `stateSlots[s]` (default `s`) picks its state among `slotCount` states of
/// ``ssm1StateCount(channels:dState:)`` floats; `hasInitialState[s] == 0` starts it from zeros. A
/// sequence of length 0 leaves its state untouched. Equals one call per sequence bitwise. With
/// `step: true` it is the decode step (every length ≤ 1). Errors as the uniform call, plus
/// decreasing offsets and out-of-range or repeated slots.
public func selectiveScanPacked(
  cuSeqlens: Span<Int32>, stateSlots: Span<Int32>? = nil, hasInitialState: Span<UInt8>? = nil, slotCount: Int,
  channels: Int, dState: Int, groups: Int = 1,
  u: Span<Float>, dt: Span<Float>, a: Span<Float>, aForm: SSM1AForm = .a,
  b: Span<Float>, c: Span<Float>,
  z: Span<Float>? = nil, dtBias: Span<Float>? = nil, dSkip: Span<Float>? = nil,
  softplus: Bool = true, step: Bool = false,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>,
  context: Context? = nil
) throws(SubQError) {
  let fn = "selectiveScanPacked"
  try withVarlen(fn, cuSeqlens, stateSlots, hasInitialState, slotCount) { (rows) throws(SubQError) in
    try scanCall(
      fn, step: step, rows, channels: channels, dState: dState, groups: groups, u: u, dt: dt, a: a, aForm: aForm,
      b: b, c: c, z: z, dtBias: dtBias, dSkip: dSkip, softplus: softplus, state: &state, y: &y, context: context)
  }
}

private func scanCall(
  _ fn: String, step: Bool, _ v: VarlenRows, channels: Int, dState: Int, groups: Int,
  u: Span<Float>, dt: Span<Float>, a: Span<Float>, aForm: SSM1AForm, b: Span<Float>, c: Span<Float>,
  z: Span<Float>?, dtBias: Span<Float>?, dSkip: Span<Float>?, softplus: Bool,
  state: inout MutableSpan<Float>, y: inout MutableSpan<Float>, context: Context?
) throws(SubQError) {
  if v.batch < 0 || v.seqlen < 0 || channels < 0 || dState < 0 || groups < 0 {
    throw .invalidArgument(
      "\(fn): batch (\(v.batch)), seqlen (\(v.seqlen)), channels (\(channels)), dState (\(dState)) and groups (\(groups)) must be >= 0")
  }
  if v.batch > 0 && v.rows > 0 && channels > 0 && dState > 0 && groups > 0 {
    _ = try need(fn, "u", u.count, (v.rows, channels, 1))
    _ = try need(fn, "dt", dt.count, (v.rows, channels, 1))
    _ = try need(fn, "y", y.count, (v.rows, channels, 1))
    if let z { _ = try need(fn, "z", z.count, (v.rows, channels, 1)) }
    let (gn, o) = groups.multipliedReportingOverflow(by: dState)
    if o { throw .invalidArgument("\(fn): groups * dState overflows Int") }
    _ = try need(fn, "b", b.count, (v.rows, gn, 1))
    _ = try need(fn, "c", c.count, (v.rows, gn, 1))
    if aForm == .packed {
      _ = try need(fn, "a", a.count, (ssm1StateCount(channels: channels, dState: dState), 1, 1))
    } else {
      _ = try need(fn, "a", a.count, (channels, dState, 1))
    }
    if let dtBias { _ = try need(fn, "dtBias", dtBias.count, (channels, 1, 1)) }
    if let dSkip { _ = try need(fn, "dSkip", dSkip.count, (channels, 1, 1)) }
    _ = try need(fn, "state", state.count, (v.slotCount, ssm1StateCount(channels: channels, dState: dState), 1))
  }
  try u.withUnsafeBufferPointer { (u) throws(SubQError) in
  try dt.withUnsafeBufferPointer { (dtp) throws(SubQError) in
  try a.withUnsafeBufferPointer { (ap) throws(SubQError) in
  try b.withUnsafeBufferPointer { (bp) throws(SubQError) in
  try c.withUnsafeBufferPointer { (cp) throws(SubQError) in
  try withOptionalSpan(z) { (zp) throws(SubQError) in
  try withOptionalSpan(dtBias) { (dbp) throws(SubQError) in
  try withOptionalSpan(dSkip) { (dsp) throws(SubQError) in
  try state.withUnsafeMutableBufferPointer { (hp) throws(SubQError) in
  try y.withUnsafeMutableBufferPointer { (yp) throws(SubQError) in
    var args = subq_ssm1_args()
    subq_ssm1_args_default(&args, MemoryLayout<subq_ssm1_args>.size)
    args.batch = Int64(v.batch)
    args.seqlen = Int64(v.seqlen)
    args.channels = Int64(channels)
    args.cu_seqlens = v.cu
    args.state_slots = v.slots
    args.has_initial_state = v.hasInit
    args.n_slots = v.cu != nil ? Int64(v.slotCount) : 0
    args.d_state = Int64(dState)
    args.n_groups = Int64(groups)
    args.flags = (softplus ? UInt32(SUBQ_SSM1_DT_SOFTPLUS) : 0) | (aForm == .aLog ? UInt32(SUBQ_SSM1_A_LOG) : 0)
      | (aForm == .packed ? UInt32(SUBQ_SSM1_A_PACKED) : 0)
    args.u = u.baseAddress
    args.dt = dtp.baseAddress
    args.a = ap.baseAddress
    args.b = bp.baseAddress
    args.c = cp.baseAddress
    args.z = zp?.baseAddress
    args.dt_bias = dbp?.baseAddress
    args.d_skip = dsp?.baseAddress
    args.h_in = UnsafePointer(hp.baseAddress)
    args.h_out = hp.baseAddress
    args.y = yp.baseAddress
    let status = withExtendedLifetime(context) {
      step ? subq_ssm1_step_f32(context.cPointer, &args) : subq_ssm1_scan_f32(context.cPointer, &args)
    }
    try SubQError.check(status)
  }}}}}}}}}}
}

/// Converts `batch` Mamba-1 states from the HF / mamba_ssm layout `[batch][channels][dState]` into
/// SubQ's layout (`subq_ssm1_state_import`; padding lanes zero).
/// - Throws: ``SubQError/Code/invalidArgument`` for negative sizes or short buffers.
public func ssm1StateImport(
  batch: Int, channels: Int, dState: Int, from src: Span<Float>, to dst: inout MutableSpan<Float>
) throws(SubQError) {
  try stateConvert("ssm1StateImport", importing: true, batch: batch, channels: channels, dState: dState, src, &dst)
}

/// Converts `batch` Mamba-1 states from SubQ's layout to `[batch][channels][dState]`
/// (`subq_ssm1_state_export`). Errors as ``ssm1StateImport(batch:channels:dState:from:to:)``.
public func ssm1StateExport(
  batch: Int, channels: Int, dState: Int, from src: Span<Float>, to dst: inout MutableSpan<Float>
) throws(SubQError) {
  try stateConvert("ssm1StateExport", importing: false, batch: batch, channels: channels, dState: dState, src, &dst)
}

private func stateConvert(
  _ fn: String, importing: Bool, batch: Int, channels: Int, dState: Int, _ src: Span<Float>,
  _ dst: inout MutableSpan<Float>
) throws(SubQError) {
  if batch < 0 || channels < 0 || dState < 0 {
    throw .invalidArgument("\(fn): batch, channels and dState must be >= 0")
  }
  if batch == 0 || channels == 0 || dState == 0 { return }
  let packed = ssm1StateCount(channels: channels, dState: dState)
  _ = try need(fn, "src", src.count, importing ? (batch, channels, dState) : (batch, packed, 1))
  _ = try need(fn, "dst", dst.count, importing ? (batch, packed, 1) : (batch, channels, dState))
  try src.withUnsafeBufferPointer { (s) throws(SubQError) in
    try dst.withUnsafeMutableBufferPointer { (d) throws(SubQError) in
      let status =
        importing
        ? subq_ssm1_state_import(Int64(batch), Int64(channels), Int64(dState), s.baseAddress!, d.baseAddress!)
        : subq_ssm1_state_export(Int64(batch), Int64(channels), Int64(dState), s.baseAddress!, d.baseAddress!)
      try SubQError.check(status)
    }
  }
}
