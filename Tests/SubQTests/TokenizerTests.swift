import Foundation
import Testing

@testable import SubQ

/// Fixtures made by tools/make_tokenizer_fixtures.py with the `tokenizers` library; read by path
/// (the test target excludes Fixtures/ rather than bundling it).
let tokenizerFixtureDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .appendingPathComponent("Fixtures/tokenizers")

let tokenizerFixtures = [
  "gpt2", "roberta", "neox", "llama3", "llama2", "mistral", "metaspace_split", "sp_unk", "bpe_affix", "split_behaviors",
]

struct TokenizerExpected: Decodable {
  struct Case: Decodable {
    let text: String
    let ids: [Int32]
    let ids_special: [Int32]
    let decode: String
    let decode_skip: String
    let stream: [String?]
  }
  struct DecodeCase: Decodable {
    let ids: [Int32]
    let text: String
  }
  let tokenizers_version: String
  let cases: [Case]
  let decodes: [DecodeCase]
}

func loadFixture(_ name: String, forceRegex: Bool = false) throws -> (Tokenizer, TokenizerExpected) {
  let path = tokenizerFixtureDir.appendingPathComponent(name + ".json").path
  let tok =
    forceRegex
    ? try Tokenizer(json: Array(try Data(contentsOf: URL(fileURLWithPath: path))), context: name, forceRegex: true)
    : try Tokenizer(contentsOfFile: path)
  let data = try Data(contentsOf: tokenizerFixtureDir.appendingPathComponent(name + ".expected.json"))
  return (tok, try JSONDecoder().decode(TokenizerExpected.self, from: data))
}

@Suite struct TokenizerFixtureTests {
  @Test(arguments: tokenizerFixtures)
  func encodeMatchesTokenizers(name: String) throws {
    let (tok, exp) = try loadFixture(name)
    #expect(exp.cases.count > 40)
    for c in exp.cases {
      #expect(tok.encode(c.text, addSpecialTokens: false) == c.ids, "\(name): \(c.text.debugDescription)")
      #expect(tok.encode(c.text) == c.ids_special, "\(name): \(c.text.debugDescription) with special tokens")
    }
  }

  @Test(arguments: tokenizerFixtures)
  func decodeMatchesTokenizers(name: String) throws {
    let (tok, exp) = try loadFixture(name)
    for c in exp.cases {
      #expect(tok.decode(c.ids_special, skipSpecialTokens: false) == c.decode, "\(name): \(c.text.debugDescription)")
      #expect(tok.decode(c.ids_special, skipSpecialTokens: true) == c.decode_skip, "\(name): \(c.text.debugDescription)")
    }
    #expect(exp.decodes.count > 20)
    for d in exp.decodes {
      #expect(tok.decode(d.ids, skipSpecialTokens: false) == d.text, "\(name): ids \(d.ids)")
    }
  }

  @Test(arguments: tokenizerFixtures)
  func streamingMatchesDecodeStream(name: String) throws {
    let (tok, exp) = try loadFixture(name)
    for c in exp.cases {
      var s = tok.makeStreamingDecoder(skipSpecialTokens: false)
      let got = c.ids_special.map { s.next($0) }
      #expect(got == c.stream, "\(name): \(c.text.debugDescription)")
      // Whatever was held back comes out at the end; together the chunks are the decoded text.
      let all = got.compactMap { $0 }.joined() + (s.finish() ?? "")
      #expect(all == c.decode, "\(name): \(c.text.debugDescription) streamed")
    }
  }

  /// Byte-level tokenizers are lossless: decode(encode(x)) == x (NFC(x) for NeoX).
  @Test(arguments: ["gpt2", "llama3", "neox"])
  func byteLevelRoundTrip(name: String) throws {
    let (tok, exp) = try loadFixture(name)
    var texts = exp.cases.map(\.text).filter { !$0.contains("<") }
    var rng = SplitMix(seed: 7)
    for _ in 0..<200 { texts.append(randomText(&rng, length: Int(rng.next() % 40))) }
    for t in texts {
      let back = tok.decode(tok.encode(t, addSpecialTokens: false), skipSpecialTokens: false)
      let want = name == "neox" ? String(decoding: t._nfcCodeUnits, as: UTF8.self) : t
      #expect(Array(back.utf8) == Array(want.utf8), "\(name): \(t.debugDescription)")
    }
  }

