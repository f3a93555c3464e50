internal import CSubQ
import Foundation

/// The architecture and hyper-parameters of a Hugging Face checkpoint, read from its config.json
/// as transformers 4.x and 5.x write it.
///
/// Only what the forward pass needs is kept; init-only keys are ignored. Values the weights also
/// determine (vocabulary size, widths) are cross-checked against tensor shapes at load time.
///
/// Thread-safety: a plain value, `Sendable`.
public struct ModelConfig: Sendable, Equatable {
  /// `model_type` values the runner knows.
  public enum Architecture: String, Sendable, CaseIterable {
    case llama, mistral, mamba, mamba2, bitnet, based
    /// MatMul-free LM (MMfreeLM, `HGRNBitForCausalLM`).
    case hgrnBit = "hgrn_bit"
  }

  public var architecture: Architecture
  public var vocabSize: Int
  public var hiddenSize: Int
  public var numLayers: Int
  /// RMSNorm epsilon (`rms_norm_eps` or, for Mamba, `layer_norm_epsilon`).
  public var normEps: Double
  public var tieWordEmbeddings: Bool
  public var bosTokenIds: [Int]
  public var eosTokenIds: [Int]

  public var transformer: Transformer?
  public var mamba: Mamba?
  public var mamba2: Mamba2?
  /// BitNet b1.58's quantization (with `transformer` for the shapes; hidden_act relu2).
  public var bitnet: BitNet?
  /// MatMul-free LM (`hgrn_bit`).
  public var hgrnBit: HGRNBit?
  /// BASED (HazyResearch/based `GPTLMHeadModel`): per-layer mixers and their shapes.
  public var based: Based?

  /// BitNet's `quantization_config` (transformers `BitNetQuantConfig`): how the projections'
  /// ternary weights are stored.
  public struct BitNet: Sendable, Equatable {
    public enum Form: Sendable, Equatable {
      /// linear_class "bitlinear": uint8 [N/4, K] codes + `weight_scale`, turned into γ by `rule`.
      case packed
      /// linear_class "autobitlinear", quantization_mode "offline": float weights holding the
      /// ternary values (0, ±c), output × `weight_scale`: γ = c · weight_scale.
      case ternarized
      /// "autobitlinear" "online": float masters, absmean-ternarized (γ = mean |W|) at load as
      /// HF's WeightQuant does in every forward.
      case online
    }
    public var form: Form
    /// γ from a packed weight_scale: `.divide` for "bitlinear" (γ = 1 / weight_scale).
    public var rule: TernaryHFScaleRule
  }

  /// MatMul-free LM (matmulfreellm's HGRNBitConfig, ternary spec §7.1): HGRN token mixer of width
  /// D = hidden_size · expand_ratio and a GLU channel mixer of width I, every projection (lm_head
  /// included) a BitLinear over float masters ternarized at load.
  public struct HGRNBit: Sendable, Equatable {
    /// D, the token mixer's width (hidden_size · expand_ratio).
    public var mixerWidth: Int
    /// I (`intermediate_size`, or 256 · ceil(int(hidden_size · hidden_ratio · 2 / 3) / 256) when null).
    public var intermediateSize: Int
    /// `num_heads`: a reshape of D upstream, no effect on the math (kept for reporting).
    public var numHeads: Int
    /// Forget-gate lower bounds (`model.lower_bounds`) for layers > 0.
    public var useLowerBound: Bool
  }

  /// Llama / Mistral.
  public struct Transformer: Sendable, Equatable {
    public var intermediateSize: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var rope: RoPE
    /// Mistral's sliding window W (keys incl. self); nil = full causal attention.
    public var slidingWindow: Int?
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var maxPositionEmbeddings: Int
  }

