internal import CSubQ
import Foundation

/// A Hugging Face causal language model loaded for inference with SubQ kernels.
///
/// `Model.load(directory:)` reads config.json and the safetensors weights (memory-mapped), checks
/// every tensor's name and shape against the config, and packs the matrices once for the GEMM
/// micro-kernels of the context's ISA path. A model is immutable after loading: any number of
/// ``Session``s (each with its own KV cache or recurrent state) may use it, one call at a time per
/// session. Architectures: llama, mistral, mamba, mamba2, bitnet (packed b1.58), hgrn_bit
/// (MatMul-free LM), based.
public final class Model: @unchecked Sendable {
  public let config: ModelConfig
  let context: Context?
  let body: any ModelBody

  init(config: ModelConfig, context: Context?, body: any ModelBody) {
    self.config = config
    self.context = context
    self.body = body
  }

  /// How a checkpoint is turned into the model that runs.
  public struct LoadOptions: Sendable, Hashable {
    /// Project every MLP weight matrix (gate, up, down of llama / mistral; fc1, fc2 of based) onto
    /// the nearest Monarch matrix with this many blocks (fly `MonarchLinear`'s shape, see
    /// ``MonarchShape/linear(inFeatures:outFeatures:blocks:)``) and run the MLPs with the Monarch
    /// kernels. The projection is fp64 work on every core at load time (a truncated SVD per
    /// sub-block, O(m·n·min(s, p)) per matrix); ``Model/monarchProjections`` reports its error.
    public var monarchBlocks: Int?
    /// Quantize the output head (lm_head, or the tied embedding matrix used as the head) to int8
    /// per row and 32-column block (``Int8Weights``) and compute the logits with it: 1.0625 bytes a
    /// weight instead of 2 (bf16) or 4, the largest read of a decode step in models with big
    /// vocabularies. Changes the logits (``Model/int8HeadError`` says by how much the weights
    /// moved); token embeddings stay as stored. Not for hgrn_bit, whose head is ternary.
    public var int8Head: Bool
    public init(monarchBlocks: Int? = nil, int8Head: Bool = false) {
      self.monarchBlocks = monarchBlocks
      self.int8Head = int8Head
    }
  }

  /// With ``LoadOptions/int8Head``: ‖W − W_int8‖ / ‖W‖ of the head (Frobenius, measured at load);
  /// nil otherwise.
  public var int8HeadError: Double? { body.headError }

  /// The Monarch projections made at load time (``LoadOptions/monarchBlocks``), per layer in
  /// order gate, up, down (based: fc1, fc2); empty otherwise.
  public var monarchProjections: [MonarchProjectionReport] {
    (body as? TransformerBody)?.monarchReports ?? (body as? BasedBody)?.monarchReports ?? []
  }

  /// Loads `directory` (config.json + model.safetensors or shards). `progress(done, total)` is
  /// called after each packed tensor group (after each projected matrix with Monarch MLPs, then
  /// possibly from worker threads, one call at a time).
  public static func load(
    directory: URL, context: Context? = nil, options: LoadOptions = LoadOptions(), progress: ((Int, Int) -> Void)? = nil
  ) throws(SubQError) -> Model {
    try load(
      directory: directory, config: try ModelConfig.load(directory: directory), context: context, options: options,
      progress: progress)
  }

