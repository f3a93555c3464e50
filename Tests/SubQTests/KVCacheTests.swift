import Testing

@testable import SubQ

/// Slices tokens `0..<n` of a dense `[T][H][D]` array.
private func prefix(_ x: [Float], tokens n: Int, heads: Int, dim: Int) -> [Float] { Array(x[0..<(n * heads * dim)]) }

@Suite(.serialized) struct KVCacheTests {
  /// Chunked prefill then token-by-token decode through a cache equals the Double reference over
  /// all tokens so far, for every storage type and both modes (ring: sliding window beyond the
  /// capacity, positions after wrap-around).
  @Test(arguments: [KVCache.Storage.f32, .bf16, .f16], [KVCache.Mode.linear, .ring])
  func prefillThenDecode(storage: KVCache.Storage, mode: KVCache.Mode) throws {
    let (Hq, Hkv, D, T) = (4, 2, 16, 60)
    let window = 9  // keys incl. self: (8, 0)
    let mask: AttentionMask = mode == .ring ? .slidingWindow(keys: window) : .causal
    let cap = mode == .ring ? window - 1 + 20 : T
    let k = randomFloats(T * Hkv * D, seed: 31), v = randomFloats(T * Hkv * D, seed: 32)
    let q = randomFloats(T * Hq * D, seed: 33)
    let cache = try KVCache(kvHeads: Hkv, headDimQK: D, capacity: cap, storage: storage, mode: mode)
    // spec §7: F32 (1e-5, 1e-5); BF16-KV (5e-3, 1e-2); F16-KV (2e-3, 2e-3) against unrounded inputs
    let (atol, rtol) = storage == .f32 ? (1e-5, 1e-5) : storage == .bf16 ? (5e-3, 1e-2) : (2e-3, 2e-3)
    var t = 0
    for n in [20, 1, 1, 1, 5, 1, 1, 20, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] where t + n <= T {
      let ks = Array(k[(t * Hkv * D)..<((t + n) * Hkv * D)]), vs = Array(v[(t * Hkv * D)..<((t + n) * Hkv * D)])
      try cache.append(k: ks.span, v: vs.span, tokens: n)
      t += n
      let qs = Array(q[((t - n) * Hq * D)..<(t * Hq * D)])
      var out = [Float](repeating: .nan, count: n * Hq * D)
      var os = out.mutableSpan
      try Attention.forward(cache: cache, queryHeads: Hq, queryLength: n, q: qs.span, out: &os, mask: mask)
      _ = consume os
      let shape = AttentionShape(queryHeads: Hq, kvHeads: Hkv, queryLength: n, keyLength: t, headDimQK: D)
      let ref = referenceAttention(
        shape, q: qs, k: prefix(k, tokens: t, heads: Hkv, dim: D), v: prefix(v, tokens: t, heads: Hkv, dim: D),
        mask: mask)
      for (x, r) in zip(out, ref.out) {
        #expect(abs(Double(x) - r) <= atol + rtol * abs(r), "\(storage) \(mode) t=\(t): \(x) vs \(r)")
      }
      let held = try cache.positions(sequence: 0)
      #expect(held == (mode == .ring ? max(0, t - cap) : 0)..<t)
    }
    #expect(t == T)
  }

  /// Errors: a full linear cache, mismatched heads, a top-left mask, a ring that lost needed keys,
  /// bad construction, truncate/reset.
  @Test func errors() throws {
    func expectError(_ needle: String, _ body: () throws(SubQError) -> Void) {
      do throws(SubQError) {
        try body()
        Issue.record("no error, expected \(needle)")
      } catch {
        #expect(error.code == .invalidArgument && error.message.contains(needle), "\(error.message)")
      }
    }
    expectError("capacity") { () throws(SubQError) in _ = try KVCache(kvHeads: 1, headDimQK: 8, capacity: 0) }
    expectError("dk") { () throws(SubQError) in _ = try KVCache(kvHeads: 1, headDimQK: 300, capacity: 4) }
    let cache = try KVCache(kvHeads: 2, headDimQK: 8, capacity: 4)
    let kv = [Float](repeating: 0.5, count: 5 * 2 * 8)
    expectError("full") { () throws(SubQError) in try cache.append(k: kv.span, v: kv.span, tokens: 5) }
    expectError("elements") { () throws(SubQError) in
      try cache.append(k: kv[0..<10].span, v: kv.span, tokens: 2)
    }
    try cache.append(k: kv.span, v: kv.span, tokens: 3)
    #expect(try cache.positions(sequence: 0) == 0..<3)
    let q = [Float](repeating: 1, count: 4 * 4 * 8)
    var out = [Float](repeating: 0, count: 4 * 4 * 8)
    expectError("queryHeads") { () throws(SubQError) in
      var os = out.mutableSpan
      try Attention.forward(cache: cache, queryHeads: 3, queryLength: 1, q: q.span, out: &os)
    }
    expectError("bottomRight") { () throws(SubQError) in
      var os = out.mutableSpan
      try Attention.forward(
        cache: cache, queryHeads: 4, queryLength: 1, q: q.span, out: &os,
        mask: AttentionMask(alignment: .topLeft, windowLeft: -1, windowRight: 0))
    }
    expectError("fewer than sq") { () throws(SubQError) in
      var os = out.mutableSpan
      try Attention.forward(cache: cache, queryHeads: 4, queryLength: 4, q: q.span, out: &os)
    }
    // all values equal: attention returns them exactly
    var os = out.mutableSpan
    try Attention.forward(cache: cache, queryHeads: 4, queryLength: 3, q: q.span, out: &os)
    _ = consume os
    #expect(out[0..<(3 * 4 * 8)].allSatisfy { $0 == 0.5 })
    try cache.truncate(sequence: 0, to: 1)
    #expect(try cache.positions(sequence: 0) == 0..<1)
    expectError("end (2)") { () throws(SubQError) in try cache.truncate(sequence: 0, to: 2) }
    cache.reset()
    #expect(try cache.positions(sequence: 0) == 0..<0)
    let ring = try KVCache(kvHeads: 2, headDimQK: 8, capacity: 4, storage: .f16, mode: .ring)
    try ring.append(k: kv.span, v: kv.span, tokens: 5)
    #expect(try ring.positions(sequence: 0) == 1..<5)
    expectError("no longer holds position 0") { () throws(SubQError) in
      var os = out.mutableSpan
      try Attention.forward(cache: ring, queryHeads: 4, queryLength: 1, q: q.span, out: &os)
    }
  }
}
