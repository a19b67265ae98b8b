import Foundation
import Synchronization

/// How long real upstreams take to answer logins, remembered so that a login that reaches no
/// upstream (an unknown or disabled name) is answered after a time drawn from the same spread.
/// Otherwise response time tells names apart: an upstream behind PAM refuses a wrong password
/// after its 2–3 s delay, and a missing route would be refused after the proxy's own 1 s.
/// Shared by every connection.
final class LoginTimings: Sendable {
    enum Kind: Sendable {
        /// From an attempt to the upstream's refusal.
        case refusal
        /// From the start of keyboard-interactive to the upstream's first question.
        case firstQuestion
    }

    /// How many recent answers of each kind are kept.
    static let kept = 64

    private struct Samples {
        var refusal: [TimeInterval] = []
        var firstQuestion: [TimeInterval] = []

        subscript(kind: Kind) -> [TimeInterval] {
            get { kind == .refusal ? refusal : firstQuestion }
            set { if kind == .refusal { refusal = newValue } else { firstQuestion = newValue } }
        }
    }

    private let samples = Mutex(Samples())

    init() {}

    /// Remembers how long an upstream took.
    func record(_ kind: Kind, _ seconds: TimeInterval) {
        samples.withLock { samples in
            samples[kind].append(seconds)
            if samples[kind].count > Self.kept { samples[kind].removeFirst() }
        }
    }

    /// A time an upstream recently took for `kind`, picked at random among those kept; nil
    /// before any was seen.
    func typical(_ kind: Kind) -> TimeInterval? {
        samples.withLock { $0[kind].randomElement() }
    }
}
