import Logging
import SSH

/// Relays one client `session` channel (a shell, a command, sftp) to its twin on the upstream
/// connection: requests in order with their replies, data both ways with stderr kept apart,
/// EOF per direction, and exit status or signal just before the close. Driven by the
/// connection after every poll; never blocks. Generic over its channels and requests only so
/// that unit tests can drive it with in-memory ones; the proxy uses `Channel`/`Request`.
final class SessionChannelRelay<Channel: RelayedSessionChannel, Request: PendingRequest> where Request.Channel == Channel {
    /// The two channels of a relay once both exist.
    struct Twins {
        let downstream: Channel
        let upstream: Channel
    }

    /// The life of a relayed session channel.
    enum State {
        /// The upstream channel is being opened; the client's open request waits for the answer.
        case opening(Request, upstream: Channel)
        /// The client's channel is open but the upstream login waits for the client's forwarded
        /// agent; requests queue up meanwhile. (libssh creates channels only on a logged-in
        /// session, so there is no upstream channel yet.)
        case awaitingUpstreamLogin(downstream: Channel)
        /// The upstream login is done and the upstream channel is being opened.
        case openingUpstream(Twins)
        /// Both channels are open and data flows.
        case open(Twins)
        /// The client closed after the upstream's output ended but before its exit status came
        /// (OpenSSH closes as soon as both directions saw EOF): wait briefly for the status.
        case awaitingExitStatus(Twins, deadline: ContinuousClock.Instant)
        /// Both sides have been sent CHANNEL_CLOSE; nothing more to do.
        case finished
    }

    private(set) var state: State
    private var requests = ChannelRequestQueue<Request>()
    /// Where this relay's terminal is recorded, if recording is on for the session.
    private let recording: RecordingPlan?
    private var recorder: SessionRecorder?
    /// Where operators watch the session's terminals live; fed only once this channel has one.
    private let watch: SessionWatch?
    /// True once the upstream granted this channel a terminal.
    private var hasTerminal = false
    /// Set when this terminal must be recorded (`--record-required`) and its recording could
    /// not start or stopped: the channel is then ended.
    private var recordingFailed = false
    private var clientToUpstream = DirectionPump()
    private var upstreamToClient = DirectionPump()
    private let logger: Logger

    /// True once the client asked for agent forwarding on this channel.
    private(set) var clientForwardsAgent = false
    /// Whether the route lets the client's agent be forwarded on to the upstream (the agent is
    /// used for an agent login either way).
    private let forwardsAgentUpstream: Bool
    /// How the upstream program ended ("0", "42", "signal TERM"), once known.
    private(set) var exitDescription: String?
    /// The upstream's exit status or signal has been passed on.
    private var exitForwarded = false
    /// True once `tell` wrote a notice to the client's channel.
    private(set) var hasBeenTold = false

    /// True once either peer sent far more than the window it was given.
    var windowOverrun: Bool { clientToUpstream.sourceOverran || upstreamToClient.sourceOverran }

    /// Bytes carried so far from the client to the upstream, and back.
    var bytesToUpstream: Int { clientToUpstream.bytesMoved }
    var bytesToClient: Int { upstreamToClient.bytesMoved }

    /// A relay for a client's channel open request, answered once the upstream has opened its twin.
    init(
        openRequest: Request, upstream: Channel, recording: RecordingPlan?, watch: SessionWatch? = nil, forwardsAgentUpstream: Bool = true,
        logger: Logger
    ) {
        self.state = .opening(openRequest, upstream: upstream)
        self.recording = recording
        self.watch = watch
        self.forwardsAgentUpstream = forwardsAgentUpstream
        self.logger = logger
    }

    /// A relay whose client channel is already open while the upstream is not logged in yet.
    init(
        acceptedDownstream downstream: Channel, recording: RecordingPlan?, watch: SessionWatch? = nil, forwardsAgentUpstream: Bool = true,
        logger: Logger
    ) {
        self.state = .awaitingUpstreamLogin(downstream: downstream)
        self.recording = recording
        self.watch = watch
        self.forwardsAgentUpstream = forwardsAgentUpstream
        self.logger = logger
    }

