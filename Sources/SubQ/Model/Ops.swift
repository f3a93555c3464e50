internal import CSubQ
import Foundation

/// The layer ops between the big kernels, as the models call them (C `nn` family).
enum Ops {
  /// y[r] = x[r] / sqrt(mean(x[r]²) + eps) * w over rows of `n` floats (optionally grouped and
  /// gated: Mamba-2's MambaRMSNormGated with gate = z and groupSize = E / n_groups).
  static func rmsnorm(
    _ x: UnsafePointer<Float>, xStride: Int, rows: Int, n: Int, weight: UnsafePointer<Float>, eps: Float,
    into y: UnsafeMutablePointer<Float>, yStride: Int, gate: UnsafePointer<Float>? = nil, gateStride: Int = 0,
    groupSize: Int = 0, context: Context?
  ) throws(SubQError) {
    var a = subq_rmsnorm_args()
    subq_rmsnorm_args_default(&a, MemoryLayout<subq_rmsnorm_args>.size)
    a.rows = Int64(rows)
    a.cols = Int64(n)
    a.group_size = Int64(groupSize)
    a.eps = eps
    a.weight = UnsafeRawPointer(weight)
    a.x = x
    a.x_ld = Int64(xStride)
    a.gate = gate
    a.gate_ld = Int64(gateStride)
    a.y = y
    a.y_ld = Int64(yStride)
    try SubQError.check(subq_rmsnorm(context?.raw, &a))
  }

  /// out[r][i] = silu(g[r][i]) * u[r][i].
  static func swiglu(
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, stride: Int, rows: Int, n: Int,
    into out: UnsafeMutablePointer<Float>, outStride: Int, context: Context?
  ) throws(SubQError) {
    try SubQError.check(
      subq_swiglu(context?.raw, Int64(rows), Int64(n), gate, Int64(stride), up, Int64(stride), out, Int64(outStride)))
  }
}

/// HF rotary embeddings (rotate_half pairs) through `subq_rope_table`s, with cos/sin cached for
/// the positions a session can reach.
///
/// dynamic and longrope follow transformers 5.23's `dynamic_rope_update`, which runs once per
/// forward call (one prefill, then one call per decoded token) with S = max(position) + 1 of the
/// call; every position of the call uses the frequencies chosen for S, and keys already cached
/// keep the rotation they got:
/// - dynamic: S > the longest S seen so far (initially max_position_embeddings L) regrows the
///   NTK base for S and keeps it (a prefill of 48 > L = 32 uses S = 48 for all 48 positions;
///   each later decode step regrows for its own S); S < L after having grown returns to the
///   default schedule. Otherwise the kept frequencies stay (S <= L from the start: default).
/// - longrope: long_factor when S > original_max_position_embeddings, else short_factor; no
///   state between calls.
/// The state lives in this table (one per session), as in one HF module reused across calls.
/// `apply` mutates it: a table serves one session at a time.
final class RotaryTable: @unchecked Sendable {
  let headDim: Int
  /// The table of the base schedule (default / longrope short), cached for `positions`.
  private let original: RoPETable
  /// dynamic: the grown table in use (nil = original); longrope: the long table, built at first use.
  private var alternate: RoPETable?
  private var useAlternate = false
  private var inCall = false
  private var maxSeqLenCached: Int
  private let rotDim: Int
  private let rope: ModelConfig.RoPE
  private let positions: Int

  init(_ rope: ModelConfig.RoPE, headDim: Int, positions: Int, context: Context?) throws(SubQError) {
    rotDim = Int(Double(headDim) * rope.partialRotaryFactor)
    maxSeqLenCached = 0
    if case .dynamic(_, let maxPositions) = rope.scaling { maxSeqLenCached = maxPositions }
    self.rope = rope
    self.positions = positions
    self.headDim = headDim
    original = try Self.make(rotDim, seqLen: 0, long: false, rope: rope, cached: positions, context: context)
  }

