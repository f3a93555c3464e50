import Foundation

/// A parsed JSON document (config.json and friends), with the lenient number forms Hugging Face
/// files contain: bare `Infinity`, `-Infinity` and `NaN` tokens (Python's json module writes them)
/// and `{"__float__": "Infinity"}` (transformers 5.x). Objects keep no key order.
///
/// Thread-safety: a plain value, `Sendable`.
public enum JSONValue: Sendable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  /// Parses `data` as UTF-8 JSON. Throws a `SubQError` (`invalidArgument`) naming `source`.
  public static func parse(_ data: Data, source: String) throws(SubQError) -> JSONValue {
    let cleaned = quoteNonFiniteTokens(data)
    let any: Any
    do {
      any = try JSONSerialization.jsonObject(with: cleaned, options: [.fragmentsAllowed])
    } catch {
      throw .invalidArgument("\(source): not valid JSON (\(error.localizedDescription))")
    }
    return JSONValue(foundation: any)
  }

  init(foundation any: Any) {
    switch any {
    case is NSNull: self = .null
    case let s as String:
      switch s {
      case Self.infToken: self = .number(.infinity)
      case Self.negInfToken: self = .number(-.infinity)
      case Self.nanToken: self = .number(.nan)
      default: self = .string(s)
      }
    case let n as NSNumber:
      // JSONSerialization yields NSNumber for both booleans and numbers; booleans carry the
      // Objective-C type "c" (checked on Linux and Darwin), numbers from JSON never do.
      if String(cString: n.objCType) == "c" {
        self = .bool(n.boolValue)
      } else {
        self = .number(n.doubleValue)
      }
    case let a as [Any]: self = .array(a.map(JSONValue.init(foundation:)))
    case let d as [String: Any]:
      if d.count == 1, let f = d["__float__"] as? String {  // transformers 5.x non-finite floats
        switch f {
        case "Infinity", "inf": self = .number(.infinity); return
        case "-Infinity", "-inf": self = .number(-.infinity); return
        case "NaN", "nan": self = .number(.nan); return
        default: break
        }
      }
      self = .object(d.mapValues(JSONValue.init(foundation:)))
    default: self = .null
    }
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

  // MARK: accessors

  public subscript(key: String) -> JSONValue? {
    if case .object(let d) = self { return d[key] }
    return nil
  }

  public var isNull: Bool { if case .null = self { return true } else { return false } }
  public var double: Double? { if case .number(let d) = self { return d } else { return nil } }
  public var string: String? { if case .string(let s) = self { return s } else { return nil } }
  public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
  public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
  public var object: [String: JSONValue]? { if case .object(let o) = self { return o } else { return nil } }

  /// An exact integer (a JSON number with no fractional part within ±2^53).
  public var int: Int? {
    guard case .number(let d) = self, d.isFinite, d == d.rounded(), abs(d) <= 9_007_199_254_740_992 else { return nil }
    return Int(d)
  }
}

/// Typed reads of a JSON object with errors that name the file and the key.
struct JSONObjectReader {
  let object: [String: JSONValue]
  let source: String

  init(_ value: JSONValue, source: String) throws(SubQError) {
    guard let o = value.object else { throw .invalidArgument("\(source): the top level is not a JSON object") }
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
