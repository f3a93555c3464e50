internal import CSubQ

// Fused softmax attention, out = softmax(scale * Q Kᵀ + mask) V, over subq_fattn (Include/subq/subq_fattn.h).

/// Element strides of a `[batch][sequence][head][headDim]` attention tensor: element
/// `(b, s, h, d)` is at `base + b * batch + s * sequence + h * head + d` (the head dimension is
/// contiguous).
///
/// Strides are in elements and must not be negative; a stride of a dimension of extent one is
/// ignored. Dense BSHD storage is ``bshd(sequenceLength:heads:headDim:)``; BHSD (HF's
/// `[B][H][S][D]`) is ``bhsd(sequenceLength:heads:headDim:)``; a view into a fused QKV
/// projection uses the projection's row length as `sequence`. Thread-safety: a plain value.
public struct AttentionStrides: Sendable, Hashable, CustomStringConvertible {
  /// Elements between consecutive sequences of the batch.
  public var batch: Int
  /// Elements between consecutive tokens.
  public var sequence: Int
  /// Elements between consecutive heads.
  public var head: Int

  /// Strides `(batch, sequence, head)`.
  public init(batch: Int, sequence: Int, head: Int) {
    self.batch = batch
    self.sequence = sequence
    self.head = head
  }

  /// Dense `[B][S][H][D]`.
  public static func bshd(sequenceLength: Int, heads: Int, headDim: Int) -> AttentionStrides {
    AttentionStrides(batch: sequenceLength * heads * headDim, sequence: heads * headDim, head: headDim)
  }

  /// Dense `[B][H][S][D]`.
  public static func bhsd(sequenceLength: Int, heads: Int, headDim: Int) -> AttentionStrides {
    AttentionStrides(batch: sequenceLength * heads * headDim, sequence: headDim, head: sequenceLength * headDim)
  }

  /// `"(batch B, sequence S, head H)"`.
  public var description: String { "(batch \(batch), sequence \(sequence), head \(head))" }
}

/// The sizes of one attention call (`B`, `Hq`, `Hkv`, `Sq`, `Sk`, `DK`, `DV`).
///
/// Query head `h` reads kv head `h / (queryHeads / kvHeads)` (GQA/MQA; consecutive grouping as
/// HF `repeat_kv`). Thread-safety: a plain value.
public struct AttentionShape: Sendable, Hashable {
  /// Sequences in the batch (≥ 0).
  public var batch: Int
  /// Query heads `Hq` (≥ 1, a multiple of `kvHeads`).
  public var queryHeads: Int
  /// Key/value heads `Hkv` (≥ 1).
  public var kvHeads: Int
  /// Queries per sequence `Sq` (≥ 0).
  public var queryLength: Int
  /// Keys per sequence `Sk` (≥ 0; 0 makes every row fully masked: zeros).
  public var keyLength: Int
  /// Head dimension of q and k, 1…256.
  public var headDimQK: Int
  /// Head dimension of v and out, 1…256.
  public var headDimV: Int

  /// A shape; `headDimV` defaults to `headDimQK`.
  public init(
    batch: Int = 1, queryHeads: Int, kvHeads: Int? = nil, queryLength: Int, keyLength: Int, headDimQK: Int,
    headDimV: Int? = nil
  ) {
    self.batch = batch
    self.queryHeads = queryHeads
    self.kvHeads = kvHeads ?? queryHeads
    self.queryLength = queryLength
    self.keyLength = keyLength
    self.headDimQK = headDimQK
    self.headDimV = headDimV ?? headDimQK
  }
}

/// Which keys a query row may attend to: query row `i` sits at key coordinate
/// `p = i + (Sk - Sq)` (``Alignment/bottomRight``, the default: queries are the newest tokens) or
/// `p = i` (``Alignment/topLeft``, PyTorch SDPA `is_causal`); key `j` is allowed iff
/// `(windowLeft < 0 || j >= p - windowLeft) && (windowRight < 0 || j <= p + windowRight)`.
///
/// A row with no allowed key outputs exactly zero (lse `-inf`), never NaN. Thread-safety: a plain value.
public struct AttentionMask: Sendable, Hashable {
  /// How query rows map to key positions.
  public enum Alignment: Sendable, Hashable {
    /// `p = i + Sk - Sq` (KV-cache decode, chunked prefill).
    case bottomRight
    /// `p = i`.
    case topLeft
  }