  /// Loads `directory`'s weights under `config` (tests: a config.json value overridden).
  static func load(
    directory: URL, config: ModelConfig, context: Context?, options: LoadOptions = LoadOptions(),
    progress: ((Int, Int) -> Void)?
  ) throws(SubQError) -> Model {
    if let b = options.monarchBlocks {
      guard b >= 1 else { throw .invalidArgument("Model.load: monarchBlocks must be >= 1, got \(b)") }
      guard [.llama, .mistral, .based].contains(config.architecture) else {
        throw SubQError(
          code: .unsupported,
          message: "Model.load: Monarch MLPs apply to the dense MLPs of llama, mistral and based models, not \(config.architecture.rawValue)")
      }
    }
    if options.int8Head && config.architecture == .hgrnBit {
      throw SubQError(
        code: .unsupported, message: "Model.load: int8Head: the hgrn_bit head is already a ternary BitLinear")
    }
    let ck = try Checkpoint(directory: directory)
    // each layer's mapped weights leave the resident set once packed (peak RSS ~ packed copy)
    let userProgress = progress
    let progress: ((Int, Int) -> Void)? = { done, total in
      ck.releaseResidentPages()
      userProgress?(done, total)
    }
    defer { ck.releaseResidentPages() }
    let body: any ModelBody
    switch config.architecture {
    case .llama, .mistral:
      body = try TransformerBody(
        config: config, checkpoint: ck, context: context, monarchBlocks: options.monarchBlocks,
        int8Head: options.int8Head, progress: progress)
    case .mamba:
      body = try MambaBody(config: config, checkpoint: ck, context: context, int8Head: options.int8Head, progress: progress)
    case .mamba2:
      body = try Mamba2Body(config: config, checkpoint: ck, context: context, int8Head: options.int8Head, progress: progress)
    case .bitnet:
      body = try BitNetBody(config: config, checkpoint: ck, context: context, int8Head: options.int8Head, progress: progress)
    case .hgrnBit: body = try HGRNBitBody(config: config, checkpoint: ck, context: context, progress: progress)
    case .based:
      body = try BasedBody(
        config: config, checkpoint: ck, context: context, monarchBlocks: options.monarchBlocks,
        int8Head: options.int8Head, progress: progress)
    }
    return Model(config: config, context: context, body: body)
  }

  /// A fresh decoding state for up to `capacity` tokens (prompt + generated). `forward` runs
  /// longer inputs in pieces of at most `maxChunk` tokens (bounding activation memory and the
  /// ring KV caches of sliding-window layers, which hold window + maxChunk positions).
  public func makeSession(capacity: Int, maxChunk: Int = 512, kvStorage: KVStorage = .f32) throws(SubQError) -> Session {
    guard capacity >= 1 else { throw .invalidArgument("Model.makeSession: capacity must be >= 1") }
    guard maxChunk >= 1 else { throw .invalidArgument("Model.makeSession: maxChunk must be >= 1") }
    let chunk = min(maxChunk, capacity)
    let state = try body.makeState(capacity: capacity, maxChunk: chunk, kvStorage: kvStorage)
    return Session(model: self, state: state, capacity: capacity, maxChunk: chunk)
  }
}

/// Element type of attention layers' KV caches (f32 is exact; bf16 / f16 halve the cache's
/// memory and decode traffic, with the rounding of one conversion per stored value). Recurrent
/// states (Mamba) are always f32.
public enum KVStorage: String, Sendable, CaseIterable {
  case f32, bf16, f16
}

/// One sequence's decoding state (KV caches or recurrent states) and position.
/// Not thread-safe: one call at a time.
public final class Session: @unchecked Sendable {
  public let model: Model
  let state: AnyObject
  public let capacity: Int
  public let maxChunk: Int
  /// Tokens consumed so far (the position of the next token).
  public private(set) var position = 0

  init(model: Model, state: AnyObject, capacity: Int, maxChunk: Int) {
    self.model = model
    self.state = state
    self.capacity = capacity
    self.maxChunk = maxChunk
  }

  /// Runs `tokens` (a prefill chunk or one decode token) and returns logits: every position's
  /// row ([tokens.count × vocab], row-major) when `allLogits`, else the last position's row.
  public func forward(_ tokens: [Int], allLogits: Bool = false) throws(SubQError) -> [Float] {
    guard !tokens.isEmpty else { throw .invalidArgument("Session.forward: no tokens") }
    guard tokens.count <= capacity - position else {
      throw .invalidArgument("Session.forward: \(tokens.count) tokens at position \(position) exceed the capacity \(capacity)")
    }
    let v = model.config.vocabSize
    for t in tokens where t < 0 || t >= v {
      throw .invalidArgument("Session.forward: token id \(t) is outside the vocabulary [0, \(v))")
    }
    // The pieces form one forward call: a RoPE schedule that depends on the call's length
    // (dynamic, longrope) is chosen once for all of it, as transformers does.
    let rope = (state as? TransformerBody.State)?.rope
    try rope?.beginCall(seqLen: position + tokens.count, context: model.context)
    defer { rope?.endCall() }
    var out: [Float] = []
    var i = 0
    while i < tokens.count {
      let piece = Array(tokens[i..<min(tokens.count, i + maxChunk)])
      let last = i + piece.count == tokens.count
      let logits = try model.body.forward(
        piece, start: position, state: state, allLogits: allLogits, wantLogits: allLogits || last, context: model.context)
      if allLogits || last { out += logits }
      position += piece.count
      i += piece.count
    }
    return out
  }
}

