// Normalizers, pre-tokenizers, post-processors and decoders of tokenizer.json, with the
// semantics of the Hugging Face `tokenizers` library (the ids it produces are the reference).
// Text is handled as UTF-8 bytes throughout; every buffer holds valid UTF-8.

// MARK: - Byte-level alphabet

/// GPT-2's byte ↔ character map: printable bytes map to themselves, the others to U+0100 + n.
enum ByteLevelAlphabet {
  /// UTF-8 of the character each byte maps to.
  static let encoded: [[UInt8]] = {
    var chars = [UInt32](repeating: 0, count: 256)
    var n: UInt32 = 0
    for b in 0..<256 {
      if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
        chars[b] = UInt32(b)
      } else {
        chars[b] = 256 + n
        n += 1
      }
    }
    return chars.map { v in
      var out: [UInt8] = []
      appendUTF8(&out, Unicode.Scalar(v)!)
      return out
    }
  }()

  /// `encoded` as pairs: [2b] the first UTF-8 byte, [2b + 1] the second or 0 (all are 1 or 2 bytes long).
  static let flat: [UInt8] = encoded.flatMap { $0.count == 1 ? [$0[0], 0] : $0 }

  /// Scalar value → byte, for the 256 mapped characters (-1 elsewhere); all are below U+0144.
  static let decoded: [Int16] = {
    var t = [Int16](repeating: -1, count: 0x144)
    for b in 0..<256 {
      let e = encoded[b]
      let v: Int = e.count == 1 ? Int(e[0]) : (Int(e[0] & 0x1F) << 6 | Int(e[1] & 0x3F))
      t[v] = Int16(b)
    }
    return t
  }()
}

// MARK: - Unicode helpers

/// Calls `body` with each scalar of valid UTF-8 and its byte range.
@inline(__always)
func forEachScalar(_ s: UnsafeBufferPointer<UInt8>, _ body: (UInt32, Int, Int) -> Void) {
  var i = 0
  while i < s.count {
    let b0 = UInt32(s[i])
    if b0 < 0x80 {
      body(b0, i, i + 1)
      i += 1
    } else if b0 < 0xE0 {
      body((b0 & 0x1F) << 6 | (UInt32(s[i + 1]) & 0x3F), i, i + 2)
      i += 2
    } else if b0 < 0xF0 {
      body((b0 & 0x0F) << 12 | (UInt32(s[i + 1]) & 0x3F) << 6 | (UInt32(s[i + 2]) & 0x3F), i, i + 3)
      i += 3
    } else {
      body(
        (b0 & 0x07) << 18 | (UInt32(s[i + 1]) & 0x3F) << 12 | (UInt32(s[i + 2]) & 0x3F) << 6
          | (UInt32(s[i + 3]) & 0x3F), i, i + 4)
      i += 4
    }
  }
}

func scalars(_ bytes: [UInt8]) -> [UInt32] {
  var out: [UInt32] = []
  bytes.withUnsafeBufferPointer { b in forEachScalar(b) { v, _, _ in out.append(v) } }
  return out
}

@inline(__always)
func isWhiteSpace(_ v: UInt32) -> Bool {
  if v < 128 { return ScalarClass.ascii[Int(v)] & ScalarClass.space != 0 }
  return Unicode.Scalar(v)?.properties.isWhitespace ?? false
}

/// Non-overlapping left-to-right occurrences of `pattern` in `s` (pattern non-empty).
func findAll(_ s: UnsafeBufferPointer<UInt8>, _ pattern: [UInt8]) -> [Int] {
  var out: [Int] = []
  let m = pattern.count
  guard m > 0, s.count >= m else { return out }
  let p0 = pattern[0]
  var i = 0
  while i + m <= s.count {
    if s[i] == p0 {
      var k = 1
      while k < m && s[i + k] == pattern[k] { k += 1 }
      if k == m {
        out.append(i)
        i += m
        continue
      }
    }
    i += 1
  }
  return out
}

