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

/// HF rotary embeddings (rotate_half pairs) through a `subq_rope_table`, with cos/sin cached for
/// the positions a session can reach.
final class RotaryTable: @unchecked Sendable {
  let raw: OpaquePointer
  let headDim: Int

  init(_ rope: ModelConfig.RoPE, headDim: Int, positions: Int, context: Context?) throws(SubQError) {
    var p = subq_rope_params()
    subq_rope_params_default(&p, MemoryLayout<subq_rope_params>.size)
    p.rot_dim = Int64(Double(headDim) * rope.partialRotaryFactor)
    p.theta = rope.theta
    switch rope.scaling {
    case .none: p.type = .default
    case .linear(let f):
      p.type = .linear
      p.factor = f
    case .llama3(let f, let lo, let hi, let l0):
      p.type = .llama3
      p.factor = f
      p.low_freq_factor = lo
      p.high_freq_factor = hi
      p.original_max_position_embeddings = Double(l0)
    case .yarn(let f, let l0, let betaFast, let betaSlow, let truncate, let af):
      p.type = .yarn
      p.factor = f
      p.original_max_position_embeddings = Double(l0)
      p.beta_fast = betaFast
      p.beta_slow = betaSlow
      p.yarn_truncate = truncate ? 1 : 0
      p.attention_scaling = af
    }
    p.cached_positions = Int64(positions)
    var h: OpaquePointer?
    try SubQError.check(subq_rope_table_create(context?.raw, &p, &h))
    raw = h!
    self.headDim = headDim
  }

  deinit { subq_rope_table_destroy(raw) }

  /// Rotates q (qHeads) and k (kHeads) of `tokens` rows in place, heads contiguous in a row.
  func apply(
    q: UnsafeMutablePointer<Float>, qHeads: Int, k: UnsafeMutablePointer<Float>, kHeads: Int, tokenStride: Int,
    positions: [Int64], context: Context?
  ) throws(SubQError) {
    var a = subq_rope_args()
    subq_rope_args_default(&a, MemoryLayout<subq_rope_args>.size)
    a.tokens = Int64(positions.count)
    a.head_dim = Int64(headDim)
    a.table = raw
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