/// An architecture's weights and forward pass.
protocol ModelBody: Sendable {
  func makeState(capacity: Int, maxChunk: Int, kvStorage: KVStorage) throws(SubQError) -> AnyObject
  /// Runs one piece (at most maxChunk tokens) at positions start...; returns the logits of
  /// every row (allLogits), of the last row, or nothing when !wantLogits.
  func forward(
    _ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, wantLogits: Bool, context: Context?
  ) throws(SubQError) -> [Float]
  /// The int8 head's relative weight error (``Model/int8HeadError``), nil without one.
  var headError: Double? { get }
}

extension ModelBody {
  var headError: Double? { nil }
}

/// Per-layer conv states ((W-1) × channels) and SSM states of the Mamba architectures.
final class RecurrentState {
  let conv: [FloatBuffer]
  let ssm: [FloatBuffer]
  init(layers: Int, convFloats: Int, ssmFloats: Int) {
    conv = (0..<layers).map { _ in FloatBuffer(count: convFloats) }
    ssm = (0..<layers).map { _ in FloatBuffer(count: ssmFloats) }
  }

  /// Causal conv1d + bias + SiLU (or none: `silu` false) of `tokens` rows (`channels` wide,
  /// `xStride` apart) through layer `layer`'s conv state, into y (rows `channels` apart).
  func conv1d(
    layer: Int, tokens: Int, channels: Int, width: Int, x: UnsafePointer<Float>, xStride: Int, weight: FloatBuffer,
    bias: FloatBuffer?, silu: Bool = true, into y: UnsafeMutablePointer<Float>, context: Context?
  ) throws(SubQError) {
    var c = subq_conv1d_args()
    subq_conv1d_args_default(&c, MemoryLayout<subq_conv1d_args>.size)
    c.batch = 1
    c.seqlen = Int64(tokens)
    c.channels = Int64(channels)
    c.width = Int32(width)
    c.flags = silu ? UInt32(SUBQ_CONV1D_SILU) : 0
    c.x = x
    c.x_ld = Int64(xStride)
    c.weight = UnsafePointer(weight.base)
    c.bias = bias.map { UnsafePointer($0.base) }
    c.state_in = UnsafePointer(conv[layer].base)
    c.state_out = conv[layer].base
    c.y = y
    c.y_ld = Int64(channels)
    try SubQError.check(subq_conv1d_f32(context?.raw, &c))
  }
}

/// The output head's weights: as stored (packed f32, plus the bf16 rows in place for decode), or
/// quantized to int8 at load (``Model/LoadOptions/int8Head``).
enum HeadWeights: @unchecked Sendable {
  case dense(Linear)
  case int8(Int8Weights)
}

/// Token embeddings (read in place from the mapped checkpoint, any float dtype) and the output head.
struct EmbeddingAndHead: @unchecked Sendable {
  let checkpoint: Checkpoint  // keeps the mapping that `table` points into alive
  let table: Checkpoint.Tensor
  let hidden: Int
  let vocab: Int
  let head: HeadWeights
  /// With an int8 head: ‖W − W_int8‖ / ‖W‖ over the whole matrix (Frobenius), measured at load.
  let int8HeadError: Double?

