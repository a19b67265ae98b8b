import Foundation

/// Why a watch ended.
public enum WatchEnd: String, Sendable {
    /// The session is over.
    case sessionEnded = "session-ended"
    /// The watcher fell more than its buffer limit behind and was dropped.
    case tooSlow = "too-slow"
}

/// One operator's read-only view of a live terminal session, as an asciicast v2 stream: a
/// header line, then event lines `[seconds since attach, "o", text]` and `[t, "r", "COLSxROWS"]`.
/// Used on the watcher's own thread: poll `wakeDescriptor` (with the client's socket), then
/// `take()` what came. All formatting happens here, never on the session's relay thread.
/// Detaches itself when released.
public final class SessionWatcher {
    /// How many bytes a watcher may leave untaken before it is dropped, unless it asks otherwise.
    public static let defaultBufferLimit = 1 << 20

    private let watch: SessionWatch
    /// Nil once detached.
    private var inbox: WatcherInbox?
    /// The terminal when the watcher attached.
    private let terminal: WatchedTerminal
    private let attachedAt: ContinuousClock.Instant
    private let attachedDate = Date()
    private var outputText = TerminalTextDecoder()

    init(watch: SessionWatch, inbox: WatcherInbox, terminal: WatchedTerminal, attachedAt: ContinuousClock.Instant) {
        self.watch = watch
        self.inbox = inbox
        self.terminal = terminal
        self.attachedAt = attachedAt
    }

    deinit { detach() }

    /// An eventfd that is readable whenever `take()` has something new: events, the end, or
    /// being dropped. -1 once detached. Owned by the watcher: never close it yourself.
    public var wakeDescriptor: Int32 { inbox?.wakeDescriptor ?? -1 }

    /// The asciicast v2 header line (without newline): the terminal's size and type when the
    /// watcher attached (80x24 "xterm" if it had none yet) and the attach time.
    public func header() -> String {
        let line = AsciicastLine.header(columns: terminal.columns, rows: terminal.rows, terminal: terminal.type, timestamp: attachedDate)
        return String(decoding: line, as: UTF8.self)
    }

    /// The event lines (without newlines) of everything that came since the last call, and the
    /// end once the watch has ended (after the last events; reported by every later call too).
    /// A UTF-8 character split across two outputs comes whole in the later event. Nothing once
    /// detached.
    public func take() -> (events: [String], end: WatchEnd?) {
        guard let inbox else { return ([], nil) }
        let (items, end) = inbox.takeAll()
        var events: [String] = []
        events.reserveCapacity(items.count)
        for item in items {
            if let line = line(for: item) { events.append(String(decoding: line, as: UTF8.self)) }
        }
        return (events, end)
    }

    /// Stops watching and closes the descriptor; safe to call more than once, and while the
    /// session's relay is feeding the watch.
    public func detach() {
        guard let inbox else { return }
        self.inbox = nil
        watch.remove(inbox)
        inbox.closeWakeDescriptor()
    }

    private func line(for item: WatcherInbox.Item) -> Data? {
        switch item {
        case .output(let bytes, let at):
            let text = TerminalTextDecoder.compact(outputText.text(bytes))
            guard !text.isEmpty else { return nil }
            return AsciicastLine.event(.output, text, after: elapsed(until: at))
        case .resize(let columns, let rows, let at):
            return AsciicastLine.event(.resize, "\(columns)x\(rows)", after: elapsed(until: at))
        }
    }

    private func elapsed(until instant: ContinuousClock.Instant) -> Duration {
        max(.zero, instant - attachedAt)
    }
}
