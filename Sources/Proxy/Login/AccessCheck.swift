import Foundation
import RouteStore

/// A route's access rules applied to one login: where from (before authentication, refused like
/// a wrong password), and when, until when and how many at once (after authentication, refused
/// in plain words). What a session may use is checked per request (`ClientConnection+Requests`).
enum AccessCheck {
    /// A rule that refused a login.
    struct Refusal: Equatable, Sendable {
        let rule: AccessRule
        /// What the user is told, in plain words.
        let message: String
    }

    /// True if `host` may log in on a route with `policy`.
    static func allowsSource(_ policy: AccessPolicy, host: String) -> Bool {
        policy.allowFrom.isEmpty || policy.allowFrom.contains { $0.contains(host) }
    }

    /// The validity and schedule rules at `now`; nil if they let the login in.
    static func timeRefusal(_ policy: AccessPolicy, login: String, at now: Date) -> Refusal? {
        timeVerdicts(policy, login: login, at: now).lazy.compactMap(\.refusal).first
    }

    /// Each time rule that is on, with its refusal (nil: it lets the login in) and what it
    /// says, in the order logins apply them.
    static func timeVerdicts(_ policy: AccessPolicy, login: String, at now: Date) -> [(rule: AccessRule, refusal: Refusal?, detail: String)] {
        // Every login passes here: a route without time rules costs nothing (not even a formatter).
        guard policy.validFrom != nil || policy.validUntil != nil || policy.schedule != nil else { return [] }
        let dates = ISO8601DateFormatter()
        var verdicts: [(rule: AccessRule, refusal: Refusal?, detail: String)] = []
        if let from = policy.validFrom {
            let refused = now < from
            verdicts.append((.notYetValid, refused ? Refusal(rule: .notYetValid, message: "the login \(login) is allowed from \(dates.string(from: from)) on") : nil,
                             "valid from \(dates.string(from: from))"))
        }
        if let until = policy.validUntil {
            let refused = now >= until
            verdicts.append((.expired, refused ? Refusal(rule: .expired, message: "the login \(login) was allowed until \(dates.string(from: until))") : nil,
                             "valid until \(dates.string(from: until))"))
        }
        if let schedule = policy.schedule {
            let next = schedule.nextOpening(after: now).map { "; next from \(dates.string(from: $0))" } ?? ""
            let refused = !schedule.allows(now)
            verdicts.append((.schedule, refused ? Refusal(rule: .schedule, message: "the login \(login) is allowed \(schedule.summary)\(next)") : nil,
                             refused ? "outside \(schedule.summary)\(next)" : "inside \(schedule.summary)"))
        }
        return verdicts
    }

    /// The session limit, given how many of the login's sessions started before this one.
    static func sessionLimitRefusal(_ policy: AccessPolicy, login: String, runningBefore: Int) -> Refusal? {
        guard let maximum = policy.maxSessions, runningBefore >= maximum else { return nil }
        return Refusal(rule: .maxSessions, message: "the login \(login) may have at most \(maximum) session\(maximum == 1 ? "" : "s") at once")
    }
}

/// Which access rule refused a login; the raw value is its reason in logs, metrics and the audit.
enum AccessRule: String, Sendable {
    case source = "access-source"
    case notYetValid = "access-not-yet-valid"
    case expired = "access-expired"
    case schedule = "access-schedule"
    case maxSessions = "access-max-sessions"

    /// How the connection (and its audit record) ends.
    var endReason: ConnectionEndReason {
        switch self {
        case .source: .accessSource
        case .notYetValid: .accessNotYetValid
        case .expired: .accessExpired
        case .schedule: .accessSchedule
        case .maxSessions: .accessMaxSessions
        }
    }
}

/// The time access rules are judged at: the system's clock. Debug builds (the ones the tests
/// run) also read `SWITCHBOARD_TEST_NOW` (ISO 8601): the clock then reads that instant the first
/// time the process reads it, and moves on with real time from there, so that a test can stand
/// at any hour, and see a window end a few seconds later, without waiting for it; release builds
/// ignore it.
enum AccessClock {
    static func now(environment: [String: String] = ProcessInfo.processInfo.environment) -> Date {
        #if DEBUG
        if let text = environment["SWITCHBOARD_TEST_NOW"], let date = ISO8601DateFormatter().date(from: text) {
            let origin = firstRead
            return date.addingTimeInterval((ContinuousClock.now - origin) / .seconds(1))
        }
        #endif
        return Date()
    }

    #if DEBUG
    /// When the process first read the test clock (a static is initialized once, on first use).
    private static let firstRead = ContinuousClock.now
    #endif
}
