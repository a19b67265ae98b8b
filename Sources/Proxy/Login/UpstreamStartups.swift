import Foundation

/// The proxy's connections to upstream hosts that have not logged in yet, counted per upstream
/// host and, within it, per client source (an address or an IPv6 /64). OpenSSH's sshd drops
/// connections beyond its MaxStartups (10 by default) that have not logged in; every login
/// through the proxy arrives from the proxy's one address, so without a bound one client that
/// starts many logins and never finishes them would lock everybody else out of that upstream.
/// A login that finds no free place waits for one, up to a deadline. Shared by every
/// connection thread.
final class UpstreamStartups: @unchecked Sendable {
    struct Limits: Sendable, Equatable {
        /// Places per upstream host (0: no limit).
        var perUpstream: Int
        /// Places per upstream host one source may hold (0: no limit).
        var perSource: Int

        static let unlimited = Limits(perUpstream: 0, perSource: 0)

        init(perUpstream: Int, perSource: Int) {
            self.perUpstream = perUpstream
            self.perSource = perSource
        }

        init(settings: ProxySettings) {
            self.init(perUpstream: settings[.maxUpstreamStartups], perSource: settings[.maxUpstreamStartupsPerSource])
        }
    }

    private struct Holder: Hashable {
        let upstream: String
        let source: String
    }

    /// Guards the counts; logins waiting for a place sleep on it.
    private let condition = NSCondition()
    private var perUpstream: [String: Int] = [:]
    private var perHolder: [Holder: Int] = [:]

    init() {}

    /// Takes a place for a login from `source` to `upstream` (its `host:port`), waiting until
    /// `deadline` if there is none free; nil if none came free in time. The place is given
    /// back when the returned object goes away.
    func reserve(upstream: String, source: String, limits: Limits, until deadline: Date) -> UpstreamStartup? {
        let holder = Holder(upstream: upstream, source: source)
        condition.lock()
        defer { condition.unlock() }
        while !hasRoom(for: holder, limits: limits) {
            guard condition.wait(until: deadline) else {
                // Woken by the deadline; a place may have come free at the same moment.
                guard hasRoom(for: holder, limits: limits) else { return nil }
                break
            }
        }
        perUpstream[upstream, default: 0] += 1
        perHolder[holder, default: 0] += 1
        return UpstreamStartup(startups: self, upstream: upstream, source: source)
    }

    /// How many places are taken for `upstream` (for tests and diagnostics).
    func taken(upstream: String) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return perUpstream[upstream, default: 0]
    }

    private func hasRoom(for holder: Holder, limits: Limits) -> Bool {
        if limits.perUpstream > 0 && perUpstream[holder.upstream, default: 0] >= limits.perUpstream { return false }
        if limits.perSource > 0 && perHolder[holder, default: 0] >= limits.perSource { return false }
        return true
    }

    fileprivate func release(upstream: String, source: String) {
        condition.lock()
        defer { condition.unlock() }
        perUpstream[upstream, default: 1] -= 1
        if perUpstream[upstream] == 0 { perUpstream[upstream] = nil }
        let holder = Holder(upstream: upstream, source: source)
        perHolder[holder, default: 1] -= 1
        if perHolder[holder] == 0 { perHolder[holder] = nil }
        condition.broadcast()
    }
}

/// One place in `UpstreamStartups`, held while an upstream connection waits for its login.
final class UpstreamStartup {
    private let startups: UpstreamStartups
    private let upstream: String
    private let source: String

    fileprivate init(startups: UpstreamStartups, upstream: String, source: String) {
        self.startups = startups
        self.upstream = upstream
        self.source = source
    }

    deinit { startups.release(upstream: upstream, source: source) }
}

/// What one connection's logins use to take upstream places: the shared counts, the client's
/// source, the limits in force when it connected and how long a login may wait for a place.
struct UpstreamStartupPlaces {
    let startups: UpstreamStartups
    let source: String
    let limits: UpstreamStartups.Limits
    let patience: TimeInterval

    /// No limits: for tools and tests that open one upstream at a time.
    static var unlimited: UpstreamStartupPlaces {
        UpstreamStartupPlaces(startups: UpstreamStartups(), source: "", limits: .unlimited, patience: 0)
    }

    func reserve(for upstream: String) -> UpstreamStartup? {
        startups.reserve(upstream: upstream, source: source, limits: limits, until: Date().addingTimeInterval(patience))
    }
}
