import Foundation
import Testing

@testable import SubQ

/// The committed tiny checkpoints (tools/make_tiny_models.py).
let modelsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("Models")

@Suite struct ModelConfigTests {
  @Test func parsesEveryCommittedCheckpoint() throws {
    let llama = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("llama"))
    #expect(llama.architecture == .llama)
    #expect(llama.vocabSize == 888 && llama.hiddenSize == 64 && llama.numLayers == 2)
    #expect(llama.bosTokenIds == [1] && llama.eosTokenIds == [2])
    #expect(llama.normEps == 1e-5 && !llama.tieWordEmbeddings)
    let t = try #require(llama.transformer)
    #expect(t.numHeads == 4 && t.numKVHeads == 2 && t.headDim == 16 && t.intermediateSize == 96)
    #expect(t.rope.theta == 10000 && t.rope.scaling == .none && t.slidingWindow == nil)

    let l3 = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("llama3-tied"))
    #expect(l3.tieWordEmbeddings)
    #expect(l3.transformer?.attentionBias == true)
    #expect(l3.transformer?.rope == .init(theta: 500000, scaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16), partialRotaryFactor: 1))

    let yarn = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("llama-yarn"))
    #expect(yarn.transformer?.rope == .init(theta: 10000, scaling: .yarn(factor: 4, originalMaxPositions: 32, betaFast: 32, betaSlow: 1, truncate: true, attentionFactor: 0.1 * log(4.0) + 1), partialRotaryFactor: 1))

    let mistral = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("mistral"))
    #expect(mistral.architecture == .mistral && mistral.transformer?.slidingWindow == 4)

    let mamba = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("mamba"))
    #expect(mamba.architecture == .mamba && mamba.tieWordEmbeddings)
    #expect(mamba.mamba == .init(stateSize: 16, intermediateSize: 128, convKernel: 4, timeStepRank: 4, useBias: false, useConvBias: true))

    let m2 = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("mamba2"))
    let c2 = try #require(m2.mamba2)
    #expect(c2.numHeads == 8 && c2.headDim == 16 && c2.nGroups == 2 && c2.chunkSize == 8 && c2.stateSize == 16)
    #expect(c2.timeStepLimit.0 == 0 && c2.timeStepLimit.1 == .infinity)  // {"__float__": "Infinity"}

    let bn = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("bitnet"))
    #expect(bn.architecture == .bitnet && bn.tieWordEmbeddings && bn.normEps == 1e-5 && bn.bitnet == .init(form: .packed, rule: .divide))
    let tb = try #require(bn.transformer)
    #expect(tb.numHeads == 4 && tb.numKVHeads == 2 && tb.headDim == 16 && tb.intermediateSize == 96)
    #expect(tb.rope == .init(theta: 10000, scaling: .none, partialRotaryFactor: 1))
    #expect(try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("bitnet-offline")).bitnet?.form == .ternarized)
    #expect(try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("bitnet-online")).bitnet?.form == .online)
  }

  @Test func transformers4Forms() throws {
    // v4: rope_theta + rope_scaling with the old `type` key; bare Infinity (Python json) in mamba2.
    let v4 = #"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,"#
      + #" "intermediate_size": 16, "rope_theta": 5e5, "rope_scaling": {"type": "linear", "factor": 2.0}, "eos_token_id": [2, 3]}"#
    let c = try ModelConfig.parse(Data(v4.utf8))
    #expect(c.transformer?.rope == .init(theta: 5e5, scaling: .linear(factor: 2), partialRotaryFactor: 1))
    #expect(c.transformer?.numKVHeads == 2 && c.transformer?.headDim == 4)
    #expect(c.eosTokenIds == [2, 3] && c.normEps == 1e-6)
    let m2 = #"{"model_type": "mamba2", "hidden_size": 64, "num_heads": 8, "head_dim": 16, "n_groups": 1,"#
      + #" "num_hidden_layers": 1, "time_step_limit": [0.0, Infinity], "note": "Infinity stays a string here"}"#
    let c2 = try ModelConfig.parse(Data(m2.utf8))
    #expect(c2.mamba2?.timeStepLimit.1 == .infinity)
    #expect(c2.vocabSize == 32768 && c2.mamba2?.stateSize == 128)  // class defaults
  }

  @Test func yarnForms() throws {
    func rope(_ extra: String) throws -> ModelConfig.RoPE.Scaling? {
      let json = #"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,"#
        + #" "intermediate_size": 16, "max_position_embeddings": 8192, "# + extra + "}"
      return try ModelConfig.parse(Data(json.utf8)).transformer?.rope.scaling
    }
    // v4 rope_scaling with the old `type` key; attention_factor inferred from factor alone
    #expect(try rope(#""rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048}"#)
      == .yarn(factor: 4, originalMaxPositions: 2048, betaFast: 32, betaSlow: 1, truncate: true, attentionFactor: 0.1 * log(4.0) + 1))
    // v5: factor absent = max_position_embeddings / original; betas 0 = defaults (HF's `or`);
    // truncate null = false (HF's truthiness)
    #expect(try rope(#""rope_parameters": {"rope_type": "yarn", "rope_theta": 1e6, "original_max_position_embeddings": 1024, "beta_fast": 0, "beta_slow": null, "truncate": null}"#)
      == .yarn(factor: 8, originalMaxPositions: 1024, betaFast: 32, betaSlow: 1, truncate: false, attentionFactor: 0.1 * log(8.0) + 1))
    // given attention_factor, betas and truncate; mscale / mscale_all_dim (DeepSeek-V3 form)
    #expect(try rope(#""rope_parameters": {"rope_type": "yarn", "factor": 16, "original_max_position_embeddings": 512, "attention_factor": 0.5, "beta_fast": 16, "beta_slow": 2, "truncate": false}"#)
      == .yarn(factor: 16, originalMaxPositions: 512, betaFast: 16, betaSlow: 2, truncate: false, attentionFactor: 0.5))
    let ds = try rope(#""rope_parameters": {"rope_type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "mscale": 1.0, "mscale_all_dim": 0.707}"#)
    #expect(ds == .yarn(factor: 40, originalMaxPositions: 4096, betaFast: 32, betaSlow: 1, truncate: true, attentionFactor: 1.0857263992561355))
    // a top-level original_max_position_embeddings wins (HF standardize_rope_params); absent
    // everywhere = max_position_embeddings, so the implicit factor is 1
    #expect(try rope(#""original_max_position_embeddings": 4096, "rope_parameters": {"rope_type": "yarn", "factor": 2, "original_max_position_embeddings": 1024}"#)
      == .yarn(factor: 2, originalMaxPositions: 4096, betaFast: 32, betaSlow: 1, truncate: true, attentionFactor: 0.1 * log(2.0) + 1))
    #expect(try rope(#""rope_parameters": {"rope_type": "yarn"}"#)
      == .yarn(factor: 1, originalMaxPositions: 8192, betaFast: 32, betaSlow: 1, truncate: true, attentionFactor: 1))
    for bad in [#"{"rope_type": "yarn", "factor": -1}"#, #"{"rope_type": "yarn", "factor": 4, "beta_fast": -3}"#,
                #"{"rope_type": "yarn", "factor": 4, "original_max_position_embeddings": 0}"#,
                #"{"rope_type": "yarn", "factor": 4, "truncate": "yes"}"#,
                #"{"rope_type": "yarn", "factor": 4, "attention_factor": -1}"#] {
      #expect(throws: SubQError.self) { try rope(#""rope_parameters": "# + bad) }
    }
  }

  @Test func rejectsWhatItCannotRun() {
    func message(_ json: String) -> String {
      do {
        _ = try ModelConfig.parse(Data(json.utf8))
        return "parsed"
      } catch { return error.message }
    }
    #expect(message(#"{"model_type": "gpt2"}"#).contains("model_type 'gpt2' is not supported"))
    #expect(message(#"{"hidden_size": 3}"#).contains("missing key 'model_type'"))
    #expect(message("[1, 2]").contains("top level is not a JSON object"))
    #expect(message("{").contains("invalid JSON at byte 1"))
    #expect(message(String(repeating: "[", count: 100_000)).contains("invalid JSON"))  // depth-capped, no stack overflow
    let base = #""model_type": "llama", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "intermediate_size": 16"#
    #expect(message("{\(base), \"num_attention_heads\": 3}").contains("not a multiple of num_attention_heads"))
    #expect(message("{\(base), \"num_attention_heads\": 4, \"num_key_value_heads\": 3}").contains("num_key_value_heads"))
    #expect(message("{\(base), \"num_attention_heads\": 2, \"hidden_act\": \"gelu\"}").contains("hidden_act 'gelu'"))
    #expect(message("{\(base), \"num_attention_heads\": 2, \"rope_scaling\": {\"rope_type\": \"proportional\", \"factor\": 4}}").contains("rope_type 'proportional'"))
    #expect(message("{\(base), \"num_attention_heads\": 2, \"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 4}}").contains("needs 'short_factor' (2 numbers)"))
    #expect(message("{\(base), \"num_attention_heads\": -2}").contains("'num_attention_heads' = -2"))
    #expect(message("{\(base), \"num_attention_heads\": 2.5}").contains("not an integer"))
    // a norm epsilon must be finite and >= 0 (the C norm kernel would refuse it only at run time)
    #expect(message("{\(base), \"num_attention_heads\": 2, \"rms_norm_eps\": NaN}").contains("'rms_norm_eps' = nan must be finite and >= 0"))
    #expect(message("{\(base), \"num_attention_heads\": 2, \"rms_norm_eps\": -1e-5}").contains("must be finite and >= 0"))
    #expect(message(#"{"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 1, "vocab_size": 10, "layer_norm_epsilon": Infinity}"#).contains("'layer_norm_epsilon' = inf"))
    #expect(message("{\(base), \"num_attention_heads\": 99999999999999999999}").contains("not an integer"))
    // BitNet: only the packed "bitlinear" form, relu2, heads * head_dim == hidden
    let bq = #""quantization_config": {"quant_method": "bitnet", "linear_class": "bitlinear"}"#
    let bn = #""model_type": "bitnet", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "intermediate_size": 16, "num_attention_heads": 2"#
    #expect(message("{\(bn), \(bq)}") == "parsed")
    #expect(message("{\(bn), \(bq), \"hidden_act\": \"relu2\"}") == "parsed")
    #expect(message("{\(bn)}").contains("without quantization_config"))
    #expect(message("{\(bn), \(bq), \"hidden_act\": \"silu\"}").contains("hidden_act 'silu'"))
    #expect(message("{\(bn), \(bq), \"head_dim\": 8}").contains("num_attention_heads * head_dim (16) == hidden_size (8)"))
    #expect(message(#"{"# + bn + #", "quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "later"}}"#).contains("quantization_mode 'later'"))
    #expect(message(#"{"# + bn + #", "quantization_config": {"quant_method": "bitnet", "linear_class": "bitlinear2"}}"#).contains("linear_class 'bitlinear2'"))
    #expect(message(#"{"# + bn + #", "quantization_config": {"quant_method": "bitnet", "use_rms_norm": true}}"#).contains("use_rms_norm"))
    #expect(message(#"{"# + bn + #", "quantization_config": {"quant_method": "gptq"}}"#).contains("quant_method 'gptq'"))
    #expect(message(#"{"model_type": "mamba2", "hidden_size": 64, "num_heads": 7, "head_dim": 16, "num_hidden_layers": 1}"#).contains("num_heads * head_dim"))
  }

  /// hgrn_bit (matmulfreellm HGRNBitConfig): defaults, the intermediate_size formula of the
  /// released sizes, the committed fixture, and the forms no working checkpoint has.
  @Test func hgrnBitConfig() throws {
    func parse(_ keys: String) throws(SubQError) -> ModelConfig {
      try ModelConfig.parse(Data(("{\"model_type\": \"hgrn_bit\"" + (keys.isEmpty ? "" : ", " + keys) + "}").utf8))
    }
    let d = try parse("")
    #expect(d.architecture == .hgrnBit && d.vocabSize == 32000 && d.hiddenSize == 2048 && d.numLayers == 24)
    #expect(d.normEps == 1e-6 && !d.tieWordEmbeddings && d.bosTokenIds == [1] && d.eosTokenIds == [2])
    #expect(d.hgrnBit == .init(mixerWidth: 2048, intermediateSize: 5632, numHeads: 1, useLowerBound: true))
    // MMfreeLM-370M / 2.7B: intermediate_size null -> 256 * ceil(int(d * 4 * 2 / 3) / 256)
    #expect(try parse(#""hidden_size": 1024, "intermediate_size": null"#).hgrnBit?.intermediateSize == 2816)
    #expect(try parse(#""hidden_size": 2560, "num_hidden_layers": 32"#).hgrnBit?.intermediateSize == 6912)
    #expect(try parse(#""hidden_size": 64, "hidden_ratio": 2"#).hgrnBit?.intermediateSize == 256)
    #expect(try parse(#""hidden_size": 64, "intermediate_size": 96, "hidden_act": "swish", "num_heads": 4"#).hgrnBit
      == .init(mixerWidth: 64, intermediateSize: 96, numHeads: 4, useLowerBound: true))
    #expect(try parse(#""hidden_size": 64, "expand_ratio": 2, "use_lower_bound": false, "rms_norm_eps": 1e-5"#).hgrnBit
      == .init(mixerWidth: 128, intermediateSize: 256, numHeads: 1, useLowerBound: false))
    let fx = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("hgrn_bit"))
    #expect(fx.architecture == .hgrnBit && fx.vocabSize == 885 && fx.hiddenSize == 64 && fx.numLayers == 3)
    #expect(fx.hgrnBit == .init(mixerWidth: 64, intermediateSize: 128, numHeads: 1, useLowerBound: true))
    func error(_ keys: String) -> SubQError? {
      do { _ = try parse(keys) } catch { return error }
      return nil
    }
    let conv = error(#""use_short_conv": true, "share_conv_kernel": true"#)
    #expect(conv?.code == .unsupported && conv?.message.contains("use_short_conv true is not supported") == true)
    #expect(error(#""attn_mode": "chunk""#)?.code == .unsupported)
    #expect(error(#""tie_word_embeddings": true"#)?.code == .unsupported)
    #expect(error(#""expand_ratio": 2"#)?.message.contains("use_lower_bound with expand_ratio 2") == true)
    #expect(error(#""hidden_size": 64, "num_heads": 3"#)?.message.contains("not a multiple of num_heads") == true)
    #expect(error(#""intermediate_size": 0"#)?.message.contains("'intermediate_size' = 0") == true)
    #expect(error(#""use_short_conv": "no""#)?.message.contains("not a boolean") == true)
  }
}

