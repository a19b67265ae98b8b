import SSH

/// A connection's login attempts: the name being logged in (keyboard-interactive answers carry
/// none) and the failures counted against `--max-auth-tries`. As in OpenSSH, a `none` request
/// is free and every other refused or probing attempt counts.
struct LoginAttempts: Equatable {
    let maximum: Int
    private(set) var failures = 0
    private(set) var loginName = ""

    init(maximum: Int) {
        self.maximum = maximum
    }

    /// The login an attempt is for: its own name, or the one in progress when it names none.
    mutating func login(named user: String) -> String {
        if !user.isEmpty { loginName = user }
        return loginName
    }

    /// Counts a refused attempt; returns true when the client has no tries left.
    /// Keyboard-interactive rounds sent on this connection, and how many are allowed: an
    /// upstream (or a client answering forever) cannot keep a login going without end.
    private(set) var challenges = 0
    static let maximumChallenges = 16

    /// Counts a keyboard-interactive round; returns true when there were too many.
    mutating func recordChallenge() -> Bool {
        challenges += 1
        return challenges > Self.maximumChallenges
    }

    mutating func recordRefusal(of method: SSHRequest.AuthAttempt) -> Bool {
        if case .none = method { return false }
        failures += 1
        return failures >= maximum
    }
}
