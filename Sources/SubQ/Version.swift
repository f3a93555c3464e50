internal import CSubQ

/// Versions of the SubQ library: the one loaded at run time and the one whose headers this
/// Swift module was compiled against, and the compatibility rule between them.
///
/// Versions are encoded as in C: `(major << 16) | (minor << 8) | patch`.
/// Thread-safety: every member may be used from any thread.
public enum Version {
  /// Version of the loaded library, "major.minor.patch" (`subq_version_string()`).
  public static var string: String { String(cString: subq_version_string()) }

  /// Encoded version of the loaded library (`subq_version()`).
  public static var number: UInt32 { subq_version() }

  /// Major, minor and patch of the loaded library.
  public static var components: (major: Int, minor: Int, patch: Int) { decode(number) }

  /// Encoded version of the C headers this module was compiled against
  /// (`SUBQ_VERSION_MAJOR/MINOR/PATCH`).
  public static var headerNumber: UInt32 {
    encode(major: Int(SUBQ_VERSION_MAJOR), minor: Int(SUBQ_VERSION_MINOR), patch: Int(SUBQ_VERSION_PATCH))
  }

  /// Major, minor and patch of the headers this module was compiled against.
  public static var headerComponents: (major: Int, minor: Int, patch: Int) { decode(headerNumber) }

  /// Compiler, compiled ISA paths and hwloc/libnuma presence of the loaded library (`subq_build_info()`).
  public static var buildInfo: String { String(cString: subq_build_info()) }

  /// Encodes a version as `(major << 16) | (minor << 8) | patch` (`SUBQ_VERSION_ENCODE`).
  /// Components are truncated to their bit fields (major 16 bits, minor and patch 8 bits).
  public static func encode(major: Int, minor: Int, patch: Int) -> UInt32 {
    (UInt32(truncatingIfNeeded: major & 0xFFFF) << 16) | (UInt32(truncatingIfNeeded: minor & 0xFF) << 8)
      | UInt32(truncatingIfNeeded: patch & 0xFF)
  }

  /// Splits an encoded version into its components.
  public static func decode(_ version: UInt32) -> (major: Int, minor: Int, patch: Int) {
    (Int(version >> 16), Int((version >> 8) & 0xFF), Int(version & 0xFF))
  }

  /// The binding rule of the C ABI (runtime spec §2.2): a library `runtime` can serve code built
  /// against headers `header` when the majors are equal and the runtime minor is not older.
  public static func isCompatible(runtime: UInt32, header: UInt32) -> Bool {
    let r = decode(runtime), h = decode(header)
    return r.major == h.major && r.minor >= h.minor
  }

  /// Whether the loaded library is compatible with the headers this module was compiled against.
  public static var isCompatible: Bool { isCompatible(runtime: number, header: headerNumber) }

  /// Throws ``SubQError/Code/unsupported`` when the loaded library is incompatible with the
  /// headers this module was compiled against (see ``isCompatible(runtime:header:)``).
  public static func checkCompatibility() throws(SubQError) {
    guard isCompatible else {
      let r = components, h = headerComponents
      throw SubQError(
        code: .unsupported,
        message: "SubQ library \(r.major).\(r.minor).\(r.patch) is incompatible with headers \(h.major).\(h.minor).\(h.patch)")
    }
  }
}
