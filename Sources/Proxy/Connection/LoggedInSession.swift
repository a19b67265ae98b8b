import Foundation
import RouteStore
import SSH

/// What exists once a client is logged in: its upstream, its channels, its audit record and
/// how recently traffic moved. Lives from the login to the teardown.
final class LoggedInSession {
    let link: UpstreamLink<SSHSession>
    /// The name the client logged in with (differs from the route's for the catch-all route).
    let login: String
    /// How the client logged in: "password", "publickey", "keyboard-interactive".
    let method: String
    /// What port forwarding the route (and the client's certificate, if it used one) allows.
    let forwarding: ForwardingPolicy
    /// Whether the client's agent may be forwarded to the upstream.
    let forwardsAgent: Bool
    /// Whether the client may have a terminal (a certificate without `permit-pty` refuses it).
    let allowsPTY: Bool
    /// The route's access rules (what a session may use is checked per request).
    let access: AccessPolicy
    /// When the route's schedule ends this session (`--schedule-ends-sessions`), found once at
    /// login; nil if it never does.
    let scheduleEnd: ScheduleEnd?
    let channels = ConnectionChannels()
    /// The session's audit id, if the start could be recorded.
    var auditID: Int64?
    /// Set when an operator ends the session (`switchboard sessions kill`).
    let endRequest = EndRequest()
    /// Where terminals are recorded, when recording is on for this session.
    var recording: RecordingPlan?
    /// Where operators watch the session's terminal live.
    let watch = SessionWatch()
    /// The bytes carried so far, as other threads (the admin API) read them.
    let traffic = LiveTraffic()
    /// True once the upstream session is in the connection's event (after its login).
    var upstreamAttached = false
    /// False after a relay pass in which nothing moved: the next pass may sleep in poll.
    var movedLastPass = true
    /// When channel data last moved either way, and how much had moved by then.
    private(set) var lastTraffic = ContinuousClock.now
    private var bytesSeen = 0

    init(link: UpstreamLink<SSHSession>, login: String, method: String) {
        self.link = link
        self.login = login
        self.method = method
        let policy = link.route.forwarding ?? .all
        access = link.route.access
        forwarding = link.permissions.portForwarding ? policy : .none
        forwardsAgent = policy.allowsAgent && link.permissions.agentForwarding && access.allows(.agent)
        allowsPTY = link.permissions.pty && access.allows(.pty)
        scheduleEnd = ScheduleEnd(access, at: AccessClock.now())
    }

    var upstream: SSHSession { link.session }

    /// `ssh -L`, `-D`, `-W`: allowed by the forwarding policy and the access rules.
    var allowsLocalForward: Bool { forwarding.allowsLocal && access.allows(.localForward) }
    /// `ssh -R`: allowed by the forwarding policy and the access rules.
    var allowsRemoteForward: Bool { forwarding.allowsRemote && access.allows(.remoteForward) }

    /// The access rules' answer to a request that starts a program; nil if it may.
    func refusal(of request: SSHRequest.ChannelRequest) -> String? {
        let kind: ChannelKind
        switch request {
        case .shell: kind = .shell
        case .exec: kind = .exec
        case .subsystem(let name): kind = name.bytes == Array("sftp".utf8) ? .sftp : .subsystem(name.text)
        default: return nil
        }
        guard let allowed = access.allowedChannels, !allowed.contains(kind) else { return nil }
        let what = switch kind {
        case .shell: "a shell"
        case .exec: "commands (exec, which scp and rsync use too)"
        case .sftp: "sftp"
        default: "the subsystem \(kind.description.dropFirst("subsystem:".count))"
        }
        return "this login may not use \(what); it may use: \(ChannelKind.text(of: allowed))"
    }

    /// Notes whether data moved since the last look (for the idle timeout), and publishes the
    /// totals for the admin API. Called once per relay pass.
    func noteTraffic() {
        let carried = channels.bytesCarried
        traffic.publish(toUpstream: carried.toUpstream, toClient: carried.toClient)
        let total = carried.toUpstream + carried.toClient
        if total != bytesSeen {
            bytesSeen = total
            lastTraffic = .now
        }
    }
}

/// The moment a session ends because its route's schedule closes (`--schedule-ends-sessions`):
/// the end of the window the login happened in.
struct ScheduleEnd {
    /// The end on the access rules' clock, as the notice names it.
    let date: Date
    /// The same moment on the relay's clock, which its deadlines use (and which wall-clock
    /// changes do not move).
    let instant: ContinuousClock.Instant
    /// The zone the notice gives the time in (the schedule's last window's), and its name as the
    /// schedule writes it.
    private let zone: TimeZone
    private let zoneName: String

    /// The end for a login at `now` on a route with `policy`; nil if its sessions go on (the
    /// rule is off, or the schedule never closes). A login that finds the window already over
    /// (it closed between the login's check and now) ends at once.
    init?(_ policy: AccessPolicy, at now: Date) {
        guard policy.scheduleEndsSessions, let schedule = policy.schedule else { return nil }
        let end = schedule.windowEnd(containing: now) ?? now
        guard end != .distantFuture else { return nil }
        date = end
        instant = .now + .seconds(max(0, end.timeIntervalSince(now)))
        // The canonical text names the last window's zone last (`UTC` or an IANA name).
        let lastZone = schedule.description.split(separator: " ").last.map(String.init) ?? "UTC"
        zone = TimeZone(identifier: lastZone) ?? .gmt
        zoneName = lastZone
    }

    /// What open terminals are told before the end, e.g. `this session ends at 19:00
    /// Europe/Berlin (the login's schedule), in 5 minutes`; the date is added when the end is
    /// on another day than `now`.
    func notice(at now: ContinuousClock.Instant) -> String {
        let seconds = max(0, (instant - now) / .seconds(1))
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = zone
        format.dateFormat = "yyyy-MM-dd"
        let sameDay = format.string(from: date) == format.string(from: date.addingTimeInterval(-seconds))
        format.dateFormat = sameDay ? "HH:mm" : "yyyy-MM-dd HH:mm"
        return "this session ends at \(format.string(from: date)) \(zoneName) (the login's schedule), in \(Self.spoken(seconds))"
    }

    /// A stretch of time in words: seconds below 90, minutes below two hours, else hours.
    static func spoken(_ seconds: Double) -> String {
        let plural = { (count: Int, unit: String) in "\(count) \(unit)\(count == 1 ? "" : "s")" }
        if seconds < 89.5 { return plural(max(1, Int(seconds.rounded())), "second") }
        if seconds < 7170 { return plural(Int((seconds / 60).rounded()), "minute") }
        return plural(Int((seconds / 3600).rounded()), "hour")
    }
}
