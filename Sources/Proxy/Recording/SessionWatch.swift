import Foundation
import Synchronization

/// Lets operators watch one session's terminal live, read-only. One per logged-in session.
///
/// The session's relay thread feeds it the terminal's start, output and resizes; watchers attach
/// from other threads (an admin request's), each getting its own `WatcherInbox`. The relay only
/// appends raw bytes to the inboxes under a short lock and wakes their descriptors: it never
/// waits for a watcher and never formats anything for one (`SessionWatcher` does that on its own
/// thread). A watcher that lets more than its buffer limit pile up is dropped, not waited for.
/// With nobody watching, `output` costs one relaxed atomic load.
final class SessionWatch: Sendable {
    private struct State {
        /// The session's terminal, once the upstream granted one.
        var terminal: WatchedTerminal?
        var inboxes: [WatcherInbox] = []
        var ended = false
    }

    private let state = Mutex(State())
    /// How many inboxes are attached: read without the lock by `output`, written under it.
    private let watcherCount = Atomic<Int>(0)

    // MARK: Fed by the session's relay thread

    /// The upstream granted a terminal of that size and type (later watchers get it in their
    /// header; current ones get a resize event).
    func terminalStarted(columns: Int, rows: Int, terminal: String) {
        let at = ContinuousClock.now
        state.withLock { state in
            state.terminal = WatchedTerminal(columns: columns, rows: rows, type: terminal)
            offer(.resize(columns: columns, rows: rows, at: at), in: &state)
        }
    }

    /// The terminal sent `bytes` to the client.
    func output<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        guard watcherCount.load(ordering: .relaxed) > 0 else { return }
        // One copy, shared by every inbox.
        let item = WatcherInbox.Item.output(Array(bytes), at: .now)
        state.withLock { offer(item, in: &$0) }
    }

    /// The client resized the terminal (and the upstream accepted it).
    func resized(columns: Int, rows: Int) {
        let at = ContinuousClock.now
        state.withLock { state in
            guard let terminal = state.terminal else { return }
            state.terminal = WatchedTerminal(columns: columns, rows: rows, type: terminal.type)
            offer(.resize(columns: columns, rows: rows, at: at), in: &state)
        }
    }

    /// The session is over: every watcher is told (after what it has not taken yet), and
    /// watchers attaching from now on learn it at once.
    func ended() {
        state.withLock { state in
            state.ended = true
            for inbox in state.inboxes { inbox.finish(.sessionEnded) }
            state.inboxes.removeAll()
            watcherCount.store(0, ordering: .relaxed)
        }
    }

    /// Hands `item` to every inbox, removing those it would take over their limit (which
    /// `offer` has marked dropped).
    private func offer(_ item: WatcherInbox.Item, in state: inout State) {
        guard !state.inboxes.isEmpty else { return }
        for index in state.inboxes.indices.reversed() where !state.inboxes[index].offer(item) {
            state.inboxes.remove(at: index)
        }
        watcherCount.store(state.inboxes.count, ordering: .relaxed)
    }

    // MARK: Used by watchers' threads

    /// Starts watching: the watcher sees what the terminal does from now on, until it detaches,
    /// the session ends or it falls more than `bufferLimit` bytes behind. Throws only when the
    /// process is out of descriptors.
    func attach(bufferLimit: Int = SessionWatcher.defaultBufferLimit) throws(ProxyError) -> SessionWatcher {
        let inbox = try WatcherInbox(bufferLimit: bufferLimit)
        let attachedAt = ContinuousClock.now
        let terminal = state.withLock { state in
            if state.ended {
                inbox.finish(.sessionEnded)
            } else {
                state.inboxes.append(inbox)
                watcherCount.store(state.inboxes.count, ordering: .relaxed)
            }
            return state.terminal
        }
        return SessionWatcher(watch: self, inbox: inbox, terminal: terminal ?? .unknown, attachedAt: attachedAt)
    }

    /// Takes `inbox` out, under the lock the relay signals under: once this returns, the relay
    /// cannot reach its descriptor any more.
    func remove(_ inbox: WatcherInbox) {
        state.withLock { state in
            state.inboxes.removeAll { $0 === inbox }
            watcherCount.store(state.inboxes.count, ordering: .relaxed)
        }
    }
}

/// The watched terminal's type and current size.
struct WatchedTerminal: Sendable, Equatable {
    var columns: Int
    var rows: Int
    var type: String

    /// What a watcher's header says before the session has a terminal.
    static let unknown = WatchedTerminal(columns: 80, rows: 24, type: "xterm")
}
