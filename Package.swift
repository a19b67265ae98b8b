// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Switchboard",
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibSSH",
            pkgConfig: "libssh",
            providers: [.apt(["libssh-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // Only libpq's header: the library is loaded with dlopen when a PostgreSQL store is
        // opened (RouteStore/Database/LibPQ.swift), so a node on SQLite never loads it.
        .systemLibrary(
            name: "CLibPQ",
            providers: [.apt(["libpq-dev"])]
        ),
        // Only <sys/eventfd.h>: a live session watcher's wake-up descriptor.
        .systemLibrary(
            name: "CEventFD"
        ),
        .target(
            name: "CThreadMemory"
        ),
        .target(
            name: "CSocketReadAhead"
        ),
        // OpenSSL 3's EVP calls for OpenSSH certificates (CA signatures, fingerprints).
        .target(
            name: "CCertCrypto",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        // OpenSSL 3's libssl for the admin API's TLS server (HTTPServer).
        .target(
            name: "CTLS",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .target(
            name: "TLS",
            dependencies: ["CTLS"]
        ),
        .target(
            name: "SSH",
            dependencies: ["CLibSSH", "CSocketReadAhead", "CCertCrypto"]
        ),
        .target(
            name: "RouteStore",
            dependencies: ["CSQLite", "CLibPQ"],
            resources: [.embedInCode("Migrations")]
        ),
        .target(
            name: "Proxy",
            dependencies: [
                "SSH",
                "CEventFD",
                "TLS",
                "CThreadMemory",
                "CSocketReadAhead",
                "RouteStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Yams", package: "Yams"),
            ],
            // The web console's page, script and style, and the admin API's OpenAPI description.
            resources: [.embedInCode("Admin/Console"), .embedInCode("Admin/openapi.json")]
        ),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "Proxy",
                "RouteStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(
            name: "RouteStoreTests",
            dependencies: ["RouteStore"]
        ),
        .testTarget(
            name: "ProxyTests",
            dependencies: ["Proxy", "TLS", "CSocketReadAhead"]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["switchboard", "SSH"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (Fuzz/): compiled only for scripts/fuzz.sh, which sets SWITCHBOARD_FUZZ=1 and
// builds with --sanitize=fuzzer (libFuzzer supplies `main`), so ordinary builds never see them.
if Context.environment["SWITCHBOARD_FUZZ"] == "1" {
    package.targets.append(
        .executableTarget(
            name: "switchboard-fuzz",
            dependencies: ["Proxy", "SSH", "RouteStore"],
            path: "Fuzz/Sources"
        )
    )
}