func replaceAll(_ s: [UInt8], _ pattern: [UInt8], _ content: [UInt8]) -> [UInt8] {
  s.withUnsafeBufferPointer { b in
    let hits = findAll(b, pattern)
    if hits.isEmpty { return s }
    var out: [UInt8] = []
    out.reserveCapacity(s.count + hits.count * max(0, content.count - pattern.count))
    var prev = 0
    for h in hits {
      out.append(contentsOf: b[prev..<h])
      out.append(contentsOf: content)
      prev = h + pattern.count
    }
    out.append(contentsOf: b[prev...])
    return out
  }
}

// MARK: - Normalizers

indirect enum Normalizer: Sendable {
  case nfc
  case lowercase
  case prepend([UInt8])
  case replace(pattern: [UInt8], content: [UInt8])
  case strip(left: Bool, right: Bool)
  case sequence([Normalizer])

  static func parse(_ v: JSONValue, _ path: String, _ r: JSONReader) throws(SubQError) -> Normalizer {
    _ = try r.object(v, path)
    let type = try r.string(v["type"], path + ".type")
    switch type {
    case "NFC": return .nfc
    case "Lowercase": return .lowercase
    case "Prepend": return .prepend(Array(try r.string(v["prepend"], path + ".prepend").utf8))
    case "Replace":
      let pattern = try parseStringPattern(v["pattern"], path + ".pattern", r)
      return .replace(pattern: pattern, content: Array(try r.string(v["content"], path + ".content").utf8))
    case "Strip":
      return .strip(
        left: try r.bool(v["strip_left"], path + ".strip_left", default: true),
        right: try r.bool(v["strip_right"], path + ".strip_right", default: true))
    case "Sequence":
      var items: [Normalizer] = []
      for (k, x) in try r.array(v["normalizers"], path + ".normalizers").enumerated() {
        items.append(try parse(x, "\(path).normalizers[\(k)]", r))
      }
      return .sequence(items)
    default:
      throw SubQError(
        code: .unsupported,
        message:
          "\(r.context): \(path).type \"\(type)\" is not a supported normalizer (supported: NFC, Lowercase, Prepend, Replace, Strip, Sequence)"
      )
    }
  }

  /// At most how many times `apply` multiplies a text's length in bytes (plus constants), see `Tokenizer.maxGrowth`.
  var growth: Double {
    switch self {
    case .nfc: 3  // the most NFC expands UTF-8 (U+1D160: 4 bytes -> 3 scalars, 12 bytes)
    case .lowercase: 1.5  // U+0130 (2 bytes) -> "i\u{307}" (3 bytes), the largest lowercase mapping
    case .prepend, .strip: 1
    case .replace(let pattern, let content): max(1, Double(content.count) / Double(pattern.count))
    case .sequence(let items): items.reduce(1) { $0 * $1.growth }
    }
  }

  func apply(_ s: [UInt8]) -> [UInt8] {
    switch self {
    case .nfc:
      if s.allSatisfy({ $0 < 0x80 }) { return s }
      return String(decoding: s, as: UTF8.self)._nfcCodeUnits
    case .lowercase:
      var out: [UInt8] = []
      out.reserveCapacity(s.count)
      s.withUnsafeBufferPointer { b in
        forEachScalar(b) { v, _, _ in
          if v < 128 {
            out.append(v >= 0x41 && v <= 0x5A ? UInt8(v + 32) : UInt8(v))
          } else {
            out.append(contentsOf: Unicode.Scalar(v)!.properties.lowercaseMapping.utf8)
          }
        }
      }
      return out
    case .prepend(let p):
      return s.isEmpty ? s : p + s
    case .replace(let pattern, let content):
      return replaceAll(s, pattern, content)
    case .strip(let left, let right):
      var lo = 0
      var hi = s.count
      s.withUnsafeBufferPointer { b in
        var firstKept = -1
        var lastKeptEnd = 0
        forEachScalar(b) { v, a, e in
          if !isWhiteSpace(v) {
            if firstKept < 0 { firstKept = a }
            lastKeptEnd = e
          }
        }
        if firstKept < 0 {
          if left || right { lo = left ? s.count : 0; hi = right ? 0 : s.count }
          return
        }
        if left { lo = firstKept }
        if right { hi = lastKeptEnd }
      }
      return lo < hi ? Array(s[lo..<hi]) : []
    case .sequence(let items):
      var t = s
      for n in items { t = n.apply(t) }
      return t
    }
  }
}