  /// Row alignment.
  public var alignment: Alignment
  /// Keys allowed before the row's position; `-1` = unbounded.
  public var windowLeft: Int
  /// Keys allowed after the row's position; `-1` = unbounded, `0` = causal.
  public var windowRight: Int

  /// A mask with explicit extents (`-1` = unbounded).
  public init(alignment: Alignment = .bottomRight, windowLeft: Int, windowRight: Int) {
    self.alignment = alignment
    self.windowLeft = windowLeft
    self.windowRight = windowRight
  }

  /// Every key (`(-1, -1)`).
  public static let none = AttentionMask(windowLeft: -1, windowRight: -1)
  /// Causal, bottom-right aligned (`(-1, 0)`).
  public static let causal = AttentionMask(windowLeft: -1, windowRight: 0)
  /// Causal sliding window of `keys` keys including the row's own (HF / Mistral
  /// `sliding_window = keys`): `(keys - 1, 0)`.
  public static func slidingWindow(keys: Int) -> AttentionMask {
    AttentionMask(windowLeft: keys - 1, windowRight: 0)
  }
}

/// Fused (FlashAttention-style) softmax attention on the CPU.
public enum Attention {
  /// `out = softmax(scale * Q Kᵀ (+ soft-cap) + mask) V` without materialising the scores
  /// (`subq_fattn`).
  ///
  /// - q: `[B][Sq][Hq][DK]`, k: `[B][Sk][Hkv][DK]`, v: `[B][Sk][Hkv][DV]`, out: `[B][Sq][Hq][DV]`,
  ///   each addressed with its ``AttentionStrides`` (`nil` = dense BSHD). No copies.
  /// - `scale` defaults to `1 / sqrt(DK)`; `softcap > 0` applies `softcap * tanh(s / softcap)`
  ///   after scaling and before the mask.
  /// - `kvSplit`: split-K length in keys (`0` automatic, `-1` never, `n > 0` always). Splits depend
  ///   on the shape and this value only, never on the thread count, so results are bitwise
  ///   identical for any context with the same ISA path.
  /// - Accuracy: relative RMS error at most 6e-7 against a Double reference in the tests (spec tolerance 1e-5).
  ///
  /// Thread-safety: may be called from any thread; calls on one context are serialised.
  /// Synchronous and CPU-bound: do not call it on the main actor.
  ///
  /// - Throws: ``SubQError/Code/invalidArgument`` before any C call for negative sizes, head counts
  ///   that do not divide, head dimensions outside 1…256, window extents below -1, negative
  ///   strides, offsets that overflow, or a buffer holding fewer elements than its shape and
  ///   strides address; from the library for overlapping out rows or out overlapping an input;
  ///   ``SubQError/Code/outOfMemory`` for the split-K workspace or the K/V packing buffer
  ///   (prefill shapes pack K/V once per call into a buffer the context keeps: about 8 MiB, 32 MiB
  ///   at most).
  public static func forward(
    shape: AttentionShape,
    q: Span<Float>, qStrides: AttentionStrides? = nil,
    k: Span<Float>, kStrides: AttentionStrides? = nil,
    v: Span<Float>, vStrides: AttentionStrides? = nil,
    out: inout MutableSpan<Float>, outStrides: AttentionStrides? = nil,
    mask: AttentionMask = .none, scale: Float? = nil, softcap: Float = 0, kvSplit: Int = 0,
    context: Context? = nil
  ) throws(SubQError) {
    try q.withUnsafeBufferPointer { (q) throws(SubQError) in
      try k.withUnsafeBufferPointer { (k) throws(SubQError) in
        try v.withUnsafeBufferPointer { (v) throws(SubQError) in
          try out.withUnsafeMutableBufferPointer { (o) throws(SubQError) in
            try forward(
              shape: shape, q: q, qStrides: qStrides, k: k, kStrides: kStrides, v: v, vStrides: vStrides, out: o,
              outStrides: outStrides, lse: nil, mask: mask, scale: scale, softcap: softcap, kvSplit: kvSplit,
              context: context)
          }
        }
      }
    }
  }

