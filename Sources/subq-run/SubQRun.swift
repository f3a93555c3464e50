import ArgumentParser
import Foundation
import SubQ

/// subq-run: load a Hugging Face checkpoint directory and generate text with SubQ kernels.
@main
struct SubQRun: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "subq-run",
    abstract: "Run a Hugging Face causal LM (llama, mistral, mamba, mamba2, bitnet, hgrn_bit, based) with SubQ's CPU kernels.",
    discussion: """
      The model directory holds config.json, model.safetensors (or shards with \
      model.safetensors.index.json) and, for text prompts, tokenizer.json.
      Examples:
        subq-run MODEL_DIR --prompt "The capital of France is" --max-tokens 32
        subq-run MODEL_DIR --tokens 1,450,7483 --max-tokens 0 --logits logits.npy
      The last line on stderr reports prefill and decode speed.
      """)

  @Argument(help: "Model directory (config.json, safetensors weights, tokenizer.json).")
  var model: String

  @Option(help: "Prompt text (tokenized with the model's tokenizer.json).")
  var prompt: String?

  @Option(help: "Comma-separated prompt token ids instead of text, e.g. 1,2,3.")
  var tokens: String?

  @Option(name: .customLong("max-tokens"), help: "Tokens to generate (0 = prefill only).")
  var maxTokens = 64

  @Option(help: "Sampling temperature; 0 = greedy.")
  var temperature: Float = 0

  @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0 = off).")
  var topK = 0

  @Option(name: .customLong("top-p"), help: "Nucleus sampling mass (1 = off).")
  var topP: Float = 1

  @Option(help: "Random seed for sampling.")
  var seed: UInt64 = 0

  @Option(help: "Threads (participants incl. the caller); 0 = physical cores.")
  var threads = 0

  @Option(help: "NUMA mode: off, isolate, distribute, inherit, mirror. isolate/distribute/mirror on a multi-node machine place the packed dense, Monarch and ternary projections (mirror: a copy per node) on the nodes whose workers read them.")
  var numa = "off"

  @Option(help: "Highest ISA path: scalar, avx2, avx512, neon, ... (default: the best the host has).")
  var isa: String?

  @Option(help: "Write the float32 logits of every prompt position ([tokens, vocab]) to this .npy file.")
  var logits: String?

  @Option(name: .customLong("prefill-chunk"), help: "Prefill chunk length in tokens (0 = the whole prompt).")
  var prefillChunk = 512

  @Flag(name: .customLong("no-special"), help: "Do not add the tokenizer's special tokens (BOS) to a text prompt.")
  var noSpecial = false

  @Option(name: .customLong("kv-cache"), help: "KV-cache element type of attention layers: f32, bf16, f16.")
  var kvCache = "f32"

  @Option(
    help: ArgumentHelp(
      "Project every MLP weight matrix (llama, mistral, based) onto a Monarch matrix with this many blocks at load time,",
      discussion: "report the relative approximation error per matrix and run the MLPs with the Monarch kernels.",
      valueName: "BLOCKS"))
  var monarch: Int?

  @Flag(
    name: .customLong("int8-head"),
    help: ArgumentHelp(
      "Quantize the output head to int8 (per row and 32-column block) at load time and compute the logits with it,",
      discussion: "reading 1.0625 bytes a weight instead of 2 (bf16) in every decode step. Changes the logits: the relative "
        + "weight error is reported. Not for hgrn_bit (its head is ternary)."))
  var int8Head = false

  @Flag(help: "No progress bar while loading.")
  var quiet = false

  @Flag(name: .customLong("print-ids"), help: "Print the generated token ids (space-separated) instead of text.")
  var printIDs = false

  mutating func validate() throws {
    guard (prompt == nil) != (tokens == nil) else { throw ValidationError("give exactly one of --prompt and --tokens") }
    guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
    guard threads >= 0 else { throw ValidationError("--threads must be >= 0") }
    guard prefillChunk >= 0 else { throw ValidationError("--prefill-chunk must be >= 0") }
    if let monarch, monarch < 1 { throw ValidationError("--monarch must be >= 1") }
  }

  func run() throws {
    do {
      try runChecked()
    } catch let e as SubQError {
      FileHandle.standardError.write(Data("subq-run: \(e)\n".utf8))
      throw ExitCode(1)
    }
  }

  func runChecked() throws {
    let dir = URL(fileURLWithPath: model)
    var params = Context.Parameters()
    params.threads = threads
    params.numa = try numaMode(numa)
    if let isa { params.maxISA = try ISA(name: isa) }
    let ctx = try Context(params)

    let progress = ProgressBar(enabled: !quiet)
    let loadStart = Date()
    let m = try Model.load(directory: dir, context: ctx, options: .init(monarchBlocks: monarch, int8Head: int8Head)) {
      done, total in progress.update(done, total)
    }
    progress.finish()
    reportMonarch(m.monarchProjections)
    if let e = m.int8HeadError {
      err("int8 head: \(m.config.vocabSize) x \(m.config.hiddenSize), relative weight error \(String(format: "%.5f", e))")
    }

    var tokenizer: Tokenizer? = nil
    let tokPath = dir.appendingPathComponent("tokenizer.json").path
    if FileManager.default.fileExists(atPath: tokPath) { tokenizer = try Tokenizer(contentsOfFile: tokPath) }
    let promptIDs: [Int]
    if let tokens {
      promptIDs = try parseTokens(tokens)
    } else {
      guard let tokenizer else {
        throw SubQError(code: .invalidArgument, message: "\(tokPath) is missing: pass --tokens instead of --prompt")
      }
      promptIDs = tokenizer.encode(prompt!, addSpecialTokens: !noSpecial).map(Int.init)
      guard !promptIDs.isEmpty else { throw SubQError(code: .invalidArgument, message: "the prompt encodes to no tokens") }
    }
    err("loaded \(m.config.architecture.rawValue) (\(m.config.numLayers) layers, hidden \(m.config.hiddenSize), vocab \(m.config.vocabSize)) in \(String(format: "%.2f", Date().timeIntervalSince(loadStart))) s; \(ctx)")

    var opts = Generator.Options()
    opts.maxNewTokens = maxTokens
    opts.temperature = temperature
    opts.topK = topK
    opts.topP = topP
    opts.seed = seed
    opts.prefillChunk = prefillChunk
    guard let kv = KVStorage(rawValue: kvCache) else {
      throw SubQError(code: .invalidArgument, message: "--kv-cache '\(kvCache)': expected f32, bf16 or f16")
    }
    opts.kvStorage = kv
    if let tokenizer { opts.validVocab = min(tokenizer.vocabularySize, m.config.vocabSize) }
    let gen = Generator(model: m, options: opts)

    var decoder = printIDs ? nil : tokenizer?.makeStreamingDecoder()
    if !printIDs, let tokenizer, prompt != nil { out(tokenizer.decode(promptIDs.map(Int32.init))) }
    let result = try gen.generate(prompt: promptIDs, promptLogits: logits != nil) { id in
      if decoder != nil {
        if let text = decoder!.next(Int32(id)) { out(text) }
      } else {
        out("\(id) ")
      }
      return true
    }
    if let text = decoder?.finish() { out(text) }
    out("\n")
    if let logits, let rows = result.promptLogits {
      try NPY.write(float32: rows, shape: [promptIDs.count, m.config.vocabSize], to: URL(fileURLWithPath: logits))
      err("wrote \(logits): [\(promptIDs.count), \(m.config.vocabSize)] float32")
    }
    err(
      String(
        format: "prefill: %d tokens in %.3f s (%.1f tok/s); decode: %d tokens in %.3f s (%.1f tok/s); stop: %@",
        result.prefillTokens, result.prefillSeconds, result.prefillTokensPerSecond, result.decodeTokens,
        result.decodeSeconds, result.decodeTokensPerSecond, "\(result.stopReason)"))
  }

  func parseTokens(_ s: String) throws -> [Int] {
    var ids: [Int] = []
    for part in s.split(separator: ",", omittingEmptySubsequences: false) {
      let t = part.trimmingCharacters(in: .whitespaces)
      guard let v = Int(t), v >= 0 else { throw SubQError(code: .invalidArgument, message: "--tokens: '\(t)' is not a token id") }
      ids.append(v)
    }
    guard !ids.isEmpty else { throw SubQError(code: .invalidArgument, message: "--tokens is empty") }
    return ids
  }

  func numaMode(_ s: String) throws -> Context.NUMAMode {
    switch s {
    case "off": return .off
    case "isolate": return .isolate
    case "distribute": return .distribute
    case "inherit": return .inherit
    case "mirror": return .mirror
    default: throw SubQError(code: .invalidArgument, message: "--numa '\(s)': expected off, isolate, distribute, inherit or mirror")
    }
  }
}