/// A `{"String": "..."}` pattern (a `{"Regex": ...}` one is refused); must be non-empty.
func parseStringPattern(_ v: JSONValue?, _ path: String, _ r: JSONReader) throws(SubQError) -> [UInt8] {
  let o = try r.object(v, path)
  if let s = o["String"] {
    let b = Array(try r.string(s, path + ".String").utf8)
    if b.isEmpty { throw r.fail(path + ".String", "must not be empty") }
    return b
  }
  if o["Regex"] != nil {
    throw SubQError(code: .unsupported, message: "\(r.context): \(path): Regex patterns are not supported here")
  }
  throw r.fail(path, "must have a String member")
}

// MARK: - Pre-tokenizers

/// Pre-tokens: ranges of one byte buffer; `first` marks the piece that starts the original input.
struct Pieces {
  struct Piece {
    var start: Int
    var end: Int
    var first: Bool
  }
  var buf: [UInt8] = []
  var items: [Piece] = []

  @inline(__always)
  mutating func append(_ s: Int, _ e: Int, _ f: Bool) { items.append(Piece(start: s, end: e, first: f)) }
  var count: Int { items.count }
  var starts: [Int] { items.map(\.start) }
  var ends: [Int] { items.map(\.end) }
}

enum SplitBehavior: String, Sendable {
  case removed = "Removed"
  case isolated = "Isolated"
  case mergedWithPrevious = "MergedWithPrevious"
  case mergedWithNext = "MergedWithNext"
  case contiguous = "Contiguous"
}

enum SplitPattern: Sendable {
  case literal([UInt8])
  case known(KnownPattern)
  case regex(LinearRegex)
}

enum PrependScheme: String, Sendable {
  case first, always, never
}

