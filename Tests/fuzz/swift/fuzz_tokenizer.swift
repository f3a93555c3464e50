// libFuzzer harness for tokenizer.json. The input is `json [0x00 text [0x00 ids]]`: the JSON
// document (it cannot hold a raw NUL, so the first NUL ends it), then the text to encode (UTF-8,
// repaired if invalid), then ids to decode as little-endian Int16 pairs (0x7FFF and 0x8000 stand
// for Int32.max and Int32.min). Without a NUL the whole input is the JSON and a fixed text and
// ids 0..<64 are used, so the committed tokenizer.json files are seeds as they are.
// A loaded tokenizer encodes (with and without special tokens), decodes (skipping special tokens
// or not), streams, and looks ids and tokens up. Built by build.sh; see Tests/fuzz/README.md.
@testable import SubQ

#if canImport(Glibc)
  import Glibc
#endif

/// SUBQ_FUZZ_VERBOSE=1 prints what each input gave (for reproducing a finding by hand).
let verbose = getenv("SUBQ_FUZZ_VERBOSE") != nil

let defaultText = "Hello, world! It's 2024: naïve café 東京 𝄞 \u{1F600} \r\n\t  <s></s><unk>▁x<0x41> don't ΣΑΣ"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let all = UnsafeBufferPointer(start: data, count: size)
  let nul1 = all.firstIndex(of: 0)
  let json = Array(all[..<(nul1 ?? size)])
  var text = defaultText
  var ids: [Int32] = Array(0..<64)
  if let n1 = nul1 {
    let rest = all[(n1 + 1)...]
    let nul2 = rest.firstIndex(of: 0)
    text = String(decoding: rest[..<(nul2 ?? size)], as: UTF8.self)
    ids = []
    if let n2 = nul2 {
      var k = n2 + 1
      while k + 1 < size {
        let v = Int16(bitPattern: UInt16(all[k]) | UInt16(all[k + 1]) << 8)
        ids.append(v == .max ? .max : v == .min ? .min : Int32(v))
        k += 2
      }
    }
  }
  let tok: Tokenizer
  do {
    tok = try Tokenizer(json: json, context: "fuzz")
  } catch {
    if verbose { print("threw: \(error)") }
    precondition(!error.message.isEmpty, "a thrown error must name the problem")
    return 0
  }
  let plain = tok.encode(text, addSpecialTokens: false)
  if verbose { print("loaded (\(tok.vocabularySize) ids); encode \(text.debugDescription) = \(plain)") }
  let withSpecial = tok.encode(text)
  for id in plain {  // (post-processor templates may name any id; the model checks those)
    precondition(tok.tokenBytes(id) != nil, "encode gave id \(id), which has no token")
  }
  _ = tok.decode(plain + ids, skipSpecialTokens: false)
  _ = tok.decode(withSpecial + ids)
  var stream = tok.makeStreamingDecoder(skipSpecialTokens: false)
  for id in (plain + ids).prefix(256) { _ = stream.next(id) }
  _ = stream.finish()
  for id in ids {
    _ = tok.isSpecial(id)
    if let t = tok.token(id) { _ = tok.tokenID(t) }
  }
  _ = tok.tokenID(text)
  _ = tok.vocabularySize
  _ = tok.specialTokenIDs
  return 0
}
