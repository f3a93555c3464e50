// The regex engine of the Split pre-tokenizer: a Pike VM, so no pattern can make encode backtrack.
//
// tokenizer.json's Split patterns are Oniguruma regexes (Ruby syntax). A backtracking engine, Swift
// Regex among them, takes exponential time on a pattern such as `(a+)+$`: a hostile file would hang
// encode. Here a pattern compiles to a program of at most `maxProgram` instructions, and every thread
// of a candidate match advances in lock step, one scalar at a time, in priority order. That finds the
// match a backtracking engine finds first (leftmost, then the earliest alternative and greedy or lazy
// choices as written) in O(program × span) time, where span runs from the search start to where the
// last live thread dies. Over a whole text that is linear for patterns whose threads die soon after a
// match (all the families' patterns); one whose match waits on a long look-ahead through the text can
// cost O(program × n²), as in RE2 and Rust's regex, never exponential.
//
// Supported, as Oniguruma reads them (checked against `tokenizers` in TokenizerRegexTests):
//   literals; escapes \t \n \r \f \v \a \e \xHH \x{H…} \uHHHH \0oo and escaped punctuation; `.`;
//   classes [...] with ranges, negation and the escapes below; \d \D \w \W \s \S \h \H (Unicode:
//   \d = Nd, \w = Alphabetic M Nd Pc, \s = White_Space, \h = hex digit); \p{…} \P{…} \p{^…} with the general
//   categories by short or long name and the properties Alphabetic, Uppercase, Lowercase, White_Space,
//   Emoji and Oniguruma's Alnum Punct Cntrl Blank XDigit ASCII Graph Print Word Digit; groups (…) (?:…)
//   (?<name>…) (?'name'…) (?#…); flags i and m (Ruby's m: `.` also matches \n), scoped (?i:…) or
//   inline, where as in Oniguruma `a(?i)b|c` reads `a(?i:b|c)`; alternation; greedy and lazy
//   quantifiers * + ? {n} {n,} {,m} {n,m} (in Ruby syntax {n,m}+ repeats again, it is not possessive);
//   anchors ^ $ (lines) \A \z \Z \b \B; look-around over one scalar: (?=x) (?!x) (?<=x) (?<!x).
// Refused at load, with the construct named: backreferences and subexpression calls, longer
// look-around, atomic groups, possessive quantifiers, conditionals, absent operators, \G \K \R \X,
// POSIX brackets, nested classes and class intersection, the x flag, script properties (\p{Han}:
// Swift has no Script table, and its Regex reads Script_Extensions, which Oniguruma does not).
// Case-insensitive matching uses simple case folding (one scalar to one scalar). Oniguruma also folds
// one scalar to several ((?i)ß matches "ss", (?i)ss matches "ß"), so a case-insensitive pattern with
// such a scalar, or with two adjacent literals that begin such a fold ("ss", "fi"…), is refused
// rather than matched differently.

/// A syntax error or an unsupported construct, at a scalar offset of the pattern.
struct RegexError: Error, CustomStringConvertible {
  let message: String
  let offset: Int
  var description: String { "\(message) (at scalar \(offset) of the pattern)" }
}

/// One scalar-consuming test.
enum RegexAtom: Sendable, Equatable {
  case scalar(UInt32)
  /// Any scalar whose simple case fold is this one.
  case folded(UInt32)
  case set(Int32)
  case anyScalar
  case anyButNewline
}

enum RegexAssertion: Sendable, Equatable {
  case textStart, textEnd, textEndBeforeFinalNewline, lineStart, lineEnd, wordBoundary, notWordBoundary
  case ahead(RegexAtom, negated: Bool)
  case behind(RegexAtom, negated: Bool)
}

enum RegexInst: Sendable {
  case atom(RegexAtom)
  /// Continue at both; the first has priority.
  case split(Int32, Int32)
  case jump(Int32)
  case assert(RegexAssertion)
  case match
}

indirect enum RegexNode {
  case empty
  case atom(RegexAtom)
  case assert(RegexAssertion)
  case concat([RegexNode])
  case alternation([RegexNode])
  case repetition(RegexNode, min: Int, max: Int?, greedy: Bool)
}

// MARK: - Scalar sets

/// One member test of a class.
enum RegexSetItem: Sendable {
  case ranges([ClosedRange<UInt32>], negated: Bool)
  /// Bit k set: general category k of `RegexSetItem.categoryIndex`.
  case categories(UInt32, negated: Bool)
  case whiteSpace(negated: Bool)
  case binary(RegexBinaryProperty, negated: Bool)
  case word(negated: Bool, outsideClass: Bool)

  func contains(_ v: UInt32) -> Bool {
    switch self {
    case .ranges(let rs, let neg):
      return rs.contains { $0.contains(v) } != neg
    case .categories(let mask, let neg):
      guard let c = Self.category(v) else { return neg }
      return ((mask >> c) & 1 != 0) != neg
    case .whiteSpace(let neg):
      return isWhiteSpace(v) != neg
    case .binary(let b, let neg):
      guard let s = Unicode.Scalar(v) else { return neg }
      return b.holds(s) != neg
    case .word(let neg, let outside):
      return Self.isWord(v, outsideClass: outside) != neg
    }
  }

  /// General category index of every BMP scalar (255: a surrogate), computed once.
  static let bmpCategories: [UInt8] = (0..<0x10000).map { v in
    Unicode.Scalar(UInt32(v)).map { UInt8(categoryIndex($0.properties.generalCategory)) } ?? 255
  }

