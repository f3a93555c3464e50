#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A tokenizer loaded from a Hugging Face `tokenizer.json`, giving the ids the `tokenizers`
/// library gives.
///
/// Supported pipelines (the families of the reference models):
/// - byte-level BPE (GPT-2, GPT-NeoX, Llama-3, Qwen2): `ByteLevel` pre-tokenizer (add_prefix_space,
///   use_regex), `Split` with the Llama-3/Qwen2 regex (hand scanners) or another regex (LinearRegex: a
///   Pike VM, no backtracking; the constructs it refuses are named at load), `Sequence`,
///   `NFC` normalizer, `ByteLevel` decoder;
/// - SentencePiece-style BPE (Llama-2, Mistral): `Prepend` + `Replace` normalizers or the `Metaspace`
///   pre-tokenizer, BPE with byte_fallback / fuse_unk / unk, decoders `Replace`, `ByteFallback`, `Fuse`,
///   `Strip`, `Metaspace`;
/// - added tokens (special or not, normalized or not, lstrip / rstrip / single_word) split out before
///   the model; post-processors `TemplateProcessing`, `ByteLevel`, `RobertaProcessing`, `BertProcessing`.
///
/// Anything else (another model type, normalizer, pre-tokenizer, decoder, BPE dropout) is refused at
/// load with an ``SubQError/Code/unsupported`` error naming it; a malformed file gives
/// ``SubQError/Code/invalidArgument`` naming the field. `truncation` and `padding` are ignored.
///
/// Thread-safety: immutable after loading; `encode` and `decode` may run concurrently.
public final class Tokenizer: Sendable {
  struct AddedToken: Sendable {
    let id: Int32
    let content: [UInt8]
    let special: Bool
    let normalized: Bool
    let lstrip: Bool
    let rstrip: Bool
    let singleWord: Bool
  }

  let normalizer: Normalizer?
  let preTokenizer: PreTokenizer?
  let model: BPEModel
  let postProcessor: PostProcessor
  let decoder: Decoder?
  let addedTokens: [AddedToken]
  /// Added tokens matched on the raw text, and those matched on the normalized text (with normalized patterns).
  let rawMatcher: AddedTokenMatcher
  let normalizedMatcher: AddedTokenMatcher
  /// id → token bytes (added tokens take precedence over the model vocabulary).
  let tokenStart: [Int]
  let tokenLength: [Int32]
  let tokenArena: [UInt8]
  let special: [Bool]
  let byContent: ByteTable

  /// Loads `tokenizer.json` from a file path (for a Foundation `URL`, pass `url.path`).
  ///
  /// - Throws: ``SubQError`` `.system` if the file cannot be read, else as ``init(json:)``.
  public convenience init(contentsOfFile path: String) throws(SubQError) {
    try self.init(json: try readWholeFile(path), context: "Tokenizer(\(path))")
  }

  /// Parses the bytes of a `tokenizer.json` (a `[UInt8]`, a Foundation `Data`, ...).
  ///
  /// - Throws: ``SubQError`` `.invalidArgument` for malformed JSON or fields (the message names the
  ///   field), `.unsupported` for a component this tokenizer does not implement.
  public convenience init(json: some Collection<UInt8>) throws(SubQError) {
    try self.init(json: Array(json), context: "Tokenizer")
  }

  /// Parses a `tokenizer.json` document given as a string.
  public convenience init(jsonString: String) throws(SubQError) {
    try self.init(json: Array(jsonString.utf8), context: "Tokenizer")
  }

  convenience init(json: [UInt8], context: String, forceRegex: Bool = false) throws(SubQError) {
    let root: JSONValue = try json.withUnsafeBufferPointer { b throws(SubQError) in
      try parseJSON(b, context: context)
    }
    try self.init(root: root, reader: JSONReader(context: context), forceRegex: forceRegex)
  }

