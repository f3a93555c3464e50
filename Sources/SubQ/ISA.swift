internal import CSubQ

/// An instruction-set path of SubQ's micro-kernels, mirroring the C `subq_isa`.
///
/// On x86-64 the paths are ordered `scalar < avx2 < avx512 < avx512VNNI < avx512BF16`; on arm64
/// `scalar < neon < neonDot`. A cap (``Context/Parameters/maxISA``) admits every path of the same
/// architecture whose rank is not above it, and always `scalar`. Results are bitwise reproducible
/// for a fixed ISA path, not across paths.
///
/// Thread-safety: a plain value; the host queries may be used from any thread.
public enum ISA: Sendable, Hashable, CustomStringConvertible {
  /// "The best the host supports" (`SUBQ_ISA_AUTO`); only meaningful as a cap.
  case auto
  /// Portable C, every architecture.
  case scalar
  /// x86-64 AVX2 + FMA + F16C.
  case avx2
  /// x86-64 AVX-512 F, BW, DQ, VL.
  case avx512
  /// AVX-512 with VNNI.
  case avx512VNNI
  /// AVX-512 with BF16.
  case avx512BF16
  /// AArch64 Advanced SIMD.
  case neon
  /// AArch64 Advanced SIMD with SDOT/UDOT.
  case neonDot
  /// A value this version of the Swift façade does not know (a newer C library), with its raw value.
  case unknown(Int32)

  /// Every concrete path this façade knows (no `auto`, no `unknown`), in C enum order.
  public static let allKnown: [ISA] = [.scalar, .avx2, .avx512, .avx512VNNI, .avx512BF16, .neon, .neonDot]

  /// The best path this CPU and OS support (what ``auto`` resolves to before any cap; `subq_host_isa()`).
  public static var host: ISA { ISA(subq_host_isa()) }

  /// The known paths this host can execute, lowest first (always contains ``scalar``).
  public static var supported: [ISA] { allKnown.filter(\.isSupportedByHost) }

  /// Whether the host can execute code of this path (`subq_host_supports_isa`). `false` for
  /// ``auto`` and ``unknown(_:)`` values the library does not know.
  public var isSupportedByHost: Bool {
    if case .auto = self { return false }
    return subq_host_supports_isa(cValue)
  }

  /// The raw `subq_isa` value.
  public var rawValue: Int32 {
    switch self {
    case .auto: -1
    case .scalar: 0
    case .avx2: 10
    case .avx512: 20
    case .avx512VNNI: 21
    case .avx512BF16: 22
    case .neon: 100
    case .neonDot: 101
    case .unknown(let raw): raw
    }
  }

  /// Maps a raw `subq_isa` value; values this façade does not know become ``unknown(_:)``.
  public init(rawValue: Int32) {
    switch rawValue {
    case -1: self = .auto
    case 0: self = .scalar
    case 10: self = .avx2
    case 20: self = .avx512
    case 21: self = .avx512VNNI
    case 22: self = .avx512BF16
    case 100: self = .neon
    case 101: self = .neonDot
    default: self = .unknown(rawValue)
    }
  }

  /// Parses a token as `SUBQ_MAX_ISA` accepts it ("avx2", "AVX512BF16", "auto", "native"; case-insensitive).
  /// - Throws: ``SubQError/Code/invalidArgument`` for an unknown name.
  public init(name: String) throws(SubQError) {
    var raw = subq_isa(rawValue: 0)!
    let status = name.withCString { subq_isa_from_name($0, &raw) }
    try SubQError.check(status)
    self.init(raw)
  }

  /// The library's lower-case token ("avx2", "auto"; "unknown" for unknown values; `subq_isa_name`).
  public var name: String { String(cString: subq_isa_name(cValue)) }

  /// Same as ``name``.
  public var description: String { name }

  init(_ c: subq_isa) { self.init(rawValue: c.rawValue) }

  var cValue: subq_isa {
    // subq_isa is an open C enum imported as a RawRepresentable struct: every Int32 is representable.
    subq_isa(rawValue: rawValue)!
  }
}
