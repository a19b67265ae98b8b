import Foundation
import SSH
import Synchronization

/// What a login that reaches no upstream (an unknown or disabled name) is made to look like,
/// learnt from the logins that did: answered after a time drawn from what upstreams recently
/// took, offered the login methods and shown the banner an upstream showed last. Otherwise response time and the banner
/// tell names apart: an upstream behind PAM refuses a wrong password after its 2–3 s delay and
/// shows its `Banner` first, where a missing route would be refused after the proxy's own 1 s
/// without one. Shared by every connection.
final class LoginDecoy: Sendable {
    enum Kind: Sendable {
        /// From a password attempt to the upstream's refusal.
        case passwordRefusal
        /// From keyboard-interactive answers to the upstream's refusal.
        case answersRefusal
        /// From the start of keyboard-interactive to the upstream's first question.
        case firstQuestion
        /// From a `none` request to the answer naming the upstream's methods.
        case methods
    }

    /// How many recent answers of each kind are kept.
    static let kept = 64

    private struct Seen {
        var times: [Kind: [TimeInterval]] = [:]
        /// The pre-login banner the last upstream contacted showed (nil: it showed none).
        var banner: String?
        /// The methods offered for the last upstream asked.
        var methods: AuthMethods?

        subscript(kind: Kind) -> [TimeInterval] {
            get { times[kind, default: []] }
            set { times[kind] = newValue }
        }
    }

    private let seen = Mutex(Seen())

    init() {}

    /// Remembers how long an upstream took.
    func record(_ kind: Kind, _ seconds: TimeInterval) {
        seen.withLock { seen in
            seen[kind].append(seconds)
            if seen[kind].count > Self.kept { seen[kind].removeFirst() }
        }
    }

    /// A time an upstream recently took for `kind`, picked at random among those kept; nil
    /// before any was seen.
    func typical(_ kind: Kind) -> TimeInterval? {
        seen.withLock { $0[kind].randomElement() }
    }

    /// Remembers the banner (or its absence) of the upstream contacted last.
    func recordBanner(_ banner: String?) {
        seen.withLock { $0.banner = banner }
    }

    /// The banner to show a login without a route.
    var banner: String? { seen.withLock { $0.banner } }

    /// Remembers the methods offered for the upstream asked last.
    func recordMethods(_ methods: AuthMethods) {
        seen.withLock { $0.methods = methods }
    }

    /// The methods to offer a login without a route; nil before any upstream was asked.
    var methods: AuthMethods? { seen.withLock { $0.methods } }
}