indirect enum PreTokenizer: Sendable {
  case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
  case split(SplitPattern, SplitBehavior, invert: Bool)
  case metaspace(replacement: [UInt8], prepend: PrependScheme, split: Bool)
  case whitespaceSplit
  case sequence([PreTokenizer])

  static func parse(_ v: JSONValue, _ path: String, _ r: JSONReader, forceRegex: Bool) throws(SubQError)
    -> PreTokenizer
  {
    _ = try r.object(v, path)
    let type = try r.string(v["type"], path + ".type")
    switch type {
    case "ByteLevel":
      let useRegex = try r.bool(v["use_regex"], path + ".use_regex", default: true)
      let prefixSpace = try r.bool(v["add_prefix_space"], path + ".add_prefix_space", default: true)
      if useRegex && forceRegex {
        // Cross-check mode: the GPT-2 regex on LinearRegex instead of the scanner.
        let split = PreTokenizer.split(try compileRegex(KnownPattern.gpt2Source, r, path), .isolated, invert: false)
        return .sequence([.prefixSpaceOnly(prefixSpace), split, .byteLevel(addPrefixSpace: false, useRegex: false)])
      }
      return .byteLevel(
        addPrefixSpace: try r.bool(v["add_prefix_space"], path + ".add_prefix_space", default: true),
        useRegex: useRegex)
    case "Split":
      let p = try r.object(v["pattern"], path + ".pattern")
      let pattern: SplitPattern
      if let s = p["String"] {
        let b = Array(try r.string(s, path + ".pattern.String").utf8)
        if b.isEmpty { throw r.fail(path + ".pattern.String", "must not be empty") }
        pattern = .literal(b)
      } else if let s = p["Regex"] {
        let src = try r.string(s, path + ".pattern.Regex")
        if !forceRegex, let k = KnownPattern(source: src) {
          pattern = .known(k)
        } else {
          pattern = try compileRegex(src, r, path + ".pattern.Regex")
        }
      } else {
        throw r.fail(path + ".pattern", "must have a String or Regex member")
      }
      let bs = try r.string(v["behavior"], path + ".behavior")
      guard let behavior = SplitBehavior(rawValue: bs) else {
        throw r.fail(path + ".behavior", "\"\(bs)\" is not a split behavior")
      }
      return .split(pattern, behavior, invert: try r.bool(v["invert"], path + ".invert", default: false))
    case "Metaspace":
      let rep = try r.string(v["replacement"], path + ".replacement")
      guard rep.unicodeScalars.count == 1 else { throw r.fail(path + ".replacement", "must be one character") }
      return .metaspace(
        replacement: Array(rep.utf8), prepend: try parsePrependScheme(v, path, r),
        split: try r.bool(v["split"], path + ".split", default: true))
    case "WhitespaceSplit":
      return .whitespaceSplit
    case "Sequence":
      var items: [PreTokenizer] = []
      for (k, x) in try r.array(v["pretokenizers"], path + ".pretokenizers").enumerated() {
        items.append(try parse(x, "\(path).pretokenizers[\(k)]", r, forceRegex: forceRegex))
      }
      return .sequence(items)
    default:
      throw SubQError(
        code: .unsupported,
        message:
          "\(r.context): \(path).type \"\(type)\" is not a supported pre-tokenizer (supported: ByteLevel, Split, Metaspace, WhitespaceSplit, Sequence)"
      )
    }
  }

  /// ByteLevel's add_prefix_space alone (internal, for the regex fallback).
  static func prefixSpaceOnly(_ on: Bool) -> PreTokenizer {
    .metaspace(replacement: [], prepend: on ? .always : .never, split: false)
  }

  /// At most how many times `apply` multiplies a text's length in bytes (a one-byte piece that gains
  /// a prefix is the worst case), see `Tokenizer.maxGrowth`.
  var growth: Double {
    switch self {
    case .byteLevel(let addPrefixSpace, _): addPrefixSpace ? 4 : 2  // every byte -> 1 or 2 bytes
    case .split, .whitespaceSplit: 1
    case .metaspace(let rep, let prepend, _): Double(max(1, rep.count) + (prepend == .never ? 0 : 1))
    case .sequence(let items): items.reduce(1) { $0 * $1.growth }
    }
  }

  func apply(_ input: Pieces, _ scratch: inout ScalarRun) -> Pieces {
    var out = Pieces()
    out.buf.reserveCapacity(input.buf.count + input.buf.count / 2)
    switch self {
    case .sequence(let items):
      var p = input
      for t in items { p = t.apply(p, &scratch) }
      return p

    case .byteLevel(let addPrefixSpace, let useRegex):
      var ends: [Int] = []
      var text: [UInt8] = []
      var cuts: [Int] = []
      for k in 0..<input.count {
        let s = input.items[k].start
        let e = input.items[k].end
        // The piece itself, or a copy with the prefix space.
        let prefixed = addPrefixSpace && !(e > s && input.buf[s] == 0x20)
        text.removeAll(keepingCapacity: true)
        if prefixed {
          text.append(0x20)
          text.append(contentsOf: input.buf[s..<e])
        }
        (prefixed ? text : input.buf).withUnsafeBufferPointer { whole in
          let t = prefixed ? whole : UnsafeBufferPointer(rebasing: whole[s..<e])
          cuts.removeAll(keepingCapacity: true)
          if useRegex {
            scratch.load(t, 0..<t.count)
            ends.removeAll(keepingCapacity: true)
            KnownPattern.gpt2.scan(scratch, into: &ends)
            for x in ends { cuts.append(Int(scratch.offsets[x])) }
          } else if !t.isEmpty {
            cuts.append(t.count)
          }
          // Map every byte to its alphabet character (1 or 2 UTF-8 bytes), pre-token by pre-token.
          let base = out.buf.count
          out.buf.append(contentsOf: repeatElement(0, count: 2 * t.count))
          var w = base
          let first = input.items[k].first
          ByteLevelAlphabet.flat.withUnsafeBufferPointer { flat in
            out.buf.withUnsafeMutableBufferPointer { ob in
              var prev = 0
              for c in cuts {
                let start = w
                for i in prev..<c {
                  let b = Int(t[i])
                  let lo = flat[2 * b + 1]
                  ob[w] = flat[2 * b]
                  if lo != 0 {
                    ob[w + 1] = lo
                    w += 2
                  } else {
                    w += 1
                  }
                }
                out.items.append(Pieces.Piece(start: start, end: w, first: first && prev == 0))
                prev = c
              }
            }
          }
          out.buf.removeSubrange(w...)
        }
      }
      return out

    case .metaspace(let rep, let scheme, let split):
      // rep is empty only for the internal prefix-space step of the regex fallback.
      let space: [UInt8] = rep.isEmpty ? [0x20] : rep
      for k in 0..<input.count {
        let s = input.items[k].start
        let e = input.items[k].end
        var t = rep.isEmpty ? Array(input.buf[s..<e]) : replaceAll(Array(input.buf[s..<e]), [0x20], rep)
        let startsWithRep = t.count >= space.count && Array(t[0..<space.count]) == space
        switch scheme {
        case .always: if !startsWithRep { t = space + t }
        case .first: if !startsWithRep && input.items[k].first { t = space + t }
        case .never: break
        }
        let base = out.buf.count
        out.buf.append(contentsOf: t)
        if split {
          let hits = t.withUnsafeBufferPointer { findAll($0, rep) }
          var marks: [(Int, Int, Bool)] = []
          var prev = 0
          for h in hits {
            if h > prev { marks.append((prev, h, false)) }
            marks.append((h, h + rep.count, true))
            prev = h + rep.count
          }
          if prev < t.count { marks.append((prev, t.count, false)) }
          emitSplit(marks, .mergedWithNext, base: base, first: input.items[k].first, into: &out)
        } else if !t.isEmpty {
          out.append(base, base + t.count, input.items[k].first)
        }
      }
      return out

    case .whitespaceSplit:
      out.buf = input.buf
      for k in 0..<input.count {
        let s = input.items[k].start
        input.buf.withUnsafeBufferPointer { b in
          var runStart = -1
          forEachScalar(UnsafeBufferPointer(rebasing: b[s..<input.items[k].end])) { v, a, e in
            if isWhiteSpace(v) {
              if runStart >= 0 { out.append(s + runStart, s + a, input.items[k].first && runStart == 0) }
              runStart = -1
            } else if runStart < 0 {
              runStart = a
            }
          }
          if runStart >= 0 { out.append(s + runStart, input.items[k].end, input.items[k].first && runStart == 0) }
        }
      }
      return out

    case .split(let pattern, let behavior, let invert):
      out.buf = input.buf
      var ends: [Int] = []
      for k in 0..<input.count {
        let s = input.items[k].start
        let e = input.items[k].end
        if s == e { continue }
        var marks: [(Int, Int, Bool)] = []
        input.buf.withUnsafeBufferPointer { b in
          let t = UnsafeBufferPointer(rebasing: b[s..<e])
          var matches: [(Int, Int)] = []
          switch pattern {
          case .literal(let lit):
            matches = findAll(t, lit).map { ($0, $0 + lit.count) }
          case .known(let kp):
            scratch.load(b, s..<e)
            ends.removeAll(keepingCapacity: true)
            kp.scan(scratch, into: &ends)
            var prev = 0
            for x in ends {
              let o = Int(scratch.offsets[x])
              matches.append((prev, o))
              prev = o
            }
          case .regex(let re):
            scratch.load(b, s..<e)
            for (a, z) in re.matches(scratch.scalars) {
              matches.append((Int(scratch.offsets[a]), Int(scratch.offsets[z])))
            }
          }
          var prev = 0
          for (a, z) in matches {
            if a > prev { marks.append((prev, a, invert)) }
            marks.append((a, z, !invert))
            prev = z
          }
          if prev < t.count { marks.append((prev, t.count, invert)) }
        }
        emitSplit(marks, behavior, base: s, first: input.items[k].first, into: &out)
      }
      return out
    }
  }
}