  init(root: JSONValue, reader r: JSONReader, forceRegex: Bool) throws(SubQError) {
    _ = try r.object(root, "the document")
    if let n = root["normalizer"], !n.isNull { normalizer = try Normalizer.parse(n, "normalizer", r) } else { normalizer = nil }
    if let p = root["pre_tokenizer"], !p.isNull {
      preTokenizer = try PreTokenizer.parse(p, "pre_tokenizer", r, forceRegex: forceRegex)
    } else {
      preTokenizer = nil
    }
    model = try BPEModel(try r.object(root["model"], "model"), r)
    if let p = root["post_processor"], !p.isNull { postProcessor = try PostProcessor.parse(p, "post_processor", r) } else { postProcessor = .none }
    if let d = root["decoder"], !d.isNull { decoder = try Decoder.parse(d, "decoder", r) } else { decoder = nil }
    // Chains of growing steps (ByteLevel after ByteLevel, Replace "a" -> "aa" again and again, templates
    // repeating $A) grow a text exponentially: a few KB of hostile JSON would hang encode or decode.
    let encodeGrowth = (normalizer?.growth ?? 1) * (preTokenizer?.growth ?? 1) * postProcessor.growth
    guard encodeGrowth <= Self.maxGrowth else {
      throw r.fail(
        "normalizer, pre_tokenizer and post_processor",
        "together grow a text up to \(Self.describe(encodeGrowth)) times (at most \(Int(Self.maxGrowth)) allowed)")
    }
    if let d = decoder, d.growth > Self.maxGrowth {
      throw r.fail("decoder", "grows the text up to \(Self.describe(d.growth)) times (at most \(Int(Self.maxGrowth)) allowed)")
    }

    var added: [AddedToken] = []
    if let a = root["added_tokens"], !a.isNull {
      for (k, t) in try r.array(a, "added_tokens").enumerated() {
        let p = "added_tokens[\(k)]"
        _ = try r.object(t, p)
        added.append(
          AddedToken(
            id: try r.id(t["id"], p + ".id"), content: Array(try r.string(t["content"], p + ".content").utf8),
            special: try r.bool(t["special"], p + ".special", default: false),
            normalized: try r.bool(t["normalized"], p + ".normalized", default: true),
            lstrip: try r.bool(t["lstrip"], p + ".lstrip", default: false),
            rstrip: try r.bool(t["rstrip"], p + ".rstrip", default: false),
            singleWord: try r.bool(t["single_word"], p + ".single_word", default: false)))
      }
    }
    addedTokens = added
    let norm = normalizer
    rawMatcher = AddedTokenMatcher(added.filter { !$0.normalized }.map { ($0, $0.content) })
    normalizedMatcher = AddedTokenMatcher(
      added.filter { $0.normalized }.map { t in (t, norm.map { n in n.apply(t.content) } ?? t.content) })

    // id → token table. Ids must be dense enough for a table (real vocabularies are dense).
    var maxID: Int32 = -1
    for (id, _) in model.tokens { maxID = max(maxID, id) }
    for t in added { maxID = max(maxID, t.id) }
    let count = model.tokens.count + added.count
    guard Int(maxID) < 4 * count + 65_536 else {
      throw r.fail("model.vocab", "has id \(maxID) for only \(count) tokens (ids must be dense)")
    }
    let size = Int(maxID) + 1
    var start = [Int](repeating: 0, count: size)
    var length = [Int32](repeating: -1, count: size)
    var arena: [UInt8] = []
    var isSpecial = [Bool](repeating: false, count: size)
    var byContent = ByteTable(capacity: count)
    for (id, b) in model.tokens {
      start[Int(id)] = arena.count
      length[Int(id)] = Int32(b.count)
      arena.append(contentsOf: b)
      byContent.insert(b, UInt64(id))
    }
    for t in added {
      start[Int(t.id)] = arena.count
      length[Int(t.id)] = Int32(t.content.count)
      arena.append(contentsOf: t.content)
      isSpecial[Int(t.id)] = t.special
      byContent.insert(t.content, UInt64(t.id))
    }
    tokenStart = start
    tokenLength = length
    tokenArena = arena
    special = isSpecial
    self.byContent = byContent
  }