  /// As ``forward(shape:q:qStrides:k:kStrides:v:vStrides:out:outStrides:mask:scale:softcap:kvSplit:context:)``,
  /// also writing the natural-log log-sum-exp of every row to `lse` (`[B][Hq][Sq]`, dense; `-inf`
  /// for fully masked rows). Throws also when `lse` holds fewer than `B * Hq * Sq` elements.
  public static func forward(
    shape: AttentionShape,
    q: Span<Float>, qStrides: AttentionStrides? = nil,
    k: Span<Float>, kStrides: AttentionStrides? = nil,
    v: Span<Float>, vStrides: AttentionStrides? = nil,
    out: inout MutableSpan<Float>, outStrides: AttentionStrides? = nil,
    lse: inout MutableSpan<Float>,
    mask: AttentionMask = .none, scale: Float? = nil, softcap: Float = 0, kvSplit: Int = 0,
    context: Context? = nil
  ) throws(SubQError) {
    try q.withUnsafeBufferPointer { (q) throws(SubQError) in
      try k.withUnsafeBufferPointer { (k) throws(SubQError) in
        try v.withUnsafeBufferPointer { (v) throws(SubQError) in
          try out.withUnsafeMutableBufferPointer { (o) throws(SubQError) in
            try lse.withUnsafeMutableBufferPointer { (l) throws(SubQError) in
              try forward(
                shape: shape, q: q, qStrides: qStrides, k: k, kStrides: kStrides, v: v, vStrides: vStrides, out: o,
                outStrides: outStrides, lse: l, mask: mask, scale: scale, softcap: softcap, kvSplit: kvSplit,
                context: context)
            }
          }
        }
      }
    }
  }