func parsePrependScheme(_ v: JSONValue, _ path: String, _ r: JSONReader) throws(SubQError) -> PrependScheme {
  if let ps = v["prepend_scheme"], !ps.isNull {
    let s = try r.string(ps, path + ".prepend_scheme")
    guard let scheme = PrependScheme(rawValue: s) else {
      throw r.fail(path + ".prepend_scheme", "\"\(s)\" is not first, always or never")
    }
    return scheme
  }
  // Files written before prepend_scheme existed carry add_prefix_space.
  return try r.bool(v["add_prefix_space"], path + ".add_prefix_space", default: true) ? .always : .never
}

func compileRegex(_ src: String, _ r: JSONReader, _ path: String) throws(SubQError) -> SplitPattern {
  do {
    return .regex(try LinearRegex(src))
  } catch {
    throw SubQError(code: .unsupported, message: "\(r.context): \(path): cannot compile regex \"\(src.prefix(200))\": \(error)")
  }
}

/// Applies a split behavior to tiling marks (start, end, isMatch) relative to `base`; empty pieces are dropped.
func emitSplit(_ marks: [(Int, Int, Bool)], _ behavior: SplitBehavior, base: Int, first: Bool, into out: inout Pieces) {
  var pieces: [(Int, Int)] = []
  switch behavior {
  case .removed:
    for m in marks where !m.2 { pieces.append((m.0, m.1)) }
  case .isolated:
    for m in marks { pieces.append((m.0, m.1)) }
  case .mergedWithPrevious:
    var previousMatch = false
    for m in marks {
      if m.2 && !previousMatch && !pieces.isEmpty {
        pieces[pieces.count - 1].1 = m.1
      } else {
        pieces.append((m.0, m.1))
      }
      previousMatch = m.2
    }
  case .mergedWithNext:
    var previousMatch = false
    var rev: [(Int, Int)] = []
    for m in marks.reversed() {
      if m.2 && !previousMatch && !rev.isEmpty {
        rev[rev.count - 1].0 = m.0
      } else {
        rev.append((m.0, m.1))
      }
      previousMatch = m.2
    }
    pieces = rev.reversed()
  case .contiguous:
    var previousMatch = false
    for m in marks {
      if m.2 == previousMatch && !pieces.isEmpty {
        pieces[pieces.count - 1].1 = m.1
      } else {
        pieces.append((m.0, m.1))
      }
      previousMatch = m.2
    }
  }
  for (a, z) in pieces where z > a { out.append(base + a, base + z, first && a == 0) }
}

