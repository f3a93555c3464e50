internal import CSubQ

/// An immutable snapshot of a machine: packages, NUMA nodes, cores and processing units (PUs)
/// the process may use, plus cache sizes (`subq_topology`).
///
/// `Topology` is a `final class` rather than a `~Copyable` struct because the C object is
/// reference-counted, immutable and meant to be shared: one snapshot may back several contexts
/// (``Context/Parameters/topology`` retains it, and so does every context created from it),
/// and a class lets ARC map directly onto `subq_topology_retain`/`_release` while remaining
/// storable in the copyable ``Context/Parameters`` value and in collections. Its `deinit` drops
/// this object's reference.
///
/// Thread-safety: immutable after creation; `Sendable`, usable from any thread.
public final class Topology: @unchecked Sendable, CustomStringConvertible {
  let raw: OpaquePointer

  private init(owning raw: OpaquePointer) { self.raw = raw }

  deinit { subq_topology_release(raw) }

  /// The topology of this process's machine, restricted to its affinity mask and cgroup cpuset
  /// (hwloc when compiled in, else sysfs).
  /// - Throws: ``SubQError/Code/system`` when discovery fails.
  public static func create() throws(SubQError) -> Topology {
    var out: OpaquePointer? = nil
    try SubQError.check(subq_topology_create(&out))
    return Topology(owning: out!)
  }

  /// A topology from an hwloc synthetic description such as `"pack:2 numa:2 core:4 pu:1"`,
  /// for tests and for planning for other machines. Threads are never bound to synthetic PUs.
  /// - Throws: ``SubQError/Code/invalidArgument`` for a description hwloc rejects;
  ///   ``SubQError/Code/unsupported`` when the library was built without hwloc.
  public static func synthetic(_ description: String) throws(SubQError) -> Topology {
    var out: OpaquePointer? = nil
    let status = description.withCString { subq_topology_create_synthetic($0, &out) }
    try SubQError.check(status)
    return Topology(owning: out!)
  }

  /// A topology from an hwloc XML file (fixtures with asymmetric nodes).
  /// - Throws: ``SubQError/Code/invalidArgument`` for an unreadable or invalid file;
  ///   ``SubQError/Code/unsupported`` when the library was built without hwloc.
  public static func xml(path: String) throws(SubQError) -> Topology {
    var out: OpaquePointer? = nil
    let status = path.withCString { subq_topology_create_xml($0, &out) }
    try SubQError.check(status)
    return Topology(owning: out!)
  }

  /// Number of allowed NUMA nodes (at least 1).
  public var numNodes: Int { Int(subq_topology_num_nodes(raw)) }
  /// Number of allowed physical cores.
  public var numCores: Int { Int(subq_topology_num_cores(raw)) }
  /// Number of allowed processing units (hardware threads).
  public var numPUs: Int { Int(subq_topology_num_pus(raw)) }

  /// Cache size in bytes of data-cache `level` (1 = L1d per core, 2 = L2 per core, 3 = L3 per
  /// L3 domain); 0 when unknown or for other levels.
  public func cacheSize(level: Int) -> Int {
    guard let level32 = Int32(exactly: level) else { return 0 }
    return Int(subq_topology_cache_size(raw, level32))
  }

  /// A human-readable summary (`subq_topology_describe`).
  public var description: String {
    describeText { buf, cap in subq_topology_describe(raw, buf, cap) }
  }
}

/// Runs a C "describe into buf, return needed length" function twice: once to size, once to fill.
func describeText(_ fill: (UnsafeMutablePointer<CChar>?, Int) -> Int) -> String {
  let needed = fill(nil, 0)
  if needed <= 0 { return "" }
  return String(unsafeUninitializedCapacity: needed + 1) { bytes in
    bytes.withMemoryRebound(to: CChar.self) { chars in
      let written = fill(chars.baseAddress, chars.count)
      return min(written, needed)
    }
  }
}