    /// The client-side channel once it is open.
    private var downstream: Channel? {
        switch state {
        case .awaitingUpstreamLogin(let downstream): downstream
        case .openingUpstream(let twins), .open(let twins), .awaitingExitStatus(let twins, _): twins.downstream
        case .opening, .finished: nil
        }
    }

    /// The upstream-side channel once it exists.
    private var upstream: Channel? {
        switch state {
        case .opening(_, let upstream): upstream
        case .openingUpstream(let twins), .open(let twins), .awaitingExitStatus(let twins, _): twins.upstream
        case .awaitingUpstreamLogin, .finished: nil
        }
    }

    /// The client-side channel's id once it is open.
    var downstreamID: Channel.ID? { downstream?.id }
    /// The upstream-side channel's id while it exists.
    var upstreamID: Channel.ID? { upstream?.id }

    /// True if the client asked to start a command but never forwarded its agent, which this
    /// relay's upstream login needs.
    var startsWithoutAgent: Bool {
        guard case .awaitingUpstreamLogin = state, !clientForwardsAgent else { return false }
        return requests.startsProgram
    }

    /// True while the relay waits for something that may never arrive, with a time limit.
    var hasDeadline: Bool {
        if case .awaitingExitStatus = state { return true }
        return false
    }

    var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// The upstream is logged in: open the upstream twin (`makeChannel` creates it) and replay
    /// what was queued.
    func upstreamReady(makeChannel: () throws(SSHError) -> Channel) {
        guard case .awaitingUpstreamLogin(let downstream) = state else { return }
        do {
            state = .openingUpstream(Twins(downstream: downstream, upstream: try makeChannel()))
        } catch {
            logger.warning("cannot create upstream channel", metadata: ["error": "\(error)"])
            failClientChannel(downstream, upstream: nil, notice: "the upstream session could not be opened")
        }
    }

    /// Ends the channel on a request the proxy does not relay (an access rule forbids it),
    /// telling the user why: the request is answered, the notice written to the channel's
    /// stderr, and the channel closed with exit status 255. (A refused request alone leaves
    /// the user with OpenSSH's "request failed", and the client may quit before it prints
    /// a notice sent just before the refusal.)
    func refuse(_ message: Request, telling notice: String) {
        guard let downstream else {
            message.refuse()
            return
        }
        message.accept()
        failClientChannel(downstream, upstream: upstream, notice: notice)
    }

    /// Queues a client request for the upstream channel, after an agent-forwarding request that
    /// arrived before it (OpenSSH asks for the agent before the shell, which needs it at start).
    func enqueue(_ request: SSHRequest.ChannelRequest, message: Request) {
        collectAgentForwardingRequest()
        requests.append(request, message: message)
    }

    private func collectAgentForwardingRequest() {
        guard let downstream, downstream.takeAgentForwardingRequest() else { return }
        clientForwardsAgent = true
        if forwardsAgentUpstream { requests.appendAgentForwarding() }
    }

    /// Advances the relay as far as possible without waiting. Returns true if anything moved,
    /// so the caller knows to look again before sleeping in poll.
    func step() -> Bool {
        switch state {
        case .opening(let openRequest, let upstream):
            return stepOpening(openRequest, upstream)
        case .awaitingUpstreamLogin(let downstream):
            collectAgentForwardingRequest()
            guard downstream.receivedClose else { return false }
            requests.dropAll()
            downstream.close()
            state = .finished
            return true
        case .openingUpstream(let twins):
            switch twins.upstream.openSession() {
            case .pending:
                return false
            case .refused(let why):
                logger.info("upstream refused channel", metadata: ["error": "\(why)"])
                failClientChannel(twins.downstream, upstream: twins.upstream, notice: "the upstream host refused the session")
                return true
            case .accepted:
                state = .open(twins)
                _ = stepOpen(twins)
                return true
            }
        case .open(let twins):
            return stepOpen(twins)
        case .awaitingExitStatus(let twins, let deadline):
            if twins.upstream.receivedClose || ContinuousClock.now >= deadline {
                finish(twins, forwardingExit: true)
                return true
            }
            return false
        case .finished:
            return false
        }
    }

