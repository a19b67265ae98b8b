import SSH

/// Every relayed channel of one connection: session channels (shells, commands, sftp) and
/// data channels (port forwards, agent connections), plus what finished ones carried.
final class ConnectionChannels {
    typealias SessionRelay = SessionChannelRelay<SSHChannel, SSHMessage>

    private var sessions: [SessionRelay] = []
    private var dataChannels: [DataChannelRelay] = []
    /// Relays that finished in this pass, kept (a data relay with the channel it opened) until
    /// the pass has handled its messages. A message that names a channel of a finished relay
    /// is never answered (`ClientConnection.answerRequestOnUnrelayedChannel`): libssh may have
    /// freed that channel already.
    private var finished: [AnyObject] = []
    /// Bytes that finished session channels carried each way.
    private(set) var retiredBytes = (toUpstream: 0, toClient: 0)
    /// How the last finished program ended ("0", "42", "signal TERM"), if one reported it.
    private(set) var lastExit: String?

    func add(_ relay: SessionRelay) { sessions.append(relay) }
    func add(_ relay: DataChannelRelay) { dataChannels.append(relay) }

    /// Channels one connection may have open at once, sessions and forwards together; more
    /// are refused at once (OpenSSH's sshd allows 10 sessions by default).
    static let capacity = 128

    /// True if another channel may be opened.
    var hasRoom: Bool { sessions.count + dataChannels.count < Self.capacity }

    /// The session relay whose client-side channel is `id`.
    func session(withClientChannel id: SSHChannelID) -> SessionRelay? {
        sessions.first { $0.downstreamID == id }
    }

    /// True if `id` is a channel (on either connection) of a relay that has not finished.
    func isRelaying(_ id: SSHChannelID) -> Bool {
        sessions.contains { $0.downstreamID == id || $0.upstreamID == id } || dataChannels.contains { $0.channelIDs.contains(id) }
    }

    /// True once the client asked for agent forwarding on any session channel.
    var clientForwardsAgent: Bool { sessions.contains(where: \.clientForwardsAgent) }
    /// True if a session channel wants to start a program but the client forwards no agent.
    var startsWithoutAgent: Bool { sessions.contains(where: \.startsWithoutAgent) }
    /// True if a peer sent far more data on a channel than its window allowed (libssh 0.10.6
    /// accepts such data): the connection must end before it costs the process its memory.
    var windowOverrun: Bool { sessions.contains(where: \.windowOverrun) || dataChannels.contains(where: \.windowOverrun) }

    /// True while a relay waits on a deadline of its own (so the connection must wake up).
    var hasDeadline: Bool { sessions.contains(where: \.hasDeadline) }

    /// Bytes session channels have carried each way, finished ones included (what the audit
    /// record will say if the session ends now).
    var bytesCarried: (toUpstream: Int, toClient: Int) {
        sessions.reduce(retiredBytes) { ($0.toUpstream + $1.bytesToUpstream, $0.toClient + $1.bytesToClient) }
    }

    /// Advances every channel without waiting, then drops the finished ones (keeping their
    /// totals). Returns true if anything moved.
    func step() -> Bool {
        var moved = false
        for relay in sessions where relay.step() { moved = true }
        for relay in dataChannels where relay.step() { moved = true }
        retire(all: false)
        finished += dataChannels.filter(\.isFinished)
        dataChannels.removeAll { $0.isFinished }
        return moved
    }

    /// Lets go of the relays that finished, once no queued message can name their channels.
    func releaseFinished() {
        finished.removeAll()
    }

    /// The upstream has logged in: session channels waiting for it open their upstream twins.
    func upstreamReady(on upstream: SSHSession) {
        for relay in sessions {
            relay.upstreamReady { () throws(SSHError) in try SSHChannel.make(on: upstream) }
        }
    }

    /// Tells every session channel `notice` on its stderr while the channels go on, each once:
    /// channels told before are skipped, and a channel that opens later is told when this is
    /// called again. `notice` is made only if a channel is to be told.
    func tellOnce(_ notice: () -> String) {
        let untold = sessions.filter { !$0.hasBeenTold && $0.downstreamID != nil }
        guard !untold.isEmpty else { return }
        let text = notice()
        untold.forEach { $0.tell(text) }
    }

    /// The connection ends while the client is still there: every session channel gets the
    /// notice on stderr and exit status 255, data channels are closed. Every queued request is
    /// answered before a channel handle is released.
    func abort(notice: String) {
        sessions.forEach { $0.abort(notice: notice) }
        closeAll()
    }

    /// The client is gone: queued requests are dropped, the upstream twins closed.
    func clientLost() {
        sessions.forEach { $0.clientLost() }
        closeAll()
    }

    private func closeAll() {
        retire(all: true)
        dataChannels.forEach { $0.close() }
        finished += dataChannels
        dataChannels.removeAll()
    }

    /// Drops finished session relays (or all of them), keeping their totals.
    private func retire(all: Bool) {
        for relay in sessions where all || relay.isFinished {
            retiredBytes.toUpstream += relay.bytesToUpstream
            retiredBytes.toClient += relay.bytesToClient
            ProxyMetrics.bytesRelayed(toUpstream: relay.bytesToUpstream, toClient: relay.bytesToClient)
            if let exit = relay.exitDescription { lastExit = exit }
        }
        finished += sessions.filter { all || $0.isFinished }
        sessions.removeAll { all || $0.isFinished }
    }
}
