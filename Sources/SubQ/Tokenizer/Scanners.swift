// Hand-written scanners for the pre-tokenizer regexes of the known model families.
//
// They reproduce, match for match, what Oniguruma (the regex engine of `tokenizers`) finds for
//   GPT-2 (ByteLevel use_regex):
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama-3 (Split, with {1,3}) and Qwen2 (the same with \p{N}):
//     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// working on Unicode scalars (as the regexes do), with \s = White_Space, \p{L} = general category L*,
// \p{N} = N*. Each alternative is tried in order at the current position; the comments give the
// backtracking outcome each branch encodes. Every scalar is in one of \s, \p{L}, \p{N} or their
// complement, so the matches tile the input.

/// Class bits of one scalar.
enum ScalarClass {
  static let letter: UInt8 = 1
  static let number: UInt8 = 2
  static let space: UInt8 = 4  // \s
  static let sp: UInt8 = 8  // U+0020 itself
  static let crlf: UInt8 = 16  // \r or \n
  static let other: UInt8 = 32  // none of \s, \p{L}, \p{N}

  static let ascii: [UInt8] = (0..<128).map { classify(UInt32($0)) }
  /// Classes of the Basic Multilingual Plane, computed once (64 KiB); other planes are classified per call.
  static let bmp: [UInt8] = (0..<0x10000).map { classify(UInt32($0)) }

  static func classify(_ v: UInt32) -> UInt8 {
    guard let s = Unicode.Scalar(v) else { return other }
    let p = s.properties
    if p.isWhitespace {
      var c = space
      if v == 0x20 { c |= sp }
      if v == 0x0A || v == 0x0D { c |= crlf }
      return c
    }
    switch p.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
    case .decimalNumber, .letterNumber, .otherNumber: return number
    default: return other
    }
  }

  @inline(__always)
  static func of(_ v: UInt32) -> UInt8 {
    v < 128 ? ascii[Int(v)] : v < 0x10000 ? bmp[Int(v)] : classify(v)
  }
}

/// A piece of text decoded to scalars with their classes and UTF-8 offsets (buffers reused).
struct ScalarRun {
  var scalars: [UInt32] = []
  var classes: [UInt8] = []
  /// Byte offset of each scalar, plus the end offset.
  var offsets: [Int32] = []

  /// Decodes valid UTF-8 `bytes[range]`; offsets are relative to `range.lowerBound`.
  mutating func load(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
    let cap = range.count + 1
    // Sized to the byte count (an upper bound), within the capacity kept from earlier pieces.
    scalars.removeAll(keepingCapacity: true)
    classes.removeAll(keepingCapacity: true)
    offsets.removeAll(keepingCapacity: true)
    scalars.append(contentsOf: repeatElement(0, count: cap))
    classes.append(contentsOf: repeatElement(0, count: cap))
    offsets.append(contentsOf: repeatElement(0, count: cap))
    let base = range.lowerBound
    let end = range.upperBound
    var k = 0
    scalars.withUnsafeMutableBufferPointer { sc in
      classes.withUnsafeMutableBufferPointer { cl in
        offsets.withUnsafeMutableBufferPointer { of in
          let ascii = ScalarClass.ascii
          var i = base
          while i < end {
            let b0 = UInt32(bytes[i])
            of[k] = Int32(i - base)
            if b0 < 0x80 {
              sc[k] = b0
              cl[k] = ascii[Int(b0)]
              i += 1
            } else {
              let v: UInt32
              if b0 < 0xE0 {
                v = (b0 & 0x1F) << 6 | (UInt32(bytes[i + 1]) & 0x3F)
                i += 2
              } else if b0 < 0xF0 {
                v = (b0 & 0x0F) << 12 | (UInt32(bytes[i + 1]) & 0x3F) << 6 | (UInt32(bytes[i + 2]) & 0x3F)
                i += 3
              } else {
                v = (b0 & 0x07) << 18 | (UInt32(bytes[i + 1]) & 0x3F) << 12 | (UInt32(bytes[i + 2]) & 0x3F) << 6
                  | (UInt32(bytes[i + 3]) & 0x3F)
                i += 4
              }
              sc[k] = v
              cl[k] = ScalarClass.of(v)
            }
            k += 1
          }
          of[k] = Int32(end - base)
        }
      }
    }
    // Scanners see exactly k scalars; offsets keeps the end offset at index k.
    scalars.removeSubrange(k...)
    classes.removeSubrange(k...)
    offsets.removeSubrange((k + 1)...)
  }
}

enum KnownPattern: Sendable, Equatable {
  case gpt2
  /// Llama-3 (maxDigits 3) and Qwen2 (maxDigits 1).
  case llama3(maxDigits: Int)

  static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
  static let llama3Source =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
  static let qwen2Source =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

  init?(source: String) {
    switch source {
    case Self.gpt2Source: self = .gpt2
    case Self.llama3Source: self = .llama3(maxDigits: 3)
    case Self.qwen2Source: self = .llama3(maxDigits: 1)
    default: return nil
    }
  }

