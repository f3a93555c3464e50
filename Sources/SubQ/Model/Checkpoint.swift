internal import CSubQ
import Foundation

/// A Hugging Face checkpoint's tensors (model.safetensors or shards), memory-mapped through
/// `subq_safetensors`, with lookups that check names, ranks and shapes against the config.
final class Checkpoint: @unchecked Sendable {
  let raw: OpaquePointer
  let directory: String

  init(directory: URL) throws(SubQError) {
    var h: OpaquePointer?
    try SubQError.check(subq_safetensors_open_dir(directory.path, 0, &h))
    raw = h!
    self.directory = directory.path
  }

  deinit { subq_safetensors_destroy(raw) }

  /// Drops this process's resident pages of the mapped files (`madvise(MADV_DONTNEED)` over the
  /// whole pages inside each tensor). Packing reads every weight once; afterwards the weights live
  /// in their packed copies, and what is still read in place (embedding rows) faults back in from
  /// the page cache. The mappings are read-only, so contents never change: only the resident set
  /// does (a bf16 TinyLlama held its 2.2 GB file in RSS beside the packed copy).
  func releaseResidentPages() {
    #if canImport(Glibc)
      let page = max(1, Int(sysconf(Int32(_SC_PAGESIZE))))
      for i in 0..<subq_safetensors_count(raw) {
        var p: UnsafePointer<subq_safetensors_tensor>?
        guard subq_safetensors_tensor_at(raw, i, &p) == .ok, let t = p?.pointee, t.n_bytes > 0 else { continue }
        let start = UInt(bitPattern: t.data), end = start &+ UInt(t.n_bytes)
        let lo = (start &+ UInt(page - 1)) & ~UInt(page - 1), hi = end & ~UInt(page - 1)
        if hi > lo, let base = UnsafeMutableRawPointer(bitPattern: lo) { _ = madvise(base, Int(hi - lo), MADV_DONTNEED) }
      }
    #endif
  }

  struct Tensor {
    let name: String
    let dtype: subq_safetensors_dtype
    let shape: [Int]
    let data: UnsafeRawPointer
    var count: Int { shape.reduce(1, *) }
  }

  func has(_ name: String) -> Bool { subq_safetensors_find(raw, name) >= 0 }

  /// The tensor `name`, which must have exactly `shape` and a float dtype (F32, BF16 or F16).
  func tensor(_ name: String, _ shape: [Int]) throws(SubQError) -> Tensor {
    var p: UnsafePointer<subq_safetensors_tensor>?
    guard subq_safetensors_find(raw, name) >= 0 else {
      throw .invalidArgument("\(directory): tensor '\(name)' is missing")
    }
    try SubQError.check(subq_safetensors_get(raw, name, &p))
    let t = p!.pointee
    let got = withUnsafeBytes(of: t.shape) { Array($0.bindMemory(to: Int64.self).prefix(Int(t.rank))).map(Int.init) }
    // dtype first: a quantized tensor where a float one belongs has a different shape too
    switch t.dtype {
    case .f32, .bf16, .f16: break
    default:
      throw .invalidArgument("\(directory): tensor '\(name)' has dtype \(String(cString: subq_safetensors_dtype_name(t.dtype))); F32, BF16 or F16 expected")
    }
    guard got == shape else {
      throw .invalidArgument("\(directory): tensor '\(name)' has shape \(got), the config implies \(shape)")
    }
    return Tensor(name: name, dtype: t.dtype, shape: got, data: t.data)
  }

