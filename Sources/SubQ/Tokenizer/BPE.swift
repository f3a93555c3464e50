// The BPE model of tokenizer.json (`"type": "BPE"`), as `tokenizers` applies it to one pre-token:
// split into characters (vocab lookups, byte fallback `<0xHH>`, unk with fuse_unk), then apply
// merges lowest rank first (leftmost on ties) until none applies. Short words use a rank scan
// over a linked list; long ones (SentencePiece pipelines feed whole sentences) a binary heap.

struct BPEModel: Sendable {
  /// Token bytes → id (model vocabulary).
  let vocab: ByteTable
  let merges: PairTable
  let unkID: Int32?
  let fuseUnk: Bool
  /// Id of `<0xHH>` per byte, -1 if absent; nil when byte_fallback is off.
  let byteFallback: [Int32]?
  let ignoreMerges: Bool
  let prefix: [UInt8]?
  let suffix: [UInt8]?
  /// Model tokens in id order: (id, bytes).
  let tokens: [(Int32, [UInt8])]
  /// "▁" is a token and no token has "▁" after its start, so no merge (nor an ignore_merges lookup)
  /// can span the start of a "▁": a word may be cut before each "▁" without changing the result.
  /// SentencePiece pipelines feed whole sentences as one word; the cuts let them use the cache.
  let cutsBeforeMetaspace: Bool

