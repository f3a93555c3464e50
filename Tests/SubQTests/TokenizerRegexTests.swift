import Foundation
import Testing

@testable import SubQ

/// What tools/make_regex_fixtures.py recorded from `tokenizers` (Oniguruma): for each Split pattern,
/// behavior and invert flag, the pieces of every text (nil where Oniguruma hit its retry limit).
struct RegexExpected: Decodable {
  struct Case: Decodable {
    let pattern: String
    let behavior: String
    let invert: Bool
    let pieces: [[String]?]
  }
  struct Class: Decodable {
    let pattern: String
    /// Inclusive runs [a0, b0, a1, b1, ...] of the scalars below U+20000 the pattern matches alone.
    let members: [UInt32]
  }
  let tokenizers: String
  let unicode: String
  let texts: [String]
  let cases: [Case]
  let assigned: [UInt32]
  let classes: [Class]
}

/// Expands inclusive runs [a0, b0, a1, b1, ...] into flags below `limit`.
func runFlags(_ runs: [UInt32], limit: Int) -> [Bool] {
  var f = [Bool](repeating: false, count: limit)
  for k in stride(from: 0, to: runs.count, by: 2) {
    for v in runs[k]...runs[k + 1] { f[Int(v)] = true }
  }
  return f
}

/// The pieces of `text` after one Split pre-tokenizer.
func splitPieces(_ pre: PreTokenizer, _ text: String) -> [String] {
  var p = Pieces()
  p.buf = Array(text.utf8)
  if !p.buf.isEmpty { p.append(0, p.buf.count, true) }
  var scratch = ScalarRun()
  let out = pre.apply(p, &scratch)
  return zip(out.starts, out.ends).map { String(decoding: out.buf[$0..<$1], as: UTF8.self) }
}

func compile(_ pattern: String) throws(SubQError) -> SplitPattern {
  try compileRegex(pattern, JSONReader(context: "test"), "pattern")
}

@Suite struct TokenizerRegexTests {
  static let expected: RegexExpected = {
    let url = tokenizerFixtureDir.appendingPathComponent("split_regex.expected.json")
    return try! JSONDecoder().decode(RegexExpected.self, from: Data(contentsOf: url))
  }()

  /// Every pattern, behavior and text gives the pieces `tokenizers` gives.
  @Test func piecesMatchTokenizers() throws {
    let exp = Self.expected
    #expect(exp.cases.count > 60 && exp.texts.count > 100)
    var compared = 0
    for c in exp.cases {
      let behavior = try #require(SplitBehavior(rawValue: hfBehaviorName(c.behavior)))
      let pre = PreTokenizer.split(try compile(c.pattern), behavior, invert: c.invert)
      for (t, want) in zip(exp.texts, c.pieces) {
        guard let want else { continue }
        let got = splitPieces(pre, t)
        #expect(got == want, "\(c.pattern) \(c.behavior) invert \(c.invert): \(t.debugDescription)")
        compared += 1
      }
    }
    #expect(compared > 9000)
  }

  /// Every class, escape and property matches the scalars Oniguruma's does, for every scalar below
  /// U+20000 that the generator's Unicode version had assigned.
  @Test func classMembershipMatchesTokenizers() throws {
    let exp = Self.expected
    let limit = 0x20000
    let assigned = runFlags(exp.assigned, limit: limit)
    // Scalars whose data changed between Oniguruma's Unicode and Swift's newer one: U+0295 became Lo
    // (it was Ll), U+A7D3 and U+A7D5 gained capitals.
    let changed: Set<Int> = [0x295, 0xA7D3, 0xA7D5]
    #expect(exp.classes.count > 80)
    for c in exp.classes {
      guard case .regex(let re) = try compile(c.pattern) else {
        Issue.record("\(c.pattern) is not a regex")
        continue
      }
      let want = runFlags(c.members, limit: limit)
      var wrong: [String] = []
      for v in 0..<limit where assigned[v] && !changed.contains(v) && !(0xD800..<0xE000).contains(v) {
        guard let got = re.matchesAlone(UInt32(v)) else {
          Issue.record("\(c.pattern) is not a single scalar test")
          break
        }
        if got != want[v] { wrong.append("U+\(String(v, radix: 16, uppercase: true))\(got ? "+" : "-")") }
      }
      #expect(wrong.isEmpty, "\(c.pattern): \(wrong.count) differ from Unicode \(exp.unicode)'s assigned scalars: \(wrong.prefix(20))")
    }
  }