    /// How long a relay waits for an exit status after the client has already closed.
    static var exitStatusGrace: Duration { .seconds(5) }

    /// Ends the relay because of the connection (the upstream died or could not log in, the
    /// session sat idle, the proxy shuts down): tell the user on stderr and close both channels.
    func abort(notice: String) {
        if case .opening(let openRequest, _) = state { openRequest.refuse() }
        if let downstream {
            failClientChannel(downstream, upstream: upstream, notice: notice)
        }
        state = .finished
    }

    /// The client connection is gone: drop what it asked and close the upstream twin.
    func clientLost() {
        if case .opening(let openRequest, _) = state { openRequest.dropWithoutReply() }
        requests.dropAll()
        upstream?.close()
        state = .finished
    }

    /// Tells the user `notice` while the channel goes on: one line on its stderr, which a
    /// terminal shows. Nothing happens until the client's channel is open.
    func tell(_ notice: String) {
        guard let downstream else { return }
        write(notice, to: downstream)
        hasBeenTold = true
    }

    /// Writes `notice` to the client's stderr on a line of its own, as far as the window allows
    /// (a notice is not worth queueing for a client that stopped reading).
    private func write(_ notice: String, to downstream: Channel) {
        let text = Array("\r\nswitchboard: \(notice)\r\n".utf8)
        _ = text.withUnsafeBytes { try? downstream.write($0, to: .stderr) }
    }

    /// Ends the client's channel like a program that failed: its waiting requests are answered
    /// (so the client reads on instead of stopping at a refused request), the notice goes to
    /// stderr, and the exit status is 255, as ssh itself uses for connection errors.
    private func failClientChannel(_ downstream: Channel, upstream: Channel?, notice: String) {
        requests.acceptAll()
        write(notice, to: downstream)
        downstream.sendEOF()
        downstream.sendExitStatus(255)
        downstream.close()
        upstream?.close()
        state = .finished
    }

    private func stepOpening(_ openRequest: Request, _ upstream: Channel) -> Bool {
        switch upstream.openSession() {
        case .pending:
            return false
        case .refused(let why):
            logger.info("upstream refused channel", metadata: ["error": "\(why)"])
            openRequest.refuse()
            state = .finished
            return true
        case .accepted:
            do {
                let twins = Twins(downstream: try openRequest.acceptChannelOpen(), upstream: upstream)
                state = .open(twins)
                _ = stepOpen(twins)
            } catch {
                logger.warning("cannot confirm channel to client", metadata: ["error": "\(error)"])
                upstream.close()
                state = .finished
            }
            return true
        }
    }

    private func stepOpen(_ twins: Twins) -> Bool {
        let downstream = twins.downstream
        let upstream = twins.upstream
        collectAgentForwardingRequest()
        for signal in downstream.takeSignals() { requests.appendSignal(signal) }
        var moved = requests.forward(to: upstream, logger: logger) { observe($0) }
        if recordingFailed || (recording?.required == true && recorder?.stopReason != nil) {
            failClientChannel(downstream, upstream: upstream, notice: "this session must be recorded and cannot be; it was ended")
            return true
        }
        moved = clientToUpstream.pump(from: downstream, to: upstream) || moved
        moved = upstreamToClient.pump(from: upstream, to: downstream) || moved
        moved = forwardExitOnceDelivered(twins) || moved

        if upstream.receivedClose && upstreamToClient.isDrained {
            // OpenSSH sends EOF, exit-status, close: whatever status is still to forward goes
            // just before our close.
            finish(twins, forwardingExit: true)
            return true
        }
        if downstream.receivedClose {
            if upstreamToClient.isDrained && !upstream.receivedClose {
                upstream.sendEOF()
                state = .awaitingExitStatus(twins, deadline: .now + Self.exitStatusGrace)
            } else {
                logger.debug("channel closed by client")
                finish(twins, forwardingExit: false)
            }
            return true
        }
        return moved
    }

