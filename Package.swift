// swift-tools-version:6.0
import PackageDescription

// Hot loops use fused multiply-add (the PyTorch update rounding). Without the FMA target feature
// Swift lowers `addingProduct` to a libm call per element, 30x slower. -target-cpu haswell (AVX2, FMA,
// Haswell and later) makes it one instruction; the results are the same bits either way.
#if arch(x86_64)
let engineFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let engineFlags: [SwiftSetting] = []
#endif

// Swift 6 language mode (complete strict-concurrency checking) per target. The package default
// stays Swift 5 for the targets that have not moved yet.
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

// Dependency direction: cwrepro -> Presentation -> Replayer -> Engine -> Recorder (docs/architecture.md).
// Only Engine imports COpenBLAS; Recorder knows nothing of Engine types; only cwrepro uses Presentation.
let package = Package(
    name: "cwrepro",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cwrepro", targets: ["cwrepro"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Recorder", targets: ["Recorder"]),
        .library(name: "Replayer", targets: ["Replayer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        // SHA-256 for the record chain and seal (Recorder/RecordChain.swift); on Linux it builds its own BoringSSL.
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // CPUID and XGETBV: which instructions this CPU runs (compiled for any x86-64, like Recorder).
        .target(name: "CCPUFeatures"),
        // Per-tensor statistics kernel: optimised in debug builds too, no FMA contraction (same bits on every
        // CPU); an AVX2 clone chosen at run time, the baseline x86-64 one otherwise.
        .target(name: "CTensorStats", cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]),
        // The reference GEMM's kernels (determinism.gemm: reference): optimised in debug builds too, no FMA
        // contraction (a rounded product, then a rounded sum: the same bits on every CPU); AVX-512, AVX2 and
        // portable variants chosen at run time.
        .target(name: "CGEMM", cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]),
        .target(name: "Recorder", dependencies: ["CXXHash", "CCPUFeatures", "CTensorStats", .product(name: "GRDB", package: "GRDB.swift"),
                                                 .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: swift6),
        .target(name: "Engine", dependencies: ["Recorder", "CCPUFeatures", "COpenBLAS", "CZlib", "CGEMM"], swiftSettings: engineFlags + swift6),
        .target(name: "Replayer", dependencies: ["Engine", "Recorder"], swiftSettings: swift6),
        // The presentation layer: every renderer (text, Markdown, JSON, JUnit, annotations, plots).
        // Only the command line uses it; it lives in the command line's directory.
        .target(name: "Presentation", dependencies: ["Replayer", "Engine", "Recorder"], path: "Sources/cwrepro/Presentation",
                swiftSettings: swift6),
        .executableTarget(name: "cwrepro", dependencies: [
            "Presentation", "Replayer", "Engine", "Recorder",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], exclude: ["Presentation"], swiftSettings: swift6),
        .executableTarget(name: "Benchmarks", dependencies: ["Engine", "Recorder", "Replayer"], swiftSettings: swift6),
        .testTarget(name: "RecorderTests", dependencies: ["Recorder"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Recorder"], resources: [.copy("Fixtures")], swiftSettings: swift6),
        .testTarget(name: "ReplayerTests", dependencies: ["Replayer", "Presentation", "Engine", "Recorder"], swiftSettings: swift6),
        .testTarget(name: "CLITests", dependencies: ["cwrepro", "Presentation", .product(name: "GRDB", package: "GRDB.swift")],
                    swiftSettings: swift6),
    ],
    swiftLanguageModes: [.v5]
)
