import Testing

@testable import SubQ

@Suite struct VersionTests {
  @Test func runtimeMatchesHeadersAndString() {
    let c = Version.components
    #expect(Version.string == "\(c.major).\(c.minor).\(c.patch)")
    #expect(Version.number == Version.encode(major: c.major, minor: c.minor, patch: c.patch))
    // One source tree: the library and the headers Swift compiled against are the same version.
    #expect(Version.number == Version.headerNumber)
    #expect(Version.isCompatible)
    #expect(throws: Never.self) { try Version.checkCompatibility() }
    #expect(!Version.buildInfo.isEmpty)
  }

  @Test func encodingMatchesTheCMacroLayout() {
    #expect(Version.encode(major: 1, minor: 2, patch: 3) == 0x01_02_03)
    #expect(Version.decode(0x0A_0B_0C) == (10, 11, 12))
  }

  @Test(arguments: [
    (0x00_01_03 as UInt32, 0x00_01_00 as UInt32, true),  // newer patch
    (0x00_02_00, 0x00_01_07, true),  // newer minor
    (0x00_01_00, 0x00_02_00, false),  // older minor
    (0x01_00_00, 0x00_01_00, false),  // other major
    (0x00_01_00, 0x01_01_00, false),
  ])
  func compatibilityRule(runtime: UInt32, header: UInt32, expected: Bool) {
    #expect(Version.isCompatible(runtime: runtime, header: header) == expected)
  }
}

@Suite struct ErrorTests {
  @Test func codesMirrorSubQStatus() {
    let all: [SubQError.Code] = [
      .invalidArgument, .outOfMemory, .unsupported, .invalidState, .bufferTooSmall, .aborted, .system, .internal,
    ]
    #expect(all.map(\.rawValue) == Array(1...8))
    for code in all { #expect(SubQError.Code(rawValue: code.rawValue) == code) }
    #expect(SubQError.Code(rawValue: 42) == .unknown(42))
    #expect(SubQError.Code(rawValue: 0) == .unknown(0))
    #expect(SubQError.Code.invalidArgument.description == "invalid argument")
    #expect(SubQError.Code.system.description == "system error")
    #expect(SubQError.Code.unknown(42).description == "unknown status")
    let e = SubQError(code: .unsupported, message: "x")
    #expect(e.description == "unsupported: x")
  }

  @Test func libraryErrorCarriesThreadLocalMessage() {
    expectSubQError(.invalidArgument, containing: ["definitely-not-an-isa"]) {
      _ = try ISA(name: "definitely-not-an-isa")
    }
  }
}

@Suite struct ISATests {
  @Test func hostQueries() {
    let supported = ISA.supported
    #expect(supported.first == .scalar)
    #expect(supported.contains(ISA.host))
    #expect(ISA.host != .auto)
    for isa in ISA.allKnown { #expect(isa.isSupportedByHost == supported.contains(isa)) }
    #expect(!ISA.auto.isSupportedByHost)
    #expect(!ISA.unknown(12345).isSupportedByHost)
    #if arch(x86_64)
      #expect(!ISA.neon.isSupportedByHost)
      // The host's best path is the highest supported one.
      #expect(supported.last == ISA.host)
    #endif
  }

  @Test func namesRoundTrip() throws {
    for isa in ISA.allKnown + [.auto] {
      #expect(try ISA(name: isa.name) == isa)
      #expect(try ISA(name: isa.name.uppercased()) == isa)
      #expect(ISA(rawValue: isa.rawValue) == isa)
    }
    #expect(ISA.avx2.name == "avx2")
    #expect(ISA.avx512BF16.rawValue == 22)
    #expect(ISA(rawValue: 999) == .unknown(999))
    #expect(ISA.unknown(999).name == "unknown")
  }
}

@Suite struct TopologyTests {
  @Test func processTopology() throws {
    let t = try Topology.create()
    #expect(t.numNodes >= 1)
    #expect(t.numCores >= 1)
    #expect(t.numPUs >= t.numCores)
    #expect(t.cacheSize(level: 1) >= 0)
    #expect(t.cacheSize(level: 7) == 0)
    #expect(t.cacheSize(level: Int.max) == 0)
    #expect(!t.description.isEmpty)
  }