  @inline(__always)
  static func category(_ v: UInt32) -> UInt32? {
    if v < 0x10000 {
      let c = bmpCategories[Int(v)]
      return c == 255 ? nil : UInt32(c)
    }
    return Unicode.Scalar(v).map { categoryIndex($0.properties.generalCategory) }
  }

  static func categoryIndex(_ c: Unicode.GeneralCategory) -> UInt32 {
    switch c {
    case .uppercaseLetter: 0
    case .lowercaseLetter: 1
    case .titlecaseLetter: 2
    case .modifierLetter: 3
    case .otherLetter: 4
    case .nonspacingMark: 5
    case .spacingMark: 6
    case .enclosingMark: 7
    case .decimalNumber: 8
    case .letterNumber: 9
    case .otherNumber: 10
    case .connectorPunctuation: 11
    case .dashPunctuation: 12
    case .openPunctuation: 13
    case .closePunctuation: 14
    case .initialPunctuation: 15
    case .finalPunctuation: 16
    case .otherPunctuation: 17
    case .mathSymbol: 18
    case .currencySymbol: 19
    case .modifierSymbol: 20
    case .otherSymbol: 21
    case .spaceSeparator: 22
    case .lineSeparator: 23
    case .paragraphSeparator: 24
    case .control: 25
    case .format: 26
    case .surrogate: 27
    case .privateUse: 28
    case .unassigned: 29
    @unknown default: 29
    }
  }

  /// Oniguruma's general-category names (lower case, without spaces, '_' or '-') → category bits.
  static let categoryNames: [String: UInt32] = {
    let single: [(String, String, UInt32)] = [
      ("lu", "uppercaseletter", 0), ("ll", "lowercaseletter", 1), ("lt", "titlecaseletter", 2),
      ("lm", "modifierletter", 3), ("lo", "otherletter", 4), ("mn", "nonspacingmark", 5),
      ("mc", "spacingmark", 6), ("me", "enclosingmark", 7), ("nd", "decimalnumber", 8),
      ("nl", "letternumber", 9), ("no", "othernumber", 10), ("pc", "connectorpunctuation", 11),
      ("pd", "dashpunctuation", 12), ("ps", "openpunctuation", 13), ("pe", "closepunctuation", 14),
      ("pi", "initialpunctuation", 15), ("pf", "finalpunctuation", 16), ("po", "otherpunctuation", 17),
      ("sm", "mathsymbol", 18), ("sc", "currencysymbol", 19), ("sk", "modifiersymbol", 20),
      ("so", "othersymbol", 21), ("zs", "spaceseparator", 22), ("zl", "lineseparator", 23),
      ("zp", "paragraphseparator", 24), ("cc", "control", 25), ("cf", "format", 26), ("cs", "surrogate", 27),
      ("co", "privateuse", 28), ("cn", "unassigned", 29),
    ]
    var t: [String: UInt32] = [:]
    for (a, b, k) in single {
      t[a] = 1 << k
      t[b] = 1 << k
    }
    let groups: [([String], ClosedRange<UInt32>)] = [
      (["l", "letter"], 0...4), (["m", "mark", "combiningmark"], 5...7), (["n", "number"], 8...10),
      (["p", "punctuation"], 11...17), (["s", "symbol"], 18...21), (["z", "separator"], 22...24),
      (["c", "other"], 25...29), (["lc", "casedletter", "l&"], 0...2),
    ]
    for (names, r) in groups {
      var m: UInt32 = 0
      for k in r { m |= 1 << k }
      for n in names { t[n] = m }
    }
    t["any"] = (1 << 30) - 1
    return t
  }()

  /// P (Pc … Po), for Punct: a constant, not a dictionary lookup per scalar.
  static let punctuationMask: UInt32 = 0b111_1111 << 11
  /// M, Nd and Pc: with Alphabetic, Oniguruma's word characters.
  static let wordMask: UInt32 = 0b111 << 5 | 1 << 8 | 1 << 11

  /// \w: Alphabetic, M, Nd, Pc. Outside a class Oniguruma reads scalars below U+0100 from its
  /// Latin-1 table, which also counts ² ³ ¹ ¼ ½ ¾ as word characters (TokenizerRegexTests checks both).
  static func isWord(_ v: UInt32, outsideClass: Bool) -> Bool {
    if v < 128 {
      return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
    }
    if outsideClass && (v == 0xB2 || v == 0xB3 || v == 0xB9 || v == 0xBC || v == 0xBD || v == 0xBE) { return true }
    guard let c = category(v) else { return false }
    if (wordMask >> c) & 1 != 0 { return true }
    return Unicode.Scalar(v)!.properties.isAlphabetic
  }
  static let digitMask: UInt32 = 1 << 8
}

/// Properties beyond the general categories, with Oniguruma's definitions of its POSIX-style names.
enum RegexBinaryProperty: String, Sendable {
  case alphabetic, uppercase, lowercase, emoji, alnum, punct, cntrl, blank, xdigit, ascii, graph, print

  static let names: [String: RegexBinaryProperty] = [
    "alpha": .alphabetic, "alphabetic": .alphabetic, "upper": .uppercase, "uppercase": .uppercase,
    "lower": .lowercase, "lowercase": .lowercase, "emoji": .emoji, "alnum": .alnum, "punct": .punct,
    "cntrl": .cntrl, "blank": .blank, "xdigit": .xdigit, "ascii": .ascii, "graph": .graph, "print": .print,
  ]

