import Foundation

/// Reading Hugging Face config files with the strict JSON parser of Tokenizer/JSON.swift, plus the
/// lenient number forms those files contain: bare `Infinity`, `-Infinity` and `NaN` tokens
/// (Python's json module writes them) and `{"__float__": "Infinity"}` (transformers 5.x).
enum ConfigJSON {
  /// Parses `data`; throws a `SubQError` (`invalidArgument`) naming `source`.
  static func parse(_ data: Data, source: String) throws(SubQError) -> JSONValue {
    let cleaned = [UInt8](quoteNonFiniteTokens(data))
    return try cleaned.withUnsafeBufferPointer { (b) throws(SubQError) in try parseJSON(b, context: source) }
  }

  // Sentinels that cannot occur in real configs (they contain control characters).
  static let infToken = "\u{1}subq-inf"
  static let negInfToken = "\u{1}subq-neg-inf"
  static let nanToken = "\u{1}subq-nan"

  /// Rewrites bare Infinity / -Infinity / NaN tokens outside strings into sentinel strings so
  /// that a strict JSON parser accepts the document.
  static func quoteNonFiniteTokens(_ data: Data) -> Data {
    let bytes = [UInt8](data)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count + 16)
    var i = 0
    var inString = false
    func matches(_ word: String, at j: Int) -> Bool {
      let w = Array(word.utf8)
      guard j + w.count <= bytes.count, Array(bytes[j..<j + w.count]) == w else { return false }
      // a token ends at a delimiter, not inside an identifier
      if j + w.count < bytes.count {
        let c = bytes[j + w.count]
        if (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F { return false }
      }
      return true
    }
    func emit(_ s: String) { out.append(0x22); out.append(contentsOf: Array(s.unicodeScalars.map { UInt8($0.value) })); out.append(0x22) }
    while i < bytes.count {
      let c = bytes[i]
      if inString {
        out.append(c)
        if c == 0x5C, i + 1 < bytes.count {  // backslash escape: copy the next byte verbatim
          out.append(bytes[i + 1])
          i += 2
          continue
        }
        if c == 0x22 { inString = false }
        i += 1
        continue
      }
      if c == 0x22 { inString = true; out.append(c); i += 1; continue }
      if matches("-Infinity", at: i) { emit("\\u0001subq-neg-inf"); i += 9; continue }
      if matches("Infinity", at: i) { emit("\\u0001subq-inf"); i += 8; continue }
      if matches("NaN", at: i) { emit("\\u0001subq-nan"); i += 3; continue }
      out.append(c)
      i += 1
    }
    return Data(out)
  }

}

extension JSONValue {
  /// A number (ints widened; the non-finite forms above included), else nil.
  var double: Double? {
    switch self {
    case .int(let i): return Double(i)
    case .double(let d): return d
    case .string(let s):
      switch s {
      case ConfigJSON.infToken: return .infinity
      case ConfigJSON.negInfToken: return -.infinity
      case ConfigJSON.nanToken: return .nan
      default: return nil
      }
    case .object(let m) where m.count == 1 && m[0].0 == "__float__":
      switch m[0].1 {
      case .string("Infinity"), .string("inf"): return .infinity
      case .string("-Infinity"), .string("-inf"): return -.infinity
      case .string("NaN"), .string("nan"): return .nan
      default: return nil
      }
    default: return nil
    }
  }

  /// An exact integer: written as one, or a float with no fractional part within ±2^53.
  var int: Int? {
    switch self {
    case .int(let i): return Int(exactly: i)
    case .double(let d) where d.isFinite && d == d.rounded() && abs(d) <= 9_007_199_254_740_992: return Int(d)
    default: return nil
    }
  }

  var string: String? {
    if case .string(let s) = self, double == nil { return s }
    return nil
  }
  var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
  var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
  /// Object members as a dictionary (the last of repeated keys wins, as in `subscript(key:)`).
  var dictionary: [String: JSONValue]? {
    guard case .object(let m) = self else { return nil }
    var d: [String: JSONValue] = [:]
    for (k, v) in m { d[k] = v }
    return d
  }
}

/// Typed reads of a JSON object with errors that name the file and the key.
struct JSONObjectReader {
  let object: [String: JSONValue]
  let source: String

  init(_ value: JSONValue, source: String) throws(SubQError) {
    guard let o = value.dictionary else { throw .invalidArgument("\(source): the top level is not a JSON object") }
    object = o
    self.source = source
  }

  func has(_ key: String) -> Bool { object[key].map { !$0.isNull } ?? false }

  func int(_ key: String) throws(SubQError) -> Int {
    guard let v = object[key], !v.isNull else { throw .invalidArgument("\(source): missing key '\(key)'") }
    guard let i = v.int else { throw .invalidArgument("\(source): '\(key)' is not an integer") }
    return i
  }

  func int(_ key: String, default d: Int) throws(SubQError) -> Int {
    guard let v = object[key], !v.isNull else { return d }
    guard let i = v.int else { throw .invalidArgument("\(source): '\(key)' is not an integer") }
    return i
  }

  func optionalInt(_ key: String) throws(SubQError) -> Int? {
    guard let v = object[key], !v.isNull else { return nil }
    guard let i = v.int else { throw .invalidArgument("\(source): '\(key)' is not an integer") }
    return i
  }

  /// A positive integer in 1...limit.
  func positive(_ key: String, default d: Int? = nil, limit: Int = 1 << 24) throws(SubQError) -> Int {
    let v: Int
    if let d { v = try int(key, default: d) } else { v = try int(key) }
    guard v >= 1, v <= limit else { throw .invalidArgument("\(source): '\(key)' = \(v) is outside 1...\(limit)") }
    return v
  }

  func double(_ key: String, default d: Double) throws(SubQError) -> Double {
    guard let v = object[key], !v.isNull else { return d }
    guard let x = v.double else { throw .invalidArgument("\(source): '\(key)' is not a number") }
    return x
  }

  /// A norm epsilon: finite and >= 0 (NaN or Inf would only fail later, inside the norm kernel).
  func epsilon(_ key: String, default d: Double) throws(SubQError) -> Double {
    let x = try double(key, default: d)
    guard x.isFinite, x >= 0 else { throw .invalidArgument("\(source): '\(key)' = \(x) must be finite and >= 0") }
    return x
  }

  func bool(_ key: String, default d: Bool) throws(SubQError) -> Bool {
    guard let v = object[key], !v.isNull else { return d }
    guard let b = v.bool else { throw .invalidArgument("\(source): '\(key)' is not a boolean") }
    return b
  }

  func string(_ key: String) throws(SubQError) -> String? {
    guard let v = object[key], !v.isNull else { return nil }
    guard let s = v.string else { throw .invalidArgument("\(source): '\(key)' is not a string") }
    return s
  }

  /// An integer or a list of integers (eos_token_id may be either); empty when absent.
  func intList(_ key: String) throws(SubQError) -> [Int] {
    guard let v = object[key], !v.isNull else { return [] }
    if let i = v.int { return [i] }
    guard let a = v.array else { throw .invalidArgument("\(source): '\(key)' is neither an integer nor a list") }
    var out: [Int] = []
    for e in a {
      guard let i = e.int else { throw .invalidArgument("\(source): '\(key)' holds a non-integer") }
      out.append(i)
    }
    return out
  }
}