  /// The unsafe-buffer form (mmap'd or foreign memory) of
  /// ``forward(shape:q:qStrides:k:kStrides:v:vStrides:out:outStrides:mask:scale:softcap:kvSplit:context:)``.
  /// Same semantics and errors; the buffers' counts bound what may be addressed, and the pointers
  /// are used only during the call. `lse` is optional here.
  public static func forward(
    shape: AttentionShape,
    q: UnsafeBufferPointer<Float>, qStrides: AttentionStrides? = nil,
    k: UnsafeBufferPointer<Float>, kStrides: AttentionStrides? = nil,
    v: UnsafeBufferPointer<Float>, vStrides: AttentionStrides? = nil,
    out: UnsafeMutableBufferPointer<Float>, outStrides: AttentionStrides? = nil,
    lse: UnsafeMutableBufferPointer<Float>? = nil,
    mask: AttentionMask = .none, scale: Float? = nil, softcap: Float = 0, kvSplit: Int = 0,
    context: Context? = nil
  ) throws(SubQError) {
    let fn = "Attention.forward"
    let s = shape
    for (value, name) in [
      (s.batch, "shape.batch"), (s.queryLength, "shape.queryLength"), (s.keyLength, "shape.keyLength"),
    ] where value < 0 {
      throw .invalidArgument("\(fn): \(name) (\(value)) must not be negative")
    }
    if s.queryHeads < 1 { throw .invalidArgument("\(fn): shape.queryHeads (\(s.queryHeads)) must be >= 1") }
    if s.kvHeads < 1 { throw .invalidArgument("\(fn): shape.kvHeads (\(s.kvHeads)) must be >= 1") }
    if s.queryHeads % s.kvHeads != 0 {
      throw .invalidArgument("\(fn): shape.queryHeads (\(s.queryHeads)) is not a multiple of shape.kvHeads (\(s.kvHeads))")
    }
    for (value, name) in [(s.headDimQK, "shape.headDimQK"), (s.headDimV, "shape.headDimV")] where !(1...256).contains(value) {
      throw .invalidArgument("\(fn): \(name) (\(value)) is not in 1...256")
    }
    if mask.windowLeft < -1 { throw .invalidArgument("\(fn): mask.windowLeft (\(mask.windowLeft)) must be >= -1") }
    if mask.windowRight < -1 { throw .invalidArgument("\(fn): mask.windowRight (\(mask.windowRight)) must be >= -1") }
    if kvSplit < -1 { throw .invalidArgument("\(fn): kvSplit (\(kvSplit)) must be >= -1") }

    let qS = qStrides ?? .bshd(sequenceLength: s.queryLength, heads: s.queryHeads, headDim: s.headDimQK)
    let kS = kStrides ?? .bshd(sequenceLength: s.keyLength, heads: s.kvHeads, headDim: s.headDimQK)
    let vS = vStrides ?? .bshd(sequenceLength: s.keyLength, heads: s.kvHeads, headDim: s.headDimV)
    let oS = outStrides ?? .bshd(sequenceLength: s.queryLength, heads: s.queryHeads, headDim: s.headDimV)
    let touched = s.batch > 0 && s.queryLength > 0
    let readsKV = touched && s.keyLength > 0
    try checkTensor(fn, "q", q.count, s.batch, s.queryLength, s.queryHeads, s.headDimQK, qS, "qStrides", touched)
    try checkTensor(fn, "k", k.count, s.batch, s.keyLength, s.kvHeads, s.headDimQK, kS, "kStrides", readsKV)
    try checkTensor(fn, "v", v.count, s.batch, s.keyLength, s.kvHeads, s.headDimV, vS, "vStrides", readsKV)
    try checkTensor(fn, "out", out.count, s.batch, s.queryLength, s.queryHeads, s.headDimV, oS, "outStrides", touched)
    if let lse, touched {
      let (bh, o1) = s.batch.multipliedReportingOverflow(by: s.queryHeads)
      let (n, o2) = bh.multipliedReportingOverflow(by: s.queryLength)
      if o1 || o2 { throw .invalidArgument("\(fn): batch * queryHeads * queryLength overflows Int") }
      if lse.count < n { throw .invalidArgument("\(fn): lse has \(lse.count) elements, but the shape needs \(n)") }
    }

    var args = subq_fattn_args()
    subq_fattn_args_default(&args, MemoryLayout<subq_fattn_args>.size)
    args.batch = Int64(s.batch)
    args.hq = Int64(s.queryHeads)
    args.hkv = Int64(s.kvHeads)
    args.sq = Int64(s.queryLength)
    args.sk = Int64(s.keyLength)
    args.dk = Int64(s.headDimQK)
    args.dv = Int64(s.headDimV)
    args.scale = scale ?? 0
    args.softcap = softcap
    args.align = mask.alignment == .bottomRight ? SUBQ_FATTN_ALIGN_BOTTOM_RIGHT : SUBQ_FATTN_ALIGN_TOP_LEFT
    args.window_left = Int64(mask.windowLeft)
    args.window_right = Int64(mask.windowRight)
    args.kv_split = Int64(kvSplit)
    args.q = q.baseAddress
    (args.q_bs, args.q_ss, args.q_hs) = (Int64(qS.batch), Int64(qS.sequence), Int64(qS.head))
    args.k = k.baseAddress
    (args.k_bs, args.k_ss, args.k_hs) = (Int64(kS.batch), Int64(kS.sequence), Int64(kS.head))
    args.v = v.baseAddress
    (args.v_bs, args.v_ss, args.v_hs) = (Int64(vS.batch), Int64(vS.sequence), Int64(vS.head))
    args.out = out.baseAddress
    (args.o_bs, args.o_ss, args.o_hs) = (Int64(oS.batch), Int64(oS.sequence), Int64(oS.head))
    args.lse = touched ? lse?.baseAddress : nil
    let status = withExtendedLifetime(context) { subq_fattn(context.cPointer, &args) }
    try SubQError.check(status)
  }
}

/// Checks that a `[B][S][H][D]` tensor addressed with `strides` lies inside `count` elements.
func checkTensor(
  _ fn: String, _ name: String, _ count: Int, _ b: Int, _ seq: Int, _ heads: Int, _ dim: Int,
  _ st: AttentionStrides, _ stridesName: String, _ touched: Bool
) throws(SubQError) {
  for (value, field) in [(st.batch, "batch"), (st.sequence, "sequence"), (st.head, "head")] where value < 0 {
    throw .invalidArgument("\(fn): \(stridesName).\(field) (\(value)) must not be negative")
  }
  guard touched else { return }
  var last = dim - 1
  for (extent, stride) in [(b, st.batch), (seq, st.sequence), (heads, st.head)] where extent > 1 {
    let (term, o1) = (extent - 1).multipliedReportingOverflow(by: stride)
    let (sum, o2) = last.addingReportingOverflow(term)
    if o1 || o2 { throw .invalidArgument("\(fn): the offsets of \(name) overflow Int (\(stridesName) \(st))") }
    last = sum
  }
  if count <= last {
    throw .invalidArgument(
      "\(fn): \(name) has \(count) elements, but its shape with \(stridesName) \(st) addresses \(last + 1)")
  }
}
