// Hash tables keyed by raw bytes and by token-id pairs.
//
// Tokens are compared as bytes, never as Swift Strings: String equality is canonical
// equivalence, so "é" and "e\u{301}" would collide although they are different tokens.
// Keys are looked up from buffer slices without allocating.

@inline(__always)
func hashBytes(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
  var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: n)
  var i = 0
  let raw = UnsafeRawPointer(p)
  while i + 8 <= n {
    let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
    h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
    h ^= h >> 31
    i += 8
  }
  if i < n {
    var w: UInt64 = 0
    var s: UInt64 = 0
    while i < n {
      w |= UInt64(p[i]) << s
      s += 8
      i += 1
    }
    h = (h ^ w) &* 0x94D0_49BB_1331_11EB
  }
  h ^= h >> 29
  h = h &* 0xBF58_476D_1CE4_E5B9
  h ^= h >> 32
  return h
}

/// Byte-string → UInt64 map with the keys stored in one arena.
struct ByteTable: Sendable {
  private struct Slot {
    var hash: UInt32 = 0
    var keyLen: UInt32 = .max  // .max marks an empty slot
    var keyStart: Int = 0
    var value: UInt64 = 0
  }
  private var slots: [Slot]
  private var arena: [UInt8] = []
  private(set) var count = 0
  private var mask: Int

  init(capacity: Int = 16) {
    var n = 16
    while n < capacity * 2 { n <<= 1 }
    slots = Array(repeating: Slot(), count: n)
    mask = n - 1
  }

  var arenaBytes: Int { arena.count }

  /// Inserts or overwrites; returns the previous value if the key was present.
  @discardableResult
  mutating func insert(_ key: UnsafeBufferPointer<UInt8>, _ value: UInt64) -> UInt64? {
    if (count + 1) * 2 > slots.count { grow() }
    let n = key.count
    let h = n == 0 ? hashBytes(UnsafePointer(bitPattern: 1)!, 0) : hashBytes(key.baseAddress!, n)
    let h32 = UInt32(truncatingIfNeeded: h >> 32)
    var j = Int(truncatingIfNeeded: h) & mask
    while true {
      let s = slots[j]
      if s.keyLen == .max { break }
      if s.hash == h32 && Int(s.keyLen) == n && equal(s.keyStart, key) {
        let old = s.value
        slots[j].value = value
        return old
      }
      j = (j + 1) & mask
    }
    let start = arena.count
    arena.append(contentsOf: key)
    slots[j] = Slot(hash: h32, keyLen: UInt32(n), keyStart: start, value: value)
    count += 1
    return nil
  }

  mutating func insert(_ key: [UInt8], _ value: UInt64) {
    key.withUnsafeBufferPointer { _ = insert($0, value) }
  }

  @inline(__always)
  private func equal(_ start: Int, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
    arena.withUnsafeBufferPointer { a in
      for k in 0..<key.count where a[start + k] != key[k] { return false }
      return true
    }
  }

  @inline(__always)
  func find(_ key: UnsafeBufferPointer<UInt8>) -> UInt64? {
    let n = key.count
    let h = n == 0 ? hashBytes(UnsafePointer(bitPattern: 1)!, 0) : hashBytes(key.baseAddress!, n)
    let h32 = UInt32(truncatingIfNeeded: h >> 32)
    return slots.withUnsafeBufferPointer { sl in
      var j = Int(truncatingIfNeeded: h) & mask
      while true {
        let s = sl[j]
        if s.keyLen == .max { return nil }
        if s.hash == h32 && Int(s.keyLen) == n && equal(s.keyStart, key) { return s.value }
        j = (j + 1) & mask
      }
    }
  }

  func find(_ key: [UInt8]) -> UInt64? {
    key.withUnsafeBufferPointer { find($0) }
  }

  private mutating func grow() {
    let old = slots
    let n = old.count * 2
    slots = Array(repeating: Slot(), count: n)
    mask = n - 1
    for s in old where s.keyLen != .max {
      let h = arena.withUnsafeBufferPointer { a in
        s.keyLen == 0
          ? hashBytes(UnsafePointer(bitPattern: 1)!, 0) : hashBytes(a.baseAddress! + s.keyStart, Int(s.keyLen))
      }
      var j = Int(truncatingIfNeeded: h) & mask
      while slots[j].keyLen != .max { j = (j + 1) & mask }
      slots[j] = s
    }
  }

  mutating func removeAll() {
    for j in slots.indices { slots[j] = Slot() }
    arena.removeAll(keepingCapacity: true)
    count = 0
  }
}

/// (left id, right id) → (rank, merged id), for BPE merges.
struct PairTable: Sendable {
  private var keys: [UInt64]
  private var values: [UInt64]
  private var mask: Int
  private(set) var count = 0
  private static let empty = UInt64.max

  init(capacity: Int) {
    var n = 16
    while n < capacity * 2 { n <<= 1 }
    keys = Array(repeating: Self.empty, count: n)
    values = Array(repeating: 0, count: n)
    mask = n - 1
  }

  @inline(__always)
  private static func slot(_ k: UInt64, _ mask: Int) -> Int {
    var h = k &* 0x9E37_79B9_7F4A_7C15
    h ^= h >> 29
    return Int(truncatingIfNeeded: h) & mask
  }

  /// Inserts or overwrites (a later merge of the same pair replaces the earlier, as in `tokenizers`).
  mutating func insert(_ a: Int32, _ b: Int32, rank: UInt32, merged: Int32) {
    let k = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    var j = Self.slot(k, mask)
    while keys[j] != Self.empty && keys[j] != k { j = (j + 1) & mask }
    if keys[j] == Self.empty { count += 1 }
    keys[j] = k
    values[j] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
  }

  /// (rank, merged id) packed as rank << 32 | merged, or nil.
  @inline(__always)
  func find(_ a: Int32, _ b: Int32) -> UInt64? {
    let k = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    return keys.withUnsafeBufferPointer { ks in
      var j = Self.slot(k, mask)
      while true {
        let x = ks[j]
        if x == k { return values[j] }
        if x == Self.empty { return nil }
        j = (j + 1) & mask
      }
    }
  }
}
