import CLibSSH

/// Identifies a channel across the SSH layer's API (e.g. which channel a request is for)
/// without exposing the C handle.
public struct SSHChannelID: Hashable, Sendable {
    let bits: UInt
    init(_ handle: ssh_channel) { bits = UInt(bitPattern: handle) }
}

/// How a non-blocking request is getting on.
public enum RequestProgress: Equatable, Sendable {
    /// Sent, no answer yet: call the same method again after the next poll.
    case pending
    case accepted
    /// The peer refused, or the channel or session failed; the text says which.
    case refused(String)
}

/// The outcome of one non-blocking read.
public enum ReadResult: Equatable, Sendable {
    case bytes(Int)
    /// Nothing buffered right now.
    case empty
    /// The peer sent EOF and everything before it has been read.
    case endOfFile
    case failed(String)
}

/// The two data streams of a channel: ordinary data, and extended data of type stderr.
public enum ChannelStream: CaseIterable, Sendable {
    case stdout
    case stderr
}

/// One value per stream of a channel, read and changed in place by `ChannelStream`.
public struct PerStream<Value> {
    public var stdout: Value
    public var stderr: Value

    public init(stdout: Value, stderr: Value) {
        self.stdout = stdout
        self.stderr = stderr
    }

    public init(_ both: Value) {
        self.init(stdout: both, stderr: both)
    }

    public subscript(stream: ChannelStream) -> Value {
        get { stream == .stdout ? stdout : stderr }
        // A coroutine accessor, so that mutating an element (e.g. a buffer) does not copy it.
        _modify {
            switch stream {
            case .stdout: yield &stdout
            case .stderr: yield &stderr
            }
        }
    }
}

extension PerStream: Sendable where Value: Sendable {}

/// How a remote process ended when it was killed by a signal (`exit-signal`).
public struct ExitSignal: Equatable, Sendable {
    public var signal: String
    public var coreDumped: Bool
    public var errorMessage: String
    public var language: String

    public init(signal: String, coreDumped: Bool = false, errorMessage: String = "", language: String = "") {
        self.signal = signal
        self.coreDumped = coreDumped
        self.errorMessage = errorMessage
        self.language = language
    }
}

/// One SSH channel. It keeps its session alive, records what libssh reports through channel
/// callbacks (EOF, close, exit status, signals) and frees everything in deinit. Confined to the
/// thread that drives its session.
public final class SSHChannel {
    let handle: ssh_channel
    /// The session this channel lives on; held so the session is freed after its channels.
    let session: SSHSession
    public let id: SSHChannelID
    private let notices: ChannelNotices
    private let callbacks: UnsafeMutablePointer<ssh_channel_callbacks_struct>

    init(handle: ssh_channel, session: SSHSession) {
        self.handle = handle
        self.session = session
        self.id = SSHChannelID(handle)
        notices = ChannelNotices()
        callbacks = ChannelNotices.makeCallbacks(for: notices)
        ssh_set_channel_callbacks(handle, callbacks)
    }

    deinit {
        ssh_remove_channel_callbacks(handle, callbacks)
        ssh_channel_free(handle)
        callbacks.deallocate()
    }

    /// A new, not yet opened channel on a client session.
    public static func make(on session: SSHSession) throws(SSHError) -> SSHChannel {
        guard let handle = ssh_channel_new(session.handle) else {
            throw SSHError.last(.channel, UnsafeMutableRawPointer(session.handle), context: "cannot create channel")
        }
        return SSHChannel(handle: handle, session: session)
    }

    // MARK: State

    /// The peer sent EOF (there may still be buffered data to read).
    public var receivedEOF: Bool { notices.receivedEOF }
    /// The peer sent CHANNEL_CLOSE.
    public var receivedClose: Bool { notices.receivedClose }
    /// The `exit-status` the peer sent, if any.
    public var exitStatus: UInt32? { notices.exitStatus }
    /// The `exit-signal` the peer sent, if any.
    public var exitSignal: ExitSignal? { notices.exitSignal }
    /// How many bytes the peer is willing to receive right now.
    public var sendWindow: Int { Int(ssh_channel_window_size(handle)) }
    /// True while this channel's connection has output libssh could not write yet.
    public var outputBacklogged: Bool { session.hasUnsentOutput }

    /// True once the peer asked for agent forwarding on this channel (`auth-agent-req`, which
    /// libssh accepts); reading it clears it.
    public func takeAgentForwardingRequest() -> Bool {
        defer { notices.agentForwardingRequested = false }
        return notices.agentForwardingRequested
    }

    /// Signals the peer asked to deliver (`signal` requests), oldest first; clears the list.
    public func takeSignals() -> [String] {
        defer { notices.signals.removeAll() }
        return notices.signals
    }