    /// Passes on the upstream's exit status or signal as soon as it came and everything the
    /// upstream sent before it has been delivered, as sshd sends it when the program exits:
    /// a program that leaves a background job holding the channel open still reports its exit.
    private func forwardExitOnceDelivered(_ twins: Twins) -> Bool {
        let upstream = twins.upstream
        guard !exitForwarded, upstream.exitStatus != nil || upstream.exitSignal != nil, !upstreamToClient.keepsData,
              upstream.bufferedByteCount(.stdout) == 0, upstream.bufferedByteCount(.stderr) == 0
        else { return false }
        forwardExit(of: twins)
        return true
    }

    private func forwardExit(of twins: Twins) {
        let upstream = twins.upstream
        exitForwarded = true
        exitDescription = upstream.exitStatus.map { String($0) } ?? upstream.exitSignal.map { "signal \($0.signal)" }
        if let status = upstream.exitStatus { twins.downstream.sendExitStatus(status) }
        if let signal = upstream.exitSignal { twins.downstream.sendExitSignal(signal) }
    }

    /// Sends the upstream's exit status or signal (if asked, known and not sent yet), then
    /// closes both channels.
    private func finish(_ twins: Twins, forwardingExit: Bool) {
        let upstream = twins.upstream
        if forwardingExit {
            if !exitForwarded { forwardExit(of: twins) }
            logger.debug("channel closed", metadata: [
                "exit.status": "\(upstream.exitStatus.map(String.init) ?? "none")",
                "exit.signal": "\(upstream.exitSignal?.signal ?? "none")",
            ])
        }
        // Every queued request is answered (or, if the client has closed the channel, dropped)
        // while the channel still exists: a reply reads the channel.
        if twins.downstream.receivedClose { requests.dropAll() } else { requests.refuseAll() }
        twins.downstream.close()
        upstream.close()
        state = .finished
    }

    /// Once the upstream grants a terminal, starts recording it (if recording is on) and feeds
    /// it to the session's watch; notes resizes for both.
    private func observe(_ request: SSHRequest.ChannelRequest) {
        switch request {
        case .pty(let terminal, let columns, let rows):
            guard !hasTerminal else { return }
            hasTerminal = true
            watch?.terminalStarted(columns: columns, rows: rows, terminal: terminal.text)
            startRecording(columns: columns, rows: rows, terminal: terminal.text)
            observeOutput()
        case .windowChange(let columns, let rows):
            guard hasTerminal else { return }
            recorder?.resize(columns: columns, rows: rows)
            watch?.resized(columns: columns, rows: rows)
        default:
            break
        }
    }

    private func startRecording(columns: Int, rows: Int, terminal: String) {
        guard let recording else { return }
        do {
            let recorder = try recording.makeRecorder(columns: columns, rows: rows, terminal: terminal)
            self.recorder = recorder
            clientToUpstream.observer = { recorder.input($0) }
            logger.info("recording session", metadata: ["recording.path": "\(recorder.path)"])
        } catch {
            logger.error("cannot record session", metadata: ["error": "\(error)"])
            recordingFailed = recording.required
        }
    }

    /// The terminal's output goes to the recorder and the watch, whichever exist (one closure:
    /// the pump has one observer).
    private func observeOutput() {
        upstreamToClient.observer = switch (recorder, watch) {
        case (let recorder?, let watch?): { recorder.output($0); watch.output($0) }
        case (let recorder?, nil): { recorder.output($0) }
        case (nil, let watch?): { watch.output($0) }
        case (nil, nil): nil
        }
    }
}