  func holds(_ s: Unicode.Scalar) -> Bool {
    let p = s.properties
    let v = s.value
    switch self {
    case .alphabetic: return p.isAlphabetic
    case .uppercase: return p.isUppercase
    case .lowercase: return p.isLowercase
    case .emoji: return p.isEmoji
    case .alnum: return p.isAlphabetic || p.generalCategory == .decimalNumber
    case .punct:
      return (RegexSetItem.punctuationMask >> RegexSetItem.categoryIndex(p.generalCategory)) & 1 != 0
    case .cntrl: return p.generalCategory == .control
    case .blank: return v == 9 || p.generalCategory == .spaceSeparator
    case .xdigit: return (0x30...0x39).contains(v) || (0x41...0x46).contains(v) || (0x61...0x66).contains(v)
    case .ascii: return v < 128
    case .graph, .print:
      switch p.generalCategory {
      case .control, .surrogate, .unassigned: return false
      default: return !p.isWhitespace || (self == .print && p.generalCategory == .spaceSeparator)
      }
    }
  }
}

/// A class: items, negation, case folding; membership below U+0800 (Latin, Greek, Cyrillic, Hebrew,
/// Arabic…) precomputed, above it evaluated per scalar (table lookups for the categories), so that
/// compiling a class stays cheap.
struct RegexSet: Sendable {
  let items: [RegexSetItem]
  let negated: Bool
  let ignoreCase: Bool
  static let tableLimit: UInt32 = 0x800
  /// Bit v of U+0000…U+07FF.
  private let table: [UInt64]

  init(items: [RegexSetItem], negated: Bool, ignoreCase: Bool) {
    self.items = items
    self.negated = negated
    self.ignoreCase = ignoreCase
    var bits = [UInt64](repeating: 0, count: Int(Self.tableLimit / 64))
    for v in UInt32(0)..<Self.tableLimit where Self.member(items, negated, ignoreCase, v) {
      bits[Int(v >> 6)] |= 1 << UInt64(v & 63)
    }
    table = bits
  }

  @inline(__always)
  func contains(_ v: UInt32) -> Bool {
    if v < Self.tableLimit { return (table[Int(v >> 6)] >> UInt64(v & 63)) & 1 != 0 }
    return Self.member(items, negated, ignoreCase, v)
  }

  private static func member(_ items: [RegexSetItem], _ negated: Bool, _ ignoreCase: Bool, _ v: UInt32) -> Bool {
    var hit = items.contains { $0.contains(v) }
    if !hit && ignoreCase, let orbit = CaseFolds.orbits[simpleCaseFold(v)] {
      hit = orbit.contains { u in u != v && items.contains { $0.contains(u) } }
    }
    return hit != negated
  }
}

/// Oniguruma's one-to-several case folds, read off Swift's case mappings.
enum CaseFolds {
  /// Scalar → what it folds to, for those that fold to several scalars (ß → ss, ﬁ → fi, İ → i̇…).
  static let multi: [UInt32: [UInt32]] = {
    var t: [UInt32: [UInt32]] = [:]
    for v in UInt32(0x80)..<0x20000 {
      guard let s = Unicode.Scalar(v) else { continue }
      let p = s.properties
      let up = p.uppercaseMapping
      let low = p.lowercaseMapping
      if up.unicodeScalars.count > 1 {
        t[v] = up.lowercased().unicodeScalars.map(\.value)
      } else if low.unicodeScalars.count > 1 {
        t[v] = low.unicodeScalars.map(\.value)
      }
    }
    t[0x1E9E] = [0x73, 0x73]  // ẞ: its case mappings are single (ß), its fold is "ss"
    return t
  }()

  /// Fold → every scalar below U+20000 with that fold, where there are several (k → k K K).
  static let orbits: [UInt32: [UInt32]] = {
    var t: [UInt32: [UInt32]] = [:]
    for v in UInt32(0)..<0x20000 where Unicode.Scalar(v) != nil {
      let f = simpleCaseFold(v)
      if f != v {
        t[f, default: [f]].append(v)
      }
    }
    return t
  }()

  static let sortedMulti: [UInt32] = multi.keys.sorted()

  /// (first << 32 | second) simple folds of the first two scalars of every several-scalar fold.
  static let pairs: Set<UInt64> = Set(multi.values.filter { $0.count >= 2 }.map {
    UInt64(simpleCaseFold($0[0])) << 32 | UInt64(simpleCaseFold($0[1]))
  })
}

/// Oniguruma's one-scalar case fold (CaseFolding.txt's C and S folds): the lower case of the upper
/// case, where both map one scalar to one (ſ → s, K (Kelvin) → k, ς → σ). The Turkish dotted and
/// dotless i do not fold to i; a scalar that folds to several folds to its one-scalar lower case
/// (ẞ → ß, ᾈ → ᾀ) or else to itself (ß, ﬁ).
@inline(__always)
func simpleCaseFold(_ v: UInt32) -> UInt32 {
  if v < 128 { return v >= 0x41 && v <= 0x5A ? v + 32 : v }
  if v == 0x130 || v == 0x131 { return v }
  if CaseFolds.multi[v] != nil {
    let low = Unicode.Scalar(v)!.properties.lowercaseMapping.unicodeScalars
    return low.count == 1 ? low.first!.value : v
  }
  return caseFoldOfMappings(v)
}

private func caseFoldOfMappings(_ v: UInt32) -> UInt32 {
  guard let s = Unicode.Scalar(v) else { return v }
  var u = v
  let up = s.properties.uppercaseMapping.unicodeScalars
  if up.count == 1, let x = up.first { u = x.value }
  guard let us = Unicode.Scalar(u) else { return v }
  let low = us.properties.lowercaseMapping.unicodeScalars
  if low.count == 1, let x = low.first { return x.value }
  return v
}

// MARK: - Parser

