internal import CSubQ

/// An error reported by SubQ: a status code and the message naming the offending argument.
///
/// Errors come from two places, both with the same shape:
/// - the C library: `code` mirrors the returned `subq_status` and `message` is
///   `subq_last_error_message()`, read on the same thread right after the failing call
///   (for example `"subq_gemm: lda (3) is smaller than k (4)"`);
/// - the Swift façade's own checks, made before any C call (buffer sizes against shapes
///   and strides, negative sizes): `code` is ``Code/invalidArgument`` and the message starts
///   with the Swift function's name and names the argument (for example
///   `"gemm: a has 11 elements but m=3, k=4 with strides (4, 1) need 12"`).
///
/// Every throwing SubQ API uses typed throws, `throws(SubQError)`.
///
/// Thread-safety: a plain value, `Sendable`.
public struct SubQError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The category of the failure, mirroring the C `subq_status` codes (`SUBQ_OK` is not an error
  /// and never appears).
  public enum Code: Sendable, Hashable, CustomStringConvertible {
    /// `SUBQ_ERR_INVALID_ARGUMENT`: a size, stride, pointer, enum value or buffer is invalid.
    case invalidArgument
    /// `SUBQ_ERR_OUT_OF_MEMORY`: an allocation failed.
    case outOfMemory
    /// `SUBQ_ERR_UNSUPPORTED`: no implementation for this shape, dtype, ISA or build
    /// (for example an hwloc synthetic topology in a build without hwloc).
    case unsupported
    /// `SUBQ_ERR_INVALID_STATE`: the object cannot be used now (for example a context created before `fork()`).
    case invalidState
    /// `SUBQ_ERR_BUFFER_TOO_SMALL`: a caller-provided workspace is too small.
    case bufferTooSmall
    /// `SUBQ_ERR_ABORTED`: the call was aborted by an abort callback.
    case aborted
    /// `SUBQ_ERR_SYSTEM`: an OS call failed; the message carries the errno text.
    case system
    /// `SUBQ_ERR_INTERNAL`: an internal invariant failed (a SubQ bug).
    case `internal`
    /// A status this version of the Swift façade does not know (a newer C library), with its raw value.
    case unknown(Int32)

    /// Maps a raw `subq_status` value. `0` (`SUBQ_OK`) maps to `.unknown(0)`, since it is no error.
    public init(rawValue: Int32) {
      switch rawValue {
      case 1: self = .invalidArgument
      case 2: self = .outOfMemory
      case 3: self = .unsupported
      case 4: self = .invalidState
      case 5: self = .bufferTooSmall
      case 6: self = .aborted
      case 7: self = .system
      case 8: self = .internal
      default: self = .unknown(rawValue)
      }
    }

    /// The raw `subq_status` value of this code.
    public var rawValue: Int32 {
      switch self {
      case .invalidArgument: 1
      case .outOfMemory: 2
      case .unsupported: 3
      case .invalidState: 4
      case .bufferTooSmall: 5
      case .aborted: 6
      case .system: 7
      case .internal: 8
      case .unknown(let raw): raw
      }
    }

    /// The library's static English text for this code (`subq_status_string`), e.g. "invalid argument".
    public var description: String {
      String(cString: subq_status_string(subq_status(rawValue: rawValue)!))
    }
  }

  /// What went wrong, as a category.
  public let code: Code
  /// Human-readable detail naming the offending argument; may be empty if the library gave none.
  public let message: String

  /// Creates an error value (mainly for tests and for wrappers built on SubQ).
  public init(code: Code, message: String) {
    self.code = code
    self.message = message
  }

  /// `"<code text>: <message>"`.
  public var description: String {
    message.isEmpty ? code.description : "\(code.description): \(message)"
  }

  /// Converts a C status into success or a thrown error, reading the thread-local message at once.
  /// Must be called on the thread that made the failing call, before any other SubQ call.
  @inline(__always)
  static func check(_ status: subq_status) throws(SubQError) {
    if status == .ok { return }
    throw SubQError(status)
  }

  /// The error for a failed C call: its status and this thread's last error message.
  /// Must be called on the thread that made the call, before any other SubQ call.
  init(_ status: subq_status) {
    self.init(code: Code(rawValue: status.rawValue), message: String(cString: subq_last_error_message()))
  }

  /// A Swift-side argument error (nothing was passed to C).
  static func invalidArgument(_ message: String) -> SubQError {
    SubQError(code: .invalidArgument, message: message)
  }
}
