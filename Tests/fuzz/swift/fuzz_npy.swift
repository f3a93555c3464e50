// libFuzzer harness: the input as a .npy file (NPY.readFloat32); what it reads must survive
// NPY.encode and read back the same. Built by build.sh; see Tests/fuzz/README.md.
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
    let (shape, values) = try NPY.readFloat32(bytes)
    if verbose { print("read shape \(shape), \(values.count) values") }
    let again = try NPY.readFloat32(try NPY.encode(float32: values, shape: shape))
    precondition(again.shape == shape, "shape \(shape) round-trips as \(again.shape)")
    precondition(again.values.map(\.bitPattern) == values.map(\.bitPattern), "values do not round-trip")
  } catch {
    if verbose { print("threw: \(error)") }
    precondition(!error.message.isEmpty, "a thrown error must name the problem")
  }
  return 0
}