  /// The public table of the config's schedule (dynamic grown for seqLen; longrope short or long).
  private static func make(
    _ rotDim: Int, seqLen: Int, long: Bool, rope: ModelConfig.RoPE, cached: Int, context: Context?
  ) throws(SubQError) -> RoPETable {
    var scaling = RoPEScaling.none
    var attentionScaling = 1.0
    switch rope.scaling {
    case .none: break
    case .linear(let f): scaling = .linear(factor: f)
    case .llama3(let f, let lo, let hi, let l0):
      scaling = .llama3(factor: f, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositionEmbeddings: Double(l0))
    case .yarn(let f, let l0, let betaFast, let betaSlow, let truncate, let af):
      scaling = .yarn(factor: f, originalMaxPositionEmbeddings: Double(l0), betaFast: betaFast, betaSlow: betaSlow,
                      truncate: truncate)
      attentionScaling = af
    case .dynamic(let f, let maxPositions):
      scaling = .dynamic(factor: f, originalMaxPositionEmbeddings: Double(maxPositions), seqLen: seqLen)
    case .longrope(let short, let longF, _, let af):
      scaling = .longrope(factors: (long ? longF : short).map { Float($0) })
      attentionScaling = af
    }
    return try RoPETable(
      rotDim: rotDim, theta: rope.theta, scaling: scaling, attentionScaling: attentionScaling,
      cachedPositions: cached, context: context)
  }

  /// Picks the schedule for a forward call reaching S = seqLen and keeps it for every `apply`
  /// until `endCall` (a call run in several pieces, or layer by layer, is still one call).
  func beginCall(seqLen: Int, context: Context?) throws(SubQError) {
    try update(seqLen: seqLen, context: context)
    inCall = true
  }

  func endCall() { inCall = false }

  /// Picks the schedule of a call reaching S = seqLen (see the type's comment).
  private func update(seqLen: Int, context: Context?) throws(SubQError) {
    switch rope.scaling {
    case .dynamic(_, let l):
      let cached = maxSeqLenCached
      if seqLen > cached {  // growth: not cached in rows, a decode step would rebuild them all
        alternate = try Self.make(rotDim, seqLen: seqLen, long: false, rope: rope, cached: 0, context: context)
        useAlternate = true
        maxSeqLenCached = seqLen
      }
      if seqLen < l && cached > l {  // reset (cached is the value before this call, as in HF)
        alternate = nil
        useAlternate = false
        maxSeqLenCached = l
      }
    case .longrope(_, _, let l0, _):
      let long = seqLen > l0
      if long, alternate == nil {
        alternate = try Self.make(rotDim, seqLen: 0, long: true, rope: rope, cached: positions, context: context)
      }
      useAlternate = long
    default: break
    }
  }

  /// Rotates q (qHeads) and k (kHeads) of `tokens` rows in place, heads contiguous in a row.
  func apply(
    q: UnsafeMutablePointer<Float>, qHeads: Int, k: UnsafeMutablePointer<Float>, kHeads: Int, tokenStride: Int,
    positions: [Int64], context: Context?
  ) throws(SubQError) {
    var a = subq_rope_args()
    subq_rope_args_default(&a, MemoryLayout<subq_rope_args>.size)
    a.tokens = Int64(positions.count)
    a.head_dim = Int64(headDim)
    // outside beginCall / endCall each apply is a call of its own
    if !inCall, let last = positions.max(), last >= 0 { try update(seqLen: Int(last) + 1, context: context) }
    let table = useAlternate ? alternate! : original  // held by self through the call
    a.table = table.raw
    a.q = q
    a.q_heads = Int64(qHeads)
    a.q_token_stride = Int64(tokenStride)
    a.q_head_stride = Int64(headDim)
    a.k = k
    a.k_heads = Int64(kHeads)
    a.k_token_stride = Int64(tokenStride)
    a.k_head_stride = Int64(headDim)
    let status = positions.withUnsafeBufferPointer { pos in
      a.positions = pos.baseAddress
      return subq_rope(context?.raw, &a)
    }
    try SubQError.check(status)
  }
}
