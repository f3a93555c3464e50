internal import CSubQ

// Read-only access to Hugging Face safetensors checkpoints over Include/subq/subq_safetensors.h:
// one .safetensors file, a model directory (model.safetensors, or shards listed by
// model.safetensors.index.json), or a file image in memory. Files are memory-mapped; tensor
// data is a view into the mapping, valid while the `Safetensors` object is alive.

/// An open safetensors checkpoint (`subq_safetensors`): its tensors, their bytes and the
/// `__metadata__` of each file.
///
/// Every file is validated in full when opened (strict JSON header, known dtypes, shapes that
/// match their byte ranges, tensors that tile the data section, index entries that point at
/// plain file names in the directory and at tensors their shard holds), so a hostile or broken
/// file throws a ``SubQError`` naming the file, tensor and problem instead of crashing later.
///
/// Thread-safety: immutable after `init`; `@unchecked Sendable`, and every method may be called
/// from several threads at once. The files must not be truncated while open (a mapped page past
/// the new end raises SIGBUS); pass `mmap: false` where that can happen.
public final class Safetensors: @unchecked Sendable {
  let raw: OpaquePointer

  /// Element type of a tensor, named as in the file (`"F32"`).
  public enum DType: Sendable, Hashable, CustomStringConvertible {
    case bool, u8, i8, u16, i16, f16, bf16, u32, i32, f32, u64, i64, f64, c64
    case f8E4M3, f8E5M2, f8E8M0, f6E2M3, f6E3M2, f4
    /// A value this façade does not know (a newer library), with its raw value.
    case unknown(Int32)

    init(_ c: subq_safetensors_dtype) {
      switch c {
      case .bool: self = .bool
      case .u8: self = .u8
      case .i8: self = .i8
      case .u16: self = .u16
      case .i16: self = .i16
      case .f16: self = .f16
      case .bf16: self = .bf16
      case .u32: self = .u32
      case .i32: self = .i32
      case .f32: self = .f32
      case .u64: self = .u64
      case .i64: self = .i64
      case .f64: self = .f64
      case .c64: self = .c64
      case .f8E4M3: self = .f8E4M3
      case .f8E5M2: self = .f8E5M2
      case .f8E8M0: self = .f8E8M0
      case .f6E2M3: self = .f6E2M3
      case .f6E3M2: self = .f6E3M2
      case .f4: self = .f4
      @unknown default: self = .unknown(c.rawValue)
      }
    }

    var cValue: subq_safetensors_dtype? {
      switch self {
      case .bool: .bool
      case .u8: .u8
      case .i8: .i8
      case .u16: .u16
      case .i16: .i16
      case .f16: .f16
      case .bf16: .bf16
      case .u32: .u32
      case .i32: .i32
      case .f32: .f32
      case .u64: .u64
      case .i64: .i64
      case .f64: .f64
      case .c64: .c64
      case .f8E4M3: .f8E4M3
      case .f8E5M2: .f8E5M2
      case .f8E8M0: .f8E8M0
      case .f6E2M3: .f6E2M3
      case .f6E3M2: .f6E3M2
      case .f4: .f4
      case .unknown(let raw): subq_safetensors_dtype(rawValue: raw)
      }
    }

    /// The file's name of the dtype (`"BF16"`); `"unknown"` for ``unknown(_:)``.
    public var description: String {
      guard let c = cValue else { return "unknown" }
      return String(cString: subq_safetensors_dtype_name(c))
    }

    /// Bits per element (4, 6, 8, 16, 32 or 64); 0 for ``unknown(_:)``.
    public var bits: Int {
      guard let c = cValue else { return 0 }
      return Int(subq_safetensors_dtype_bits(c))
    }
  }

  /// One tensor's description. Its bytes come from ``data(_:)`` or ``withData(_:_:)``.
  public struct TensorInfo: Sendable, Hashable, CustomStringConvertible {
    /// The tensor's name in the checkpoint (`"model.layers.0.mlp.up_proj.weight"`).
    public let name: String
    public let dtype: DType
    /// Dimensions, outermost first (row-major); `[]` for a scalar.
    public let shape: [Int]
    /// Product of the shape (1 for a scalar, 0 when a dimension is 0).
    public let elementCount: Int
    /// Bytes of data (`elementCount * dtype.bits / 8`).
    public let byteCount: Int
    /// Which file holds it (an index into ``Safetensors/files``).
    public let fileIndex: Int
    /// Byte offset of its data in that file.
    public let fileOffset: Int
    /// Largest power of two (at most 4096) dividing the data's address: check it before
    /// binding the bytes to a type with a larger alignment.
    public let dataAlignment: Int
    /// Position in ``Safetensors/tensors`` (file order, then offset order).
    public let index: Int

    public var description: String { "\(name): \(dtype) \(shape)" }
  }

  private init(raw: OpaquePointer) { self.raw = raw }

