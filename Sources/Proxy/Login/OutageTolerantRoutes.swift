import Foundation
import RouteStore
import Synchronization

/// The routing table as logins read it: straight from the store, remembering each answer; when
/// the database cannot be reached (`.unavailable`), an answer read within `grace` seconds is
/// used instead, so users with a known route still log in during a short outage. Past that,
/// or for a login never seen, the error stands and the client is told the service is
/// temporarily unavailable (never "permission denied"). Trust on first use is never answered
/// from memory: a new pin needs the database. Certificate look-ups (the signing CA, trusted
/// client CAs, revocations) are remembered the same way.
final class OutageTolerantRoutes: RouteLookup, CertificateLookup {
    private struct Answer {
        let value: any Sendable
        let readAt: ContinuousClock.Instant
    }

    /// The most answers remembered; the oldest go first.
    static let capacity = 20_000
    private let store: any RouteLookup & CertificateLookup
    private let graceSeconds: Atomic<Int>
    private let answers = Mutex<[String: Answer]>([:])

    init(store: any RouteLookup & CertificateLookup, graceSeconds: Int) {
        self.store = store
        self.graceSeconds = Atomic(graceSeconds)
    }

    /// The `database_outage_grace` setting changed (SIGHUP).
    func setGrace(seconds: Int) { graceSeconds.store(seconds, ordering: .relaxed) }

    func route(for login: String) throws(RouteStoreError) -> Route? {
        try remembered("route\u{0}\(login)") { () throws(RouteStoreError) in try store.route(for: login) }
    }

    func isKeyListed(_ fingerprint: String, for login: String) throws(RouteStoreError) -> Bool {
        try remembered("key\u{0}\(login)\u{0}\(fingerprint)") { () throws(RouteStoreError) in try store.isKeyListed(fingerprint, for: login) }
    }

    func hasRoute(differingOnlyInCaseFrom login: String) throws(RouteStoreError) -> Bool {
        try remembered("case\u{0}\(login)") { () throws(RouteStoreError) in try store.hasRoute(differingOnlyInCaseFrom: login) }
    }

    func patternRoutes() throws(RouteStoreError) -> [Route] {
        try remembered("patterns") { () throws(RouteStoreError) in try store.patternRoutes() }
    }

    func pinHostKeyIfUnpinned(login: String, fingerprint: String) throws(RouteStoreError) -> Bool {
        try store.pinHostKeyIfUnpinned(login: login, fingerprint: fingerprint)
    }

    func signingAuthority() throws(RouteStoreError) -> SigningAuthority? {
        try remembered("signing-ca") { () throws(RouteStoreError) in try store.signingAuthority() }
    }

    func trustedClientAuthority(fingerprint: String) throws(RouteStoreError) -> TrustedClientAuthority? {
        try remembered("client-ca\u{0}\(fingerprint)") { () throws(RouteStoreError) in try store.trustedClientAuthority(fingerprint: fingerprint) }
    }

    func isCertificateRevoked(authority: String, serial: UInt64, keyID: String) throws(RouteStoreError) -> Bool {
        try remembered("revoked\u{0}\(authority)\u{0}\(serial)\u{0}\(keyID)") { () throws(RouteStoreError) in
            try store.isCertificateRevoked(authority: authority, serial: serial, keyID: keyID)
        }
    }

    private func remembered<Value: Sendable>(_ key: String, _ read: () throws(RouteStoreError) -> Value) throws(RouteStoreError) -> Value {
        do {
            let value = try read()
            remember(key, value)
            return value
        } catch .unavailable(let message) {
            let now = ContinuousClock.now
            if let answer = answers.withLock({ $0[key] }), now - answer.readAt <= .seconds(graceSeconds.load(ordering: .relaxed)), let value = answer.value as? Value {
                ProxyMetrics.loginFromCachedRoutes()
                return value
            }
            throw .unavailable(message)
        }
    }

    private func remember(_ key: String, _ value: any Sendable) {
        answers.withLock { answers in
            if answers.count >= Self.capacity && answers[key] == nil {
                let oldest = answers.sorted { $0.value.readAt < $1.value.readAt }.prefix(Self.capacity / 10).map(\.key)
                for old in oldest { answers[old] = nil }
            }
            answers[key] = Answer(value: value, readAt: .now)
        }
    }
}
