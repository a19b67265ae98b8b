import SSH

/// What a `DirectionPump` needs of the channels it moves data between. `SSHChannel` is the
/// real one; unit tests drive the pump with in-memory channels.
protocol PumpableChannel: AnyObject {
    /// How many bytes the peer is willing to receive right now.
    var sendWindow: Int { get }
    /// True while the connection holds output it could not write to its socket yet.
    var outputBacklogged: Bool { get }
    /// The peer sent CHANNEL_CLOSE.
    var receivedClose: Bool { get }
    /// This side has sent CHANNEL_CLOSE.
    var closeSent: Bool { get }
    /// Bytes of `stream` that a read would return now.
    func bufferedByteCount(_ stream: ChannelStream) -> Int
    /// True once the peer sent more than the window it was granted.
    var peerIgnoredWindow: Bool { get }
    /// Reads what is buffered of `stream`, without waiting.
    func read(into buffer: UnsafeMutableRawBufferPointer, from stream: ChannelStream) -> ReadResult
    /// Writes what the window takes now; returns how many bytes were taken.
    func write(_ bytes: UnsafeRawBufferPointer, to stream: ChannelStream) throws(SSHError) -> Int
    /// This side will write no more data.
    func sendEOF()
}

/// What a `SessionChannelRelay` needs of each of its two channels: data, requests, and the
/// notices of a program's end. `SSHChannel` is the real one; unit tests use in-memory channels.
protocol RelayedSessionChannel: PumpableChannel {
    associatedtype ID: Hashable
    var id: ID { get }
    /// The `exit-status` the peer sent, if any.
    var exitStatus: UInt32? { get }
    /// The `exit-signal` the peer sent, if any.
    var exitSignal: ExitSignal? { get }
    /// True once the peer asked for agent forwarding; reading it clears it.
    func takeAgentForwardingRequest() -> Bool
    /// Signals the peer asked to deliver, oldest first; reading them clears them.
    func takeSignals() -> [String]
    /// Opens (or goes on opening) this channel as a session on its connection.
    func openSession() -> RequestProgress
    /// Makes `request` on this channel (one outstanding request at a time).
    func send(_ request: SSHRequest.ChannelRequest) -> RequestProgress
    func sendSignal(_ name: String) -> RequestProgress
    func requestAgentForwarding() -> RequestProgress
    func sendExitStatus(_ status: UInt32)
    func sendExitSignal(_ exit: ExitSignal)
    func close()
}

/// A peer's request that waits for the proxy's answer. `SSHMessage` is the real one.
protocol PendingRequest: AnyObject {
    associatedtype Channel
    func accept()
    func refuse()
    /// Leaves the request unanswered: the connection is going away.
    func dropWithoutReply()
    /// Confirms a channel open request and returns the new channel.
    func acceptChannelOpen() throws(SSHError) -> Channel
}

extension SSHChannel: RelayedSessionChannel {
    func send(_ request: SSHRequest.ChannelRequest) -> RequestProgress {
        switch request {
        case .pty(let terminal, let columns, let rows): requestPTY(terminal: terminal, columns: columns, rows: rows)
        case .environment(let name, let value): requestEnvironment(name: name, value: value)
        case .shell: requestShell()
        case .exec(let command): requestExec(command: command)
        case .subsystem(let name): requestSubsystem(name: name)
        case .windowChange(let columns, let rows): changeWindowSize(columns: columns, rows: rows)
        case .x11, .other: .refused("not supported by the proxy")
        }
    }
}

extension SSHMessage: PendingRequest {}