func out(_ s: String) {
  FileHandle.standardOutput.write(Data(s.utf8))
}

func err(_ s: String) {
  FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Per layer: each projected matrix's relative error, then the MLP parameter count kept.
func reportMonarch(_ reports: [MonarchProjectionReport]) {
  guard !reports.isEmpty else { return }
  for layer in Dictionary(grouping: reports, by: \.layer).sorted(by: { $0.key < $1.key }) {
    let errs = layer.value.map { "\($0.name) \($0.rows)x\($0.columns) \(String(format: "%.4f", $0.relativeError))" }
    err("monarch layer \(layer.key): relative error " + errs.joined(separator: ", "))
  }
  let dense = reports.reduce(0) { $0 + $1.denseParameters }, mon = reports.reduce(0) { $0 + $1.monarchParameters }
  let shape = reports[0].shape
  err("monarch: \(reports.count) MLP matrices (\(shape.k) blocks), \(mon) parameters instead of \(dense) (\(String(format: "%.1f", 100 * Double(mon) / Double(dense)))%)")
}

/// A one-line progress bar on stderr (only when stderr is a terminal).
final class ProgressBar {
  let enabled: Bool
  private var last = -1

  init(enabled: Bool) { self.enabled = enabled && isatty(2) != 0 }

  func update(_ done: Int, _ total: Int) {
    guard enabled, total > 0 else { return }
    let pct = done * 100 / total
    if pct == last { return }
    last = pct
    let width = 30
    let fill = done * width / total
    FileHandle.standardError.write(Data("\rloading [\(String(repeating: "#", count: fill))\(String(repeating: ".", count: width - fill))] \(pct)%".utf8))
  }

  func finish() {
    if enabled && last >= 0 { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
  }
}