  /// The most a pipeline may multiply a text's length (encode: normalizer × pre-tokenizer ×
  /// post-processor; decode: the decoder), by the components' worst-case bounds. Real files stay
  /// far below (Llama-2's Prepend + Replace " " -> "▁": 3; byte-level BPE: 2 to 4).
  static let maxGrowth: Double = 1024

  static func describe(_ growth: Double) -> String {
    growth < 1e15 ? String(Int(growth.rounded(.up))) : "\(growth)"
  }

  // MARK: Vocabulary

  /// One more than the largest id (model vocabulary and added tokens); ids below it may still be unassigned.
  public var vocabularySize: Int { tokenLength.count }

  /// The id of a token given by its exact content (added tokens first, then the model vocabulary).
  public func tokenID(_ token: String) -> Int32? {
    byContent.find(Array(token.utf8)).map { Int32($0) }
  }

  /// The content of a token (as stored in tokenizer.json, e.g. "Ġthe" or "▁the"), nil for an unassigned id.
  public func token(_ id: Int32) -> String? {
    tokenBytes(id).map { String(decoding: $0, as: UTF8.self) }
  }

  /// Whether `id` is an added token marked special (skipped by `decode(_:skipSpecialTokens: true)`).
  public func isSpecial(_ id: Int32) -> Bool {
    id >= 0 && Int(id) < special.count && special[Int(id)]
  }

  /// The ids of all added tokens marked special, ascending.
  public var specialTokenIDs: [Int32] { addedTokens.filter(\.special).map(\.id).sorted() }

  func tokenBytes(_ id: Int32) -> ArraySlice<UInt8>? {
    guard id >= 0, Int(id) < tokenLength.count, tokenLength[Int(id)] >= 0 else { return nil }
    let s = tokenStart[Int(id)]
    return tokenArena[s..<(s + Int(tokenLength[Int(id)]))]
  }

  // MARK: Encoding

