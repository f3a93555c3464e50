internal import CSubQ

/// The SubQ library version.
public enum Version {
  /// Version of the loaded library, "major.minor.patch".
  public static var string: String { String(cString: subq_version_string()) }
}
