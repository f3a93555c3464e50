import Foundation

/// Prompt → tokens: a batched prefill (in chunks of `prefillChunk` tokens) then one decode step
/// per generated token through the session's KV caches or recurrent states.
///
/// Thread-safety: one `generate` call at a time per generator.
public final class Generator {
  public struct Options: Sendable {
    public var maxNewTokens = 64
    public var temperature: Float = 0
    public var topK = 0
    public var topP: Float = 1
    public var seed: UInt64 = 0
    /// Generation stops after emitting one of these (the config's eos_token_id by default).
    public var stopTokens: Set<Int> = []
    /// Prefill chunk length in tokens (bounds activation memory); 0 = the whole prompt at once.
    public var prefillChunk = 512
    /// Logits at or beyond this index are never sampled (padded vocabularies); nil = all.
    public var validVocab: Int? = nil
    /// KV-cache element type of attention layers.
    public var kvStorage: KVStorage = .f32
    public init() {}
  }

  /// What a `generate` call did, with its timings (monotonic clock).
  public struct Result: Sendable {
    public enum StopReason: Sendable, Equatable { case stopToken(Int), maxTokens, callback }
    public var tokens: [Int]
    public var stopReason: StopReason
    public var prefillTokens: Int
    public var prefillSeconds: Double
    public var decodeTokens: Int
    public var decodeSeconds: Double
    /// Logits of every prompt position ([prompt × vocab]) when requested.
    public var promptLogits: [Float]?

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(prefillTokens) / prefillSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(decodeTokens) / decodeSeconds : 0 }
  }

  public let model: Model
  public var options: Options

  public init(model: Model, options: Options = Options()) {
    self.model = model
    self.options = options
    if self.options.stopTokens.isEmpty { self.options.stopTokens = Set(model.config.eosTokenIds) }
  }

  /// Generates after `prompt`. `onToken` sees each new token as it is produced and returns false
  /// to stop early. With `promptLogits`, the result carries every prompt position's logits.
  public func generate(
    prompt: [Int], promptLogits: Bool = false, onToken: (Int) -> Bool = { _ in true }
  ) throws(SubQError) -> Result {
    guard !prompt.isEmpty else { throw .invalidArgument("Generator.generate: the prompt is empty") }
    guard options.maxNewTokens >= 0 else { throw .invalidArgument("Generator.generate: maxNewTokens must be >= 0") }
    guard options.prefillChunk >= 0 else { throw .invalidArgument("Generator.generate: prefillChunk must be >= 0") }
    var sampler = try Sampler(temperature: options.temperature, topK: options.topK, topP: options.topP, seed: options.seed)
    let session = try model.makeSession(
      capacity: prompt.count + max(options.maxNewTokens, 1), maxChunk: max(1, options.prefillChunk == 0 ? prompt.count : options.prefillChunk),
      kvStorage: options.kvStorage)
    let vocab = model.config.vocabSize
    let clock = ContinuousClock()

    let t0 = clock.now
    // one call (the session runs it in maxChunk pieces): the prompt is one forward call, as in
    // transformers, for RoPE schedules that depend on a call's length (dynamic, longrope)
    let out = try session.forward(prompt, allLogits: promptLogits)
    let all = promptLogits ? out : []
    var last = promptLogits ? Array(out.suffix(vocab)) : out
    let prefill = clock.now - t0

    var tokens: [Int] = []
    var reason = Result.StopReason.maxTokens
    let t1 = clock.now
    var decodeSteps = 0
    while tokens.count < options.maxNewTokens {
      let next = last.withUnsafeBufferPointer { sampler.sample($0, validVocab: options.validVocab) }
      tokens.append(next)
      if !onToken(next) { reason = .callback; break }
      if options.stopTokens.contains(next) { reason = .stopToken(next); break }
      if tokens.count == options.maxNewTokens { break }
      last = try session.forward([next])
      decodeSteps += 1
    }
    let decode = clock.now - t1
    func seconds(_ d: Duration) -> Double {
      Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
    return Result(
      tokens: tokens, stopReason: reason, prefillTokens: prompt.count, prefillSeconds: seconds(prefill),
      decodeTokens: decodeSteps, decodeSeconds: seconds(decode), promptLogits: promptLogits ? all : nil)
  }
}