  /// Token ids of `text`, as `tokenizers`' `encode(text, add_special_tokens=...)` gives them.
  ///
  /// - Parameter addSpecialTokens: apply the post-processor (e.g. insert Llama's BOS), default true as in
  ///   `tokenizers`. Special tokens written in the text are always recognized.
  public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
    var ids: [Int32] = []
    var state = EncodeState()
    let bytes = Array(text.utf8)
    for seg in rawMatcher.split(bytes) {
      switch seg {
      case .token(let id): ids.append(id)
      case .text(let s, let e):
        var t = Array(bytes[s..<e])
        if let n = normalizer { t = n.apply(t) }
        for sub in normalizedMatcher.split(t) {
          switch sub {
          case .token(let id): ids.append(id)
          case .text(let a, let z):
            encodePiece(t, a, z, first: s == 0 && a == 0, into: &ids, &state)
          }
        }
      }
    }
    return addSpecialTokens ? postProcessor.apply(ids) : ids
  }

  private func encodePiece(_ t: [UInt8], _ a: Int, _ z: Int, first: Bool, into ids: inout [Int32], _ st: inout EncodeState) {
    var pieces = Pieces()
    if let pre = preTokenizer {
      pieces.buf = Array(t[a..<z])
      pieces.append(0, z - a, first)
      pieces = pre.apply(pieces, &st.scalarRun)
    } else {
      pieces.buf = t
      pieces.append(a, z, first)
    }
    pieces.buf.withUnsafeBufferPointer { b in
      for k in 0..<pieces.count {
        let s = pieces.items[k].start
        let e = pieces.items[k].end
        if model.cutsBeforeMetaspace && e - s > EncodeState.maxCachedLength {
          // Cut before each "▁" (exact, see BPEModel.cutsBeforeMetaspace).
          var a = s
          var i = s + 1
          while i + 2 < e {
            if b[i] == 0xE2 && b[i + 1] == 0x96 && b[i + 2] == 0x81 {
              tokenizeWord(UnsafeBufferPointer(rebasing: b[a..<i]), into: &ids, &st)
              a = i
              i += 3
            } else {
              i += 1
            }
          }
          tokenizeWord(UnsafeBufferPointer(rebasing: b[a..<e]), into: &ids, &st)
        } else {
          tokenizeWord(UnsafeBufferPointer(rebasing: b[s..<e]), into: &ids, &st)
        }
      }
    }
  }

  /// One word through the cache and the model.
  @inline(__always)
  private func tokenizeWord(_ w: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], _ st: inout EncodeState) {
    if w.count > EncodeState.maxCachedLength {
      model.tokenize(w, into: &ids, &st.scratch)
      return
    }
    if let hit = st.cache.find(w) {
      let start = Int(hit >> 16)
      ids.append(contentsOf: st.cached[start..<(start + Int(hit & 0xFFFF))])
      return
    }
    let before = ids.count
    model.tokenize(w, into: &ids, &st.scratch)
    if st.cache.count >= EncodeState.maxCacheEntries {
      st.cache.removeAll()
      st.cached.removeAll(keepingCapacity: true)
    }
    let n = ids.count - before
    if n <= 0xFFFF {
      st.cache.insert(w, UInt64(st.cached.count) << 16 | UInt64(n))
      st.cached.append(contentsOf: ids[before...])
    }
  }

  // MARK: Decoding

  /// The text of `ids`, as `tokenizers`' `decode(ids, skip_special_tokens=...)` gives it.
  ///
  /// Unassigned ids are skipped. Incomplete UTF-8 (e.g. a lone byte token) becomes U+FFFD.
  /// - Parameter skipSpecialTokens: drop added tokens marked special (default true, as in `tokenizers`).
  public func decode(_ ids: some Sequence<Int32>, skipSpecialTokens: Bool = true) -> String {
    var tokens: [[UInt8]] = []
    for id in ids {
      guard let b = tokenBytes(id) else { continue }
      if skipSpecialTokens && special[Int(id)] { continue }
      tokens.append(Array(b))
    }
    guard let d = decoder else {
      return String(decoding: Array(tokens.joined(separator: [0x20])), as: UTF8.self)
    }
    return String(decoding: Array(d.chain(tokens).joined()), as: UTF8.self)
  }

  /// A decoder for streamed generation: feed ids one at a time, get text as soon as it is complete.
  public func makeStreamingDecoder(skipSpecialTokens: Bool = true) -> StreamingDecoder {
    StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
  }
}

/// Incremental detokenization, with the algorithm of `tokenizers`' `DecodeStream`: it decodes a
/// short window of recent ids and returns the text beyond what the window's prefix already produced,
/// once that text does not end in U+FFFD (an incomplete UTF-8 sequence). Decoding in context keeps
/// the spaces that per-token decoding would strip (SentencePiece) or split (byte-level).
///
/// Thread-safety: a value; use one per stream.
public struct StreamingDecoder: Sendable {
  let tokenizer: Tokenizer
  let skipSpecialTokens: Bool
  private var ids: [Int32] = []
  private var prefix = ""
  private var prefixIndex = 0

  init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
    self.tokenizer = tokenizer
    self.skipSpecialTokens = skipSpecialTokens
  }

  /// Adds one id; returns the newly completed text, or nil if none is complete yet.
  public mutating func next(_ id: Int32) -> String? {
    ids.append(id)
    let text = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
    guard text.utf8.count > prefix.utf8.count, !text.hasSuffix("\u{FFFD}") else { return nil }
    // The window's text normally extends its prefix; if a decoder rewrote it, emit from the first difference.
    var common = 0
    for (x, y) in zip(text.utf8, prefix.utf8) {
      if x != y { break }
      common += 1
    }
    let utf8 = Array(text.utf8)
    let newText = String(decoding: utf8[common...], as: UTF8.self)
    let newPrefixIndex = ids.count - prefixIndex
    ids.removeFirst(prefixIndex)
    prefix = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
    prefixIndex = newPrefixIndex
    return newText
  }

  /// Text still held back at the end of the stream (an incomplete UTF-8 tail decodes as U+FFFD), or nil.
  public mutating func finish() -> String? {
    let text = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
    ids.removeAll()
    defer {
      prefix = ""
      prefixIndex = 0
    }
    guard text.utf8.count > prefix.utf8.count else { return nil }
    return String(decoding: Array(text.utf8)[prefix.utf8.count...], as: UTF8.self)
  }
}