  /// Rotary embedding parameters (rope_theta + rope_scaling, or v5 rope_parameters).
  public struct RoPE: Sendable, Equatable {
    public enum Scaling: Sendable, Equatable {
      case none
      case linear(factor: Double)
      case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
      /// YaRN (`rope_type: "yarn"`); `attentionFactor` multiplies cos and sin (given, or HF's
      /// value inferred from factor / mscale / mscale_all_dim).
      case yarn(factor: Double, originalMaxPositions: Int, betaFast: Double, betaSlow: Double, truncate: Bool,
                attentionFactor: Double)
      /// Dynamic NTK (`rope_type: "dynamic"`): the default schedule until a forward call reaches
      /// past `maxPositions` (HF uses max_position_embeddings here), then a base grown for the
      /// call's length (RotaryTable follows transformers' per-call update).
      case dynamic(factor: Double, maxPositions: Int)
      /// LongRoPE: inv_freq[i] = default / shortFactor[i] while a call's length stays within
      /// `originalMaxPositions`, default / longFactor[i] beyond; `attentionFactor` multiplies cos
      /// and sin (given, or sqrt(1 + ln(factor) / ln(originalMaxPositions)) for factor > 1).
      case longrope(shortFactor: [Double], longFactor: [Double], originalMaxPositions: Int, attentionFactor: Double)
    }
    public var theta: Double
    public var scaling: Scaling
    /// Rotated dims = Int(headDim * partialRotaryFactor).
    public var partialRotaryFactor: Double
  }

  /// Mamba-1 (`MambaForCausalLM`).
  public struct Mamba: Sendable, Equatable {
    public var stateSize: Int
    public var intermediateSize: Int
    public var convKernel: Int
    public var timeStepRank: Int
    public var useBias: Bool
    public var useConvBias: Bool
  }

  /// Mamba-2 (`Mamba2ForCausalLM`).
  public struct Mamba2: Sendable, Equatable {
    public var numHeads: Int
    public var headDim: Int
    public var stateSize: Int
    public var nGroups: Int
    public var convKernel: Int
    public var chunkSize: Int
    public var timeStepLimit: (Double, Double)
    public var useBias: Bool
    public var useConvBias: Bool

    public static func == (a: Mamba2, b: Mamba2) -> Bool {
      a.numHeads == b.numHeads && a.headDim == b.headDim && a.stateSize == b.stateSize && a.nGroups == b.nGroups
        && a.convKernel == b.convKernel && a.chunkSize == b.chunkSize && a.timeStepLimit == b.timeStepLimit
        && a.useBias == b.useBias && a.useConvBias == b.useConvBias
    }
  }