  init(
    _ ck: Checkpoint, embeddingName: String, vocab: Int, hidden: Int, tied: Bool, int8Head: Bool = false,
    context: Context?
  ) throws(SubQError) {
    checkpoint = ck
    table = try ck.tensor(embeddingName, [vocab, hidden])
    self.vocab = vocab
    self.hidden = hidden
    // Tied checkpoints may omit lm_head.weight (save_pretrained drops the tied copy).
    if !tied && !ck.has("lm_head.weight") {
      throw .invalidArgument("\(ck.directory): tensor 'lm_head.weight' is missing and tie_word_embeddings is false")
    }
    let headName = tied ? String(embeddingName.dropLast(".weight".count)) : "lm_head"
    if int8Head {
      let t = try ck.tensor(headName + ".weight", [vocab, hidden])
      let dtype: subq_dtype = t.dtype == .f32 ? .f32 : (t.dtype == .bf16 ? .bf16 : .f16)
      let q = try Int8Weights(rows: vocab, columns: hidden, dtype: dtype, data: t.data, rowStride: hidden, context: context)
      head = .int8(q)
      int8HeadError = try Self.relativeError(q, t, ck)
    } else {
      head = .dense(try Linear(ck, headName, out: vocab, in: hidden, bias: false, context: context))
      int8HeadError = nil
    }
  }

  /// ‖W − W_int8‖ / ‖W‖ in float64, up to 4 Mi weights at a time.
  private static func relativeError(_ q: Int8Weights, _ t: Checkpoint.Tensor, _ ck: Checkpoint) throws(SubQError) -> Double {
    let rows = q.rows, cols = q.columns, step = max(1, (1 << 22) / cols)
    let wide = FloatBuffer(count: min(rows, step) * cols)
    var num = 0.0, den = 0.0, r0 = 0
    while r0 < rows {
      let n = min(step, rows - r0)
      let deq = try q.dequantized(rows: r0..<(r0 + n))
      try ck.widen(t, elements: (r0 * cols)..<((r0 + n) * cols), into: wide.base)
      for i in 0..<(n * cols) {
        let w = Double(wide.base[i]), d = Double(deq[i]) - w
        num += d * d
        den += w * w
      }
      r0 += n
    }
    return den > 0 ? (num / den).squareRoot() : 0
  }

  func gather(_ tokens: [Int], into x: UnsafeMutablePointer<Float>, context: Context?) throws(SubQError) {
    try Self.gather(table: table, vocab: vocab, hidden: hidden, tokens, into: x, context: context)
  }

  /// Rows `tokens` of an embedding `table` [vocab, hidden] (any float dtype), widened to f32 into x.
  static func gather(
    table: Checkpoint.Tensor, vocab: Int, hidden: Int, _ tokens: [Int], into x: UnsafeMutablePointer<Float>, context: Context?
  ) throws(SubQError) {
    let ids = tokens.map(Int64.init)
    let dtype: subq_dtype = table.dtype == .f32 ? .f32 : (table.dtype == .bf16 ? .bf16 : .f16)
    let status = ids.withUnsafeBufferPointer { p in
      subq_embedding(context?.raw, dtype, table.data, Int64(vocab), Int64(hidden), 0, p.baseAddress, Int64(ids.count), x, Int64(hidden))
    }
    try SubQError.check(status)
  }

  /// The model's last step: the final RMSNorm of the residual rows x (all, or only the last when
  /// !allLogits) into scratch `xn`, then their logits.
  func finish(
    _ x: UnsafePointer<Float>, rows: Int, norm: FloatBuffer, eps: Float, scratch xn: UnsafeMutablePointer<Float>,
    allLogits: Bool, context: Context?
  ) throws(SubQError) -> [Float] {
    let first = allLogits ? 0 : rows - 1
    try Ops.rmsnorm(
      x + first * hidden, xStride: hidden, rows: rows - first, n: hidden, weight: norm.base, eps: eps, into: xn,
      yStride: hidden, context: context)
    return try logits(xn, rows: rows - first, allLogits: true, context: context)
  }

  /// Logits of the normed hidden rows (all rows, or only the last).
  func logits(_ xn: UnsafePointer<Float>, rows: Int, allLogits: Bool, context: Context?) throws(SubQError) -> [Float] {
    let first = allLogits ? 0 : rows - 1
    let n = rows - first
    var out = [Float](repeating: 0, count: n * vocab)
    try out.withUnsafeMutableBufferPointer { (o) throws(SubQError) in
      switch head {
      case .dense(let lin):
        try lin.apply(xn + first * hidden, xStride: hidden, rows: n, into: o.baseAddress!, outStride: vocab, context: context)
      case .int8(let q):
        try q.apply(xn + first * hidden, xStride: hidden, m: n, into: o.baseAddress!, yStride: vocab, context: context)
      }
    }
    return out
  }
}
