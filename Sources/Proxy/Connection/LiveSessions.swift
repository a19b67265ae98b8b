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

/// The bytes one session's channels have carried each way, published by the session's thread
/// once per relay pass (relaxed stores) for other threads to read (the admin API's "bytes so
/// far"). The two counts are read one after the other, not as a pair.
final class LiveTraffic: Sendable {
    private let toUpstream = Atomic<Int>(0)
    private let toClient = Atomic<Int>(0)

    func publish(toUpstream upstream: Int, toClient client: Int) {
        toUpstream.store(upstream, ordering: .relaxed)
        toClient.store(client, ordering: .relaxed)
    }

    var bytes: (toUpstream: Int, toClient: Int) {
        (toUpstream.load(ordering: .relaxed), toClient.load(ordering: .relaxed))
    }
}

/// The sessions this node holds, by audit id, so an operator's `sessions kill` reaches the
/// thread relaying one, and the admin API finds a session's live watch and byte counts. That
/// thread may sleep in poll with no timeout (an idle session never wakes), so besides the flag
/// it gets a signal (`wakeSignal`): the signal makes its poll return
/// (`switchboard_poll_wake_install` in CSocketReadAhead, since libssh itself repeats an
/// interrupted poll), and the relay loop, finding the flag, ends the session. No descriptor per
/// session is needed for this.
final class LiveSessions: Sendable {
    private struct Entry: Sendable {
        let thread: pthread_t
        let request: EndRequest
        let watch: SessionWatch
        let traffic: LiveTraffic
    }

    /// Interrupts a connection thread's poll; nothing else in the process uses it.
    static let wakeSignal = SIGUSR2
    private let entries = Mutex<[Int64: Entry]>([:])

    /// Installs the signal's handler, once per process.
    static let installWakeHandler: Void = switchboard_poll_wake_install(wakeSignal)

    /// Called on the session's own thread once it has an audit id.
    func register(auditID: Int64, request: EndRequest, watch: SessionWatch, traffic: LiveTraffic) {
        let entry = Entry(thread: pthread_self(), request: request, watch: watch, traffic: traffic)
        entries.withLock { $0[auditID] = entry }
    }

    /// Called on the session's own thread before it ends; after this no signal is sent to it.
    func unregister(auditID: Int64) {
        _ = entries.withLock { $0.removeValue(forKey: auditID) }
    }

    /// The audit ids of the sessions this node holds, in ascending order.
    var auditIDs: [Int64] {
        entries.withLock { $0.keys.sorted() }
    }

    /// True if this node holds the session with `auditID`.
    func holds(auditID: Int64) -> Bool {
        entries.withLock { $0[auditID] != nil }
    }

    /// The live watch of the session with `auditID`; nil if this node does not hold it.
    func watch(auditID: Int64) -> SessionWatch? {
        entries.withLock { $0[auditID]?.watch }
    }

    /// The bytes the session with `auditID` has carried each way so far (as of its last relay
    /// pass); nil if this node does not hold it.
    func liveBytes(auditID: Int64) -> (toUpstream: Int, toClient: Int)? {
        entries.withLock { $0[auditID]?.traffic }?.bytes
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
