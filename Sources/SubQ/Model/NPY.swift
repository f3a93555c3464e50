import Foundation

/// Writes NumPy .npy files (format 1.0): little-endian float32, C order.
public enum NPY {
  /// The bytes of a .npy file holding `values` with `shape` (product must equal values.count).
  public static func encode(float32 values: [Float], shape: [Int]) throws(SubQError) -> Data {
    guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
      throw .invalidArgument("NPY.encode: shape \(shape) does not hold \(values.count) values")
    }
    let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
    // magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
    let hl = UInt16(header.utf8.count)
    d.append(contentsOf: [UInt8(hl & 0xFF), UInt8(hl >> 8)])
    d.append(contentsOf: Array(header.utf8))
    values.withUnsafeBufferPointer { b in
      for v in b {
        let bits = v.bitPattern.littleEndian
        withUnsafeBytes(of: bits) { d.append(contentsOf: $0) }
      }
    }
    return d
  }

  public static func write(float32 values: [Float], shape: [Int], to url: URL) throws(SubQError) {
    let d = try encode(float32: values, shape: shape)
    do { try d.write(to: url) } catch {
      throw SubQError(code: .system, message: "NPY.write: \(url.path): \(error.localizedDescription)")
    }
  }
}

extension NPY {
  /// Reads a float32 little-endian C-order .npy (version 1.x or 2.x header).
  public static func readFloat32(_ d: Data) throws(SubQError) -> (shape: [Int], values: [Float]) {
    let b = [UInt8](d)
    guard b.count >= 10, b[0] == 0x93, Array(b[1..<6]) == Array("NUMPY".utf8) else {
      throw .invalidArgument("NPY.readFloat32: not a .npy file")
    }
    let v1 = b[6] == 1
    let hlBytes = v1 ? 2 : 4
    guard b.count >= 8 + hlBytes else { throw .invalidArgument("NPY.readFloat32: truncated header") }
    var hl = 0
    for i in 0..<hlBytes { hl |= Int(b[8 + i]) << (8 * i) }
    let start = 8 + hlBytes
    guard hl >= 0, start + hl <= b.count else { throw .invalidArgument("NPY.readFloat32: truncated header") }
    let header = String(decoding: b[start..<(start + hl)], as: UTF8.self)
    guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False") else {
      throw .invalidArgument("NPY.readFloat32: only little-endian float32 in C order is supported: \(header)")
    }
    guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
      throw .invalidArgument("NPY.readFloat32: no shape in header")
    }
    var shape: [Int] = []
    for part in header[open.upperBound..<close].split(separator: ",") {
      let t = part.trimmingCharacters(in: .whitespaces)
      if t.isEmpty { continue }
      guard let n = Int(t), n >= 0 else { throw .invalidArgument("NPY.readFloat32: bad shape entry '\(t)'") }
      shape.append(n)
    }
    // The element count and its byte count: a hostile shape may overflow either.
    var count = 1
    for n in shape {
      let (p, o) = count.multipliedReportingOverflow(by: n)
      guard !o else { throw .invalidArgument("NPY.readFloat32: shape \(shape) overflows") }
      count = p
    }
    let (byteCount, o) = count.multipliedReportingOverflow(by: 4)
    guard !o else { throw .invalidArgument("NPY.readFloat32: shape \(shape) overflows") }
    let dataStart = start + hl
    guard b.count - dataStart == byteCount else {
      throw .invalidArgument("NPY.readFloat32: \(b.count - dataStart) data bytes for shape \(shape)")
    }
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count {
      let o = dataStart + 4 * i
      let bits = UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
      values[i] = Float(bitPattern: bits)
    }
    return (shape, values)
  }
}
