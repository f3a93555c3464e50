// libFuzzer harness for LinearRegex, the Split pre-tokenizer's regex engine. The input is
// `pattern [0x00 text]` (UTF-8, repaired if invalid; without a NUL a fixed text is used). A pattern
// either compiles or throws a RegexError with a message; a compiled one matches the text with
// matches in order, inside the text, not overlapping, and an empty match never right where the
// previous match ended. libFuzzer's -timeout catches a pattern whose matching does not stay linear.
// Built by build.sh; see Tests/fuzz/README.md.
@testable import SubQ

#if canImport(Glibc)
  import Glibc
#endif

let verbose = getenv("SUBQ_FUZZ_VERBOSE") != nil
let defaultText = "Hello, world! It's 2024: naïve café 東京 𝄞 \u{1F600} \r\n\t  aaaaab x²½ ſK ΣΑΣ ß"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let all = UnsafeBufferPointer(start: data, count: size)
  let nul = all.firstIndex(of: 0)
  let pattern = String(decoding: all[..<(nul ?? size)], as: UTF8.self)
  let text = nul.map { String(decoding: all[($0 + 1)...], as: UTF8.self) } ?? defaultText
  let re: LinearRegex
  do {
    re = try LinearRegex(pattern)
  } catch {
    precondition(!error.message.isEmpty, "an error without a message")
    if verbose { print("refused: \(error)") }
    return 0
  }
  precondition(re.program.count <= LinearRegex.maxProgram + 1 && re.sets.count <= LinearRegex.maxSets)
  let scalars = text.unicodeScalars.map(\.value)
  let ms = re.matches(scalars)
  var previousEnd = -1
  for (a, z) in ms {
    precondition(a <= z && z <= scalars.count, "match \(a)..<\(z) outside 0..<\(scalars.count)")
    precondition(a >= max(previousEnd, 0), "match \(a)..<\(z) before the previous end \(previousEnd)")
    precondition(!(a == z && z == previousEnd), "an empty match at the previous match's end")
    previousEnd = z
  }
  if verbose { print("\(re.program.count) instructions, \(re.sets.count) sets: \(ms)") }
  return 0
}
