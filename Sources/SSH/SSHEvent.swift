import CLibSSH
import Foundation

/// One `ssh_event`: a poll set holding the sessions of exactly one proxied connection.
/// It keeps its sessions alive and removes them before they can be freed.
public final class SSHEvent {
    private let handle: ssh_event
    private var sessions: [SSHSession] = []
    private var wakeSources: [Int32] = []

    public init() throws(SSHError) {
        guard let handle = ssh_event_new() else { throw SSHError(.setup, "ssh_event_new failed") }
        self.handle = handle
    }

    deinit {
        for fd in wakeSources { ssh_event_remove_fd(handle, fd) }
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

    /// Makes `poll` return whenever `fd` is readable (e.g. an eventfd another thread writes to
    /// ask this connection to stop). The caller keeps ownership of `fd`.
    public func addWakeSource(_ fd: Int32) throws(SSHError) {
        let callback: ssh_event_callback = { _, _, _ in 0 }
        guard ssh_event_add_fd(handle, fd, Int16(POLLIN), callback, nil) == SSH_OK else {
            throw SSHError(.setup, "cannot add wake descriptor to event")
        }
        wakeSources.append(fd)
    }

    /// Waits up to `timeoutMilliseconds` for traffic on any session and processes it.
    /// Returns false if polling failed (e.g. every socket is gone).
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) -> Bool {
        ssh_event_dopoll(handle, timeoutMilliseconds) != SSH_ERROR
    }
}
