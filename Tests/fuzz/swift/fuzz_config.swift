// libFuzzer harness: the input as a config.json (ModelConfig.parse: ConfigJSON's non-finite
// token rewriting, the strict JSON parser, every architecture's reader, BASED included).
// Built by build.sh (not by SwiftPM); see Tests/fuzz/README.md.
import Foundation
@testable import SubQ

#if canImport(Glibc)
  import Glibc
#endif

/// SUBQ_FUZZ_VERBOSE=1 prints what each input gave (for reproducing a finding by hand).
let verbose = getenv("SUBQ_FUZZ_VERBOSE") != nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Data(bytes: data, count: size)
  do {
    let c = try ModelConfig.parse(bytes, source: "fuzz.json")
    // A parsed config must be usable as a value (not compared with itself: a NaN field is not equal).
    if verbose { print("parsed: \(c)") }
    _ = "\(c)"
  } catch {
    if verbose { print("threw: \(error)") }
    precondition(!error.message.isEmpty, "a thrown error must name the problem")
  }
  return 0
}
