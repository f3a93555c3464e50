import Foundation
import Testing

@testable import SubQ

/// A safetensors image: [u64 header length][header][data], the header padded with spaces to a
/// multiple of 8 bytes (as the reference writer does, so data starts 8-byte aligned).
private func image(_ header: String, _ data: [UInt8]) -> [UInt8] {
  var h = Array(header.utf8)
  while h.count % 8 != 0 { h.append(0x20) }
  var out: [UInt8] = []
  var n = UInt64(h.count)
  for _ in 0..<8 {
    out.append(UInt8(n & 0xff))
    n >>= 8
  }
  return out + h + data
}

private func scratchDirectory() throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("subq-st-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

private let header =
  #"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"#
  + #""b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},"s":{"dtype":"I64","shape":[],"data_offsets":[22,30]},"#
  + #""e":{"dtype":"F16","shape":[0,4],"data_offsets":[30,30]}}"#

private func payload() -> [UInt8] {
  var d: [UInt8] = []
  for v: Float in [1, 2, 3, 4] { withUnsafeBytes(of: v.bitPattern.littleEndian) { d += $0 } }
  d += [0x80, 0x3f, 0x00, 0x40, 0x40, 0x40]  // bf16 1, 2, 3
  withUnsafeBytes(of: Int64(-7).littleEndian) { d += $0 }
  return d
}

@Suite struct SafetensorsTests {
  @Test func opensFromMemoryAndReadsTensors() throws {
    let st = try Safetensors(bytes: image(header, payload()))
    #expect(st.count == 4)
    #expect(st.files == ["<memory>"])
    #expect(st.metadata() == ["format": "pt"])
    #expect(st.tensors.map(\.name) == ["w", "b", "s", "e"])  // data-offset order
    let w = try st.tensor(named: "w")
    #expect(w.dtype == .f32 && w.shape == [2, 2] && w.elementCount == 4 && w.byteCount == 16)
    #expect(w.dtype.description == "F32" && w.dtype.bits == 32)
    #expect(w.dataAlignment >= 8)
    let floats = st.withData(w) { Array($0.bindMemory(to: Float.self)) }
    #expect(floats == [1, 2, 3, 4])
    let s = try st.tensor(named: "s")
    #expect(s.shape == [] && s.elementCount == 1 && s.dtype == .i64)
    #expect(st.withData(s) { $0.loadUnaligned(as: Int64.self) } == -7)
    let e = try st.tensor(named: "e")
    #expect(e.shape == [0, 4] && e.byteCount == 0 && st.data(e).count == 0)
    #expect(try st.tensor(named: "b").dtype == .bf16)
    #expect(st.contains("b") && !st.contains("nope"))
  }

  @Test func throwsForMissingTensorsAndHostileFiles() throws {
    let st = try Safetensors(bytes: image(header, payload()))
    #expect {
      _ = try st.tensor(named: "nope")
    } throws: { error in
      let e = error as! SubQError
      return e.code == .invalidArgument && e.message.contains("tensor 'nope' not found in <memory>")
    }
    let lie = #"{"lm_head.weight":{"dtype":"F32","shape":[4,8],"data_offsets":[0,64]}}"#
    #expect {
      _ = try Safetensors(bytes: image(lie, [UInt8](repeating: 0, count: 64)))
    } throws: { error in
      (error as! SubQError).message.contains(
        "tensor 'lm_head.weight': data_offsets [0, 64) hold 64 bytes but shape [4, 8] of F32 needs 128")
    }
    #expect {
      _ = try Safetensors(bytes: image(#"{"t":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]))
    } throws: { error in
      let e = error as! SubQError
      return e.code == .unsupported && e.message.contains("unknown dtype 'F99'")
    }
    #expect(throws: SubQError.self) { _ = try Safetensors(bytes: [1, 2, 3]) }
    #expect(throws: SubQError.self) { _ = try Safetensors(contentsOf: "/nonexistent/x.safetensors") }
  }

  @Test(arguments: [true, false])
  func opensShardedDirectories(mmap: Bool) throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let s1 = image(#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#, [7, 8])
    let s2 = image(#"{"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#, [1, 0, 0, 0])
    try Data(s1).write(to: dir.appendingPathComponent("model-00001-of-00002.safetensors"))
    try Data(s2).write(to: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
    let index =
      #"{"metadata":{"total_size":6},"weight_map":{"a":"model-00001-of-00002.safetensors","#
      + #""b":"model-00002-of-00002.safetensors"}}"#
    try Data(index.utf8).write(to: dir.appendingPathComponent("model.safetensors.index.json"))
    let st = try Safetensors(directory: dir.path, mmap: mmap)
    #expect(st.count == 2 && st.files.count == 2)
    let a = try st.tensor(named: "a")
    let b = try st.tensor(named: "b")
    #expect(a.fileIndex == 0 && b.fileIndex == 1)
    #expect(st.withData(a) { Array($0) } == [7, 8])
    #expect(st.withData(b) { $0.loadUnaligned(as: Int32.self) } == 1)

    // an index that escapes the directory is refused
    try Data(#"{"weight_map":{"a":"../model-00001-of-00002.safetensors"}}"#.utf8).write(
      to: dir.appendingPathComponent("model.safetensors.index.json"))
    #expect {
      _ = try Safetensors(directory: dir.path)
    } throws: { error in
      (error as! SubQError).message.contains("not a plain file name")
    }
  }

  @Test func opensASingleFileFromDisk() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("model.safetensors")
    try Data(image(header, payload())).write(to: path)
    let st = try Safetensors(contentsOf: path.path)
    #expect(st.files == [path.path])
    #expect(st.tensors.count == 4)
    let dirSt = try Safetensors(directory: dir.path)
    #expect(dirSt.tensors.map(\.name) == st.tensors.map(\.name))
  }
}