// MARK: - Post-processors

indirect enum PostProcessor: Sendable {
  /// The single-sequence template: special-token ids and the sequence, in order (nil = the sequence).
  case template([[Int32]?])
  case sequence([PostProcessor])
  case none

  static func parse(_ v: JSONValue, _ path: String, _ r: JSONReader) throws(SubQError) -> PostProcessor {
    _ = try r.object(v, path)
    let type = try r.string(v["type"], path + ".type")
    switch type {
    case "ByteLevel":
      return .none  // adjusts offsets only
    case "TemplateProcessing":
      // One dictionary, not a scan of the members per item (quadratic in a hostile file).
      let specials = try r.object(v["special_tokens"], path + ".special_tokens").dictionary ?? [:]
      var items: [[Int32]?] = []
      for (k, item) in try r.array(v["single"], path + ".single").enumerated() {
        let ip = "\(path).single[\(k)]"
        _ = try r.object(item, ip)
        if let sp = item["SpecialToken"] {
          let name = try r.string(sp["id"], ip + ".SpecialToken.id")
          guard let entry = specials[name] else {
            throw r.fail(ip + ".SpecialToken.id", "\"\(name)\" is not in special_tokens")
          }
          var ids: [Int32] = []
          for (j, x) in try r.array(entry["ids"], "\(path).special_tokens[\(name)].ids").enumerated() {
            ids.append(try r.id(x, "\(path).special_tokens[\(name)].ids[\(j)]"))
          }
          items.append(ids)
        } else if let sq = item["Sequence"] {
          let id = try r.string(sq["id"], ip + ".Sequence.id")
          guard id == "A" else { throw r.fail(ip + ".Sequence.id", "must be A in the single template, not \(id)") }
          items.append(nil)
        } else {
          throw r.fail(ip, "must be a SpecialToken or a Sequence")
        }
      }
      return .template(items)
    case "RobertaProcessing", "BertProcessing":
      func pair(_ key: String) throws(SubQError) -> Int32 {
        let a = try r.array(v[key], "\(path).\(key)")
        guard a.count == 2 else { throw r.fail("\(path).\(key)", "must be [token, id]") }
        return try r.id(a[1], "\(path).\(key)[1]")
      }
      return .template([[try pair("cls")], nil, [try pair("sep")]])
    case "Sequence":
      var items: [PostProcessor] = []
      for (k, x) in try r.array(v["processors"], path + ".processors").enumerated() {
        items.append(try parse(x, "\(path).processors[\(k)]", r))
      }
      return .sequence(items)
    default:
      throw SubQError(
        code: .unsupported,
        message:
          "\(r.context): \(path).type \"\(type)\" is not a supported post-processor (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)"
      )
    }
  }

  /// At most how many times `apply` multiplies the number of ids (plus constants): the copies of
  /// the sequence a template makes. See `Tokenizer.maxGrowth`.
  var growth: Double {
    switch self {
    case .none: 1
    case .template(let items): Double(max(1, items.count { $0 == nil }))
    case .sequence(let items): items.reduce(1) { $0 * $1.growth }
    }
  }

  func apply(_ ids: [Int32]) -> [Int32] {
    switch self {
    case .none: return ids
    case .template(let items):
      var out: [Int32] = []
      out.reserveCapacity(ids.count + 4)
      for item in items {
        if let s = item { out.append(contentsOf: s) } else { out.append(contentsOf: ids) }
      }
      return out
    case .sequence(let items):
      var t = ids
      for p in items { t = p.apply(t) }
      return t
    }
  }
}

