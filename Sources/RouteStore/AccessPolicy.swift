import Foundation

/// Who may use a route, from where, when, until when, how many at once, and for what. Each
/// rule is off when empty or nil; a login must pass every rule that is on.
public struct AccessPolicy: Sendable, Equatable {
    /// The client addresses (the real ones, also behind the PROXY protocol) a login may come
    /// from; empty means anywhere.
    public var allowFrom: [AddressRange]
    /// The weekly windows in which logins are allowed; nil means always.
    public var schedule: AccessSchedule?
    /// Whether live sessions end when the schedule's window ends (after a notice), instead of
    /// only new logins being refused.
    public var scheduleEndsSessions: Bool
    /// Logins before this moment are refused.
    public var validFrom: Date?
    /// Logins from this moment on are refused.
    public var validUntil: Date?
    /// The most sessions of one login at once, across every node; nil means no limit.
    public var maxSessions: Int?
    /// What a session may use; nil means everything the route's forwarding policy allows.
    public var allowedChannels: Set<ChannelKind>?

    public init(
        allowFrom: [AddressRange] = [], schedule: AccessSchedule? = nil, scheduleEndsSessions: Bool = false, validFrom: Date? = nil,
        validUntil: Date? = nil, maxSessions: Int? = nil, allowedChannels: Set<ChannelKind>? = nil
    ) {
        self.allowFrom = allowFrom
        self.schedule = schedule
        self.scheduleEndsSessions = scheduleEndsSessions
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.maxSessions = maxSessions
        self.allowedChannels = allowedChannels
    }

    /// No rule is on.
    public static let open = AccessPolicy()

    /// True if a session may use `kind`.
    public func allows(_ kind: ChannelKind) -> Bool { allowedChannels?.contains(kind) ?? true }

    /// The most sessions a route may allow at once.
    public static let maximumSessions = 10_000
}

/// Something a session can ask for, as `--allow` names it.
public enum ChannelKind: Hashable, Sendable, CustomStringConvertible, Comparable {
    case shell
    case exec
    /// The `sftp` subsystem (`sftp`, and `scp` in OpenSSH 9's default sftp mode).
    case sftp
    /// Another subsystem, by name.
    case subsystem(String)
    case pty
    /// Agent forwarding on to the upstream.
    case agent
    /// `ssh -L`, `-D`, `-W`: the upstream connects out.
    case localForward
    /// `ssh -R`: the upstream listens.
    case remoteForward
    case x11

    /// Reads `shell`, `exec`, `sftp`, `subsystem:NAME`, `pty`, `agent`, `local-forward`,
    /// `remote-forward`, `x11`.
    public init(parsing text: String) throws(RouteStoreError) {
        switch text {
        case "shell": self = .shell
        case "exec": self = .exec
        case "sftp": self = .sftp
        case "pty": self = .pty
        case "agent": self = .agent
        case "local-forward": self = .localForward
        case "remote-forward": self = .remoteForward
        case "x11": self = .x11
        default:
            guard text.hasPrefix("subsystem:") else {
                throw .invalidPolicy("unknown channel kind \"\(text.prefix(40))\": use shell, exec, sftp, subsystem:NAME, pty, agent, local-forward, remote-forward, x11")
            }
            let name = String(text.dropFirst("subsystem:".count))
            guard !name.isEmpty, name.utf8.count <= 64,
                  name.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7f && $0 != "," })
            else {
                throw .invalidPolicy("invalid subsystem name in \"\(text.prefix(80))\": 1 to 64 printable characters, no spaces or commas")
            }
            self = name == "sftp" ? .sftp : .subsystem(name)
        }
    }

    public var description: String {
        switch self {
        case .shell: "shell"
        case .exec: "exec"
        case .sftp: "sftp"
        case .subsystem(let name): "subsystem:\(name)"
        case .pty: "pty"
        case .agent: "agent"
        case .localForward: "local-forward"
        case .remoteForward: "remote-forward"
        case .x11: "x11"
        }
    }

    public static func < (lhs: ChannelKind, rhs: ChannelKind) -> Bool { lhs.description < rhs.description }

    /// Parses a comma-separated list; at least one kind.
    public static func set(parsing text: String) throws(RouteStoreError) -> Set<ChannelKind> {
        var kinds = Set<ChannelKind>()
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            kinds.insert(try ChannelKind(parsing: item))
        }
        guard !kinds.isEmpty else { throw .invalidPolicy("--allow needs at least one of shell, exec, sftp, subsystem:NAME, pty, agent, local-forward, remote-forward") }
        return kinds
    }

    /// A set as `--allow` writes it, sorted.
    public static func text(of kinds: Set<ChannelKind>) -> String { kinds.sorted().map(\.description).joined(separator: ",") }
}

extension AccessPolicy {
    /// Parses `--allow-from`: comma-separated addresses and CIDR ranges, IPv4 and IPv6.
    public static func addressRanges(parsing text: String) throws(RouteStoreError) -> [AddressRange] {
        var ranges: [AddressRange] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            guard let range = AddressRange(item) else {
                throw .invalidPolicy("\"\(item.prefix(60))\" is not an address or CIDR range such as 10.0.0.0/8 or 2001:db8::/32")
            }
            ranges.append(range)
        }
        guard ranges.count <= 256 else { throw .invalidPolicy("at most 256 address ranges per route") }
        return ranges
    }

    /// Parses a moment for `--valid-from` / `--valid-until`: ISO 8601 with a zone
    /// (`2026-12-31T18:00:00+01:00`, `2026-12-31T17:00:00Z`), or a date alone (`2026-12-31`,
    /// midnight UTC).
    public static func moment(parsing text: String) throws(RouteStoreError) -> Date {
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        if text.count == 10, let date = day.date(from: text) { return date }
        throw .invalidPolicy("\"\(text.prefix(40))\" is not a time: write 2026-12-31T18:00:00+01:00, 2026-12-31T17:00:00Z or 2026-12-31 (UTC)")
    }
}
