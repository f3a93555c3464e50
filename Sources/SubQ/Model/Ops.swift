import Foundation

/// The small memory-bound layer ops between the big kernels, as the models use them.
/// (Scaffolding in Swift until the C `nn` family lands; same arithmetic as HF in f32.)
enum Ops {
  /// y[r] = x[r] / sqrt(mean(x[r]²) + eps) * w, rows of `n` floats.
  static func rmsnorm(
    _ x: UnsafePointer<Float>, xStride: Int, rows: Int, n: Int, weight: UnsafePointer<Float>, eps: Float,
    into y: UnsafeMutablePointer<Float>, yStride: Int
  ) {
    for r in 0..<rows {
      let xr = x + r * xStride
      let yr = y + r * yStride
      var ss: Float = 0
      for i in 0..<n { ss += xr[i] * xr[i] }
      let inv = 1 / (ss / Float(n) + eps).squareRoot()
      for i in 0..<n { yr[i] = weight[i] * (xr[i] * inv) }
    }
  }

  /// out[r][i] = silu(g[r][i]) * u[r][i].
  static func swiglu(
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, stride: Int, rows: Int, n: Int,
    into out: UnsafeMutablePointer<Float>, outStride: Int
  ) {
    for r in 0..<rows {
      let g = gate + r * stride
      let u = up + r * stride
      let o = out + r * outStride
      for i in 0..<n { o[i] = g[i] / (1 + expf(-g[i])) * u[i] }
    }
  }
}

/// Rotary-embedding frequencies, computed in f32 as HF's modeling_rope_utils does.
struct RotaryTable: Sendable {
  let invFreq: [Float]  // rotated dims / 2
  let rotaryDim: Int

  init(_ rope: ModelConfig.RoPE, headDim: Int) {
    let dim = Int(Double(headDim) * rope.partialRotaryFactor)
    rotaryDim = dim
    let base = Float(rope.theta)
    var inv = (0..<(dim / 2)).map { i in 1 / powf(base, Float(2 * i) / Float(dim)) }
    switch rope.scaling {
    case .none: break
    case .linear(let f): inv = inv.map { $0 / Float(f) }
    case .llama3(let f, let lo, let hi, let l0):
      let factor = Float(f), low = Float(lo), high = Float(hi), old = Float(l0)
      let lowWavelen = old / low, highWavelen = old / high
      inv = inv.map { v in
        let wavelen = 2 * Float.pi / v
        let scaled = wavelen > lowWavelen ? v / factor : v
        let smooth = (old / wavelen - low) / (high - low)
        let smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        let medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen)
        return medium ? smoothed : scaled
      }
    }
    invFreq = inv
  }

  /// Rotates `heads` heads of `headDim` floats per token in place (HF rotate_half pairs (i, i + d/2)).
  func apply(
    _ x: UnsafeMutablePointer<Float>, tokenStride: Int, tokens: Int, heads: Int, headDim: Int, positions: [Int]
  ) {
    let half = rotaryDim / 2
    var c = [Float](repeating: 0, count: half)
    var s = [Float](repeating: 0, count: half)
    for t in 0..<tokens {
      let p = Float(positions[t])
      for i in 0..<half {
        let a = p * invFreq[i]
        c[i] = cosf(a)
        s[i] = sinf(a)
      }
      for h in 0..<heads {
        let v = x + t * tokenStride + h * headDim
        for i in 0..<half {
          let x0 = v[i], x1 = v[i + half]
          v[i] = x0 * c[i] - x1 * s[i]
          v[i + half] = x1 * c[i] + x0 * s[i]
        }
      }
    }
  }
}