  @Test func vocabularyQueries() throws {
    let (l3, _) = try loadFixture("llama3")
    let bos = try #require(l3.tokenID("<|begin_of_text|>"))
    #expect(l3.isSpecial(bos))
    #expect(l3.token(bos) == "<|begin_of_text|>")
    #expect(l3.specialTokenIDs.contains(bos))
    #expect(l3.encode("")  == [bos])
    #expect(l3.encode("", addSpecialTokens: false).isEmpty)
    #expect(l3.token(-1) == nil && l3.token(Int32(l3.vocabularySize)) == nil)
    let (l2, _) = try loadFixture("llama2")
    #expect(l2.tokenID("<0x41>") == Int32(3 + 0x41))
    #expect(l2.encode("<s>", addSpecialTokens: false) == [1])
    #expect(!l2.isSpecial(3 + 0x41))
  }

  /// ignore_merges (Llama-3): a whole pre-token in the vocabulary is one id even where the merges
  /// would not build it; GPT-2 (no ignore_merges) splits the same word.
  @Test func ignoreMergesUsesWholeWords() throws {
    let (l3, _) = try loadFixture("llama3")
    let (g2, _) = try loadFixture("gpt2")
    let zebra = try #require(l3.tokenID("Ġzebra"))
    #expect(l3.encode(" zebra", addSpecialTokens: false) == [zebra])
    #expect(g2.encode(" zebra", addSpecialTokens: false).count > 1)
  }

  /// The heap merge (long words) and the scan merge (short words) apply merges in the same order.
  @Test(arguments: ["llama2", "gpt2", "llama3"])
  func heapMergeEqualsScanMerge(name: String) throws {
    let (tok, exp) = try loadFixture(name)
    var rng = SplitMix(seed: 11)
    var words: [[UInt8]] = []
    for c in exp.cases {
      // Pre-tokens as the model sees them, plus whole normalized texts (one long word each).
      var p = Pieces()
      p.buf = Array(c.text.utf8)
      p.append(0, p.buf.count, true)
      var scratch = ScalarRun()
      if let pre = tok.preTokenizer { p = pre.apply(p, &scratch) }
      for k in 0..<p.count { words.append(Array(p.buf[p.starts[k]..<p.ends[k]])) }
      words.append(tok.normalizer.map { $0.apply(Array(c.text.utf8)) } ?? Array(c.text.utf8))
    }
    for _ in 0..<100 {
      let w = (0..<(2 + Int(rng.next() % 6))).map { _ in words[Int(rng.next() % UInt64(words.count))] }
      words.append(Array(w.joined()))
    }
    var s = BPEScratch()
    for w in words {
      var heap: [Int32] = []
      var scan: [Int32] = []
      w.withUnsafeBufferPointer { b in
        tok.model.tokenize(b, into: &heap, &s, scanLimit: 0)
        tok.model.tokenize(b, into: &scan, &s, scanLimit: .max)
      }
      #expect(heap == scan, "\(name): \(String(decoding: w, as: UTF8.self).debugDescription)")
    }
  }
}

@Suite struct TokenizerMetaspaceCutTests {
  /// Long SentencePiece words are cut before each "▁"; the result equals the whole word's BPE.
  @Test(arguments: ["llama2", "sp_unk"])
  func cutsBeforeMetaspaceAreExact(name: String) throws {
    let (tok, exp) = try loadFixture(name)
    #expect(tok.model.cutsBeforeMetaspace)
    let long = exp.cases.map(\.text).filter { !$0.contains("<") }.joined(separator: "  ")
    #expect(long.utf8.count > 2000)
    var whole: [Int32] = []
    var s = BPEScratch()
    tok.normalizer!.apply(Array(long.utf8)).withUnsafeBufferPointer { tok.model.tokenize($0, into: &whole, &s) }
    #expect(tok.encode(long, addSpecialTokens: false) == whole)
  }

  @Test func byteLevelVocabulariesAreNotCut() throws {
    #expect(try !loadFixture("gpt2").0.model.cutsBeforeMetaspace)
  }
}