  /// Until hwloc support lands the library reports UNSUPPORTED; afterwards the counts must match
  /// the description. Either outcome is checked exactly.
  @Test func syntheticTopology() {
    do {
      let t = try Topology.synthetic("pack:2 numa:2 core:4 pu:2")
      #expect(t.numNodes == 4)
      #expect(t.numCores == 16)
      #expect(t.numPUs == 32)
      // A context placed on the synthetic machine (threads are never bound to synthetic PUs).
      var p = Context.Parameters(threads: 4)
      p.flags = [.noSpin]
      p.topology = t
      let ctx = try Context(p)
      #expect(ctx.numThreads == 4)
    } catch {
      #expect(error.code == .unsupported, "\(error)")
      #expect(error.message.contains("subq_topology_create_synthetic"))
    }
  }

  /// The asymmetric fixture of the C tests: 2 nodes with CPUs (plus a memory-only one), 4 allowed
  /// cores, 6 allowed PUs. UNSUPPORTED in a build without hwloc.
  @Test func xmlTopology() {
    // <repo>/Tests/SubQTests/BasicsTests.swift -> <repo>/Tests/C/topologies/...
    let testsDir = String(#filePath).split(separator: "/", omittingEmptySubsequences: false).dropLast(2)
      .joined(separator: "/")
    let path = testsDir + "/C/topologies/asym_memonly_disallowed.xml"
    do {
      let t = try Topology.xml(path: path)
      #expect(t.numNodes == 2)
      #expect(t.numCores == 4)
      #expect(t.numPUs == 6)
      #expect(t.description.contains("source=xml:"))
    } catch {
      #expect(error.code == .unsupported, "\(error)")
    }
  }

  @Test func invalidSyntheticAndXML() {
    let e1 = #expect(throws: SubQError.self) { try Topology.synthetic("pack:2 bogus:3") }
    #expect(e1?.code == .invalidArgument || e1?.code == .unsupported)
    if e1?.code == .invalidArgument { #expect(e1?.message.contains("description") == true) }
    let e2 = #expect(throws: SubQError.self) { try Topology.xml(path: "/nonexistent/subq-topology.xml") }
    #expect(e2?.code == .invalidArgument || e2?.code == .unsupported)
  }

  @Test func deinitReleasesAndContextRetains() throws {
    weak var weakTopology: Topology?
    var context: Context?
    do {
      let t = try Topology.create()
      weakTopology = t
      var p = Context.Parameters(threads: 1)
      p.topology = t
      context = try Context(p)
    }
    // The Swift object is gone (the C context holds its own C reference)...
    #expect(weakTopology == nil)
    // ...and the context still works with it.
    #expect(context?.numThreads == 1)
    context = nil
  }
}

/// Creates pools: serialised.
@Suite(.serialized) struct ContextTests {
  @Test func parametersComeFromCDefaults() {
    let p = Context.Parameters()
    #expect(p.numaNode == -1)
    #expect(p.flags.isEmpty)
    #expect(p.maxISA == .auto)
    #expect(p.topology == nil)
    #expect(p.threads >= 0)
    #expect((0...3).contains(p.verbose))
  }

  @Test(arguments: [1, 2, 3])
  func threadsAndDescription(threads: Int) throws {
    var p = Context.Parameters(threads: threads)
    p.flags = [.noSpin]
    let ctx = try Context(p)
    #expect(ctx.numThreads == threads)
    #expect(ctx.description.contains("threads=\(threads)"))
    #expect(ctx.description.contains(threads == 1 ? "runner=caller" : "runner=pool"))
    try ctx.pause()
    try ctx.resume()
  }

  @Test func defaultThreadCount() throws {
    var p = Context.Parameters()
    p.threads = 0
    p.flags = [.startPaused, .noSpin]
    let ctx = try Context(p)
    #expect(ctx.numThreads >= 1)
  }

  @Test(arguments: ISA.supported)
  func isaCap(isa: ISA) throws {
    let ctx = try Context(Context.Parameters(threads: 1, maxISA: isa))
    // The process-wide SUBQ_MAX_ISA may cap further; never above the requested cap.
    #expect(ISA.allKnown.firstIndex(of: ctx.isa)! <= ISA.allKnown.firstIndex(of: isa)!)
    if ISA.host == isa || ctx.isa == isa { #expect(ctx.isa.isSupportedByHost) }
    #expect(ctx.description.contains("isa=\(ctx.isa.name)"))
  }

  /// Every flag is a bit the library knows (it rejects unknown bits).
  @Test(arguments: [
    Context.Flags.flat, .useSMT, .startPaused, .flushDenormals, .noSpin, [.flat, .useSMT, .startPaused, .flushDenormals, .noSpin],
  ])
  func flagsAreKnownToTheLibrary(flags: Context.Flags) throws {
    var p = Context.Parameters(threads: 2)
    p.flags = flags.union(.noSpin)
    let ctx = try Context(p)
    #expect(ctx.numThreads == 2)
  }

  @Test func scalarCapIsExact() throws {
    let ctx = try Context(Context.Parameters(threads: 1, maxISA: .scalar))
    #expect(ctx.isa == .scalar)
  }

  @Test func invalidParameters() {
    expectSubQError(.invalidArgument, containing: ["n_threads"]) { _ = try Context(Context.Parameters(threads: -1)) }
    expectSubQError(.invalidArgument, containing: ["threads"]) { _ = try Context(Context.Parameters(threads: 1 << 40)) }
    var p = Context.Parameters(threads: 1)
    p.verbose = 9
    expectSubQError(.invalidArgument, containing: ["verbose"]) { _ = try Context(p) }
    p = Context.Parameters(threads: 1)
    p.flags = Context.Flags(rawValue: 0x8000)
    expectSubQError(.invalidArgument, containing: ["flags"]) { _ = try Context(p) }
    p = Context.Parameters(threads: 1)
    p.numaNode = Int.max
    expectSubQError(.invalidArgument, containing: ["numaNode"]) { _ = try Context(p) }
    #if arch(x86_64)
      p = Context.Parameters(threads: 1, maxISA: .neon)
      expectSubQError(.unsupported, containing: ["neon"]) { _ = try Context(p) }
    #endif
    p = Context.Parameters(threads: 1, maxISA: .unknown(777))
    expectSubQError(.invalidArgument, containing: ["max_isa"]) { _ = try Context(p) }
  }
}

@Suite(.serialized) struct ExecutorContextTests {
  @Test func dispatchContextProperties() throws {
    let ctx = try Context(executor: .dispatch(maxConcurrency: 3), parameters: Context.Parameters(threads: 1))
    #expect(ctx.numThreads == 3)
    #expect(ctx.description.contains("runner=host-executor"))
    let auto = try Context(executor: .dispatch)
    #expect(auto.numThreads == (try Topology.create().numPUs))
  }

  @Test func executorErrors() {
    expectSubQError(.invalidArgument, containing: ["max_concurrency"]) {
      _ = try Context(executor: .dispatch(maxConcurrency: 0))
    }
    var p = Context.Parameters(threads: 1)
    p.numa = .isolate
    expectSubQError(.invalidArgument, containing: ["numa"]) { _ = try Context(executor: .dispatch, parameters: p) }
  }

  /// The executor (and whatever its closure captures) is released with the context, and also
  /// when creation fails.
  @Test func executorReleasedWithContext() throws {
    final class Probe: Sendable {}
    weak var weakProbe: Probe?
    do {
      let probe = Probe()
      weakProbe = probe
      let ex = Executor(maxConcurrency: 2) { count, body in
        _ = probe
        for i in 0..<count { body(i) }
      }
      let ctx = try Context(executor: ex)
      #expect(ctx.numThreads == 2)
    }
    #expect(weakProbe == nil)
    do {
      let probe = Probe()
      weakProbe = probe
      let ex = Executor(maxConcurrency: -5) { count, body in
        _ = probe
        for i in 0..<count { body(i) }
      }
      #expect(throws: SubQError.self) { _ = try Context(executor: ex) }
    }
    #expect(weakProbe == nil)
  }
}
