import CLibSSH

/// One `ssh_event`: a poll set holding the sessions of exactly one proxied connection.
/// It keeps its sessions alive and removes them before they can be freed.
public final class SSHEvent {
    private let handle: ssh_event
    private var sessions: [SSHSession] = []

    public init() throws(SSHError) {
        guard let handle = ssh_event_new() else { throw SSHError(.setup, "ssh_event_new failed") }
        self.handle = handle
    }

    deinit {
        for session in sessions { ssh_event_remove_session(handle, session.handle) }
        ssh_event_free(handle)
    }

    public func add(_ session: SSHSession) throws(SSHError) {
        guard ssh_event_add_session(handle, session.handle) == SSH_OK else {
            throw SSHError(.setup, "cannot add session to event")
        }
        sessions.append(session)
    }

    public func remove(_ session: SSHSession) {
        guard let index = sessions.firstIndex(where: { $0 === session }) else { return }
        ssh_event_remove_session(handle, session.handle)
        sessions.remove(at: index)
    }

    /// Waits up to `timeoutMilliseconds` for traffic on any session and processes it.
    /// Returns false if polling failed (e.g. every socket is gone).
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) -> Bool {
        ssh_event_dopoll(handle, timeoutMilliseconds) != SSH_ERROR
    }
}
