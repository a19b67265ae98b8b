import CSocketReadAhead
import Foundation
import Synchronization

/// A request to end one session, set by an operator's `sessions kill` and read by the session's
/// own thread after every poll.
final class EndRequest: Sendable {
    private let requested = Atomic<Bool>(false)
    var isRequested: Bool { requested.load(ordering: .relaxed) }
    func request() { requested.store(true, ordering: .relaxed) }
}

/// The sessions this node holds, by audit id, so an operator's `sessions kill` reaches the
/// thread relaying one. That thread may sleep in poll with no timeout (an idle session never
/// wakes), so besides the flag it gets a signal (`wakeSignal`): the signal makes its poll
/// return (`switchboard_poll_wake_install` in CSocketReadAhead, since libssh itself repeats an
/// interrupted poll), and the relay loop, finding the flag, ends the session. No descriptor per
/// session is needed for this.
final class LiveSessions: Sendable {
    private struct Entry: Sendable {
        let thread: pthread_t
        let request: EndRequest
    }

    /// Interrupts a connection thread's poll; nothing else in the process uses it.
    static let wakeSignal = SIGUSR2
    private let entries = Mutex<[Int64: Entry]>([:])

    /// Installs the signal's handler, once per process.
    static let installWakeHandler: Void = switchboard_poll_wake_install(wakeSignal)

    /// Called on the session's own thread once it has an audit id.
    func register(auditID: Int64, request: EndRequest) {
        entries.withLock { $0[auditID] = Entry(thread: pthread_self(), request: request) }
    }

    /// Called on the session's own thread before it ends; after this no signal is sent to it.
    func unregister(auditID: Int64) {
        _ = entries.withLock { $0.removeValue(forKey: auditID) }
    }

    /// Asks the session with `auditID` to end; false if this node does not hold it. Signals
    /// under the lock, so the thread cannot have gone between the look-up and the signal.
    @discardableResult
    func end(auditID: Int64) -> Bool {
        entries.withLock { entries in
            guard let entry = entries[auditID] else { return false }
            entry.request.request()
            pthread_kill(entry.thread, Self.wakeSignal)
            return true
        }
    }
}
