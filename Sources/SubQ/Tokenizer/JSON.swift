// A small strict JSON reader for tokenizer.json (RFC 8259), with no Foundation dependency.
// Strings must be valid UTF-8 (escapes included: a lone surrogate is an error), nesting is
// limited so hostile input cannot exhaust the stack, and integers are kept exact.

/// A parsed JSON value.
enum JSONValue: Sendable {
  case null
  case bool(Bool)
  /// A number written without fraction or exponent that fits in Int64.
  case int(Int64)
  /// Any other number.
  case double(Double)
  case string(String)
  case array([JSONValue])
  /// Members in document order (duplicates kept; lookups take the last, as serde's maps do).
  case object([(String, JSONValue)])

  var typeName: String {
    switch self {
    case .null: "null"
    case .bool: "a boolean"
    case .int, .double: "a number"
    case .string: "a string"
    case .array: "an array"
    case .object: "an object"
    }
  }

  /// The member named `key` (the last one if repeated), nil if absent or if this is not an object.
  subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    for (k, v) in members.reversed() where k == key { return v }
    return nil
  }

  var isNull: Bool {
    if case .null = self { return true }
    return false
  }
}

/// Parses a whole JSON document; `context` prefixes error messages.
func parseJSON(_ bytes: UnsafeBufferPointer<UInt8>, context: String) throws(SubQError) -> JSONValue {
  var p = JSONParser(bytes: bytes, context: context)
  p.skipSpace()
  let v = try p.value(depth: 0)
  p.skipSpace()
  if p.i != bytes.count { throw p.fail("unexpected data after the JSON value") }
  return v
}

private struct JSONParser {
  let bytes: UnsafeBufferPointer<UInt8>
  let context: String
  var i = 0
  static let maxDepth = 200

  init(bytes: UnsafeBufferPointer<UInt8>, context: String) {
    self.bytes = bytes
    self.context = context
  }

  func fail(_ what: String) -> SubQError {
    .invalidArgument("\(context): invalid JSON at byte \(i): \(what)")
  }

  mutating func skipSpace() {
    while i < bytes.count {
      switch bytes[i] {
      case 0x20, 0x09, 0x0A, 0x0D: i += 1
      default: return
      }
    }
  }

  mutating func literal(_ word: StaticString, _ v: JSONValue) throws(SubQError) -> JSONValue {
    let n = word.utf8CodeUnitCount
    guard i + n <= bytes.count else { throw fail("truncated literal") }
    let w = word.utf8Start
    for k in 0..<n where bytes[i + k] != w[k] { throw fail("invalid literal") }
    i += n
    return v
  }

  mutating func value(depth: Int) throws(SubQError) -> JSONValue {
    guard depth < Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
    guard i < bytes.count else { throw fail("unexpected end of input") }
    switch bytes[i] {
    case UInt8(ascii: "{"):
      i += 1
      var members: [(String, JSONValue)] = []
      skipSpace()
      if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
        i += 1
        return .object(members)
      }
      while true {
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
        let key = try string()
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
        i += 1
        skipSpace()
        let v = try value(depth: depth + 1)
        members.append((key, v))
        skipSpace()
        guard i < bytes.count else { throw fail("unterminated object") }
        if bytes[i] == UInt8(ascii: ",") {
          i += 1
          continue
        }
        if bytes[i] == UInt8(ascii: "}") {
          i += 1
          return .object(members)
        }
        throw fail("expected ',' or '}'")
      }
    case UInt8(ascii: "["):
      i += 1
      var items: [JSONValue] = []
      skipSpace()
      if i < bytes.count && bytes[i] == UInt8(ascii: "]") {
        i += 1
        return .array(items)
      }
      while true {
        skipSpace()
        items.append(try value(depth: depth + 1))
        skipSpace()
        guard i < bytes.count else { throw fail("unterminated array") }
        if bytes[i] == UInt8(ascii: ",") {
          i += 1
          continue
        }
        if bytes[i] == UInt8(ascii: "]") {
          i += 1
          return .array(items)
        }
        throw fail("expected ',' or ']'")
      }
    case UInt8(ascii: "\""):
      return .string(try string())
    case UInt8(ascii: "t"): return try literal("true", .bool(true))
    case UInt8(ascii: "f"): return try literal("false", .bool(false))
    case UInt8(ascii: "n"): return try literal("null", .null)
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
      return try number()
    default:
      throw fail("unexpected character")
    }
  }

  mutating func number() throws(SubQError) -> JSONValue {
    let start = i
    var isInt = true
    if bytes[i] == UInt8(ascii: "-") { i += 1 }
    func digits(_ p: inout JSONParser) -> Int {
      let s = p.i
      while p.i < p.bytes.count, p.bytes[p.i] >= 0x30, p.bytes[p.i] <= 0x39 { p.i += 1 }
      return p.i - s
    }
    let intStart = i
    let nInt = digits(&self)
    guard nInt > 0 else { throw fail("invalid number") }
    if nInt > 1 && bytes[intStart] == UInt8(ascii: "0") { throw fail("leading zero in number") }
    if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
      isInt = false
      i += 1
      guard digits(&self) > 0 else { throw fail("invalid fraction") }
    }
    if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
      isInt = false
      i += 1
      if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
      guard digits(&self) > 0 else { throw fail("invalid exponent") }
    }
    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    if isInt, let v = Int64(text) { return .int(v) }
    guard let d = Double(text) else { throw fail("invalid number") }
    return .double(d)
  }

  mutating func hex4() throws(SubQError) -> UInt32 {
    guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[i]
      let d: UInt32
      switch c {
      case 0x30...0x39: d = UInt32(c - 0x30)
      case 0x41...0x46: d = UInt32(c - 0x41 + 10)
      case 0x61...0x66: d = UInt32(c - 0x61 + 10)
      default: throw fail("invalid \\u escape")
      }
      v = v << 4 | d
      i += 1
    }
    return v
  }

  /// Reads a string starting at the opening quote.
  mutating func string() throws(SubQError) -> String {
    i += 1
    let start = i
    // Fast path: no escapes.
    while i < bytes.count {
      let c = bytes[i]
      if c == UInt8(ascii: "\"") {
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<i])
        i += 1
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
      }
      if c == UInt8(ascii: "\\") { break }
      if c < 0x20 { throw fail("control character in string") }
      i += 1
    }
    var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<i]))
    while i < bytes.count {
      let c = bytes[i]
      if c == UInt8(ascii: "\"") {
        i += 1
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
      }
      if c < 0x20 { throw fail("control character in string") }
      if c != UInt8(ascii: "\\") {
        out.append(c)
        i += 1
        continue
      }
      i += 1
      guard i < bytes.count else { break }
      let e = bytes[i]
      i += 1
      switch e {
      case UInt8(ascii: "\""): out.append(0x22)
      case UInt8(ascii: "\\"): out.append(0x5C)
      case UInt8(ascii: "/"): out.append(0x2F)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var v = try hex4()
        if v >= 0xD800 && v < 0xDC00 {
          guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
            throw fail("lone surrogate in \\u escape")
          }
          i += 2
          let lo = try hex4()
          guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("lone surrogate in \\u escape") }
          v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
        } else if v >= 0xDC00 && v < 0xE000 {
          throw fail("lone surrogate in \\u escape")
        }
        appendUTF8(&out, Unicode.Scalar(v)!)
      default:
        throw fail("invalid escape")
      }
    }
    throw fail("unterminated string")
  }
}

