internal import CSubQ

// A per-layer KV cache (linear or ring buffer; f32, bf16 or f16 storage) and attention over it,
// over subq_kv_cache_* / subq_fattn_kv (Include/subq/subq_fattn.h).

/// One layer's keys and values for `batch` sequences, stored per sequence and kv head as token
/// rows (`[B][Hkv][capacity][D]`), zero-filled at creation. Wraps `subq_kv_cache`.
///
/// Sequence `b` holds the absolute positions ``positions(sequence:)`` = `first..<end`: `end` counts
/// the tokens appended so far. A ``Mode/linear`` cache keeps every position (appends past
/// `capacity` throw); a ``Mode/ring`` cache keeps the last `capacity` positions (position `p` in
/// slot `p % capacity`) for sliding-window layers: with a left window `wl` and at most `n` new
/// tokens per call, `capacity >= wl + n` keeps every key the queries may see. Masks use absolute
/// positions, so they stay exact after the ring wraps.
///
/// Appends convert f32 to the storage type with round-to-nearest-even; attention widens exactly
/// and computes in f32 (16-bit storage is read directly by the kernels).
///
/// Thread-safety: `@unchecked Sendable`. ``append(k:kStrides:v:vStrides:tokens:sequences:context:)``,
/// ``truncate(sequence:to:)`` and ``reset()`` mutate the cache and must not run concurrently with
/// any other use of it; concurrent ``Attention/forward(cache:queryHeads:queryLength:q:qStrides:out:outStrides:mask:scale:softcap:kvSplit:context:)``
/// calls only read it. `deinit` frees the storage.
public final class KVCache: @unchecked Sendable {
  /// Storage element type.
  public enum Storage: Sendable, Hashable {
    case f32, bf16, f16
    var cValue: subq_dtype {
      switch self {
      case .f32: .f32
      case .bf16: .bf16
      case .f16: .f16
      }
    }
  }

  /// Which positions are kept.
  public enum Mode: Sendable, Hashable {
    /// Every position `0..<capacity`.
    case linear
    /// The last `capacity` positions (sliding-window layers).
    case ring
  }

  let raw: OpaquePointer
  /// Sequences.
  public let batch: Int
  /// Key/value heads `Hkv`.
  public let kvHeads: Int
  /// Head dimension of keys.
  public let headDimQK: Int
  /// Head dimension of values.
  public let headDimV: Int
  /// Positions (linear) or ring slots per sequence.
  public let capacity: Int
  /// Storage element type.
  public let storage: Storage
  /// Linear or ring.
  public let mode: Mode

  /// Allocates a zero-filled cache with every sequence empty.
  /// - Throws: ``SubQError/Code/invalidArgument`` for batch, kvHeads or capacity below 1, head
  ///   dimensions outside 1…256, or a byte size that overflows; ``SubQError/Code/outOfMemory``.
  public init(
    batch: Int = 1, kvHeads: Int, headDimQK: Int, headDimV: Int? = nil, capacity: Int, storage: Storage = .f32,
    mode: Mode = .linear
  ) throws(SubQError) {
    var a = subq_kv_cache_args()
    subq_kv_cache_args_default(&a, MemoryLayout<subq_kv_cache_args>.size)
    a.dtype = storage.cValue
    a.mode = mode == .ring ? SUBQ_KV_RING : SUBQ_KV_LINEAR
    a.batch = Int64(batch)
    a.hkv = Int64(kvHeads)
    a.dk = Int64(headDimQK)
    a.dv = Int64(headDimV ?? headDimQK)
    a.capacity = Int64(capacity)
    var out: OpaquePointer? = nil
    let status = subq_kv_cache_create(&a, &out)
    guard status == .ok, let out else { throw SubQError(status) }
    raw = out
    self.batch = batch
    self.kvHeads = kvHeads
    self.headDimQK = headDimQK
    self.headDimV = headDimV ?? headDimQK
    self.capacity = capacity
    self.storage = storage
    self.mode = mode
  }

