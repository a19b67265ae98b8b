import Foundation

/// The shared test lab: two real sshd upstreams ("upstream-a", "upstream-b") and one proxy with
/// routes for the test users. Built once per test process, torn down when it exits (which also
/// deletes the directories holding their keys).
final class Lab: @unchecked Sendable {
    let upstreamA: UpstreamServer
    let upstreamB: UpstreamServer
    let proxy: ProxyProcess
    var clients: Clients { Clients(port: proxy.port) }

    private init() throws {
        try TestUsers.ensure()
        upstreamA = try UpstreamServer(name: "upstream-a")
        upstreamB = try UpstreamServer(name: "upstream-b")
        // The lab's many deliberate failures must not ban 127.0.0.1; BanTests covers the ban.
        proxy = try ProxyProcess(arguments: ["--ban-after", "0"], routes: [
            RouteSpec(TestUsers.alice.name, to: upstreamA),
            RouteSpec(TestUsers.bob.name, to: upstreamB),
        ])
    }

    /// Started on first use; every test process shares it. The lazy static is initialised
    /// exactly once even when tests touch it from several threads, which is why this class is
    /// `@unchecked Sendable`: after init nothing in it is mutated.
    private static let instance: Result<Lab, any Error> = {
        let result = Result { try Lab() }
        atexit { Lab.shutDown() }
        return result
    }()

    static func shared() throws -> Lab { try instance.get() }

    private static func shutDown() {
        guard case .success(let lab) = instance else { return }
        lab.proxy.stop()
        lab.upstreamA.stop()
        lab.upstreamB.stop()
    }
}
