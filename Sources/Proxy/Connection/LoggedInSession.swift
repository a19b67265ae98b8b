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
    let channels = ConnectionChannels()
    /// The session's audit id, if the start could be recorded.
    var auditID: Int64?
    /// Set when an operator ends the session (`switchboard sessions kill`).
    let endRequest = EndRequest()
    /// Where terminals are recorded, when recording is on for this session.
    var recording: RecordingPlan?
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

    /// Notes whether data moved since the last look (for the idle timeout).
    func noteTraffic() {
        let total = channels.bytesMoved
        if total != bytesSeen {
            bytesSeen = total
            lastTraffic = .now
        }
    }
}
