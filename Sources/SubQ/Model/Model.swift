internal import CSubQ
import Foundation

/// A Hugging Face causal language model loaded for inference with SubQ kernels.
///
/// `Model.load(directory:)` reads config.json and the safetensors weights (memory-mapped), checks
/// every tensor's name and shape against the config, and packs the matrices once for the GEMM
/// micro-kernels of the context's ISA path. A model is immutable after loading: any number of
/// ``Session``s (each with its own KV cache or recurrent state) may use it, one call at a time per
/// session. Architectures: llama, mistral, mamba (mamba2 to follow).
public final class Model: @unchecked Sendable {
  public let config: ModelConfig
  let context: Context?
  let body: any ModelBody

  init(config: ModelConfig, context: Context?, body: any ModelBody) {
    self.config = config
    self.context = context
    self.body = body
  }

  /// Loads `directory` (config.json + model.safetensors or shards). `progress(done, total)` is
  /// called after each packed tensor group.
  public static func load(
    directory: URL, context: Context? = nil, progress: ((Int, Int) -> Void)? = nil
  ) throws(SubQError) -> Model {
    let config = try ModelConfig.load(directory: directory)
    let ck = try Checkpoint(directory: directory)
    let body: any ModelBody
    switch config.architecture {
    case .llama, .mistral: body = try TransformerBody(config: config, checkpoint: ck, context: context, progress: progress)
    case .mamba: body = try MambaBody(config: config, checkpoint: ck, context: context, progress: progress)
    case .mamba2:
      throw SubQError(code: .unsupported, message: "Model.load: mamba2 needs the SSD kernels, which are not in this build yet")
    }
    return Model(config: config, context: context, body: body)
  }

  /// A fresh decoding state for up to `capacity` tokens (prompt + generated).
  public func makeSession(capacity: Int) throws(SubQError) -> Session {
    guard capacity >= 1 else { throw .invalidArgument("Model.makeSession: capacity must be >= 1") }
    return Session(model: self, state: try body.makeState(capacity: capacity), capacity: capacity)
  }
}

/// One sequence's decoding state (KV caches or recurrent states) and position.
/// Not thread-safe: one call at a time.
public final class Session: @unchecked Sendable {
  public let model: Model
  let state: AnyObject
  public let capacity: Int
  /// Tokens consumed so far (the position of the next token).
  public private(set) var position = 0

  init(model: Model, state: AnyObject, capacity: Int) {
    self.model = model
    self.state = state
    self.capacity = capacity
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
    let out = try model.body.forward(tokens, start: position, state: state, allLogits: allLogits, context: model.context)
    position += tokens.count
    return out
  }
}

/// An architecture's weights and forward pass.
protocol ModelBody: Sendable {
  func makeState(capacity: Int) throws(SubQError) -> AnyObject
  func forward(_ tokens: [Int], start: Int, state: AnyObject, allLogits: Bool, context: Context?) throws(SubQError) -> [Float]
}

/// Token embeddings (f32) and the output head, shared by every architecture.
struct EmbeddingAndHead: @unchecked Sendable {
  let embeddings: FloatBuffer
  let hidden: Int
  let vocab: Int
  let head: Linear

  init(_ ck: Checkpoint, embeddingName: String, vocab: Int, hidden: Int, tied: Bool, context: Context?) throws(SubQError) {
    embeddings = try ck.floats(embeddingName, [vocab, hidden])
    self.vocab = vocab
    self.hidden = hidden
    // Tied checkpoints may omit lm_head.weight (save_pretrained drops the tied copy).
    let headName = tied || !ck.has("lm_head.weight") ? String(embeddingName.dropLast(".weight".count)) : "lm_head"
    if !tied && !ck.has("lm_head.weight") {
      throw .invalidArgument("\(ck.directory): tensor 'lm_head.weight' is missing and tie_word_embeddings is false")
    }
    head = try Linear(ck, headName, out: vocab, in: hidden, bias: false, context: context)
  }

  func gather(_ tokens: [Int], into x: UnsafeMutablePointer<Float>) {
    for (r, t) in tokens.enumerated() { (x + r * hidden).update(from: embeddings.base + t * hidden, count: hidden) }
  }

  /// Logits of the normed hidden rows (all rows, or only the last).
  func logits(_ xn: UnsafePointer<Float>, rows: Int, allLogits: Bool, context: Context?) throws(SubQError) -> [Float] {
    let first = allLogits ? 0 : rows - 1
    let n = rows - first
    var out = [Float](repeating: 0, count: n * vocab)
    try out.withUnsafeMutableBufferPointer { (o) throws(SubQError) in
      try head.apply(xn + first * hidden, xStride: hidden, rows: n, into: o.baseAddress!, outStride: vocab, context: context)
    }
    return out
  }
}