@Suite struct TokenizerScannerTests {
  /// The hand-written GPT-2 / Llama-3 scanners against the same regexes run by Swift Regex.
  @Test(arguments: [KnownPattern.gpt2Source, KnownPattern.llama3Source, KnownPattern.qwen2Source])
  func scannersMatchRegex(source: String) throws {
    let r = JSONReader(context: "test")
    let known = PreTokenizer.split(.known(try #require(KnownPattern(source: source))), .isolated, invert: false)
    let regex = PreTokenizer.split(try compileRegex(source, r, "p"), .isolated, invert: false)
    var rng = SplitMix(seed: 3)
    var texts = [
      "", " ", "a", "  a", "a  ", " \n a", "it's IT'S 'll 'LL 'Re 're 'x '", "x\r\n\r\n  \ty", "1234567 12",
      "\u{3000}\u{3000}x", "e\u{301}\u{301}a", "((a)) ?!\n\n", "  !!\n\r x", "\t\tabc", "٣٤٥ Ⅻ ½",
    ]
    for _ in 0..<3000 { texts.append(randomText(&rng, length: Int(rng.next() % 24))) }
    var scratch = ScalarRun()
    for t in texts {
      var p = Pieces()
      p.buf = Array(t.utf8)
      p.append(0, p.buf.count, true)
      let a = known.apply(p, &scratch)
      let b = regex.apply(p, &scratch)
      #expect(a.starts == b.starts && a.ends == b.ends, "\(t.debugDescription)")
    }
  }

  /// Whole fixtures through the Swift Regex path give the same ids as through the scanners.
  @Test(arguments: ["gpt2", "roberta", "llama3"])
  func fixturesThroughRegex(name: String) throws {
    let (tok, exp) = try loadFixture(name, forceRegex: true)
    for c in exp.cases {
      #expect(tok.encode(c.text, addSpecialTokens: false) == c.ids, "\(name): \(c.text.debugDescription)")
    }
  }
}

@Suite struct TokenizerHostileInputTests {
  static let minimal = #"{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}"#

  func expectFailure(_ json: String, _ code: SubQError.Code, _ words: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    expectFailure(Array(json.utf8), code, words, sourceLocation: sourceLocation)
  }

  func expectFailure(_ json: [UInt8], _ code: SubQError.Code, _ words: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      _ = try Tokenizer(json: json)
      Issue.record("no error for \(String(decoding: json.prefix(200), as: UTF8.self))", sourceLocation: sourceLocation)
    } catch {
      #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
      for w in words {
        #expect(error.message.contains(w), "\(error.message) lacks \(w)", sourceLocation: sourceLocation)
      }
    }
  }

  func replacing(_ a: String, _ b: String) -> String {
    precondition(Self.minimal.contains(a))
    return Self.minimal.replacingOccurrences(of: a, with: b)
  }

  @Test func minimalLoadsAndMerges() throws {
    let t = try Tokenizer(jsonString: Self.minimal)
    #expect(t.encode("abab") == [2, 2])
    #expect(t.encode("ba") == [1, 0])
    #expect(t.encode("abc") == [2])  // no unk token: unknown characters are dropped, as in tokenizers
    #expect(t.decode([2, 0, 7, -3]) == "ab a")  // no decoder: tokens joined by spaces; unknown ids skipped
  }

  @Test func malformedJSON() {
    expectFailure("", .invalidArgument, ["invalid JSON", "end of input"])
    expectFailure("{", .invalidArgument, ["invalid JSON"])
    expectFailure(Self.minimal + "x", .invalidArgument, ["after the JSON value"])
    expectFailure("[]", .invalidArgument, ["must be an object"])
    expectFailure(String(repeating: "[", count: 100_000), .invalidArgument, ["nesting"])
    expectFailure(#"{"model": "\ud800"}"#, .invalidArgument, ["surrogate"])
    expectFailure(#"{"model": 01}"#, .invalidArgument, ["leading zero"])
    expectFailure(#"{"model": "a\u0001"}"#.replacingOccurrences(of: "\\u0001", with: "\u{1}"), .invalidArgument, ["control character"])
    var bad = Array(Self.minimal.utf8)
    bad[bad.firstIndex(of: UInt8(ascii: "a"))!] = 0xFF  // not UTF-8
    expectFailure(bad, .invalidArgument, ["UTF-8"])
  }

  @Test func wrongTypesAndMissingFields() {
    expectFailure("{}", .invalidArgument, ["model", "missing"])
    expectFailure(replacing(#""type":"BPE""#, #""type":7"#), .invalidArgument, ["model.type", "string"])
    expectFailure(replacing(#""vocab":{"a":0,"b":1,"ab":2}"#, #""vocab":[]"#), .invalidArgument, ["model.vocab", "object"])
    expectFailure(replacing(#""a":0"#, #""a":"0""#), .invalidArgument, ["model.vocab", "integer"])
    expectFailure(replacing(#""a":0"#, #""a":0.5"#), .invalidArgument, ["integer"])
    expectFailure(replacing(#""a":0"#, #""a":-1"#), .invalidArgument, ["outside"])
    expectFailure(replacing(#""a":0"#, #""a":99999999999999"#), .invalidArgument, ["outside"])
    expectFailure(replacing(#""a":0"#, #""a":2000000000"#), .invalidArgument, ["dense"])
    expectFailure(replacing(#""merges":["a b"]"#, #""merges":"a b""#), .invalidArgument, ["model.merges", "array"])
    expectFailure(replacing(#""merges":["a b"]"#, #""merges":[7]"#), .invalidArgument, ["model.merges[0]"])
    expectFailure(replacing(#""merges":["a b"]"#, #""merges":[["a"]]"#), .invalidArgument, ["pair"])
    expectFailure(replacing(#""merges":["a b"]"#, #""merges":["a b c"]"#), .invalidArgument, ["two tokens"])
    expectFailure(replacing(#""merges":["a b"]"#, #""merges":["a z"]"#), .invalidArgument, ["\"z\"", "not in model.vocab"])
    expectFailure(replacing(#""merges":["a b"]"#, #""merges":["b a"]"#), .invalidArgument, ["\"ba\"", "merged"])
    expectFailure(replacing(#""type":"BPE""#, #""type":"BPE","unk_token":"<unk>""#), .invalidArgument, ["unk_token"])
    expectFailure(replacing(#""type":"BPE""#, #""type":"BPE","byte_fallback":"yes""#), .invalidArgument, ["byte_fallback", "boolean"])
    expectFailure(
      replacing(#"{"model""#, #"{"added_tokens":[{"id":"x","content":"c"}],"model""#), .invalidArgument, ["added_tokens[0].id"])
    expectFailure(
      replacing(#"{"model""#, #"{"added_tokens":[{"id":1}],"model""#), .invalidArgument, ["added_tokens[0].content", "missing"])
    expectFailure(
      replacing(#"{"model""#, #"{"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}}],"special_tokens":{}},"model""#),
      .invalidArgument, ["<s>", "special_tokens"])
    expectFailure(
      replacing(#"{"model""#, #"{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"a"},"behavior":"Sideways"},"model""#),
      .invalidArgument, ["behavior", "Sideways"])
  }

  @Test func unsupportedComponentsAreNamed() {
    expectFailure(replacing(#""type":"BPE""#, #""type":"Unigram""#), .unsupported, ["model.type", "Unigram"])
    expectFailure(replacing(#""type":"BPE""#, #""type":"BPE","dropout":0.1"#), .unsupported, ["dropout"])
    expectFailure(replacing(#"{"model""#, #"{"normalizer":{"type":"NFKC"},"model""#), .unsupported, ["normalizer.type", "NFKC"])
    expectFailure(
      replacing(#"{"model""#, #"{"normalizer":{"type":"Sequence","normalizers":[{"type":"Precompiled"}]},"model""#),
      .unsupported, ["normalizer.normalizers[0].type", "Precompiled"])
    expectFailure(replacing(#"{"model""#, #"{"pre_tokenizer":{"type":"BertPreTokenizer"},"model""#), .unsupported, ["BertPreTokenizer"])
    expectFailure(replacing(#"{"model""#, #"{"decoder":{"type":"WordPiece"},"model""#), .unsupported, ["decoder.type", "WordPiece"])
    expectFailure(replacing(#"{"model""#, #"{"post_processor":{"type":"Magic"},"model""#), .unsupported, ["Magic"])
    expectFailure(
      replacing(#"{"model""#, #"{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(?<"},"behavior":"Isolated"},"model""#),
      .unsupported, ["cannot compile regex"])
  }

  /// Chains that multiply the text's length: a few KB of tokenizer.json would grow a one-character
  /// text 2^40 times (a hang, then an out-of-memory kill) in encode or decode, so they are refused at
  /// load, naming the components. Found by reading the code while fuzzing (fuzz_swift_tokenizer did not reach it).
  @Test func blowUpChainsAreRefused() throws {
    func chain(_ key: String, _ list: String, _ step: String, _ n: Int) -> String {
      let steps = Array(repeating: step, count: n).joined(separator: ",")
      return replacing(#"{"model""#, #"{"\#(key)":{"type":"Sequence","\#(list)":[\#(steps)]},"model""#)
    }
    let byteLevel = #"{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}"#
    let replace = #"{"type":"Replace","pattern":{"String":"a"},"content":"aa"}"#
    let twice = #"{"type":"TemplateProcessing","single":[{"Sequence":{"id":"A"}},{"Sequence":{"id":"A"}}],"special_tokens":{}}"#
    expectFailure(chain("pre_tokenizer", "pretokenizers", byteLevel, 40), .invalidArgument, ["pre_tokenizer", "grow"])
    expectFailure(chain("normalizer", "normalizers", replace, 40), .invalidArgument, ["normalizer", "grow"])
    expectFailure(chain("post_processor", "processors", twice, 40), .invalidArgument, ["post_processor", "grow"])
    expectFailure(chain("decoder", "decoders", replace, 40), .invalidArgument, ["decoder", "grow"])
    // A single long replacement is a blow-up too; real pipelines (a few steps) stay far below the bound.
    let long = #"{"type":"Replace","pattern":{"String":"a"},"content":"\#(String(repeating: "b", count: 5000))"}"#
    expectFailure(chain("decoder", "decoders", long, 1), .invalidArgument, ["decoder", "grow"])
    let t = try Tokenizer(jsonString: chain("pre_tokenizer", "pretokenizers", byteLevel, 3))
    #expect(t.encode("ab") == [2])
    for name in tokenizerFixtures { _ = try loadFixture(name) }
  }

  /// TemplateProcessing looked every item's special token up by a linear scan of special_tokens:
  /// 12,000 items naming one of 12,000 entries (1 MB) took 12 s to load. The size here would take
  /// the quadratic form minutes; the time limit is a hang guard (loading takes about a second),
  /// not a speed goal.
  @Test(.timeLimit(.minutes(1))) func largeTemplatesLoadInLinearTime() throws {
    let n = 40_000
    let specials = (0..<n).map { #""t\#($0)":{"id":"t\#($0)","ids":[0],"tokens":["a"]}"# }.joined(separator: ",")
    let single = Array(repeating: #"{"SpecialToken":{"id":"t0","type_id":0}}"#, count: n).joined(separator: ",")
    let json = replacing(
      #"{"model""#, #"{"post_processor":{"type":"TemplateProcessing","single":[\#(single)],"special_tokens":{\#(specials)}},"model""#)
    let t = try Tokenizer(jsonString: json)
    #expect(t.encode("ab") == Array(repeating: 0, count: n))
  }

  /// Added tokens were matched by trying, at every position, every token that starts with the byte
  /// there: 5,000 tokens sharing a 40-byte prefix (500 KB) made encoding 10 KB of that byte take ~45 s.
  /// 40,000 bytes against 2,000 such tokens would take the old matcher minutes; the time limit is a
  /// hang guard, not a speed goal.
  @Test(.timeLimit(.minutes(1))) func manyAddedTokensWithACommonPrefixEncodeInLinearTime() throws {
    let n = 2_000
    let prefix = String(repeating: "a", count: 40)
    let added = (0..<n).map { #"{"id":\#($0 + 3),"content":"\#(prefix)\#($0)","special":true,"normalized":false}"# }
    let t = try Tokenizer(jsonString: replacing(#"{"model""#, #"{"added_tokens":[\#(added.joined(separator: ","))],"model""#))
    let ids = t.encode(String(repeating: "a", count: 40_000), addSpecialTokens: false)
    #expect(ids == [Int32](repeating: 0, count: 40_000))
    // Leftmost, then longest: "…a1" is not taken where "…a12" matches, nor "…a1" inside a longer match.
    #expect(t.encode("b" + prefix + "12" + prefix + "1x", addSpecialTokens: false) == [1, 15, 4])
    #expect(t.encode(prefix + "199" + prefix + "19", addSpecialTokens: false) == [202, 22])
  }

  /// An lstrip added token scanned back over all the whitespace before it, even what earlier matches
  /// had consumed: a whitespace token with lstrip made a text of n spaces cost n² / 2 (20,000 spaces:
  /// 21 s; the 200,000 here: over half an hour). The time limit is a hang guard, not a speed goal.
  @Test(.timeLimit(.minutes(1))) func lstripDoesNotRescanConsumedText() throws {
    let t = try Tokenizer(
      jsonString: replacing(#"{"model""#, #"{"added_tokens":[{"id":3,"content":" ","lstrip":true,"normalized":false}],"model""#))
    let ids = t.encode(String(repeating: " ", count: 200_000), addSpecialTokens: false)
    #expect(ids == [Int32](repeating: 3, count: 200_000))
    #expect(t.encode("ab  b", addSpecialTokens: false) == [2, 3, 3, 1])
  }

  @Test func missingFile() {
    do {
      _ = try Tokenizer(contentsOfFile: "/nonexistent/tokenizer.json")
      Issue.record("no error")
    } catch {
      #expect(error.code == .system)
      #expect(error.message.contains("/nonexistent/tokenizer.json"))
    }
  }

  /// Truncated and byte-flipped fixtures: an error or a working tokenizer, never a crash.
  @Test(arguments: ["gpt2", "llama2", "llama3"])
  func mutatedFilesNeverCrash(name: String) throws {
    let good = Array(try Data(contentsOf: tokenizerFixtureDir.appendingPathComponent(name + ".json")))
    var rng = SplitMix(seed: UInt64(name.utf8.count))
    var loaded = 0
    var failed = 0
    for k in 0..<150 {
      var b = good
      if k % 3 == 0 {
        b = Array(b[0..<Int(rng.next() % UInt64(b.count))])
      } else {
        for _ in 0..<(1 + Int(rng.next() % 4)) {
          b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
        }
      }
      do {
        let t = try Tokenizer(json: b)
        _ = t.decode(t.encode("Hello <s> world 123 ☃ 日本", addSpecialTokens: true))
        loaded += 1
      } catch {
        #expect(!error.message.isEmpty)
        failed += 1
      }
    }
    #expect(failed > 50)
    #expect(loaded + failed == 150)
  }
}

/// Encode throughput on ~1 MB (set SUBQ_TOKENIZER_BENCH=1; use `swift test -c release`): the fixture
/// texts repeated (pre-token cache mostly hits, as on natural text) and random text (mostly misses).
@Suite(.serialized) struct TokenizerThroughput {
  @Test(
    .enabled(if: ProcessInfo.processInfo.environment["SUBQ_TOKENIZER_BENCH"] != nil),
    arguments: ["gpt2", "llama3", "llama2", "gpt2-regex", "llama3-regex"])
  func encodeThroughput(name: String) throws {
    // "-regex": the pre-tokenizer's regex run by the regex engine instead of the hand scanner.
    let viaRegex = name.hasSuffix("-regex")
    let (tok, exp) = try loadFixture(viaRegex ? String(name.dropLast(6)) : name, forceRegex: viaRegex)
    let short = exp.cases.map(\.text).filter { $0.utf8.count < 300 }
    var repeated = ""
    var k = 0
    while repeated.utf8.count < 1 << 20 {
      repeated += short[k % short.count] + "\n"
      k += 1
    }
    var rng = SplitMix(seed: 5)
    var random = ""
    while random.utf8.count < 1 << 20 { random += randomText(&rng, length: 64) }
    for (label, text) in [("repeated", repeated), ("random", random)] {
      _ = tok.encode(String(text.prefix(10_000)))
      let clock = ContinuousClock()
      var ids: [Int32] = []
      var best = Double.infinity
      for _ in 0..<3 {
        let t = clock.measure { ids = tok.encode(text, addSpecialTokens: false) }
        best = min(best, Double(t.components.seconds) + Double(t.components.attoseconds) * 1e-18)
      }
      let mb = Double(text.utf8.count) / 1e6
      print(
        "tokenizer \(name) \(label): \(text.utf8.count) bytes -> \(ids.count) ids, best of 3 \(String(format: "%.3f", best)) s = \(String(format: "%.2f", mb / best)) MB/s"
      )
      #expect(ids.count > text.utf8.count / 20)
    }
  }
}

struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Random text over characters that stress the pre-tokenizer classes.
func randomText(_ rng: inout SplitMix, length: Int) -> String {
  let alphabet: [String] = [
    " ", " ", " ", "\n", "\r", "\t", "a", "Z", "s", "t", "l", "L", "e", "v", "E", "'", "'", "1", "7", "٣", "Ⅻ", "½", ".",
    "!", "(", "é", "e\u{301}", "\u{301}", "日", "😀", "👍🏽", "\u{a0}", "\u{3000}", "\u{2028}", "\u{85}", "_", "\u{200d}",
    "ß", "Ω", "-", "\u{0}",
  ]
  var s = ""
  for _ in 0..<length { s += alphabet[Int(rng.next() % UInt64(alphabet.count))] }
  return s
}