  /// Appends the match end offsets (in scalars) for the whole run; matches tile the run.
  func scan(_ r: ScalarRun, into ends: inout [Int]) {
    switch self {
    case .gpt2: scanGPT2(r, &ends)
    case .llama3(let d): scanLlama3(r, maxDigits: d, &ends)
    }
  }
}

@inline(__always)
private func runEnd(_ cls: UnsafeBufferPointer<UInt8>, from i: Int, _ mask: UInt8) -> Int {
  var j = i
  while j < cls.count && cls[j] & mask != 0 { j += 1 }
  return j
}

/// Length of a contraction at i ('s 't 're 've 'm 'll 'd), 0 if none.
@inline(__always)
private func contraction(_ sc: UnsafeBufferPointer<UInt32>, _ i: Int, caseInsensitive: Bool) -> Int {
  guard sc[i] == 0x27, i + 1 < sc.count else { return 0 }
  @inline(__always) func fold(_ v: UInt32) -> UInt32 {
    guard caseInsensitive else { return v }
    if v >= 0x41 && v <= 0x5A { return v + 32 }
    if v == 0x17F { return 0x73 }  // ſ (long s) case-folds to s
    if v == 0x212A { return 0x6B }  // Kelvin sign folds to k
    return v
  }
  let a = fold(sc[i + 1])
  switch a {
  case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
  case 0x72, 0x76:  // r v + e
    if i + 2 < sc.count && fold(sc[i + 2]) == 0x65 { return 3 }
  case 0x6C:  // l + l
    if i + 2 < sc.count && fold(sc[i + 2]) == 0x6C { return 3 }
  default: break
  }
  return 0
}

/// \s+(?!\S)|\s+ for a whitespace run [i, j): the run up to its end if the input ends there,
/// else all but its last scalar (left for the next token), else (one scalar before a non-space) the run.
@inline(__always)
private func spaceRunEnd(_ i: Int, _ j: Int, _ n: Int) -> Int {
  if j == n { return j }
  if j - i >= 2 { return j - 1 }
  return j
}

private func scanGPT2(_ r: ScalarRun, _ ends: inout [Int]) {
  let L = ScalarClass.letter
  let N = ScalarClass.number
  let O = ScalarClass.other
  r.classes.withUnsafeBufferPointer { cls in
    r.scalars.withUnsafeBufferPointer { sc in
      let n = cls.count
      var i = 0
      while i < n {
        let c = cls[i]
        var e: Int
        let k = contraction(sc, i, caseInsensitive: false)
        if k > 0 {
          e = i + k
        } else if c & ScalarClass.sp != 0 && i + 1 < n && cls[i + 1] & (L | N | O) != 0 {
          // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` with the optional space taken.
          e = runEnd(cls, from: i + 1, cls[i + 1] & (L | N | O))
        } else if c & (L | N | O) != 0 {
          e = runEnd(cls, from: i, c & (L | N | O))
        } else {
          e = spaceRunEnd(i, runEnd(cls, from: i, ScalarClass.space), n)
        }
        ends.append(e)
        i = e
      }
    }
  }
}

private func scanLlama3(_ r: ScalarRun, maxDigits: Int, _ ends: inout [Int]) {
  let L = ScalarClass.letter
  let N = ScalarClass.number
  let O = ScalarClass.other
  let S = ScalarClass.space
  let CRLF = ScalarClass.crlf
  r.classes.withUnsafeBufferPointer { cls in
    r.scalars.withUnsafeBufferPointer { sc in
      let n = cls.count
      var i = 0
      while i < n {
        let c = cls[i]
        var e: Int
        let k = contraction(sc, i, caseInsensitive: true)
        if k > 0 {
          e = i + k
        } else if c & (L | N | CRLF) == 0 && i + 1 < n && cls[i + 1] & L != 0 {
          // [^\r\n\p{L}\p{N}]?\p{L}+ with the optional prefix taken.
          e = runEnd(cls, from: i + 1, L)
        } else if c & L != 0 {
          e = runEnd(cls, from: i, L)
        } else if c & N != 0 {
          e = min(runEnd(cls, from: i, N), i + maxDigits)
        } else if c & ScalarClass.sp != 0 && i + 1 < n && cls[i + 1] & O != 0 {
          // ` ?[^\s\p{L}\p{N}]+[\r\n]*` with the space taken.
          e = runEnd(cls, from: runEnd(cls, from: i + 1, O), CRLF)
        } else if c & O != 0 {
          e = runEnd(cls, from: runEnd(cls, from: i, O), CRLF)
        } else {
          // c is \s. `\s*[\r\n]+`: the greedy \s* backs off to the last \r/\n of the run.
          let j = runEnd(cls, from: i, S)
          var last = -1
          var t = j - 1
          while t >= i {
            if cls[t] & CRLF != 0 {
              last = t
              break
            }
            t -= 1
          }
          e = last >= 0 ? last + 1 : spaceRunEnd(i, j, n)
        }
        ends.append(e)
        i = e
      }
    }
  }
}