extension ModelConfigTests {
  @Test func basedFixtureAndForms() throws {
    let c = try ModelConfig.load(directory: modelsDirectory.appendingPathComponent("based"))
    #expect(c.architecture == .based && c.vocabSize == 808 && c.hiddenSize == 64 && c.numLayers == 6)
    #expect(c.tieWordEmbeddings && c.normEps == 1e-5 && c.eosTokenIds == [0])
    let b = try #require(c.based)
    #expect(b.mixers == [.baseConv, .linearAttention, .slidingAttention, .baseConv, .linearAttention, .slidingAttention])
    #expect(b.unpaddedVocabSize == 803 && b.innerSize == 96 && !b.mlpFc1Bias && !b.mlpFc2Bias)
    #expect(b.convExpand == 4 && b.convKernel == 3 && b.convProjBias)
    #expect(b.linearHeads == 4 && b.featureDim == 16 && b.linearHeadDim == 16 && b.linearEps == 1e-12)
    #expect(b.slidingHeads == 4 && b.slidingKVHeads == 4 && b.slidingHeadDim == 16 && !b.qkvBias && !b.outBias)
    #expect(b.windowSize == 8 && b.windowLeft == 4 && b.slidingAttention.slidingWindow == 5)
    #expect(b.rope == .init(theta: 10000, scaling: .none, partialRotaryFactor: 1))
  }