private struct RegexParser {
  struct Flags {
    var ignoreCase = false
    var dotAll = false
  }

  let s: [UInt32]
  var i = 0
  var sets: [RegexSet] = []
  var setIndex: [String: Int32] = [:]

  init(_ source: String) { s = source.unicodeScalars.map(\.value) }

  func fail(_ message: String, at: Int? = nil) -> RegexError { RegexError(message: message, offset: at ?? i) }

  func peek(_ k: Int = 0) -> UInt32? { i + k < s.count ? s[i + k] : nil }

  func text(_ r: Range<Int>) -> String {
    String(String.UnicodeScalarView(s[r].compactMap { Unicode.Scalar($0) }))
  }

  mutating func eat(_ c: Character) -> Bool {
    if let v = peek(), v == c.unicodeScalars.first!.value {
      i += 1
      return true
    }
    return false
  }

  mutating func parseWhole() throws(RegexError) -> RegexNode {
    var f = Flags()
    let n = try parseAlternation(&f, depth: 0)
    if i < s.count { throw fail("unmatched ')'") }
    return n
  }

  mutating func parseAlternation(_ flags: inout Flags, depth: Int) throws(RegexError) -> RegexNode {
    var branches = [try parseConcat(&flags, depth)]
    while eat("|") { branches.append(try parseConcat(&flags, depth)) }
    return branches.count == 1 ? branches[0] : .alternation(branches)
  }

  mutating func parseConcat(_ flags: inout Flags, _ depth: Int) throws(RegexError) -> RegexNode {
    var items: [RegexNode] = []
    var previousFold: UInt32? = nil  // the last item, when a case-insensitive literal
    while let c = peek(), c != 0x7C, c != 0x29 {  // | )
      let start = i
      if try parseInlineFlags(&flags) {
        // Oniguruma: inline flags govern the rest of the group, alternatives included, so
        // a(?i)b|c is a(?i:b|c).
        if depth + 1 > LinearRegex.maxNesting {
          throw fail("groups nested deeper than \(LinearRegex.maxNesting)", at: start)
        }
        items.append(try parseAlternation(&flags, depth: depth + 1))
        break
      }
      var node = try parseAtom(flags, depth)
      node = try parseQuantifiers(node, start)
      var fold: UInt32? = nil
      if flags.ignoreCase, case .atom(let a) = node {
        switch a {
        case .scalar(let v), .folded(let v): fold = simpleCaseFold(v)
        default: break
        }
      }
      if let a = previousFold, let b = fold, CaseFolds.pairs.contains(UInt64(a) << 32 | UInt64(b)) {
        throw fail(
          "case-insensitive literals that Oniguruma would also match as one scalar (as ss matches ß) are not supported",
          at: start - 1)
      }
      previousFold = fold
      items.append(node)
    }
    return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
  }

  /// `(?imx-imx)`: flags to the end of the enclosing group. Leaves `i` alone when not one.
  mutating func parseInlineFlags(_ flags: inout Flags) throws(RegexError) -> Bool {
    guard peek() == 0x28, peek(1) == 0x3F else { return false }
    var k = i + 2
    var f = flags
    var on = true
    while k < s.count {
      switch s[k] {
      case 0x69: f.ignoreCase = on  // i
      case 0x6D: f.dotAll = on  // m
      case 0x78: throw fail("the x (extended) flag is not supported", at: k)
      case 0x2D: on = false  // -
      case 0x29:  // )
        if k == i + 2 { return false }
        i = k + 1
        flags = f
        return true
      default: return false
      }
      k += 1
    }
    return false
  }

  mutating func parseQuantifiers(_ atom: RegexNode, _ start: Int) throws(RegexError) -> RegexNode {
    var node = atom
    var count = 0
    while let c = peek() {
      var lo = 0
      var hi: Int? = nil
      var simple = true
      switch c {
      case 0x2A: i += 1  // *
      case 0x2B: i += 1; lo = 1  // +
      case 0x3F: i += 1; hi = 1  // ?
      case 0x7B:  // {
        guard let (a, b) = try parseInterval() else { return node }
        lo = a
        hi = b
        simple = false
      default: return node
      }
      if case .assert = node { throw fail("an anchor or look-around cannot be repeated", at: start) }
      count += 1
      if count > 4 { throw fail("more than 4 quantifiers in a row", at: start) }
      var greedy = true
      if eat("?") {
        greedy = false
      } else if simple, peek() == 0x2B {
        throw fail("possessive quantifiers (*+, ++, ?+) are not supported")
      }
      node = .repetition(node, min: lo, max: hi, greedy: greedy)
    }
    return node
  }

  /// `{n}` `{n,}` `{,m}` `{n,m}`; nil (nothing consumed) when the brace is a literal.
  mutating func parseInterval() throws(RegexError) -> (Int, Int?)? {
    let start = i
    var k = i + 1
    func number(_ k: inout Int) -> Int? {
      var n = 0
      var digits = 0
      while k < s.count, s[k] >= 0x30, s[k] <= 0x39 {
        n = min(n * 10 + Int(s[k] - 0x30), 1 << 30)
        digits += 1
        k += 1
      }
      return digits > 0 ? n : nil
    }
    let a = number(&k)
    var b: Int?
    var comma = false
    if k < s.count, s[k] == 0x2C {
      comma = true
      k += 1
      b = number(&k)
    }
    guard k < s.count, s[k] == 0x7D, a != nil || b != nil else { return nil }
    i = k + 1
    let lo = a ?? 0
    let hi: Int? = comma ? b : a
    if lo > LinearRegex.maxRepeat || (hi ?? 0) > LinearRegex.maxRepeat {
      throw fail("a repeat count above \(LinearRegex.maxRepeat)", at: start)
    }
    if let hi, hi < lo { throw fail("interval {\(lo),\(hi)} has its upper bound below its lower bound", at: start) }
    return (lo, hi)
  }