  /// The raw bytes of the U8 tensor `name`, which must have exactly `shape` (BitNet's packed
  /// ternary weights).
  func bytes(_ name: String, _ shape: [Int]) throws(SubQError) -> UnsafePointer<UInt8> {
    var p: UnsafePointer<subq_safetensors_tensor>?
    guard subq_safetensors_find(raw, name) >= 0 else {
      throw .invalidArgument("\(directory): tensor '\(name)' is missing")
    }
    try SubQError.check(subq_safetensors_get(raw, name, &p))
    let t = p!.pointee
    let got = withUnsafeBytes(of: t.shape) { Array($0.bindMemory(to: Int64.self).prefix(Int(t.rank))).map(Int.init) }
    guard t.dtype == .u8 else {
      throw .invalidArgument("\(directory): tensor '\(name)' has dtype \(String(cString: subq_safetensors_dtype_name(t.dtype))); U8 (packed ternary) expected")
    }
    guard got == shape else {
      throw .invalidArgument("\(directory): tensor '\(name)' has shape \(got), the config implies \(shape)")
    }
    return t.data.assumingMemoryBound(to: UInt8.self)
  }

  /// The shape of `name` (nil when absent), for inferring sizes the config leaves implicit.
  func shape(_ name: String) -> [Int]? {
    var p: UnsafePointer<subq_safetensors_tensor>?
    guard subq_safetensors_find(raw, name) >= 0, subq_safetensors_get(raw, name, &p) == .ok, let t = p?.pointee else {
      return nil
    }
    return withUnsafeBytes(of: t.shape) { Array($0.bindMemory(to: Int64.self).prefix(Int(t.rank))).map(Int.init) }
  }

  /// The tensor widened to f32 (a copy).
  func floats(_ name: String, _ shape: [Int]) throws(SubQError) -> FloatBuffer {
    let t = try tensor(name, shape)
    let out = FloatBuffer(count: t.count)
    try widen(t, into: out.base)
    return out
  }

  func widen(_ t: Tensor, into dst: UnsafeMutablePointer<Float>) throws(SubQError) {
    try widen(t, elements: 0..<t.count, into: dst)
  }

  /// Elements `range` of t (flat, row-major) widened to f32 into dst.
  func widen(_ t: Tensor, elements range: Range<Int>, into dst: UnsafeMutablePointer<Float>) throws(SubQError) {
    let n = range.count, o = range.lowerBound
    switch t.dtype {
    case .f32: dst.update(from: t.data.assumingMemoryBound(to: Float.self) + o, count: n)
    case .bf16: try SubQError.check(subq_bf16_to_f32(t.data.assumingMemoryBound(to: UInt16.self) + o, dst, Int64(n)))
    case .f16:
      let src = t.data.assumingMemoryBound(to: UInt16.self) + o
      for i in 0..<n { dst[i] = Float(Float16(bitPattern: src[i])) }
    default: throw .invalidArgument("\(directory): tensor '\(t.name)': unsupported dtype")
    }
  }
}

/// A 64-byte aligned array of 16-bit values (bf16 / f16 bits) owned by Swift.
final class HalfBuffer: @unchecked Sendable {
  let base: UnsafeMutablePointer<UInt16>
  let count: Int

  init(count: Int) {
    self.count = count
    base = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 2, alignment: 64).bindMemory(to: UInt16.self, capacity: max(1, count))
  }

  deinit { base.deallocate() }
}

/// A 64-byte aligned float array owned by Swift (activations, converted weights).
final class FloatBuffer: @unchecked Sendable {
  let base: UnsafeMutablePointer<Float>
  let count: Int

  init(count: Int) {
    self.count = count
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
    base = raw.bindMemory(to: Float.self, capacity: max(1, count))
    base.initialize(repeating: 0, count: max(1, count))
  }

  deinit { base.deallocate() }

  subscript(i: Int) -> Float {
    get { base[i] }
    set { base[i] = newValue }
  }

  var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }
}

/// y = x Wᵀ (+ b) for a PyTorch Linear weight W [out][in], packed once for the GEMM micro-kernels.
///
/// bf16 checkpoints stay bf16 in the packed copy (2 bytes a weight: `subq_gemm_pack_b` keeps bf16
/// panels and widens them in registers), which serves prefill and decode alike: the one-token
/// GEMV streams the panels at the read bandwidth (`subq-bench gemm m1n14336k4096:bf16:nt:packed`,
/// 32.9 GB/s against 32.3 for the row-major bf16 weights, 2 threads). f16 weights are widened to
/// f32 at load; f32 stays f32.
final class Linear: @unchecked Sendable {
  let packed: OpaquePointer
  let inFeatures: Int
  let outFeatures: Int
  let bias: FloatBuffer?