  /// The hub's based-360m config.json (a GPT2Config dump, keys as published) and its defaults.
  static let based360m = #"""
    {"activation_function": "swiglu", "alt_mixer": {"_target_": "based.models.mixers.linear_attention.LinearAttention",
     "feature_dim": 16, "feature_map": {"_target_": "based.models.mixers.linear_attention.TaylorExp", "input_dim": 16},
     "l_max": 2048, "num_heads": 16}, "alt_mixer_2": {"_target_": "based.models.mixers.slide_attention.SlidingAttention",
     "causal": true, "num_heads": 16, "window_size": 128}, "alt_mixer_2_layers": [2, 7, 12, 17, 22],
     "alt_mixer_layers": [1, 6, 11, 16, 21], "bos_token_id": 50256, "eos_token_id": 50256, "layer_norm_epsilon": 1e-05,
     "mixer": {"_target_": "based.models.mixers.convolution.BaseConv", "expand_proj": 4, "kernel_sizes": 3, "l_max": 2048,
     "use_bias": true}, "mlp_fc1_bias": false, "mlp_fc2_bias": false, "model_type": "gpt2", "n_embd": 1024, "n_head": 16,
     "n_inner": 2048, "n_layer": 27, "n_positions": 0, "out_proj_bias": false, "pad_vocab_size_multiple": 8,
     "qkv_proj_bias": false, "residual_in_fp32": true, "rms_norm": true, "rotary_emb_fraction": 1,
     "scale_attn_by_inverse_layer_idx": false, "scale_attn_weights": true, "tie_word_embeddings": true, "vocab_size": 50257}
    """#

  @Test func basedHubConfig() throws {
    let c = try ModelConfig.parse(Data(Self.based360m.utf8))
    #expect(c.architecture == .based && c.vocabSize == 50264 && c.based?.unpaddedVocabSize == 50257)
    let b = try #require(c.based)
    #expect(b.mixers.count == 27 && b.mixers.filter { $0 == .baseConv }.count == 17)
    #expect([1, 6, 11, 16, 21].allSatisfy { b.mixers[$0] == .linearAttention })
    #expect([2, 7, 12, 17, 22].allSatisfy { b.mixers[$0] == .slidingAttention })
    #expect(b.windowLeft == 64 && b.linearHeadDim == 64 && b.slidingHeadDim == 64 && b.convExpand == 4)
  }

  @Test func basedRejectsWhatItCannotRun() {
    func message(_ from: String, _ to: String) -> String {
      let json = Self.based360m.replacingOccurrences(of: from, with: to)
      #expect(json != Self.based360m, "edit \(from) changed nothing")
      do {
        _ = try ModelConfig.parse(Data(json.utf8))
        return "parsed"
      } catch { return error.message }
    }
    #expect(message(#""window_size": 128"#, #""window_size": 256"#) == "parsed")
    #expect(message(#"linear_attention.TaylorExp""#, #"linear_attention.Squared""#)
      .contains("alt_mixer.feature_map._target_ 'based.models.mixers.linear_attention.Squared' is not supported"))
    #expect(message(#""causal": true,"#, #""parallel_implementation": "tk", "causal": true,"#) == "parsed")  // alt_mixer_2 ignores it
    #expect(message(#""l_max": 2048, "num_heads": 16}"#, #""l_max": 2048, "num_heads": 16, "parallel_implementation": "tk"}"#)
      .contains("parallel_implementation 'tk' is not supported"))
    #expect(message("mixers.convolution.BaseConv", "mixers.base_conv.BaseConvWithSiLU4").contains("mixer._target_ 'based.models.mixers.base_conv.BaseConvWithSiLU4' is not supported"))
    #expect(message("mixers.convolution.BaseConv", "mixers.base_conv.BaseConvWithSiLU4").contains("tools/convert_based_checkpoint.py"))
    #expect(!message("mixers.linear_attention.TaylorExp", "mixers.linear_attention.Squared").contains("convert_based_checkpoint"))
    #expect(message("slide_attention.SlidingAttention", "slide_fa2.SlidingsMHA").contains("alt_mixer_2._target_"))
    #expect(message(#""rms_norm": true"#, #""rms_norm": false"#).contains("LayerNorm"))
    #expect(message(#""n_positions": 0"#, #""n_positions": 2048"#).contains("learned position embeddings"))
    #expect(message(#""activation_function": "swiglu""#, #""activation_function": "gelu""#).contains("activation_function 'gelu'"))
    #expect(message("[2, 7, 12, 17, 22]", "[2, 7, 12, 17, 27]").contains("'alt_mixer_2_layers' holds layer 27, outside 0..<27"))
    #expect(message(#""causal": true, "num_heads": 16"#, #""causal": true, "num_heads": 8"#).contains("alt_mixer_2.num_heads 8 != n_head 16"))
    #expect(message(#""input_dim": 16"#, #""input_dim": 8"#).contains("input_dim 8 != feature_dim 16"))
    #expect(message(#""rotary_emb_fraction": 1"#, #""rotary_emb_fraction": 0"#).contains("rotary_emb_fraction 0.0 is not supported"))
    #expect(message(#""rotary_emb_fraction": 1"#, #""rotary_emb_fraction": 0.5"#).contains("rotary_emb_fraction 0.5 is not supported"))
    #expect(message(#""n_head": 16,"#, #""n_head": 16, "n_head_kv": 4,"#).contains("n_head_kv 4 != n_head 16"))
    #expect(message(#""n_inner": 2048"#, #""n_inner": null"#).contains("'n_inner'"))
    #expect(message(#""expand_proj": 4"#, #""expand_proj": 3"#).contains("expand_proj 3 must be even"))
    // a layer left to `mixer` without one would be plain MHA
    #expect(message(#""mixer": {"#, #""mixer_unused": {"#).contains("'mixer' is missing"))
  }
}

@Suite struct SamplerTests {
  @Test func greedyIsArgmaxLowestIndexOnTies() throws {
    var s = try Sampler()
    let logits: [Float] = [0.5, 2, -1, 2, .nan]
    #expect(logits.withUnsafeBufferPointer { s.sample($0) } == 1)
    #expect(logits.withUnsafeBufferPointer { s.sample($0, validVocab: 1) } == 0)
  }

  @Test func seededSamplingIsReproducibleAndFollowsTheDistribution() throws {
    let logits: [Float] = [log(0.5), log(0.3), log(0.2)]
    var a = try Sampler(temperature: 1, seed: 42)
    var b = try Sampler(temperature: 1, seed: 42)
    var counts = [0, 0, 0]
    for _ in 0..<20000 {
      let x = logits.withUnsafeBufferPointer { a.sample($0) }
      #expect(x == logits.withUnsafeBufferPointer { b.sample($0) })
      counts[x] += 1
    }
    // 20000 draws: each frequency within 4 standard deviations (< 0.015) of its probability
    #expect(abs(Double(counts[0]) / 20000 - 0.5) < 0.015)
    #expect(abs(Double(counts[1]) / 20000 - 0.3) < 0.015)
    #expect(abs(Double(counts[2]) / 20000 - 0.2) < 0.015)
  }

  @Test func topKAndTopPCutTheTail() throws {
    let logits: [Float] = [log(0.5), log(0.3), log(0.15), log(0.05)]
    var k = try Sampler(temperature: 1, topK: 2, seed: 1)
    var p = try Sampler(temperature: 1, topP: 0.75, seed: 2)  // 0.5 + 0.3 passes 0.75: two tokens
    for _ in 0..<2000 {
      #expect(logits.withUnsafeBufferPointer { k.sample($0) } < 2)
      #expect(logits.withUnsafeBufferPointer { p.sample($0) } < 2)
    }
    #expect(throws: SubQError.self) { try Sampler(temperature: -1) }
    #expect(throws: SubQError.self) { try Sampler(topP: 0) }
  }
}

@Suite struct NPYTests {
  @Test func headerIsWhatNumPyReads() throws {
    let d = try NPY.encode(float32: [1, 2, 3, 4, 5, 6], shape: [2, 3])
    #expect(Array(d.prefix(8)) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
    let hl = Int(d[8]) | Int(d[9]) << 8
    #expect((10 + hl) % 64 == 0 && d.count == 10 + hl + 24)
    let header = String(decoding: d[10..<(10 + hl)], as: UTF8.self)
    #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") && header.hasSuffix("\n"))
    let back = try NPY.readFloat32(d)
    #expect(back.shape == [2, 3] && back.values == [1, 2, 3, 4, 5, 6])
    #expect(throws: SubQError.self) { try NPY.encode(float32: [1], shape: [2]) }
    #expect(throws: SubQError.self) { try NPY.readFloat32(Data(d.prefix(20))) }
  }

  /// A .npy header is hostile input: its shape's byte count must not overflow (fuzz_swift_npy found
  /// a shape of 2^61 elements, whose count * 4 trapped).
  @Test func hugeShapeIsAnErrorNotATrap() {
    func message(_ shape: String) -> String {
      var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
      header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
      var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
      d.append(contentsOf: Array(header.utf8) + [0, 0, 0, 0])
      do {
        _ = try NPY.readFloat32(d)
        return "no error"
      } catch {
        return error.message
      }
    }
    #expect(message("(2305843009213693952, 1)").contains("shape"))
    #expect(message("(4611686018427387904,)").contains("shape"))
    #expect(message("(9223372036854775807,)").contains("shape"))
    #expect(message("(3037000500, 3037000500)").contains("shape"))
    #expect(message("(2,)").contains("4 data bytes for shape [2]"))
  }
}