    // MARK: Data

    /// Bytes of one stream's data that libssh has taken in and that `read` would return now.
    /// Costs nothing: counted from libssh's data callbacks.
    public func bufferedByteCount(_ stream: ChannelStream) -> Int { notices.buffered[stream] }

    /// True once the peer sent more than the window libssh granted it, beyond a margin of
    /// `windowExcessAllowed` bytes: a peer that ignores flow control, which libssh 0.10.6 would
    /// let fill the process's memory.
    public var peerIgnoredWindow: Bool { notices.window.excess > Self.windowExcessAllowed }

    /// How far past its window a peer may go before it counts as ignoring it: two packets.
    private static let windowExcessAllowed = 64 * 1024

    /// Reads up to `buffer.count` bytes of one stream without waiting. Only data libssh has
    /// already taken in is read: this never touches the socket (the connection's poll does
    /// that), so reading an empty stream costs nothing.
    public func read(into buffer: UnsafeMutableRawBufferPointer, from stream: ChannelStream) -> ReadResult {
        let buffered = notices.buffered[stream]
        guard buffered > 0 else { return notices.receivedEOF ? .endOfFile : .empty }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .empty }
        let isStderr: Int32 = stream == .stderr ? 1 : 0
        let requested = min(buffer.count, buffered)
        let rc = ssh_channel_read_nonblocking(handle, base, UInt32(requested), isStderr)
        switch rc {
        case SSH_EOF: return .endOfFile
        case ..<0: return .failed(session.lastError)
        default:
            notices.window.read(Int(rc), requested: requested, unreadBefore: notices.buffered[stream])
            notices.buffered[stream] -= Int(rc)
            return rc == 0 ? .empty : .bytes(Int(rc))
        }
    }

    /// Writes as much of `bytes` as the peer's window allows right now; returns how many were
    /// taken (0 at a zero window). Never waits for the window to grow.
    public func write(_ bytes: UnsafeRawBufferPointer, to stream: ChannelStream) throws(SSHError) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        let rc = stream == .stderr
            ? ssh_channel_write_stderr(handle, base, UInt32(bytes.count))
            : ssh_channel_write(handle, base, UInt32(bytes.count))
        guard rc >= 0 else { throw SSHError(.channel, "write failed: \(session.lastError)") }
        return Int(rc)
    }

    /// Sends EOF: this side will write no more data.
    public func sendEOF() {
        _ = ssh_channel_send_eof(handle)
    }

    /// Sends CHANNEL_CLOSE (once).
    public func close() {
        guard !notices.closeSent else { return }
        notices.closeSent = true
        _ = ssh_channel_close(handle)
    }

    /// True once this side has sent CHANNEL_CLOSE.
    public var closeSent: Bool { notices.closeSent }

    // MARK: Requests toward the peer (each one non-blocking: call again while `.pending`)

    /// Opens a `session` channel.
    public func openSession() -> RequestProgress { progress(ssh_channel_open_session(handle)) }

    /// Opens a `direct-tcpip` channel: the peer connects to `host:port` for us (`ssh -L/-D/-W`).
    public func openForward(host: String, port: Int, originHost: String, originPort: Int) -> RequestProgress {
        progress(ssh_channel_open_forward(handle, host, Int32(clamping: port), originHost, Int32(clamping: originPort)))
    }

    /// Opens a `forwarded-tcpip` channel toward a client: a connection arrived on a port it asked
    /// the server to listen on (`ssh -R`).
    public func openReverseForward(host: String, port: Int, originHost: String, originPort: Int) -> RequestProgress {
        progress(ssh_channel_open_reverse_forward(handle, host, Int32(clamping: port), originHost, Int32(clamping: originPort)))
    }

    /// Opens an `auth-agent@openssh.com` channel toward a client that forwards its agent.
    public func openAuthAgent() -> RequestProgress { progress(ssh_channel_open_auth_agent(handle)) }

    /// Asks the upstream to forward an agent into this session (`auth-agent-req@openssh.com`).
    public func requestAgentForwarding() -> RequestProgress { progress(ssh_channel_request_auth_agent(handle)) }

    public func requestPTY(terminal: WireText, columns: Int, rows: Int) -> RequestProgress {
        progress(terminal.withCString { ssh_channel_request_pty_size(handle, $0, Int32(clamping: columns), Int32(clamping: rows)) })
    }

    public func requestEnvironment(name: WireText, value: WireText) -> RequestProgress {
        progress(name.withCString { name in value.withCString { ssh_channel_request_env(handle, name, $0) } })
    }

    public func requestShell() -> RequestProgress { progress(ssh_channel_request_shell(handle)) }

    public func requestExec(command: WireText) -> RequestProgress {
        progress(command.withCString { ssh_channel_request_exec(handle, $0) })
    }

    public func requestSubsystem(name: WireText) -> RequestProgress {
        progress(name.withCString { ssh_channel_request_subsystem(handle, $0) })
    }

    /// Requests without a reply: they still queue behind any pending request on the channel.
    public func changeWindowSize(columns: Int, rows: Int) -> RequestProgress {
        progress(ssh_channel_change_pty_size(handle, Int32(clamping: columns), Int32(clamping: rows)))
    }

    public func sendSignal(_ name: String) -> RequestProgress { progress(ssh_channel_request_send_signal(handle, name)) }

    // MARK: Notices toward a client (server role)

    public func sendExitStatus(_ status: UInt32) {
        _ = ssh_channel_request_send_exit_status(handle, Int32(bitPattern: status))
    }

    public func sendExitSignal(_ exit: ExitSignal) {
        _ = ssh_channel_request_send_exit_signal(handle, exit.signal, exit.coreDumped ? 1 : 0, exit.errorMessage, exit.language)
    }

    private func progress(_ rc: Int32) -> RequestProgress {
        switch rc {
        case SSH_OK: .accepted
        case SSH_AGAIN: .pending
        default: .refused(session.lastError)
        }
    }
}