  mutating func parseAtom(_ flags: Flags, _ depth: Int) throws(RegexError) -> RegexNode {
    let c = s[i]
    switch c {
    case 0x28: return try parseGroup(flags, depth)
    case 0x5B: return .atom(try parseClass(flags))
    case 0x2E:
      i += 1
      return .atom(flags.dotAll ? .anyScalar : .anyButNewline)
    case 0x5E:
      i += 1
      return .assert(.lineStart)
    case 0x24:
      i += 1
      return .assert(.lineEnd)
    case 0x5C: return try parseEscape(flags)
    case 0x2A, 0x2B, 0x3F: throw fail("a quantifier with nothing to repeat")
    default:
      i += 1
      return .atom(try literal(c, flags))
    }
  }

  func literal(_ v: UInt32, _ flags: Flags) throws(RegexError) -> RegexAtom {
    guard flags.ignoreCase else { return .scalar(v) }
    if CaseFolds.multi[v] != nil { throw multiFold(v) }
    return CaseFolds.orbits[simpleCaseFold(v)] != nil ? .folded(simpleCaseFold(v)) : .scalar(v)
  }

  func multiFold(_ v: UInt32) -> RegexError {
    fail("case-insensitive U+\(String(v, radix: 16, uppercase: true)), which folds to several scalars, is not supported", at: i - 1)
  }

  mutating func parseGroup(_ flags: Flags, _ depth: Int) throws(RegexError) -> RegexNode {
    let start = i
    i += 1
    if depth + 1 > LinearRegex.maxNesting { throw fail("groups nested deeper than \(LinearRegex.maxNesting)", at: start) }
    var inner = flags
    var look: (ahead: Bool, negated: Bool)? = nil
    if eat("?") {
      guard let c = peek() else { throw fail("unterminated group", at: start) }
      switch c {
      case 0x3A: i += 1  // (?:
      case 0x3D: i += 1; look = (true, false)  // (?=
      case 0x21: i += 1; look = (true, true)  // (?!
      case 0x3C:  // (?<= (?<! (?<name>
        if peek(1) == 0x3D {
          i += 2
          look = (false, false)
        } else if peek(1) == 0x21 {
          i += 2
          look = (false, true)
        } else {
          i += 1
          try skipGroupName(close: 0x3E, start)
        }
      case 0x27:  // (?'name'
        i += 1
        try skipGroupName(close: 0x27, start)
      case 0x23:  // (?#comment)
        while let x = peek(), x != 0x29 { i += 1 }
        if !eat(")") { throw fail("unterminated comment group", at: start) }
        return .empty
      case 0x3E: throw fail("atomic groups (?>…) are not supported", at: start)
      case 0x28: throw fail("conditionals (?(…)…) are not supported", at: start)
      case 0x7E: throw fail("absent operators (?~…) are not supported", at: start)
      default:
        // (?imx-imx:…)
        var on = true
        while true {
          guard let x = peek() else { throw fail("unterminated group", at: start) }
          i += 1
          switch x {
          case 0x69: inner.ignoreCase = on
          case 0x6D: inner.dotAll = on
          case 0x78: throw fail("the x (extended) flag is not supported", at: i - 1)
          case 0x2D: on = false
          case 0x3A: break
          default: throw fail("unknown group syntax \"\(text(start..<i))\"", at: start)
          }
          if x == 0x3A { break }
        }
      }
    }
    let body = try parseAlternation(&inner, depth: depth + 1)
    if !eat(")") { throw fail("unmatched '('", at: start) }
    guard let look else { return body }
    guard case .atom(let a) = body else {
      throw fail("look-around over more than one scalar is not supported (only (?=x) (?!x) (?<=x) (?<!x))", at: start)
    }
    return .assert(look.ahead ? .ahead(a, negated: look.negated) : .behind(a, negated: look.negated))
  }

  mutating func skipGroupName(close: UInt32, _ start: Int) throws(RegexError) {
    let nameStart = i
    while let x = peek(), x != close { i += 1 }
    if i == nameStart || !eat(Character(Unicode.Scalar(close)!)) { throw fail("bad group name", at: start) }
  }

  /// A set atom, shared by every use of the same class.
  mutating func set(_ items: [RegexSetItem], negated: Bool, ignoreCase: Bool, key: String) throws(RegexError)
    -> RegexAtom
  {
    let k = "\(negated) \(ignoreCase) \(key)"
    if let x = setIndex[k] { return .set(x) }
    if sets.count >= LinearRegex.maxSets { throw fail("more than \(LinearRegex.maxSets) distinct classes") }
    sets.append(RegexSet(items: items, negated: negated, ignoreCase: ignoreCase))
    setIndex[k] = Int32(sets.count - 1)
    return .set(Int32(sets.count - 1))
  }