  func hfBehaviorName(_ s: String) -> String {
    s.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
  }

  /// Patterns on which a backtracking engine takes exponential (or Oniguruma gives up at its retry
  /// limit) finish here, with the leftmost-first answer. The limit is a hang guard, not a timing.
  @Test(.timeLimit(.minutes(1))) func catastrophicPatternsRunInLinearTime() throws {
    let run = String(repeating: "a", count: 20_000)
    let cases: [(String, String, [String])] = [
      (#"(a+)+$"#, run + "b", [run + "b"]),
      (#"(a+)+$"#, "b" + run, ["b", run]),
      (#"(a|a)*c"#, run, [run]),
      (#"(a*)*b"#, run + "b", [run + "b"]),
      (#"(x+x+)+y"#, String(repeating: "x", count: 20_000), [String(repeating: "x", count: 20_000)]),
      (#"(\w+\s?)+$"#, String(repeating: "ab ", count: 5000) + "!", [String(repeating: "ab ", count: 5000) + "!"]),
    ]
    for (pattern, text, want) in cases {
      let pre = PreTokenizer.split(try compile(pattern), .isolated, invert: false)
      #expect(splitPieces(pre, text) == want, "\(pattern)")
    }
    // The whole-match answers where a match exists: \w+ runs up to the last one.
    let pre = PreTokenizer.split(try compile(#"(\w+\s?)+$"#), .isolated, invert: false)
    #expect(splitPieces(pre, "x " + String(repeating: "ab ", count: 5000)) == ["x " + String(repeating: "ab ", count: 5000)])
  }

  /// Constructs the engine cannot run without backtracking, and bounds on a pattern's size, are
  /// refused when the tokenizer loads, naming the construct.
  @Test func refusedConstructsAreNamed() {
    let cases: [(String, String)] = [
      (#"(a)\1"#, "backreferences"),
      (#"(?<n>a)\k<n>"#, "backreferences"),
      (#"\g<0>"#, "subexpression calls"),
      (#"a(?=bc)"#, "look-around over more than one scalar"),
      (#"(?<!ab)c"#, "look-around over more than one scalar"),
      (#"(?>a+)b"#, "atomic groups"),
      (#"a++"#, "possessive"),
      (#"a*+"#, "possessive"),
      (#"(?(1)a|b)"#, "conditionals"),
      (#"(?~abc)"#, "absent operators"),
      (#"\Ga"#, #"\G"#),
      (#"\R"#, #"\R"#),
      (#"\X"#, #"\X"#),
      (#"[[:alpha:]]"#, "POSIX brackets"),
      (#"[a[b]]"#, "nested classes"),
      (#"[a-z&&[^aeiou]]"#, "class intersection"),
      (#"(?x) a"#, "x (extended) flag"),
      (#"(?x: a)"#, "x (extended) flag"),
      (#"a{100001}"#, "repeat count above"),
      (#"(?:a{100}){200}"#, "more than 10000 instructions"),
      (String(repeating: "(", count: 65) + "a" + String(repeating: ")", count: 65), "nested deeper"),
      (#"a*****"#, "quantifiers in a row"),
      (#"a{3,2}"#, "upper bound below its lower bound"),
      (#"*a"#, "nothing to repeat"),
      (#"a|?"#, "nothing to repeat"),
      (#"^*"#, "cannot be repeated"),
      (#"(?=a)+"#, "cannot be repeated"),
      (#"(a"#, "unmatched '('"),
      (#"a)"#, "unmatched ')'"),
      (#"[abc"#, "unterminated class"),
      (#"[z-a]"#, "empty range"),
      (#"\p{NoSuchProperty}"#, "property \\p{NoSuchProperty} is not supported"),
      (#"\p{L"#, "unterminated"),
      (#"\x{110000}"#, "not a Unicode scalar"),
      (#"\x{D800}"#, "not a Unicode scalar"),
      (#"\uZZZZ"#, "bad hexadecimal"),
      (#"a\"#, "trailing backslash"),
      (#"\q"#, #"escape \q"#),
      (#"(?<>a)"#, "bad group name"),
      (#"(?Q)"#, "unknown group syntax"),
      (#"(?#no end"#, "unterminated comment"),
      (String(repeating: "a", count: 16_385), "longer than 16384"),
      ((0..<65).map { "[\\x{\(String(0x100 + $0, radix: 16))}]" }.joined(separator: "|"), "distinct classes"),
      (#"\p{Han}"#, "scripts are not"),
      (#"\p{Script=Greek}"#, "is not supported"),
      (#"(?i)straße"#, "as ss matches ß"),
      (#"(?i)ß"#, "U+DF, which folds to several scalars"),
      (#"(?i)\x{1E9E}"#, "U+1E9E, which folds to several scalars"),
      (#"(?i:[a-zß])"#, "U+DF, which folds to several scalars"),
      (#"(?i:[\x{FB00}-\x{FB06}])"#, "U+FB00, which folds to several scalars"),
      (#"(?i)ss"#, "as ss matches ß"),
      (#"a(?i)bFI"#, "as ss matches ß"),
    ]
    for (pattern, words) in cases {
      do {
        _ = try compile(pattern)
        Issue.record("no error for \(pattern.prefix(80))")
      } catch {
        #expect(error.code == .unsupported, "\(pattern.prefix(80))")
        #expect(error.message.contains("cannot compile regex"), "\(error.message)")
        #expect(error.message.contains(words), "\(pattern.prefix(80)): \(error.message) lacks \(words)")
      }
    }
  }

  /// The same through a whole tokenizer.json: the hostile Split is refused at load or runs in linear time.
  @Test(.timeLimit(.minutes(1))) func hostileSplitInATokenizerFile() throws {
    let base = TokenizerHostileInputTests.minimal
    let refused = base.replacingOccurrences(
      of: #"{"model""#, with: #"{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a)\\1"},"behavior":"Isolated"},"model""#)
    #expect(throws: SubQError.self) { try Tokenizer(jsonString: refused) }
    let slow = base.replacingOccurrences(
      of: #"{"model""#, with: #"{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a+)+$"},"behavior":"Isolated"},"model""#)
    let t = try Tokenizer(jsonString: slow)
    let ids = t.encode(String(repeating: "ab", count: 10_000) + String(repeating: "a", count: 10_000) + "c")
    // One piece (no match): 10,000 "ab" merges (id 2), 10,000 a's (id 0); c is not in the vocab.
    #expect(ids == Array(repeating: 2, count: 10_000) + Array(repeating: 0, count: 10_000))
  }

  /// Classes: case folding, the table below U+0800 and the scalars above it (planes 0 and 1) agree.
  @Test func classesAndFolding() throws {
    func matches(_ p: String, _ t: String) throws -> [String] {
      guard case .regex(let re) = try compile(p) else { throw SubQError(code: .internal, message: "not a regex") }
      let sc = t.unicodeScalars.map(\.value)
      return re.matches(sc).filter { $0.0 < $0.1 }.map { String(String.UnicodeScalarView(sc[$0.0..<$0.1].map { Unicode.Scalar($0)! })) }
    }
    #expect(try matches("(?i)k", "Kk\u{212A}x") == ["K", "k", "\u{212A}"])
    #expect(try matches("(?i)s+", "Ss\u{17F}") == ["Ss\u{17F}"])
    #expect(try matches("(?i)\u{3C3}", "\u{3A3}\u{3C2}\u{3C3}") == ["\u{3A3}", "\u{3C2}", "\u{3C3}"])
    #expect(try matches("(?i)i", "I\u{130}\u{131}i") == ["I", "i"])  // the Turkish i's do not fold
    #expect(try matches(#"[\x{1F600}-\x{1F64F}]+"#, "a😀😃b") == ["😀😃"])
    #expect(try matches(#"\p{L}+"#, "𝔘𝔫x1") == ["𝔘𝔫x"])
    #expect(try matches(#"[^\p{L}]+"#, "𝔘1😀x") == ["1😀"])
    #expect(try matches(#"(?i:[^a-z])+"#, "aZ1!k\u{212A}") == ["1!"])
    #expect(try matches("(?i)s+t", "STRA sSt") == ["ST", "sSt"])  // s+ then t: not a several-scalar fold
    #expect(try matches("a(?i)b|c", "ab aB C c") == ["ab", "aB"])  // a(?i:b|c)
    #expect(try matches(#"\p{Alpha}"#, "a\u{301}\u{345}Ⅻ1") == ["a", "\u{345}", "Ⅻ"])
  }
}