  /// Opens one `.safetensors` file (`subq_safetensors_open`). With `mmap: false` the file is
  /// read into memory instead of mapped.
  /// - Throws: ``SubQError`` — `.system` when the file cannot be opened or read,
  ///   `.invalidArgument` for a malformed file, `.unsupported` for an unknown dtype or rank > 8.
  public convenience init(contentsOf path: String, mmap: Bool = true) throws(SubQError) {
    var h: OpaquePointer? = nil
    try SubQError.check(subq_safetensors_open(path, mmap ? 0 : UInt32(SUBQ_SAFETENSORS_NO_MMAP), &h))
    self.init(raw: h!)
  }

  /// Opens a model directory (`subq_safetensors_open_dir`): `model.safetensors` when present,
  /// otherwise `model.safetensors.index.json` and the shards its `weight_map` names.
  /// - Throws: ``SubQError`` as ``init(contentsOf:mmap:)``, also for an inconsistent index.
  public convenience init(directory: String, mmap: Bool = true) throws(SubQError) {
    var h: OpaquePointer? = nil
    try SubQError.check(subq_safetensors_open_dir(directory, mmap ? 0 : UInt32(SUBQ_SAFETENSORS_NO_MMAP), &h))
    self.init(raw: h!)
  }

  /// Parses a file image held in memory (`subq_safetensors_open_memory`); the bytes are copied.
  public convenience init(bytes: [UInt8]) throws(SubQError) {
    var h: OpaquePointer? = nil
    let status = bytes.withUnsafeBytes { subq_safetensors_open_memory($0.baseAddress, $0.count, 0, &h) }
    try SubQError.check(status)
    self.init(raw: h!)
  }

  deinit { subq_safetensors_destroy(raw) }

  /// Number of tensors.
  public var count: Int { Int(subq_safetensors_count(raw)) }

  /// All tensors, in file order and then data-offset order (the order to read them in).
  public var tensors: [TensorInfo] {
    (0..<count).map { info(cTensor(at: $0), index: $0) }
  }

  /// Paths of the files, as opened (one for a single file; the shards of a sharded directory).
  public var files: [String] {
    (0..<Int(subq_safetensors_file_count(raw))).map { String(cString: subq_safetensors_file_path(raw, Int32($0))!) }
  }

  /// Whether a tensor of that name exists.
  public func contains(_ name: String) -> Bool { subq_safetensors_find(raw, name) >= 0 }

  /// The tensor named `name`.
  /// - Throws: ``SubQError/Code/invalidArgument`` ("tensor 'x' not found in DIR") when absent.
  public func tensor(named name: String) throws(SubQError) -> TensorInfo {
    var t: UnsafePointer<subq_safetensors_tensor>? = nil
    try SubQError.check(subq_safetensors_get(raw, name, &t))
    let index = Int(subq_safetensors_find(raw, name))
    return info(t!.pointee, index: index)
  }

  /// The tensor's bytes: a view into the mapped file, valid only while this object is alive
  /// (keep it alive with `withExtendedLifetime`, or use ``withData(_:_:)``).
  /// - Precondition: `tensor` came from this object.
  public func data(_ tensor: TensorInfo) -> UnsafeRawBufferPointer {
    let t = cTensor(at: tensor.index)
    precondition(String(cString: t.name) == tensor.name, "TensorInfo '\(tensor.name)' is not from this checkpoint")
    return UnsafeRawBufferPointer(start: t.data, count: Int(t.n_bytes))
  }

  /// Calls `body` with the tensor's bytes, keeping this object alive meanwhile.
  public func withData<R, E: Error>(_ tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    defer { withExtendedLifetime(self) {} }
    return try body(data(tensor))
  }

  /// The `__metadata__` of file `file` (empty when the file has none or `file` is out of range).
  public func metadata(file: Int = 0) -> [String: String] {
    var out: [String: String] = [:]
    guard file >= 0, file < Int(subq_safetensors_file_count(raw)) else { return out }
    let n = Int(subq_safetensors_metadata_count(raw, Int32(file)))
    for i in 0..<n {
      var k: UnsafePointer<CChar>? = nil
      var v: UnsafePointer<CChar>? = nil
      if subq_safetensors_metadata_at(raw, Int32(file), Int64(i), &k, &v) == .ok, let k, let v {
        out[String(cString: k)] = String(cString: v)
      }
    }
    return out
  }

  private func cTensor(at index: Int) -> subq_safetensors_tensor {
    var t: UnsafePointer<subq_safetensors_tensor>? = nil
    let status = subq_safetensors_tensor_at(raw, Int64(index), &t)
    precondition(status == .ok && t != nil, "tensor index \(index) out of range")
    return t!.pointee
  }

  private func info(_ t: subq_safetensors_tensor, index: Int) -> TensorInfo {
    let rank = Int(t.rank)
    let shape = withUnsafeBytes(of: t.shape) { Array($0.bindMemory(to: Int64.self).prefix(rank)).map { Int($0) } }
    return TensorInfo(
      name: String(cString: t.name), dtype: DType(t.dtype), shape: shape, elementCount: Int(t.n_elements),
      byteCount: Int(t.n_bytes), fileIndex: Int(t.file_index), fileOffset: Int(t.file_offset),
      dataAlignment: Int(t.data_alignment), index: index)
  }
}
