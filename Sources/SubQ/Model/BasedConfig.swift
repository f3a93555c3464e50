import Foundation

extension ModelConfig {
  /// BASED (HazyResearch/based `GPTLMHeadModel`, linear_attention spec §6 and §11): every layer is
  /// a pre-norm mixer and a pre-norm SwiGLU MLP; the mixer of layer i is SlidingAttention when i is
  /// in `alt_mixer_2_layers`, else LinearAttention when in `alt_mixer_layers`, else BaseConv.
  ///
  /// Recognised forms of config.json: `model_type` "based" (what SubQ's converter writes: the hub
  /// file with model_type replaced), and the hub's own GPT2Config dump (`model_type` "gpt2") when
  /// it carries `mixer` / `alt_mixer` / `alt_mixer_2`. The mixers' `_target_` must name the
  /// classes of the based repo (`based.models.mixers.convolution.BaseConv`,
  /// `.linear_attention.LinearAttention` with `.linear_attention.TaylorExp`,
  /// `.slide_attention.SlidingAttention`); other classes (the older `base_conv.BaseConvWithSiLU4`,
  /// `slide_fa2.SlidingsMHA`: tools/convert_based_checkpoint.py rewrites those; other repos' forks), the ThunderKittens flavour
  /// (`parallel_implementation` "tk": no denominator), LayerNorm blocks (`rms_norm` false),
  /// learned positions (`n_positions` > 0), non-SwiGLU MLPs, GQA (`n_head_kv` != `n_head`) and
  /// partial rotary (`rotary_emb_fraction` != 1) are rejected. Absent bias flags
  /// take the based code's defaults (`qkv_proj_bias`, `out_proj_bias`, `mlp_fc1_bias`,
  /// `mlp_fc2_bias`: true; released configs set them false).
  ///
  /// The vocabulary: `vocab_size` is padded up to a multiple of `pad_vocab_size_multiple` as the
  /// model does (50257 -> 50264 rows); `ModelConfig.vocabSize` is the padded row count (the
  /// embedding and logits width), `unpaddedVocabSize` the tokenizer's. Logits of the padding
  /// columns are whatever the weights give: sample below `unpaddedVocabSize` (subq-run does, via
  /// the tokenizer's size).
  public struct Based: Sendable, Equatable {
    public enum Mixer: String, Sendable, Equatable {
      case baseConv, linearAttention, slidingAttention
    }

    /// The mixer of every layer.
    public var mixers: [Mixer]
    /// `vocab_size` before padding.
    public var unpaddedVocabSize: Int
    /// MLP width (`n_inner`): fc1 is [2·innerSize, d] with rows (a, gate), fc2 [d, innerSize].
    public var innerSize: Int
    public var mlpFc1Bias: Bool
    public var mlpFc2Bias: Bool

    /// BaseConv: in_proj d -> expand·d, conv over the first expand·d/2 channels.
    public var convExpand: Int
    public var convKernel: Int
    /// in_proj / out_proj biases (`mixer.use_bias`).
    public var convProjBias: Bool

    /// LinearAttention: q/k per head `featureDim` (Taylor map, scale featureDim^-1/2), v per head
    /// `linearHeadDim`; out = y / (z + linearEps).
    public var linearHeads: Int
    public var featureDim: Int
    public var linearHeadDim: Int
    public var linearEps: Double

    /// SlidingAttention: `n_head` heads (`slidingKVHeads` == `n_head`: no GQA) of n_embd / n_head dims, RoPE,
    /// window (windowSize / 2, 0): query t sees keys t - windowSize / 2 ... t.
    public var slidingHeads: Int
    public var slidingKVHeads: Int
    public var slidingHeadDim: Int
    public var windowSize: Int
    public var qkvBias: Bool
    public var outBias: Bool
    public var rope: RoPE