/// What libssh told us about a channel through callbacks. Written only from inside libssh
/// calls made by the channel's own thread.
final class ChannelNotices {
    /// Bytes of stdout and stderr data libssh holds for this channel, not read yet.
    var buffered = PerStream(0)
    /// The window libssh granted the peer, as libssh keeps it.
    var window = ReceiveWindow()
    var receivedEOF = false
    var receivedClose = false
    var closeSent = false
    var exitStatus: UInt32?
    var exitSignal: ExitSignal?
    var signals: [String] = []
    var agentForwardingRequested = false

    static func makeCallbacks(for notices: ChannelNotices) -> UnsafeMutablePointer<ssh_channel_callbacks_struct> {
        let callbacks = UnsafeMutablePointer<ssh_channel_callbacks_struct>.allocate(capacity: 1)
        callbacks.initialize(to: ssh_channel_callbacks_struct())
        // ssh_callbacks_init is a macro; it only sets the struct size.
        callbacks.pointee.size = MemoryLayout<ssh_channel_callbacks_struct>.size
        callbacks.pointee.userdata = Unmanaged.passUnretained(notices).toOpaque()
        // Told the whole buffered length of a stream after each data packet (so the packet's
        // size is the growth); consumes nothing, so libssh keeps the data (and withholds
        // window) until it is read.
        callbacks.pointee.channel_data_function = { _, _, _, length, isStderr, userdata in
            guard let notices = ChannelNotices.from(userdata) else { return 0 }
            let stream: ChannelStream = isStderr != 0 ? .stderr : .stdout
            let unread = Int(length)
            notices.window.received(max(0, unread - notices.buffered[stream]), unread: unread)
            notices.buffered[stream] = unread
            return 0
        }
        callbacks.pointee.channel_eof_function = { _, _, userdata in
            ChannelNotices.from(userdata)?.receivedEOF = true
        }
        callbacks.pointee.channel_close_function = { _, _, userdata in
            // A close ends the peer's data even without an EOF before it (the protocol allows
            // that, libssh counts it as EOF too, and asyncssh does it): nothing more will come.
            ChannelNotices.from(userdata)?.receivedEOF = true
            ChannelNotices.from(userdata)?.receivedClose = true
        }
        callbacks.pointee.channel_exit_status_function = { _, _, status, userdata in
            ChannelNotices.from(userdata)?.exitStatus = UInt32(bitPattern: status)
        }
        callbacks.pointee.channel_exit_signal_function = { _, _, signal, core, message, language, userdata in
            ChannelNotices.from(userdata)?.exitSignal = ExitSignal(
                signal: signal.map { String(cString: $0) } ?? "KILL", coreDumped: core != 0,
                errorMessage: message.map { String(cString: $0) } ?? "",
                language: language.map { String(cString: $0) } ?? "")
        }
        callbacks.pointee.channel_signal_function = { _, _, signal, userdata in
            if let signal { ChannelNotices.from(userdata)?.signals.append(String(cString: signal)) }
        }
        callbacks.pointee.channel_auth_agent_req_function = { _, _, userdata in
            ChannelNotices.from(userdata)?.agentForwardingRequested = true
        }
        return callbacks
    }

    private static func from(_ userdata: UnsafeMutableRawPointer?) -> ChannelNotices? {
        userdata.map { Unmanaged<ChannelNotices>.fromOpaque($0).takeUnretainedValue() }
    }
}