  /// Reads `directory/config.json`.
  public static func load(directory: URL) throws(SubQError) -> ModelConfig {
    let url = directory.appendingPathComponent("config.json")
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
      throw .invalidArgument("\(url.path): cannot read (\(error.localizedDescription))")
    }
    return try parse(data, source: url.lastPathComponent)
  }

  /// Parses config.json bytes; `source` names the file in errors.
  public static func parse(_ data: Data, source: String = "config.json") throws(SubQError) -> ModelConfig {
    guard data.count <= 16 << 20 else { throw .invalidArgument("\(source): \(data.count) bytes is too large for a config") }
    let r = try JSONObjectReader(ConfigJSON.parse(data, source: source), source: source)
    guard let type = try r.string("model_type") else { throw .invalidArgument("\(source): missing key 'model_type'") }
    // BASED's hub config.json is a GPT2Config dump ("gpt2") carrying the mixer keys
    if type == "gpt2", r.has("mixer") || r.has("alt_mixer") || r.has("alt_mixer_2") { return try parseBased(r) }
    guard let arch = Architecture(rawValue: type) else {
      let known = Architecture.allCases.map(\.rawValue).joined(separator: ", ")
      throw .invalidArgument("\(source): model_type '\(type)' is not supported (supported: \(known))")
    }
    switch arch {
    case .llama, .mistral, .bitnet: return try parseTransformer(r, arch)
    case .mamba: return try parseMamba(r)
    case .mamba2: return try parseMamba2(r)
    case .hgrnBit: return try parseHGRNBit(r)
    case .based: return try parseBased(r)
    }
  }

  static func parseTransformer(_ r: JSONObjectReader, _ arch: Architecture) throws(SubQError) -> ModelConfig {
    let hidden = try r.positive("hidden_size")
    let heads = try r.positive("num_attention_heads", limit: 4096)
    let kvHeads = try r.positive("num_key_value_heads", default: heads, limit: 4096)
    guard heads % kvHeads == 0 else {
      throw .invalidArgument("\(r.source): num_attention_heads (\(heads)) is not a multiple of num_key_value_heads (\(kvHeads))")
    }
    let headDim: Int
    if r.has("head_dim") { headDim = try r.positive("head_dim", limit: 256) } else {
      guard hidden % heads == 0 else {
        throw .invalidArgument("\(r.source): hidden_size (\(hidden)) is not a multiple of num_attention_heads (\(heads)) and head_dim is absent")
      }
      headDim = hidden / heads
    }
    let wantAct = arch == .bitnet ? "relu2" : "silu"
    if let act = try r.string("hidden_act"), act != wantAct {
      throw .invalidArgument("\(r.source): hidden_act '\(act)' is not supported (\(wantAct) only for \(arch.rawValue))")
    }
    var bitnet: BitNet? = nil
    if arch == .bitnet {
      bitnet = try parseBitNetQuantization(r)
      // attn_sub_norm has hidden_size weights and normalizes the heads' concatenated output
      guard heads * headDim == hidden else {
        throw .invalidArgument("\(r.source): bitnet needs num_attention_heads * head_dim (\(heads * headDim)) == hidden_size (\(hidden))")
      }
    }
    let maxPositions = try r.int("max_position_embeddings", default: 4096)
    var window: Int? = nil
    if arch == .mistral, r.has("sliding_window") {
      window = try r.positive("sliding_window", limit: 1 << 30)
    }
    let t = Transformer(
      intermediateSize: try r.positive("intermediate_size"), numHeads: heads, numKVHeads: kvHeads, headDim: headDim,
      rope: try parseRoPE(r, headDim: headDim, maxPositions: maxPositions), slidingWindow: window,
      attentionBias: try r.bool("attention_bias", default: false), mlpBias: try r.bool("mlp_bias", default: false),
      maxPositionEmbeddings: maxPositions)
    var c = ModelConfig(
      architecture: arch, vocabSize: try r.positive("vocab_size", limit: 1 << 24), hiddenSize: hidden,
      numLayers: try r.positive("num_hidden_layers", limit: 4096), normEps: try r.epsilon("rms_norm_eps", default: 1e-6),
      tieWordEmbeddings: try r.bool("tie_word_embeddings", default: false),
      bosTokenIds: try r.intList("bos_token_id"), eosTokenIds: try r.intList("eos_token_id"))
    c.transformer = t
    c.bitnet = bitnet
    return c
  }

  /// transformers 5.23 BitNetQuantConfig. Without a quantization_config BitNetForCausalLM runs
  /// plain float nn.Linear layers (no ternary math): rejected, as is use_rms_norm (inner norms),
  /// which the runner does not implement.
  static func parseBitNetQuantization(_ r: JSONObjectReader) throws(SubQError) -> BitNet {
    guard let qv = r.object["quantization_config"], !qv.isNull else {
      throw .invalidArgument("\(r.source): bitnet without quantization_config (unquantized float weights) is not supported")
    }
    guard let o = qv.dictionary else { throw .invalidArgument("\(r.source): 'quantization_config' is not an object") }
    let q = try JSONObjectReader(.object(o.map { ($0.key, $0.value) }), source: "\(r.source): quantization_config")
    let method = try q.string("quant_method")
    guard method == "bitnet" else {
      throw .invalidArgument("\(r.source): quantization_config.quant_method '\(method ?? "none")' is not supported (bitnet)")
    }
    guard try !q.bool("use_rms_norm", default: false) else {
      throw .invalidArgument("\(r.source): quantization_config.use_rms_norm true is not supported")
    }
    let linearClass = try q.string("linear_class") ?? "bitlinear"
    let mode = try q.string("quantization_mode") ?? "offline"
    switch (linearClass, mode) {
    case ("bitlinear", _): return BitNet(form: .packed, rule: .divide)  // BitLinear ignores the mode
    case ("autobitlinear", "offline"): return BitNet(form: .ternarized, rule: .multiply)
    case ("autobitlinear", "online"): return BitNet(form: .online, rule: .multiply)
    case ("autobitlinear", _):
      throw .invalidArgument("\(r.source): quantization_config.quantization_mode '\(mode)' is not supported (offline, online)")
    default:
      throw .invalidArgument("\(r.source): quantization_config.linear_class '\(linearClass)' is not supported (bitlinear, autobitlinear)")
    }
  }

  static func parseRoPE(_ r: JSONObjectReader, headDim: Int, maxPositions: Int = 4096) throws(SubQError) -> RoPE {
    // v5: rope_parameters holds rope_type, rope_theta and the scaling keys; v4: rope_theta +
    // rope_scaling (None for the default). `type` is an old alias of `rope_type`.
    var params: [String: JSONValue] = [:]
    if let p = r.object["rope_parameters"], !p.isNull {
      guard let o = p.dictionary else { throw .invalidArgument("\(r.source): 'rope_parameters' is not an object") }
      params = o
    } else if let p = r.object["rope_scaling"], !p.isNull {
      guard let o = p.dictionary else { throw .invalidArgument("\(r.source): 'rope_scaling' is not an object") }
      params = o
    }
    let pr = try JSONObjectReader(.object(params.map { ($0.key, $0.value) }), source: "\(r.source): rope parameters")
    let topTheta = try r.double("rope_theta", default: 10000)
    let theta = try pr.double("rope_theta", default: topTheta)
    guard theta.isFinite, theta > 1 else { throw .invalidArgument("\(r.source): rope_theta \(theta) must be > 1") }
    let topPartial = try r.double("partial_rotary_factor", default: 1)
    let partial = try pr.double("partial_rotary_factor", default: topPartial)
    guard partial > 0, partial <= 1, Int(Double(headDim) * partial) % 2 == 0 else {
      throw .invalidArgument("\(r.source): partial_rotary_factor \(partial) must be in (0, 1] and rotate an even number of dims")
    }
    let ropeType = try pr.string("rope_type")
    let legacyType = try pr.string("type")
    let type = ropeType ?? legacyType ?? "default"
    let scaling: RoPE.Scaling
    switch type {
    case "default": scaling = .none
    case "linear":
      let f = try pr.double("factor", default: .nan)
      guard f.isFinite, f > 0 else { throw .invalidArgument("\(r.source): linear rope scaling needs factor > 0") }
      scaling = .linear(factor: f)
    case "llama3":
      let f = try pr.double("factor", default: .nan)
      let lo = try pr.double("low_freq_factor", default: 1)
      let hi = try pr.double("high_freq_factor", default: 4)
      let l0 = try pr.int("original_max_position_embeddings", default: 8192)
      guard f.isFinite, f > 0, lo > 0, hi > lo, l0 > 0 else {
        throw .invalidArgument("\(r.source): llama3 rope scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor, original_max_position_embeddings > 0")
      }
      scaling = .llama3(factor: f, lowFreqFactor: lo, highFreqFactor: hi, originalMaxPositions: l0)
    case "yarn":
      // As transformers 5.23 (standardize_rope_params, _compute_yarn_parameters): a top-level
      // original_max_position_embeddings wins (Phi-3 style), then the parameters', then
      // max_position_embeddings; factor absent or null = max_position_embeddings / original;
      // beta_fast / beta_slow null or 0 = 32 / 1; truncate absent = true, null = false (HF's
      // truthiness); attention_factor absent = get_mscale(factor[, mscale, mscale_all_dim]).
      var l0 = try pr.int("original_max_position_embeddings", default: maxPositions)
      if let top = try r.optionalInt("original_max_position_embeddings") { l0 = top }
      guard l0 > 0, maxPositions > 0 else {
        throw .invalidArgument("\(r.source): yarn rope scaling needs original_max_position_embeddings > 0")
      }
      let f = try pr.double("factor", default: Double(maxPositions) / Double(l0))
      var betaFast = try pr.double("beta_fast", default: 32)
      var betaSlow = try pr.double("beta_slow", default: 1)
      if betaFast == 0 { betaFast = 32 }
      if betaSlow == 0 { betaSlow = 1 }
      var truncate = true
      if let t = pr.object["truncate"] {
        if t.isNull {
          truncate = false
        } else if let b = t.bool {
          truncate = b
        } else {
          throw .invalidArgument("\(r.source): yarn 'truncate' is not a boolean")
        }
      }
      let mscale = try pr.double("mscale", default: 0), mscaleAll = try pr.double("mscale_all_dim", default: 0)
      guard f.isFinite, f > 0, betaFast.isFinite, betaFast > 0, betaSlow.isFinite, betaSlow > 0,
        mscale.isFinite, mscaleAll.isFinite
      else {
        throw .invalidArgument("\(r.source): yarn rope scaling needs finite factor > 0, beta_fast > 0, beta_slow > 0, mscale, mscale_all_dim")
      }
      let af = try pr.double("attention_factor", default: subq_rope_yarn_attention_factor(f, mscale, mscaleAll))
      guard af.isFinite, af >= 0 else {
        throw .invalidArgument("\(r.source): yarn attention_factor \(af) must be finite and >= 0")
      }
      scaling = .yarn(factor: f, originalMaxPositions: l0, betaFast: betaFast, betaSlow: betaSlow, truncate: truncate,
                      attentionFactor: af)
    case "dynamic":
      // transformers 5.23 _compute_dynamic_ntk_parameters: factor required, the threshold is
      // max_position_embeddings (an original_max_position_embeddings key plays no part)
      let f = try pr.double("factor", default: .nan)
      guard f.isFinite, f > 0 else { throw .invalidArgument("\(r.source): dynamic rope scaling needs factor > 0") }
      guard maxPositions > 0 else {
        throw .invalidArgument("\(r.source): dynamic rope scaling needs max_position_embeddings > 0")
      }
      guard Int(Double(headDim) * partial) > 2 else {
        throw .invalidArgument("\(r.source): dynamic rope scaling needs more than 2 rotated dims")
      }
      scaling = .dynamic(factor: f, maxPositions: maxPositions)
    case "longrope":
      // transformers 5.23 (standardize_rope_params, _compute_longrope_parameters): a top-level
      // original_max_position_embeddings wins (Phi-3), then the parameters', then
      // max_position_embeddings; factor absent or null = max_position_embeddings / original;
      // attention_factor absent or null = sqrt(1 + ln(factor) / ln(original)) (1 when factor <= 1).
      let half = Int(Double(headDim) * partial) / 2
      func factors(_ key: String) throws(SubQError) -> [Double] {
        guard let v = pr.object[key], !v.isNull else {
          throw .invalidArgument("\(r.source): longrope rope scaling needs '\(key)' (\(half) numbers)")
        }
        guard let a = v.array, a.count == half else {
          throw .invalidArgument("\(r.source): longrope '\(key)' must be a list of \(half) numbers (rotated dims / 2), got \(v.array.map { "\($0.count)" } ?? "no list")")
        }
        var out: [Double] = []
        for (i, e) in a.enumerated() {
          guard let x = e.double, x.isFinite, x > 0, Float(x).isFinite else {
            throw .invalidArgument("\(r.source): longrope '\(key)'[\(i)] must be a finite number > 0")
          }
          out.append(x)
        }
        return out
      }
      let short = try factors("short_factor"), long = try factors("long_factor")
      var l0 = try pr.int("original_max_position_embeddings", default: maxPositions)
      if let top = try r.optionalInt("original_max_position_embeddings") { l0 = top }
      let f = try pr.double("factor", default: Double(maxPositions) / Double(l0))
      guard l0 > 0, f.isFinite, f > 0 else {
        throw .invalidArgument("\(r.source): longrope rope scaling needs original_max_position_embeddings > 0 and factor > 0")
      }
      guard f <= 1 || l0 > 1 else {
        throw .invalidArgument("\(r.source): longrope with factor \(f) > 1 needs original_max_position_embeddings > 1")
      }
      let inferred = f <= 1 ? 1 : (1 + Foundation.log(f) / Foundation.log(Double(l0))).squareRoot()
      let af = try pr.double("attention_factor", default: inferred)
      guard af.isFinite, af >= 0 else {
        throw .invalidArgument("\(r.source): longrope attention_factor \(af) must be finite and >= 0")
      }
      scaling = .longrope(shortFactor: short, longFactor: long, originalMaxPositions: l0, attentionFactor: af)
    default:
      throw .invalidArgument("\(r.source): rope_type '\(type)' is not supported (default, linear, llama3, yarn, dynamic, longrope)")
    }
    return RoPE(theta: theta, scaling: scaling, partialRotaryFactor: partial)
  }

  static func parseMamba(_ r: JSONObjectReader) throws(SubQError) -> ModelConfig {
    let hidden = try r.positive("hidden_size")
    let expand = try r.positive("expand", default: 2, limit: 64)
    let inter = try r.positive("intermediate_size", default: expand * hidden)
    var rank = (hidden + 15) / 16
    if let v = r.object["time_step_rank"], !v.isNull, v.string != "auto" {
      guard let i = v.int, i >= 1, i <= 1 << 20 else { throw .invalidArgument("\(r.source): 'time_step_rank' must be a positive integer or \"auto\"") }
      rank = i
    }
    if let act = try r.string("hidden_act"), act != "silu" {
      throw .invalidArgument("\(r.source): hidden_act '\(act)' is not supported (silu only)")
    }
    var c = ModelConfig(
      architecture: .mamba, vocabSize: try r.positive("vocab_size", limit: 1 << 24), hiddenSize: hidden,
      numLayers: try r.positive("num_hidden_layers", limit: 4096), normEps: try r.epsilon("layer_norm_epsilon", default: 1e-5),
      tieWordEmbeddings: try r.bool("tie_word_embeddings", default: true),
      bosTokenIds: try r.intList("bos_token_id"), eosTokenIds: try r.intList("eos_token_id"))
    c.mamba = Mamba(
      stateSize: try r.positive("state_size", default: 16, limit: 256), intermediateSize: inter,
      convKernel: try r.positive("conv_kernel", default: 4, limit: 8), timeStepRank: rank,
      useBias: try r.bool("use_bias", default: false), useConvBias: try r.bool("use_conv_bias", default: true))
    return c
  }

  static func parseMamba2(_ r: JSONObjectReader) throws(SubQError) -> ModelConfig {
    let hidden = try r.positive("hidden_size")
    let heads = try r.positive("num_heads", limit: 1 << 16)
    let headDim = try r.positive("head_dim", default: 64, limit: 1 << 12)
    let expand = try r.positive("expand", default: 2, limit: 64)
    guard hidden * expand == heads * headDim else {
      throw .invalidArgument("\(r.source): hidden_size * expand (\(hidden * expand)) != num_heads * head_dim (\(heads * headDim))")
    }
    let groups = try r.positive("n_groups", default: 8, limit: 1 << 12)
    guard heads % groups == 0 else { throw .invalidArgument("\(r.source): num_heads (\(heads)) is not a multiple of n_groups (\(groups))") }
    var limit = (0.0, Double.infinity)
    if let v = r.object["time_step_limit"], !v.isNull {
      guard let a = v.array, a.count == 2, let lo = a[0].double, let hi = a[1].double, lo >= 0, hi >= lo else {
        throw .invalidArgument("\(r.source): 'time_step_limit' must be [lo, hi] with 0 <= lo <= hi")
      }
      limit = (lo, hi)
    }
    var c = ModelConfig(
      architecture: .mamba2, vocabSize: try r.positive("vocab_size", default: 32768, limit: 1 << 24), hiddenSize: hidden,
      numLayers: try r.positive("num_hidden_layers", limit: 4096), normEps: try r.epsilon("layer_norm_epsilon", default: 1e-5),
      tieWordEmbeddings: try r.bool("tie_word_embeddings", default: false),
      bosTokenIds: try r.intList("bos_token_id"), eosTokenIds: try r.intList("eos_token_id"))
    c.mamba2 = Mamba2(
      numHeads: heads, headDim: headDim, stateSize: try r.positive("state_size", default: 128, limit: 256), nGroups: groups,
      convKernel: try r.positive("conv_kernel", default: 4, limit: 8), chunkSize: try r.positive("chunk_size", default: 256),
      timeStepLimit: limit, useBias: try r.bool("use_bias", default: false), useConvBias: try r.bool("use_conv_bias", default: true))
    return c
  }

  /// matmulfreellm HGRNBitConfig (a016f72) with its defaults. hidden_act is not read: upstream's MLP
  /// always applies swiglu. Short convolutions are rejected (spec §7.3: upstream cannot run them,
  /// so no working checkpoint has them), as are attention modes other than fused_recurrent (upstream
  /// asserts) and tied embeddings (no released checkpoint ties its ternary head).
  static func parseHGRNBit(_ r: JSONObjectReader) throws(SubQError) -> ModelConfig {
    let hidden = try r.positive("hidden_size", default: 2048)
    if let mode = try r.string("attn_mode"), mode != "fused_recurrent" {
      throw SubQError(code: .unsupported, message: "\(r.source): hgrn_bit attn_mode '\(mode)' is not supported (fused_recurrent)")
    }
    if try r.bool("use_short_conv", default: false) {
      throw SubQError(
        code: .unsupported,
        message: "\(r.source): hgrn_bit use_short_conv true is not supported (matmulfreellm cannot run it either; no released checkpoint uses it)")
    }
    let expand = try r.positive("expand_ratio", default: 1, limit: 64)
    let heads = try r.positive("num_heads", default: 1, limit: 1 << 16)
    guard hidden % heads == 0 else {
      throw .invalidArgument("\(r.source): hidden_size (\(hidden)) is not a multiple of num_heads (\(heads))")
    }
    let lowerBound = try r.bool("use_lower_bound", default: true)
    // upstream adds the [hidden_size] bound to the [hidden_size * expand_ratio] forget gate
    guard !lowerBound || expand == 1 else {
      throw SubQError(code: .unsupported, message: "\(r.source): hgrn_bit use_lower_bound with expand_ratio \(expand) != 1 is not supported")
    }
    let inter: Int
    if r.has("intermediate_size") {
      inter = try r.positive("intermediate_size")
    } else {
      // HGRNBitMLP: int(hidden_size * hidden_ratio * 2 / 3) rounded up to a multiple of 256
      let ratio = try r.positive("hidden_ratio", default: 4, limit: 64)
      inter = 256 * ((hidden * ratio * 2 / 3 + 255) / 256)
    }
    guard try !r.bool("tie_word_embeddings", default: false) else {
      throw SubQError(code: .unsupported, message: "\(r.source): hgrn_bit with tie_word_embeddings true is not supported")
    }
    var c = ModelConfig(
      architecture: .hgrnBit, vocabSize: try r.positive("vocab_size", default: 32000, limit: 1 << 24), hiddenSize: hidden,
      numLayers: try r.positive("num_hidden_layers", default: 24, limit: 4096), normEps: try r.epsilon("rms_norm_eps", default: 1e-6),
      tieWordEmbeddings: false, bosTokenIds: r.has("bos_token_id") ? try r.intList("bos_token_id") : [1],
      eosTokenIds: r.has("eos_token_id") ? try r.intList("eos_token_id") : [2])
    guard c.normEps >= 0, c.normEps.isFinite else { throw .invalidArgument("\(r.source): rms_norm_eps \(c.normEps) must be finite and >= 0") }
    c.hgrnBit = HGRNBit(
      mixerWidth: hidden * expand, intermediateSize: inter, numHeads: heads,
      useLowerBound: lowerBound)
    return c
  }
}