  deinit { subq_kv_cache_destroy(raw) }

  /// Absolute positions `first..<end` held by `sequence`.
  /// - Throws: ``SubQError/Code/invalidArgument`` for a sequence outside `0..<batch`.
  public func positions(sequence: Int) throws(SubQError) -> Range<Int> {
    var first: Int64 = 0, end: Int64 = 0
    try SubQError.check(subq_kv_cache_positions(raw, Int64(sequence), &first, &end))
    return Int(first)..<Int(end)
  }

  /// Appends `tokens` new tokens to each sequence of `sequences` (default: all): token `t` of the
  /// `i`-th of them, kv head `h`, is read from `k` at `i * kStrides.batch + t * kStrides.sequence
  /// + h * kStrides.head` (`nil` strides: dense `[sequences][tokens][Hkv][DK]`), likewise `v`.
  /// A ring given more than `capacity` tokens keeps the last `capacity`.
  /// - Throws: ``SubQError/Code/invalidArgument`` for a sequence range outside `0..<batch`,
  ///   negative tokens or strides, `k`/`v` shorter than addressed, or a full linear cache.
  public func append(
    k: Span<Float>, kStrides: AttentionStrides? = nil, v: Span<Float>, vStrides: AttentionStrides? = nil,
    tokens: Int, sequences: Range<Int>? = nil, context: Context? = nil
  ) throws(SubQError) {
    let fn = "KVCache.append"
    let seqs = sequences ?? 0..<batch
    if seqs.lowerBound < 0 || seqs.upperBound > batch {
      throw .invalidArgument("\(fn): sequences \(seqs) are not inside 0..<\(batch)")
    }
    if tokens < 0 { throw .invalidArgument("\(fn): tokens (\(tokens)) must not be negative") }
    let kS = kStrides ?? .bshd(sequenceLength: tokens, heads: kvHeads, headDim: headDimQK)
    let vS = vStrides ?? .bshd(sequenceLength: tokens, heads: kvHeads, headDim: headDimV)
    let touched = tokens > 0 && !seqs.isEmpty
    try checkTensor(fn, "k", k.count, seqs.count, tokens, kvHeads, headDimQK, kS, "kStrides", touched)
    try checkTensor(fn, "v", v.count, seqs.count, tokens, kvHeads, headDimV, vS, "vStrides", touched)
    guard touched else { return }
    let status = k.withUnsafeBufferPointer { k in
      v.withUnsafeBufferPointer { v in
        withExtendedLifetime(context) {
          subq_kv_cache_append(
            context.cPointer, raw, Int64(seqs.lowerBound), Int64(seqs.count), Int64(tokens), k.baseAddress,
            Int64(kS.batch), Int64(kS.sequence), Int64(kS.head), v.baseAddress, Int64(vS.batch), Int64(vS.sequence),
            Int64(vS.head))
        }
      }
    }
    try SubQError.check(status)
  }

  /// Drops the positions `>= end` of `sequence`.
  /// - Throws: ``SubQError/Code/invalidArgument`` for a sequence outside `0..<batch` or `end`
  ///   outside `0...positions(sequence:).upperBound`.
  public func truncate(sequence: Int, to end: Int) throws(SubQError) {
    try SubQError.check(subq_kv_cache_truncate(raw, Int64(sequence), Int64(end)))
  }

  /// Empties every sequence (positions restart at 0).
  public func reset() { subq_kv_cache_reset(raw) }
}