  mutating func parseClass(_ flags: Flags) throws(RegexError) -> RegexAtom {
    let start = i
    i += 1
    let negated = eat("^")
    var items: [RegexSetItem] = []
    var first = true
    while true {
      guard let c = peek() else { throw fail("unterminated class '['", at: start) }
      if c == 0x5D && !first {  // ]
        i += 1
        break
      }
      first = false
      if c == 0x5B {  // [
        throw fail(peek(1) == 0x3A ? "POSIX brackets [:…:] are not supported" : "nested classes are not supported")
      }
      if c == 0x26 && peek(1) == 0x26 { throw fail("class intersection && is not supported") }
      let lo: UInt32
      if c == 0x5C {
        switch try parseClassEscape(flags, inClass: true) {
        case .item(let it):
          items.append(it)
          continue
        case .scalar(let v): lo = v
        }
      } else {
        i += 1
        lo = c
      }
      // A range lo-hi unless '-' is last.
      if peek() == 0x2D, let h = peek(1), h != 0x5D {
        i += 1
        let hi: UInt32
        if h == 0x5C {
          guard case .scalar(let v) = try parseClassEscape(flags, inClass: true) else {
            throw fail("a class escape cannot end a range")
          }
          hi = v
        } else {
          i += 1
          hi = h
        }
        if hi < lo { throw fail("empty range in class") }
        if flags.ignoreCase, let m = CaseFolds.sortedMulti.first(where: { (lo...hi).contains($0) }) { throw multiFold(m) }
        items.append(.ranges([lo...hi], negated: false))
      } else {
        if flags.ignoreCase && CaseFolds.multi[lo] != nil { throw multiFold(lo) }
        items.append(.ranges([lo...lo], negated: false))
      }
    }
    return try set(items, negated: negated, ignoreCase: flags.ignoreCase, key: text(start..<i))
  }

  enum ClassEscape {
    case item(RegexSetItem)
    case scalar(UInt32)
  }

  /// An escape inside or outside a class that stands for a scalar or a set of them; nil for the others.
  mutating func parseClassEscape(_ flags: Flags, inClass: Bool) throws(RegexError) -> ClassEscape {
    let start = i
    i += 1
    guard let c = peek() else { throw fail("trailing backslash", at: start) }
    i += 1
    switch c {
    case 0x62: return .scalar(8)  // b: backspace (a word boundary outside classes, see parseEscape)
    case 0x74: return .scalar(9)  // t
    case 0x6E: return .scalar(10)  // n
    case 0x72: return .scalar(13)  // r
    case 0x66: return .scalar(12)  // f
    case 0x76: return .scalar(11)  // v
    case 0x61: return .scalar(7)  // a
    case 0x65: return .scalar(27)  // e
    case 0x78:  // x
      if eat("{") {
        let v = try hex(maxDigits: 8, start)
        if !eat("}") { throw fail("unterminated \\x{…}", at: start) }
        return .scalar(try valid(v, start))
      }
      return .scalar(try valid(try hex(maxDigits: 2, start), start))
    case 0x75: return .scalar(try valid(try hex(maxDigits: 4, exact: true, start), start))  // u
    case 0x30:  // \0oo
      var v: UInt32 = 0
      var n = 0
      while n < 2, let d = peek(), d >= 0x30, d <= 0x37 {
        v = v * 8 + d - 0x30
        i += 1
        n += 1
      }
      return .scalar(v)
    case 0x64: return .item(.categories(RegexSetItem.digitMask, negated: false))  // d
    case 0x44: return .item(.categories(RegexSetItem.digitMask, negated: true))
    case 0x77: return .item(.word(negated: false, outsideClass: !inClass))  // w
    case 0x57: return .item(.word(negated: true, outsideClass: !inClass))
    case 0x73: return .item(.whiteSpace(negated: false))  // s
    case 0x53: return .item(.whiteSpace(negated: true))
    case 0x68: return .item(.ranges([0x30...0x39, 0x41...0x46, 0x61...0x66], negated: false))  // h
    case 0x48: return .item(.ranges([0x30...0x39, 0x41...0x46, 0x61...0x66], negated: true))
    case 0x70, 0x50: return .item(try parseProperty(negated: c == 0x50, inClass: inClass, start))  // p P
    case 0x31...0x39: throw fail("backreferences are not supported", at: start)
    case 0x6B: throw fail("backreferences \\k<…> are not supported", at: start)
    case 0x67: throw fail("subexpression calls \\g<…> are not supported", at: start)
    case 0x41...0x5A, 0x61...0x7A:
      throw fail("the escape \\\(Character(Unicode.Scalar(c)!)) is not supported", at: start)
    default: return .scalar(c)  // escaped punctuation or any non-ASCII scalar
    }
  }

  mutating func parseEscape(_ flags: Flags) throws(RegexError) -> RegexNode {
    let start = i
    switch peek(1) {
    case 0x62: i += 2; return .assert(.wordBoundary)  // b
    case 0x42: i += 2; return .assert(.notWordBoundary)
    case 0x41: i += 2; return .assert(.textStart)  // A
    case 0x7A: i += 2; return .assert(.textEnd)  // z
    case 0x5A: i += 2; return .assert(.textEndBeforeFinalNewline)  // Z
    default: break
    }
    switch try parseClassEscape(flags, inClass: false) {
    case .scalar(let v): return .atom(try literal(v, flags))
    case .item(let it):
      // Oniguruma does not case-fold an escape or property outside a class ((?i)\p{Ll} leaves out A).
      return .atom(try set([it], negated: false, ignoreCase: false, key: text(start..<i)))
    }
  }

  mutating func hex(maxDigits: Int, exact: Bool = false, _ start: Int) throws(RegexError) -> UInt32 {
    var v: UInt32 = 0
    var n = 0
    while n < maxDigits, let d = peek() {
      let x: UInt32
      switch d {
      case 0x30...0x39: x = d - 0x30
      case 0x41...0x46: x = d - 0x41 + 10
      case 0x61...0x66: x = d - 0x61 + 10
      default: x = 16
      }
      if x == 16 { break }
      v = v << 4 | x
      i += 1
      n += 1
    }
    if n == 0 || (exact && n != maxDigits) { throw fail("bad hexadecimal escape", at: start) }
    return v
  }