  init(_ m: JSONValue, _ r: JSONReader) throws(SubQError) {
    _ = try r.object(m, "model")
    let type = try r.string(m["type"], "model.type")
    guard type == "BPE" else {
      throw SubQError(
        code: .unsupported, message: "\(r.context): model.type \"\(type)\" is not a supported model (supported: BPE)")
    }
    if case .double(let d) = m["dropout"] ?? .null, d != 0 {
      throw SubQError(code: .unsupported, message: "\(r.context): model.dropout \(d) is not supported (only null or 0)")
    }
    let vocabObj = try r.object(m["vocab"], "model.vocab")
    guard case .object(let members) = vocabObj else { throw r.fail("model.vocab", "must be an object") }
    var vocab = ByteTable(capacity: members.count)
    var tokens: [(Int32, [UInt8])] = []
    tokens.reserveCapacity(members.count)
    for (k, v) in members {
      let id = try r.id(v, "model.vocab[\"\(k)\"]")
      let b = Array(k.utf8)
      vocab.insert(b, UInt64(id))
      tokens.append((id, b))
    }
    self.vocab = vocab
    self.tokens = tokens
    let meta: [UInt8] = [0xE2, 0x96, 0x81]
    cutsBeforeMetaspace =
      vocab.find(meta) != nil
      && !tokens.contains { t in
        t.1.count > 3 && t.1.withUnsafeBufferPointer { b in !findAll(UnsafeBufferPointer(rebasing: b[1...]), meta).isEmpty }
      }

    prefix = try r.optionalString(m["continuing_subword_prefix"], "model.continuing_subword_prefix").map { Array($0.utf8) }
    suffix = try r.optionalString(m["end_of_word_suffix"], "model.end_of_word_suffix").map { Array($0.utf8) }
    fuseUnk = try r.bool(m["fuse_unk"], "model.fuse_unk", default: false)
    ignoreMerges = try r.bool(m["ignore_merges"], "model.ignore_merges", default: false)
    if let unk = try r.optionalString(m["unk_token"], "model.unk_token") {
      guard let id = vocab.find(Array(unk.utf8)) else {
        throw r.fail("model.unk_token", "\"\(unk)\" is not in model.vocab")
      }
      unkID = Int32(id)
    } else {
      unkID = nil
    }
    if try r.bool(m["byte_fallback"], "model.byte_fallback", default: false) {
      let hex = Array("0123456789ABCDEF".utf8)
      byteFallback = (0..<256).map { b in
        let key: [UInt8] = [0x3C, 0x30, 0x78, hex[b >> 4], hex[b & 15], 0x3E]  // <0xHH>
        return vocab.find(key).map { Int32($0) } ?? -1
      }
    } else {
      byteFallback = nil
    }

    // Merges: "a b" strings or [a, b] pairs; every part and the merged token must be in the vocab.
    let list = try r.array(m["merges"], "model.merges")
    var pt = PairTable(capacity: list.count)
    let prefixLen = prefix?.count ?? 0
    for (rank, item) in list.enumerated() {
      let path = "model.merges[\(rank)]"
      var a: [UInt8]
      var b: [UInt8]
      switch item {
      case .string(let s):
        let parts = s.utf8.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw r.fail(path, "\"\(s)\" is not two tokens separated by one space") }
        a = Array(parts[0])
        b = Array(parts[1])
      case .array(let pair):
        guard pair.count == 2 else { throw r.fail(path, "must be a pair of tokens") }
        a = Array(try r.string(pair[0], path + "[0]").utf8)
        b = Array(try r.string(pair[1], path + "[1]").utf8)
      default:
        throw r.fail(path, "must be a string or a pair of strings, not \(item.typeName)")
      }
      guard let ia = vocab.find(a) else { throw r.fail(path, "refers to \"\(String(decoding: a, as: UTF8.self))\", not in model.vocab") }
      guard let ib = vocab.find(b) else { throw r.fail(path, "refers to \"\(String(decoding: b, as: UTF8.self))\", not in model.vocab") }
      if prefixLen > 0 {
        guard b.count >= prefixLen, b.starts(with: prefix!) else {
          throw r.fail(path, "right token does not start with continuing_subword_prefix")
        }
      }
      let merged = a + b[prefixLen...]
      guard let im = vocab.find(merged) else {
        throw r.fail(path, "merged token \"\(String(decoding: merged, as: UTF8.self))\" is not in model.vocab")
      }
      pt.insert(Int32(ia), Int32(ib), rank: UInt32(rank), merged: Int32(im))
    }
    merges = pt
  }

  /// Appends the ids of one pre-token. Words of up to `scanLimit` symbols merge by scanning, longer ones with a heap.
  func tokenize(_ w: UnsafeBufferPointer<UInt8>, into out: inout [Int32], _ s: inout BPEScratch, scanLimit: Int = 48) {
    if w.isEmpty { return }
    if ignoreMerges, let id = vocab.find(w) {
      out.append(Int32(id))
      return
    }
    // Initial symbols, one per character.
    s.ids.removeAll(keepingCapacity: true)
    var pendingUnk = false
    let needsAffix = prefix != nil || suffix != nil
    var key: [UInt8] = []
    var i = 0
    let n = w.count
    while i < n {
      let b0 = w[i]
      let len = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4
      let end = min(i + len, n)
      var found: UInt64?
      if needsAffix {
        key.removeAll(keepingCapacity: true)
        if i > 0, let p = prefix { key.append(contentsOf: p) }
        key.append(contentsOf: w[i..<end])
        if end == n, let x = suffix { key.append(contentsOf: x) }
        found = vocab.find(key)
      } else {
        found = vocab.find(UnsafeBufferPointer(rebasing: w[i..<end]))
      }
      if let id = found {
        if pendingUnk {
          s.ids.append(unkID!)
          pendingUnk = false
        }
        s.ids.append(Int32(id))
      } else {
        // Byte fallback covers the character's bytes (with affixes, as `tokenizers` does).
        var fellBack = false
        if let bf = byteFallback {
          let bytes: [UInt8] = needsAffix ? key : Array(w[i..<end])
          if bytes.allSatisfy({ bf[Int($0)] >= 0 }) {
            for x in bytes { s.ids.append(bf[Int(x)]) }
            fellBack = true
          }
        }
        if !fellBack, let unk = unkID {
          if pendingUnk && !fuseUnk { s.ids.append(unk) }
          pendingUnk = true
        }
      }
      i = end
    }
    if pendingUnk { s.ids.append(unkID!) }
    if s.ids.count <= scanLimit { mergeScan(&s.ids) } else { mergeHeap(&s) }
    out.append(contentsOf: s.ids)
  }

  /// Repeatedly merges the lowest-rank adjacent pair (leftmost on ties): O(n²), fast for short words.
  private func mergeScan(_ ids: inout [Int32]) {
    var n = ids.count
    ids.withUnsafeMutableBufferPointer { p in
      while n > 1 {
        var best = UInt64.max
        var at = -1
        for k in 0..<(n - 1) {
          if let v = merges.find(p[k], p[k + 1]), v < best {
            best = v
            at = k
          }
        }
        if at < 0 { break }
        p[at] = Int32(truncatingIfNeeded: UInt32(truncatingIfNeeded: best))
        var k = at + 1
        while k < n - 1 {
          p[k] = p[k + 1]
          k += 1
        }
        n -= 1
      }
    }
    ids.removeSubrange(n...)
  }

  /// The same order with a min-heap of (rank, position) over a linked list, O(n log n).
  private func mergeHeap(_ s: inout BPEScratch) {
    let n = s.ids.count
    if n < 2 { return }
    s.next.removeAll(keepingCapacity: true)
    s.prev.removeAll(keepingCapacity: true)
    s.heap.removeAll(keepingCapacity: true)
    for k in 0..<n {
      s.next.append(Int32(k + 1 < n ? k + 1 : -1))
      s.prev.append(Int32(k - 1))
    }
    var heap = MinHeap(storage: s.heap)
    for k in 0..<(n - 1) {
      if let v = merges.find(s.ids[k], s.ids[k + 1]) { heap.push((v >> 32) << 32 | UInt64(k)) }
    }
    var alive = [Bool](repeating: true, count: n)
    while let top = heap.pop() {
      let rank = top >> 32
      let pos = Int(top & 0xFFFF_FFFF)
      guard alive[pos] else { continue }
      let nx = Int(s.next[pos])
      guard nx >= 0 else { continue }
      // Stale entry: the pair at pos changed since it was queued.
      guard let v = merges.find(s.ids[pos], s.ids[nx]), v >> 32 == rank else { continue }
      s.ids[pos] = Int32(truncatingIfNeeded: UInt32(truncatingIfNeeded: v))
      alive[nx] = false
      let nn = Int(s.next[nx])
      s.next[pos] = Int32(nn)
      if nn >= 0 { s.prev[nn] = Int32(pos) }
      let pv = Int(s.prev[pos])
      if pv >= 0, let w = merges.find(s.ids[pv], s.ids[pos]) { heap.push((w >> 32) << 32 | UInt64(pv)) }
      if nn >= 0, let w = merges.find(s.ids[pos], s.ids[nn]) { heap.push((w >> 32) << 32 | UInt64(pos)) }
    }
    s.heap = heap.storage
    var out: [Int32] = []
    out.reserveCapacity(n)
    var k = 0
    while k >= 0 {
      out.append(s.ids[k])
      k = Int(s.next[k])
    }
    s.ids = out
  }
}

/// Reusable buffers for `BPEModel.tokenize`.
struct BPEScratch {
  var ids: [Int32] = []
  var next: [Int32] = []
  var prev: [Int32] = []
  var heap: [UInt64] = []
}

/// Binary min-heap of UInt64 keys.
struct MinHeap {
  var storage: [UInt64]

  mutating func push(_ x: UInt64) {
    storage.append(x)
    var i = storage.count - 1
    while i > 0 {
      let p = (i - 1) / 2
      if storage[p] <= x { break }
      storage[i] = storage[p]
      i = p
    }
    storage[i] = x
  }

  mutating func pop() -> UInt64? {
    guard let last = storage.popLast() else { return nil }
    if storage.isEmpty { return last }
    let top = storage[0]
    let n = storage.count
    var i = 0
    while true {
      let l = 2 * i + 1
      if l >= n { break }
      var c = l
      if l + 1 < n && storage[l + 1] < storage[l] { c = l + 1 }
      if storage[c] >= last { break }
      storage[i] = storage[c]
      i = c
    }
    storage[i] = last
    return top
  }
}