extension Attention {
  /// Attention of the newest `queryLength` positions of every sequence over `cache`
  /// (`subq_fattn_kv`): append their K/V first. Query `i` of sequence `b` sits at absolute
  /// position `p = end_b - queryLength + i`; key position `j` is allowed iff it is held and
  /// `(windowLeft < 0 || j >= p - windowLeft) && (windowRight < 0 || j <= p + windowRight)`
  /// (``AttentionMask/Alignment/bottomRight`` only).
  ///
  /// - q: `[B][Sq][Hq][DK]`, out: `[B][Sq][Hq][DV]` with `B`, `DK`, `DV` and `Hkv` from the cache
  ///   (`nil` strides: dense BSHD). Decode (`queryLength` 1…16 against long caches) uses split-K.
  /// - Throws: ``SubQError/Code/invalidArgument`` before any C call for sizes, strides or buffers
  ///   as ``forward(shape:q:qStrides:k:kStrides:v:vStrides:out:outStrides:mask:scale:softcap:kvSplit:context:)``
  ///   and a top-left mask; from the library when a sequence holds fewer than `queryLength`
  ///   positions or a ring no longer holds a key the queries may see.
  public static func forward(
    cache: KVCache, queryHeads: Int, queryLength: Int,
    q: Span<Float>, qStrides: AttentionStrides? = nil,
    out: inout MutableSpan<Float>, outStrides: AttentionStrides? = nil,
    mask: AttentionMask = .causal, scale: Float? = nil, softcap: Float = 0, kvSplit: Int = 0,
    context: Context? = nil
  ) throws(SubQError) {
    let fn = "Attention.forward(cache:)"
    if queryLength < 0 { throw .invalidArgument("\(fn): queryLength (\(queryLength)) must not be negative") }
    if queryHeads < 1 || queryHeads % cache.kvHeads != 0 {
      throw .invalidArgument("\(fn): queryHeads (\(queryHeads)) is not a positive multiple of the cache's kvHeads (\(cache.kvHeads))")
    }
    if mask.alignment != .bottomRight { throw .invalidArgument("\(fn): mask.alignment must be bottomRight over a cache") }
    if mask.windowLeft < -1 { throw .invalidArgument("\(fn): mask.windowLeft (\(mask.windowLeft)) must be >= -1") }
    if mask.windowRight < -1 { throw .invalidArgument("\(fn): mask.windowRight (\(mask.windowRight)) must be >= -1") }
    if kvSplit < -1 { throw .invalidArgument("\(fn): kvSplit (\(kvSplit)) must be >= -1") }
    let B = cache.batch
    let qS = qStrides ?? .bshd(sequenceLength: queryLength, heads: queryHeads, headDim: cache.headDimQK)
    let oS = outStrides ?? .bshd(sequenceLength: queryLength, heads: queryHeads, headDim: cache.headDimV)
    let touched = queryLength > 0
    try checkTensor(fn, "q", q.count, B, queryLength, queryHeads, cache.headDimQK, qS, "qStrides", touched)
    try checkTensor(fn, "out", out.count, B, queryLength, queryHeads, cache.headDimV, oS, "outStrides", touched)
    var args = subq_fattn_args()
    subq_fattn_args_default(&args, MemoryLayout<subq_fattn_args>.size)
    args.batch = Int64(B)
    args.hq = Int64(queryHeads)
    args.hkv = Int64(cache.kvHeads)
    args.sq = Int64(queryLength)
    args.dk = Int64(cache.headDimQK)
    args.dv = Int64(cache.headDimV)
    args.scale = scale ?? 0
    args.softcap = softcap
    args.window_left = Int64(mask.windowLeft)
    args.window_right = Int64(mask.windowRight)
    args.kv_split = Int64(kvSplit)
    (args.q_bs, args.q_ss, args.q_hs) = (Int64(qS.batch), Int64(qS.sequence), Int64(qS.head))
    (args.o_bs, args.o_ss, args.o_hs) = (Int64(oS.batch), Int64(oS.sequence), Int64(oS.head))
    let status = q.withUnsafeBufferPointer { q in
      out.withUnsafeMutableBufferPointer { o in
        args.q = q.baseAddress
        args.out = o.baseAddress
        return withExtendedLifetime(context) {
          withExtendedLifetime(cache) { subq_fattn_kv(context.cPointer, &args, cache.raw) }
        }
      }
    }
    try SubQError.check(status)
  }
}