// MARK: - Decoders

indirect enum Decoder: Sendable {
  case byteLevel
  case replace(pattern: [UInt8], content: [UInt8])
  case byteFallback
  case fuse
  case strip(content: UInt32, start: Int, stop: Int)
  case metaspace(replacement: UInt32, prepend: PrependScheme)
  case bpeSuffix([UInt8])
  case sequence([Decoder])

  static func parse(_ v: JSONValue, _ path: String, _ r: JSONReader) throws(SubQError) -> Decoder {
    _ = try r.object(v, path)
    let type = try r.string(v["type"], path + ".type")
    switch type {
    case "ByteLevel": return .byteLevel
    case "Replace":
      return .replace(
        pattern: try parseStringPattern(v["pattern"], path + ".pattern", r),
        content: Array(try r.string(v["content"], path + ".content").utf8))
    case "ByteFallback": return .byteFallback
    case "Fuse": return .fuse
    case "Strip":
      let c = try r.string(v["content"], path + ".content")
      guard c.unicodeScalars.count == 1 else { throw r.fail(path + ".content", "must be one character") }
      return .strip(
        content: c.unicodeScalars.first!.value,
        start: Int(try r.int(v["start"], path + ".start", in: 0...1_000_000)),
        stop: Int(try r.int(v["stop"], path + ".stop", in: 0...1_000_000)))
    case "Metaspace":
      let rep = try r.string(v["replacement"], path + ".replacement")
      guard rep.unicodeScalars.count == 1 else { throw r.fail(path + ".replacement", "must be one character") }
      return .metaspace(replacement: rep.unicodeScalars.first!.value, prepend: try parsePrependScheme(v, path, r))
    case "BPEDecoder":
      return .bpeSuffix(Array((try r.optionalString(v["suffix"], path + ".suffix") ?? "</w>").utf8))
    case "Sequence":
      var items: [Decoder] = []
      for (k, x) in try r.array(v["decoders"], path + ".decoders").enumerated() {
        items.append(try parse(x, "\(path).decoders[\(k)]", r))
      }
      return .sequence(items)
    default:
      throw SubQError(
        code: .unsupported,
        message:
          "\(r.context): \(path).type \"\(type)\" is not a supported decoder (supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, BPEDecoder, Sequence)"
      )
    }
  }

  /// At most how many times `chain` multiplies the tokens' total length in bytes, see `Tokenizer.maxGrowth`.
  var growth: Double {
    switch self {
    case .byteLevel: 1.5  // a 2-byte character -> a byte that is not UTF-8 -> U+FFFD (3 bytes)
    case .byteFallback, .fuse, .strip, .metaspace, .bpeSuffix: 1
    case .replace(let pattern, let content): max(1, Double(content.count) / Double(pattern.count))
    case .sequence(let items): items.reduce(1) { $0 * $1.growth }
    }
  }

  /// One step of the decoder chain (`decode_chain` of `tokenizers`).
  func chain(_ tokens: [[UInt8]]) -> [[UInt8]] {
    switch self {
    case .sequence(let items):
      var t = tokens
      for d in items { t = d.chain(t) }
      return t
    case .byteLevel:
      var out: [UInt8] = []
      let table = ByteLevelAlphabet.decoded
      for t in tokens {
        let mark = out.count
        var ok = true
        t.withUnsafeBufferPointer { b in
          forEachScalar(b) { v, _, _ in
            if ok, v < 0x144, table[Int(v)] >= 0 { out.append(UInt8(table[Int(v)])) } else { ok = false }
          }
        }
        if !ok {  // a character outside the alphabet: the token's own bytes
          out.removeSubrange(mark...)
          out.append(contentsOf: t)
        }
      }
      return [Array(String(decoding: out, as: UTF8.self).utf8)]
    case .replace(let pattern, let content):
      return tokens.map { replaceAll($0, pattern, content) }
    case .byteFallback:
      var out: [[UInt8]] = []
      var pending: [UInt8] = []
      func flush() {
        if pending.isEmpty { return }
        if String(validating: pending, as: UTF8.self) != nil {
          out.append(pending)
        } else {
          for _ in pending { out.append([0xEF, 0xBF, 0xBD]) }
        }
        pending.removeAll()
      }
      for t in tokens {
        if let b = byteToken(t) {
          pending.append(b)
        } else {
          flush()
          out.append(t)
        }
      }
      flush()
      return out
    case .fuse:
      return [Array(tokens.joined())]
    case .strip(let content, let start, let stop):
      return tokens.map { t in
        let sc = scalars(t)
        var lo = 0
        while lo < min(start, sc.count) && sc[lo] == content { lo += 1 }
        var hi = sc.count
        var k = 0
        while k < stop && hi > lo && sc[hi - 1] == content {
          hi -= 1
          k += 1
        }
        var out: [UInt8] = []
        for v in sc[lo..<hi] { appendUTF8(&out, Unicode.Scalar(v)!) }
        return out
      }
    case .metaspace(let rep, let scheme):
      return tokens.enumerated().map { i, t in
        var out: [UInt8] = []
        for v in scalars(t) {
          if v == rep {
            if i == 0 && scheme != .never { continue }
            out.append(0x20)
          } else {
            appendUTF8(&out, Unicode.Scalar(v)!)
          }
        }
        return out
      }
    case .bpeSuffix(let suffix):
      return tokens.enumerated().map { i, t in
        suffix.isEmpty ? t : replaceAll(t, suffix, i == tokens.count - 1 ? [] : [0x20])
      }
    }
  }
}

/// The byte of a `<0xHH>` token, as the ByteFallback decoder reads it.
func byteToken(_ t: [UInt8]) -> UInt8? {
  guard t.count == 6, t[0] == UInt8(ascii: "<"), t[1] == UInt8(ascii: "0"), t[2] == UInt8(ascii: "x"),
    t[5] == UInt8(ascii: ">")
  else { return nil }
  func hex(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x41...0x46: c - 0x41 + 10
    case 0x61...0x66: c - 0x61 + 10
    default: nil
    }
  }
  guard let h = hex(t[3]), let l = hex(t[4]) else { return nil }
  return h << 4 | l
}