  convenience init(_ ck: Checkpoint, _ name: String, out: Int, in inF: Int, bias: Bool, context: Context?) throws(SubQError) {
    try self.init(ck, parts: [(name, out)], in: inF, bias: bias, context: context)
  }

  /// Several Linear layers over the same input fused into one (rows concatenated in `parts`
  /// order: q|k|v, gate|up), so one GEMM computes them all.
  init(_ ck: Checkpoint, parts: [(String, Int)], in inF: Int, bias: Bool, context: Context?) throws(SubQError) {
    let out = parts.reduce(0) { $0 + $1.1 }
    var h: OpaquePointer?
    // B = Wᵀ: k = in, n = out, element (p, j) at W[j][p] -> b_rs = 1, b_cs = in.
    let tensors = try parts.map { (name, n) throws(SubQError) in try ck.tensor(name + ".weight", [n, inF]) }
    if tensors.count == 1, tensors[0].dtype == .f32 || tensors[0].dtype == .bf16 {
      let t = tensors[0]
      try SubQError.check(
        subq_gemm_pack_b(context?.raw, Int64(inF), Int64(out), t.dtype == .f32 ? .f32 : .bf16, t.data, 1, Int64(inF), &h))
    } else if tensors.allSatisfy({ $0.dtype == .bf16 }) {
      // fused bf16 parts: concatenated (bits copied) for the one packing pass, then dropped
      let joined = HalfBuffer(count: out * inF)
      var off = 0
      for t in tensors {
        joined.base.advanced(by: off).update(from: t.data.assumingMemoryBound(to: UInt16.self), count: t.count)
        off += t.count
      }
      try SubQError.check(subq_gemm_pack_b(context?.raw, Int64(inF), Int64(out), .bf16, joined.base, 1, Int64(inF), &h))
    } else {
      let wide = FloatBuffer(count: out * inF)
      var row = 0
      for (t, (_, n)) in zip(tensors, parts) {
        try ck.widen(t, into: wide.base + row * inF)
        row += n
      }
      try SubQError.check(subq_gemm_pack_b(context?.raw, Int64(inF), Int64(out), .f32, wide.base, 1, Int64(inF), &h))
    }
    packed = h!
    inFeatures = inF
    outFeatures = out
    if bias {
      let b = FloatBuffer(count: out)
      var row = 0
      for (name, n) in parts {
        try ck.widen(try ck.tensor(name + ".bias", [n]), into: b.base + row)
        row += n
      }
      self.bias = b
    } else {
      self.bias = nil
    }
  }

  deinit { subq_gemm_packed_b_destroy(packed) }

  /// out[r][j] (= or +=) sum_p x[r][p] W[j][p] (+ b[j]) for `rows` rows; x rows `xStride` apart,
  /// out rows `outStride` apart.
  func apply(
    _ x: UnsafePointer<Float>, xStride: Int, rows: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
    accumulate: Bool = false, context: Context?
  ) throws(SubQError) {
    var a = subq_gemm_args()
    subq_gemm_args_default(&a, MemoryLayout<subq_gemm_args>.size)
    a.m = Int64(rows)
    a.n = Int64(outFeatures)
    a.k = Int64(inFeatures)
    a.a = UnsafeRawPointer(x)
    a.a_rs = Int64(xStride)
    a.a_cs = 1
    a.c = out
    a.c_rs = Int64(outStride)
    a.c_cs = 1
    a.beta = accumulate ? 1 : 0
    try SubQError.check(subq_gemm_packed(context?.raw, &a, packed))
    if let b = bias {
      for r in 0..<rows {
        let row = out + r * outStride
        for j in 0..<outFeatures { row[j] += b[j] }
      }
    }
  }
}