  func valid(_ v: UInt32, _ start: Int) throws(RegexError) -> UInt32 {
    guard Unicode.Scalar(v) != nil else { throw fail("\\x or \\u escape \(v) is not a Unicode scalar", at: start) }
    return v
  }

  /// After \p or \P: {Name} or {^Name}.
  mutating func parseProperty(negated: Bool, inClass: Bool, _ start: Int) throws(RegexError) -> RegexSetItem {
    guard eat("{") else { throw fail("\\p and \\P need a {name}", at: start) }
    var neg = negated
    if eat("^") { neg.toggle() }
    var name = ""
    while let c = peek(), c != 0x7D {
      guard c < 128 else { throw fail("bad property name", at: start) }
      name.unicodeScalars.append(Unicode.Scalar(UInt8(c)))
      i += 1
    }
    if !eat("}") { throw fail("unterminated \\p{…}", at: start) }
    let key = String(name.lowercased().filter { $0 != " " && $0 != "_" && $0 != "-" })
    if let mask = RegexSetItem.categoryNames[key] { return .categories(mask, negated: neg) }
    switch key {
    case "space", "whitespace": return .whiteSpace(negated: neg)
    case "digit": return .categories(RegexSetItem.digitMask, negated: neg)
    case "word": return .word(negated: neg, outsideClass: !inClass)
    default: break
    }
    if let b = RegexBinaryProperty.names[key] { return .binary(b, negated: neg) }
    throw fail(
      "the Unicode property \\p{\(name)} is not supported (general categories, Alphabetic, Uppercase, "
        + "Lowercase, White_Space, Emoji, Alnum, Punct, Cntrl, Blank, XDigit, ASCII, Graph, Print, Word and "
        + "Digit are; scripts are not)", at: start)
  }
}

// MARK: - Compiler and matcher

struct LinearRegex: Sendable {
  /// Bounds that keep a hostile pattern's load time and matching cost small.
  static let maxProgram = 10_000
  static let maxSets = 64
  static let maxNesting = 64
  static let maxRepeat = 100_000
  static let maxPatternScalars = 16_384

  let source: String
  let program: [RegexInst]
  let sets: [RegexSet]

  init(_ source: String) throws(RegexError) {
    if source.unicodeScalars.count > Self.maxPatternScalars {
      throw RegexError(message: "a pattern longer than \(Self.maxPatternScalars) scalars", offset: 0)
    }
    var p = RegexParser(source)
    let ast = try p.parseWhole()
    if Self.size(ast) > Self.maxProgram {
      throw RegexError(message: "the pattern compiles to more than \(Self.maxProgram) instructions", offset: 0)
    }
    var prog: [RegexInst] = []
    Self.emit(ast, into: &prog)
    prog.append(.match)
    self.source = source
    program = prog
    sets = p.sets
  }

  /// Instructions `emit` appends for `n`, saturating.
  static func size(_ n: RegexNode) -> Int {
    let cap = maxProgram + 1
    switch n {
    case .empty: return 0
    case .atom, .assert: return 1
    case .concat(let xs): return min(cap, xs.reduce(0) { min(cap, $0 + size($1)) })
    case .alternation(let xs): return min(cap, xs.reduce(2 * (xs.count - 1)) { min(cap, $0 + size($1)) })
    case .repetition(let x, let lo, let hi, _):
      let b = size(x)
      if b == 0 { return 0 }
      let fixed = min(cap, lo * b)
      let optional = hi.map { min(cap, ($0 - lo) * (b + 1)) } ?? (b + 2)
      return min(cap, fixed + optional)
    }
  }

  private static func emit(_ n: RegexNode, into p: inout [RegexInst]) {
    switch n {
    case .empty: break
    case .atom(let a): p.append(.atom(a))
    case .assert(let a): p.append(.assert(a))
    case .concat(let xs): for x in xs { emit(x, into: &p) }
    case .alternation(let xs):
      var jumps: [Int] = []
      for (k, x) in xs.enumerated() {
        if k == xs.count - 1 {
          emit(x, into: &p)
          break
        }
        let s = p.count
        p.append(.split(0, 0))
        emit(x, into: &p)
        jumps.append(p.count)
        p.append(.jump(0))
        p[s] = .split(Int32(s + 1), Int32(p.count))
      }
      for j in jumps { p[j] = .jump(Int32(p.count)) }
    case .repetition(let x, let lo, let hi, let greedy):
      if size(x) == 0 { return }  // matches only the empty string, however often
      for _ in 0..<lo { emit(x, into: &p) }
      if let hi {
        // x? x? … nested: each optional copy skips to the end when not taken.
        var splits: [Int] = []
        for _ in lo..<hi {
          splits.append(p.count)
          p.append(.split(0, 0))
          emit(x, into: &p)
        }
        let end = Int32(p.count)
        for s in splits { p[s] = greedy ? .split(Int32(s + 1), end) : .split(end, Int32(s + 1)) }
      } else {
        let l = p.count
        p.append(.split(0, 0))
        emit(x, into: &p)
        p.append(.jump(Int32(l)))
        let end = Int32(p.count)
        p[l] = greedy ? .split(Int32(l + 1), end) : .split(end, Int32(l + 1))
      }
    }
  }

