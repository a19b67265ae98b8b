import RouteStore

/// What a session may do beyond running a program, as a certificate's extensions say it:
/// a client certificate narrows what its session may use, and each upstream certificate
/// carries what the route and the client's certificate allow, so the upstream enforces it too.
struct CertificatePermissions: Sendable, Equatable {
    var pty: Bool
    var portForwarding: Bool
    var agentForwarding: Bool

    /// Everything a route may allow; no client certificate narrows it.
    static let unrestricted = CertificatePermissions(pty: true, portForwarding: true, agentForwarding: true)

    static let ptyExtension = "permit-pty"
    static let portForwardingExtension = "permit-port-forwarding"
    static let agentForwardingExtension = "permit-agent-forwarding"

    /// The permissions a client certificate's extensions grant (unknown extensions are ignored,
    /// as sshd ignores them; X11 is never relayed, whatever the certificate says).
    init(extensions names: [String]) {
        pty = names.contains(Self.ptyExtension)
        portForwarding = names.contains(Self.portForwardingExtension)
        agentForwarding = names.contains(Self.agentForwardingExtension)
    }

    init(pty: Bool, portForwarding: Bool, agentForwarding: Bool) {
        self.pty = pty
        self.portForwarding = portForwarding
        self.agentForwarding = agentForwarding
    }

    /// These permissions narrowed to what `policy` allows.
    func limited(to policy: ForwardingPolicy) -> CertificatePermissions {
        CertificatePermissions(
            pty: pty, portForwarding: portForwarding && policy != .none, agentForwarding: agentForwarding && policy.allowsAgent)
    }

    /// The extension names to write into a certificate, in the sorted order OpenSSH requires.
    var extensionNames: [String] {
        var names: [String] = []
        if agentForwarding { names.append(Self.agentForwardingExtension) }
        if portForwarding { names.append(Self.portForwardingExtension) }
        if pty { names.append(Self.ptyExtension) }
        return names
    }
}