/// Per-call encoding state: scratch buffers and a cache of pre-token results.
struct EncodeState {
  static let maxCachedLength = 256
  static let maxCacheEntries = 1 << 17
  var scalarRun = ScalarRun()
  var scratch = BPEScratch()
  var cache = ByteTable(capacity: 64)
  var cached: [Int32] = []
}

/// Splits text on added tokens: leftmost match, longest at that position (Aho-Corasick
/// LeftmostLongest as `tokenizers` uses), with lstrip / rstrip / single_word as it applies them.
///
/// The patterns form a byte trie, so finding the longest match at a position costs at most the
/// longest pattern's length, however many patterns share a prefix (trying each pattern in turn made
/// thousands of tokens with a common prefix quadratic).
struct AddedTokenMatcher: Sendable {
  enum Segment {
    case token(Int32)
    case text(Int, Int)
  }
  /// Trie nodes (0 is the root): the node's edges are `edgeByte[edgeStart[k]..<edgeStart[k + 1]]`,
  /// ascending, leading to `edgeTarget`; `terminal[k]` is the token spelled by the path to k, or -1.
  let edgeStart: [Int32]
  let edgeByte: [UInt8]
  let edgeTarget: [Int32]
  let terminal: [Int32]
  /// The root's children by byte (-1: none), the first step of every lookup.
  let rootChild: [Int32]
  let tokens: [Tokenizer.AddedToken]
  let isEmpty: Bool

  init(_ list: [(Tokenizer.AddedToken, [UInt8])]) {
    var children: [[UInt8: Int32]] = [[:]]
    var term: [Int32] = [-1]
    var toks: [Tokenizer.AddedToken] = []
    for (tok, b) in list where !b.isEmpty {
      var node = 0
      for c in b {
        if let next = children[node][c] {
          node = Int(next)
        } else {
          children.append([:])
          term.append(-1)
          children[node][c] = Int32(children.count - 1)
          node = children.count - 1
        }
      }
      // The first of equal patterns wins, as the longest-first stable order gave.
      if term[node] < 0 {
        term[node] = Int32(toks.count)
        toks.append(tok)
      }
    }
    var start: [Int32] = [0]
    var bytes: [UInt8] = []
    var targets: [Int32] = []
    for c in children {
      for (byte, next) in c.sorted(by: { $0.key < $1.key }) {
        bytes.append(byte)
        targets.append(next)
      }
      start.append(Int32(bytes.count))
    }
    edgeStart = start
    edgeByte = bytes
    edgeTarget = targets
    terminal = term
    var root = [Int32](repeating: -1, count: 256)
    for (byte, next) in children[0] { root[Int(byte)] = next }
    rootChild = root
    tokens = toks
    isEmpty = toks.isEmpty
  }

  /// The child of `node` along `byte`, or -1.
  @inline(__always)
  private func child(_ node: Int, _ byte: UInt8) -> Int {
    var lo = Int(edgeStart[node])
    var hi = Int(edgeStart[node + 1])
    while lo < hi {
      let mid = (lo + hi) / 2
      let m = edgeByte[mid]
      if m == byte { return Int(edgeTarget[mid]) }
      if m < byte { lo = mid + 1 } else { hi = mid }
    }
    return -1
  }