  /// The matches in `text`, left to right, as scalar index ranges, iterated as the `onig` crate
  /// does for `tokenizers`: each search starts where the last match ended, and an empty match right
  /// at the end of the previous match is skipped (the search moves one scalar on). Empty matches are
  /// kept: they are split points.
  func matches(_ text: UnsafeBufferPointer<UInt32>) -> [(Int, Int)] {
    var vm = PikeVM(self, text)
    var out: [(Int, Int)] = []
    var from = 0
    var lastMatchEnd = -1
    while from <= text.count, let m = vm.firstMatch(from: from) {
      if m.0 == m.1 && m.1 == lastMatchEnd {
        from += 1
        continue
      }
      out.append(m)
      from = m.1
      lastMatchEnd = m.1
    }
    return out
  }

  func matches(_ text: [UInt32]) -> [(Int, Int)] { text.withUnsafeBufferPointer { matches($0) } }

  @inline(__always)
  func atomMatches(_ atom: RegexAtom, _ v: UInt32) -> Bool {
    switch atom {
    case .scalar(let x): v == x
    case .folded(let x): simpleCaseFold(v) == x
    case .set(let k): sets[Int(k)].contains(v)
    case .anyScalar: true
    case .anyButNewline: v != 10
    }
  }

  /// For a pattern that is one scalar test: whether `v` passes it (nil for other patterns).
  func matchesAlone(_ v: UInt32) -> Bool? {
    guard program.count == 2, case .atom(let a) = program[0] else { return nil }
    return atomMatches(a, v)
  }
}

/// Thread lists and the stack of the epsilon closure, reused across searches of one text.
private struct PikeVM {
  struct ThreadList {
    var pcs: [Int32]
    var starts: [Int32]
    var count = 0
    /// `mark[pc] == gen`: pc is already in the list.
    var mark: [UInt32]
    var gen: UInt32 = 1

    init(_ n: Int) {
      pcs = [Int32](repeating: 0, count: n)
      starts = [Int32](repeating: 0, count: n)
      mark = [UInt32](repeating: 0, count: n)
    }

    mutating func clear() {
      count = 0
      gen &+= 1
      if gen == 0 {
        for k in mark.indices { mark[k] = 0 }
        gen = 1
      }
    }
  }

  let re: LinearRegex
  let text: UnsafeBufferPointer<UInt32>
  var a: ThreadList
  var b: ThreadList
  var stack: [Int32] = []

  init(_ re: LinearRegex, _ text: UnsafeBufferPointer<UInt32>) {
    self.re = re
    self.text = text
    a = ThreadList(re.program.count)
    b = ThreadList(re.program.count)
    stack.reserveCapacity(re.program.count)
  }

  @inline(__always)
  func atomMatches(_ atom: RegexAtom, _ v: UInt32) -> Bool { re.atomMatches(atom, v) }

  func isWord(_ pos: Int) -> Bool {
    guard pos >= 0, pos < text.count else { return false }
    return RegexSetItem.isWord(text[pos], outsideClass: true)
  }

  func holds(_ a: RegexAssertion, at pos: Int) -> Bool {
    let n = text.count
    switch a {
    case .textStart: return pos == 0
    case .textEnd: return pos == n
    case .textEndBeforeFinalNewline: return pos == n || (pos == n - 1 && text[pos] == 10)
    case .lineStart: return pos == 0 || text[pos - 1] == 10
    case .lineEnd: return pos == n || text[pos] == 10
    case .wordBoundary: return isWord(pos - 1) != isWord(pos)
    case .notWordBoundary: return isWord(pos - 1) == isWord(pos)
    case .ahead(let x, let neg): return (pos < n && atomMatches(x, text[pos])) != neg
    case .behind(let x, let neg): return (pos > 0 && atomMatches(x, text[pos - 1])) != neg
    }
  }

  /// Adds pc and everything reachable from it without consuming, depth first so priority is kept.
  mutating func add(_ list: inout ThreadList, _ pc0: Int32, start: Int32, at pos: Int) {
    stack.append(pc0)
    re.program.withUnsafeBufferPointer { prog in
      while let pc = stack.popLast() {
        let k = Int(pc)
        if list.mark[k] == list.gen { continue }
        list.mark[k] = list.gen
        switch prog[k] {
        case .jump(let x): stack.append(x)
        case .split(let x, let y):
          stack.append(y)
          stack.append(x)
        case .assert(let a):
          if holds(a, at: pos) { stack.append(pc + 1) }
        case .atom, .match:
          list.pcs[list.count] = pc
          list.starts[list.count] = start
          list.count += 1
        }
      }
    }
  }

  /// The leftmost-first match starting at or after `from`, as scalar indices.
  mutating func firstMatch(from: Int) -> (Int, Int)? {
    var found: (Int, Int)? = nil
    // Moved out and back so the lists' buffers are not copied.
    var cur = ThreadList(0)
    var next = ThreadList(0)
    swap(&cur, &a)
    swap(&next, &b)
    cur.clear()
    var pos = from
    while true {
      // New candidates start here with the lowest priority, until a match is found.
      if found == nil { add(&cur, 0, start: Int32(pos), at: pos) }
      if cur.count == 0 && found != nil { break }
      next.clear()
      var k = 0
      while k < cur.count {
        let pc = Int(cur.pcs[k])
        switch re.program[pc] {
        case .match:
          found = (Int(cur.starts[k]), pos)
          k = cur.count  // threads of lower priority are cut
          continue
        case .atom(let x):
          if pos < text.count && atomMatches(x, text[pos]) { add(&next, Int32(pc + 1), start: cur.starts[k], at: pos + 1) }
        default: break
        }
        k += 1
      }
      if pos >= text.count { break }
      swap(&cur, &next)
      pos += 1
    }
    a = cur
    b = next
    return found
  }
}