@inline(__always)
func appendUTF8(_ out: inout [UInt8], _ s: Unicode.Scalar) {
  let v = s.value
  if v < 0x80 {
    out.append(UInt8(v))
  } else if v < 0x800 {
    out.append(UInt8(0xC0 | (v >> 6)))
    out.append(UInt8(0x80 | (v & 0x3F)))
  } else if v < 0x10000 {
    out.append(UInt8(0xE0 | (v >> 12)))
    out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
    out.append(UInt8(0x80 | (v & 0x3F)))
  } else {
    out.append(UInt8(0xF0 | (v >> 18)))
    out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
    out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
    out.append(UInt8(0x80 | (v & 0x3F)))
  }
}

/// Typed accessors that throw errors naming the field path.
struct JSONReader {
  let context: String

  func fail(_ path: String, _ what: String) -> SubQError {
    .invalidArgument("\(context): \(path) \(what)")
  }

  func object(_ v: JSONValue?, _ path: String) throws(SubQError) -> JSONValue {
    guard let v else { throw fail(path, "is missing") }
    guard case .object = v else { throw fail(path, "must be an object, not \(v.typeName)") }
    return v
  }

  func array(_ v: JSONValue?, _ path: String) throws(SubQError) -> [JSONValue] {
    guard let v else { throw fail(path, "is missing") }
    guard case .array(let a) = v else { throw fail(path, "must be an array, not \(v.typeName)") }
    return a
  }

  func string(_ v: JSONValue?, _ path: String) throws(SubQError) -> String {
    guard let v else { throw fail(path, "is missing") }
    guard case .string(let s) = v else { throw fail(path, "must be a string, not \(v.typeName)") }
    return s
  }

  /// A string, or nil when the field is absent or null.
  func optionalString(_ v: JSONValue?, _ path: String) throws(SubQError) -> String? {
    guard let v, !v.isNull else { return nil }
    return try string(v, path)
  }

  func bool(_ v: JSONValue?, _ path: String, default d: Bool? = nil) throws(SubQError) -> Bool {
    guard let v, !v.isNull else {
      if let d { return d }
      throw fail(path, "is missing")
    }
    guard case .bool(let b) = v else { throw fail(path, "must be a boolean, not \(v.typeName)") }
    return b
  }

  func int(_ v: JSONValue?, _ path: String, in range: ClosedRange<Int64>, default d: Int64? = nil) throws(SubQError)
    -> Int64
  {
    guard let v, !v.isNull else {
      if let d { return d }
      throw fail(path, "is missing")
    }
    guard case .int(let x) = v else { throw fail(path, "must be an integer, not \(v.typeName)") }
    guard range.contains(x) else { throw fail(path, "is \(x), outside \(range.lowerBound)...\(range.upperBound)") }
    return x
  }

  /// A token id: an integer in 0...Int32.max.
  func id(_ v: JSONValue?, _ path: String) throws(SubQError) -> Int32 {
    Int32(try int(v, path, in: 0...Int64(Int32.max)))
  }
}