  /// The longest pattern at `i`: (token, its length), or nil.
  @inline(__always)
  private func longestMatch(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> (Tokenizer.AddedToken, Int)? {
    var node = Int(rootChild[Int(b[i])])
    if node < 0 { return nil }
    var best = Int(terminal[node])
    var bestLength = 1
    var k = i + 1
    while k < b.count {
      node = child(node, b[k])
      if node < 0 { break }
      k += 1
      if terminal[node] >= 0 {
        best = Int(terminal[node])
        bestLength = k - i
      }
    }
    return best < 0 ? nil : (tokens[best], bestLength)
  }

  func split(_ s: [UInt8]) -> [Segment] {
    var out: [Segment] = []
    if s.isEmpty { return out }
    if isEmpty { return [.text(0, s.count)] }
    var startOffset = 0
    var i = 0
    s.withUnsafeBufferPointer { b in
      let n = b.count
      while i < n {
        guard let (tok, length) = longestMatch(b, at: i) else {
          i += 1
          continue
        }
        var start = i
        var stop = i + length
        i = stop  // matches never overlap, even a rejected one
        if tok.singleWord {
          let before = start > 0 && isWordChar(lastScalar(b, before: start))
          let after = stop < n && isWordChar(firstScalar(b, at: stop))
          if before || after { continue }
        }
        if tok.lstrip {
          // Not past the end of the previous match: that text is consumed (and rescanning it is quadratic).
          var k = start
          while k > startOffset {
            let (v, len) = lastScalarAndLength(b, before: k)
            if !isWhiteSpace(v) { break }
            k -= len
          }
          start = k
        }
        if tok.rstrip {
          var k = stop
          while k < n {
            let (v, len) = firstScalarAndLength(b, at: k)
            if !isWhiteSpace(v) { break }
            k += len
          }
          stop = k
        }
        if startOffset < start { out.append(.text(startOffset, start)) }
        out.append(.token(tok.id))
        startOffset = max(startOffset, stop)
        i = max(i, stop)
      }
    }
    if startOffset < s.count { out.append(.text(startOffset, s.count)) }
    return out
  }
}

@inline(__always)
func lastScalarAndLength(_ b: UnsafeBufferPointer<UInt8>, before end: Int) -> (UInt32, Int) {
  var k = end - 1
  while k > 0 && b[k] & 0xC0 == 0x80 { k -= 1 }
  return firstScalarAndLength(b, at: k)
}

func lastScalar(_ b: UnsafeBufferPointer<UInt8>, before end: Int) -> UInt32 { lastScalarAndLength(b, before: end).0 }
func firstScalar(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> UInt32 { firstScalarAndLength(b, at: i).0 }

@inline(__always)
func firstScalarAndLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
  let b0 = UInt32(b[i])
  if b0 < 0x80 { return (b0, 1) }
  if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | (UInt32(b[i + 1]) & 0x3F), 2) }
  if b0 < 0xF0 { return ((b0 & 0x0F) << 12 | (UInt32(b[i + 1]) & 0x3F) << 6 | (UInt32(b[i + 2]) & 0x3F), 3) }
  return (
    (b0 & 0x07) << 18 | (UInt32(b[i + 1]) & 0x3F) << 12 | (UInt32(b[i + 2]) & 0x3F) << 6 | (UInt32(b[i + 3]) & 0x3F), 4
  )
}

/// A word character for single_word added tokens (\w: alphabetic, marks, decimal digits, connector punctuation).
func isWordChar(_ v: UInt32) -> Bool {
  guard let s = Unicode.Scalar(v) else { return false }
  let p = s.properties
  if p.isAlphabetic || p.isJoinControl { return true }
  switch p.generalCategory {
  case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
  default: return false
  }
}

/// Reads a whole file with POSIX calls (no Foundation in the library).
func readWholeFile(_ path: String) throws(SubQError) -> [UInt8] {
  let fd = open(path, O_RDONLY)
  guard fd >= 0 else {
    throw SubQError(code: .system, message: "Tokenizer: cannot open \(path): \(String(cString: strerror(errno)))")
  }
  defer { close(fd) }
  var out: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 1 << 20)
  while true {
    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 {
      if errno == EINTR { continue }
      throw SubQError(code: .system, message: "Tokenizer: cannot read \(path): \(String(cString: strerror(errno)))")
    }
    if n == 0 { break }
    out.append(contentsOf: chunk[0..<n])
  }
  return out
}