    /// Keys before the current one that a sliding-window query sees (flash-attn window_size[0]).
    public var windowLeft: Int { windowSize / 2 }
    /// The sliding-window layers as TransformerBody's attention describes them (HF-style window
    /// W = keys incl. self = windowLeft + 1).
    var slidingAttention: Transformer {
      Transformer(
        intermediateSize: innerSize, numHeads: slidingHeads, numKVHeads: slidingKVHeads, headDim: slidingHeadDim, rope: rope,
        slidingWindow: windowLeft + 1, attentionBias: qkvBias, mlpBias: false, maxPositionEmbeddings: 0)
    }
  }

  static let basedConvClass = "based.models.mixers.convolution.BaseConv"
  static let basedLinearClass = "based.models.mixers.linear_attention.LinearAttention"
  static let basedTaylorClass = "based.models.mixers.linear_attention.TaylorExp"
  static let basedSlidingClass = "based.models.mixers.slide_attention.SlidingAttention"

  static func parseBased(_ r: JSONObjectReader) throws(SubQError) -> ModelConfig {
    let src = r.source
    let d = try r.positive("n_embd", limit: 1 << 16)
    let layers = try r.positive("n_layer", limit: 4096)
    let heads = try r.positive("n_head", limit: 4096)
    let vocab = try r.positive("vocab_size", limit: 1 << 24)
    let multiple = try r.positive("pad_vocab_size_multiple", default: 1, limit: 1 << 16)
    let padded = (vocab + multiple - 1) / multiple * multiple
    guard let inner = try r.optionalInt("n_inner"), inner >= 1, inner <= 1 << 20 else {
      throw .invalidArgument("\(src): BASED needs 'n_inner' (the SwiGLU width) as a positive integer")
    }
    guard try r.bool("rms_norm", default: false) else {
      throw .invalidArgument("\(src): BASED with LayerNorm (rms_norm false or absent) is not supported (RMSNorm only)")
    }
    guard try r.bool("prenorm", default: true), try !r.bool("parallel_block", default: false) else {
      throw .invalidArgument("\(src): BASED with prenorm false or parallel_block true is not supported")
    }
    let act = try r.string("activation_function")
    guard act == "swiglu" else {
      throw .invalidArgument("\(src): activation_function '\(act ?? "none")' is not supported (BASED: swiglu)")
    }
    if let mlpType = try r.string("mlp_type"), mlpType != "base" {
      throw .invalidArgument("\(src): mlp_type '\(mlpType)' is not supported (base)")
    }
    // GPT2Config writes max_position_embeddings as n_positions; BASED uses RoPE, no learned positions
    var positionsKey = try r.optionalInt("n_positions")
    if positionsKey == nil { positionsKey = try r.optionalInt("max_position_embeddings") }
    let positions = positionsKey ?? 0
    guard positions == 0 else {
      throw .invalidArgument("\(src): n_positions \(positions) (learned position embeddings) is not supported (BASED: 0)")
    }
    guard try r.bool("scale_attn_weights", default: true), try !r.bool("scale_attn_by_inverse_layer_idx", default: false) else {
      throw .invalidArgument("\(src): scale_attn_weights false or scale_attn_by_inverse_layer_idx true is not supported")
    }

    func object(_ key: String) throws(SubQError) -> JSONObjectReader? {
      guard let v = r.object[key], !v.isNull else { return nil }
      guard let o = v.dictionary else { throw .invalidArgument("\(src): '\(key)' is not an object") }
      return try JSONObjectReader(.object(o.map { ($0.key, $0.value) }), source: "\(src): \(key)")
    }
    func target(_ o: JSONObjectReader, _ want: String, _ key: String) throws(SubQError) {
      let t = try o.string("_target_")
      guard t == want else {
        // The older hub classes are the same math under other names: the converter rewrites them.
        let older = ["base_conv.BaseConvWithSiLU4", "linear_attn.LinearAttention", "slide_fa2.SlidingsMHA"]
        let hint = older.contains { t?.hasSuffix($0) == true }
          ? "; convert the checkpoint with tools/convert_based_checkpoint.py" : ""
        throw .invalidArgument("\(src): \(key)._target_ '\(t ?? "none")' is not supported (\(want))\(hint)")
      }
    }
    func layerList(_ key: String) throws(SubQError) -> Set<Int> {
      let l = try r.intList(key)
      for i in l where i < 0 || i >= layers {
        throw .invalidArgument("\(src): '\(key)' holds layer \(i), outside 0..<\(layers) (n_layer)")
      }
      return Set(l)
    }
    let linearLayers = try layerList("alt_mixer_layers")
    let slidingLayers = try layerList("alt_mixer_2_layers")
    let mixers: [Based.Mixer] = (0..<layers).map { i in
      slidingLayers.contains(i) ? .slidingAttention : (linearLayers.contains(i) ? .linearAttention : .baseConv)
    }

    var convExpand = 2, convKernel = 3, convBias = true
    if mixers.contains(.baseConv) {
      guard let m = try object("mixer") else {
        throw .invalidArgument("\(src): 'mixer' is missing (layers outside alt_mixer_layers / alt_mixer_2_layers would be plain MHA, which is not supported)")
      }
      try target(m, basedConvClass, "mixer")
      convExpand = try m.positive("expand_proj", default: 2, limit: 64)
      guard convExpand % 2 == 0 else { throw .invalidArgument("\(src): mixer.expand_proj \(convExpand) must be even") }
      // BaseConv's parameter is kernel_size; the configs' `kernel_sizes` is swallowed by its
      // **kwargs, so the released models use the default 3
      convKernel = try m.positive("kernel_size", default: 3, limit: 8)
      convBias = try m.bool("use_bias", default: true)
    }

    var linHeads = 16, featureDim = 16, linHeadDim = d / 16, eps = 1e-12
    if mixers.contains(.linearAttention) {
      guard let a = try object("alt_mixer") else {
        throw .invalidArgument("\(src): 'alt_mixer' is missing (alt_mixer_layers would be plain MHA, which is not supported)")
      }
      try target(a, basedLinearClass, "alt_mixer")
      linHeads = try a.positive("num_heads", default: 16, limit: 4096)
      featureDim = try a.positive("feature_dim", default: 16, limit: 32)
      if a.has("head_dim") {
        linHeadDim = try a.positive("head_dim", limit: 1024)
      } else {
        guard d % linHeads == 0 else {
          throw .invalidArgument("\(src): n_embd (\(d)) is not a multiple of alt_mixer.num_heads (\(linHeads)) and head_dim is absent")
        }
        linHeadDim = d / linHeads
      }
      guard linHeadDim <= 1024 else { throw .invalidArgument("\(src): linear attention head_dim \(linHeadDim) exceeds 1024") }
      eps = try a.double("eps", default: 1e-12)
      guard eps.isFinite, eps >= 0 else { throw .invalidArgument("\(src): alt_mixer.eps \(eps) must be finite and >= 0") }
      guard let fm = a.object["feature_map"], let fmo = fm.dictionary else {
        throw .invalidArgument("\(src): alt_mixer.feature_map is missing (\(basedTaylorClass) expected)")
      }
      let f = try JSONObjectReader(.object(fmo.map { ($0.key, $0.value) }), source: "\(src): alt_mixer.feature_map")
      try target(f, basedTaylorClass, "alt_mixer.feature_map")
      if f.has("input_dim"), try f.int("input_dim") != featureDim {
        throw .invalidArgument("\(src): alt_mixer.feature_map.input_dim \(try f.int("input_dim")) != feature_dim \(featureDim)")
      }
      let impl = try a.string("parallel_implementation") ?? "quadratic"
      guard ["quadratic", "linear", "fla_parallel", "fla_chunk"].contains(impl) else {
        throw .invalidArgument("\(src): alt_mixer.parallel_implementation '\(impl)' is not supported (quadratic, linear, fla_parallel, fla_chunk: the normalised form; 'tk' models have no denominator)")
      }
    }

    var kvHeads = heads, headDim = d / heads, window = 128, qkvBias = true, outBias = true
    var rope = RoPE(theta: 10000, scaling: .none, partialRotaryFactor: 1)
    if mixers.contains(.slidingAttention) {
      guard let s = try object("alt_mixer_2") else {
        throw .invalidArgument("\(src): 'alt_mixer_2' is missing (alt_mixer_2_layers would be plain MHA, which is not supported)")
      }
      try target(s, basedSlidingClass, "alt_mixer_2")
      // gpt.py's sliding_window_additions overrides the mixer's num_heads with n_head
      if s.has("num_heads"), try s.int("num_heads") != heads {
        throw .invalidArgument("\(src): alt_mixer_2.num_heads \(try s.int("num_heads")) != n_head \(heads) (the model uses n_head)")
      }
      guard d % heads == 0 else { throw .invalidArgument("\(src): n_embd (\(d)) is not a multiple of n_head (\(heads))") }
      headDim = d / heads
      guard headDim <= 256 else { throw .invalidArgument("\(src): sliding attention head_dim \(headDim) exceeds 256") }
      // released checkpoints use neither GQA nor partial rotary; not covered by the fixture, so refused
      kvHeads = try r.positive("n_head_kv", default: heads, limit: 4096)
      guard kvHeads == heads else { throw .invalidArgument("\(src): n_head_kv \(kvHeads) != n_head \(heads) (GQA) is not supported for BASED") }
      window = try s.positive("window_size", default: 128, limit: 1 << 30)
      guard try s.bool("causal", default: true) else { throw .invalidArgument("\(src): alt_mixer_2.causal false is not supported") }
      qkvBias = try r.bool("qkv_proj_bias", default: true)
      outBias = try r.bool("out_proj_bias", default: true)
      let fraction = try r.double("rotary_emb_fraction", default: 0)
      guard fraction == 1 else {
        throw .invalidArgument("\(src): rotary_emb_fraction \(fraction) is not supported (1: RoPE over the whole head)")
      }
      guard try !r.bool("rotary_emb_interleaved", default: false), !r.has("rotary_emb_scale_base") else {
        throw .invalidArgument("\(src): interleaved or xPos (rotary_emb_scale_base) rotary embeddings are not supported")
      }
      let theta = try r.double("rotary_emb_base", default: 10000)
      guard theta.isFinite, theta > 1 else { throw .invalidArgument("\(src): rotary_emb_base \(theta) must be > 1") }
      rope = RoPE(theta: theta, scaling: .none, partialRotaryFactor: fraction)
    }

    var c = ModelConfig(
      architecture: .based, vocabSize: padded, hiddenSize: d, numLayers: layers,
      normEps: try r.epsilon("layer_norm_epsilon", default: 1e-5), tieWordEmbeddings: try r.bool("tie_word_embeddings", default: true),
      bosTokenIds: try r.intList("bos_token_id"), eosTokenIds: try r.intList("eos_token_id"))
    c.based = Based(
      mixers: mixers, unpaddedVocabSize: vocab, innerSize: inner, mlpFc1Bias: try r.bool("mlp_fc1_bias", default: true),
      mlpFc2Bias: try r.bool("mlp_fc2_bias", default: true), convExpand: convExpand, convKernel: convKernel,
      convProjBias: convBias, linearHeads: linHeads, featureDim: featureDim, linearHeadDim: linHeadDim, linearEps: eps,
      slidingHeads: heads, slidingKVHeads: kvHeads, slidingHeadDim: headDim, windowSize: window, qkvBias: qkvBias,
      outBias: outBias, rope: rope)
    return c
  }
}
