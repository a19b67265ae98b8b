import Logging
import SSH

/// A session channel's requests waiting for their turn on the upstream channel. libssh allows
/// one outstanding request per channel, and order matters (env before shell), so requests go
/// upstream one at a time and each client request is answered when the upstream has answered.
struct ChannelRequestQueue<Request: PendingRequest> {
    private enum Entry {
        /// A request the client made and waits to have answered.
        case client(SSHRequest.ChannelRequest, Request)
        /// A signal the client asked to deliver (signals carry no reply).
        case signal(String)
        /// The client forwards its agent: ask the upstream for agent forwarding too.
        case agentForwarding
    }

    private var entries: [Entry] = []

    /// Requests that may wait at once. A client that floods requests faster than the upstream
    /// answers them has the excess refused at once instead of queued without end (OpenSSH
    /// clients send a few: env variables, a terminal, the program). A refused request that
    /// wants a reply is answered ahead of those still waiting: only a flooding client sees that.
    static var capacity: Int { 256 }

    /// Queues a client request; refuses it at once when the queue is full.
    mutating func append(_ request: SSHRequest.ChannelRequest, message: Request) {
        guard entries.count < Self.capacity else {
            message.refuse()
            return
        }
        entries.append(.client(request, message))
    }

    mutating func appendSignal(_ name: String) {
        guard entries.count < Self.capacity else { return }
        entries.append(.signal(name))
    }

    mutating func appendAgentForwarding() {
        entries.append(.agentForwarding)
    }

    /// True if a queued client request starts the remote program (shell, exec, subsystem).
    var startsProgram: Bool {
        entries.contains {
            if case .client(let request, _) = $0, request.startsProgram { return true }
            return false
        }
    }

    /// Answers every waiting client request with success and empties the queue: used when the
    /// channel is failed on purpose, so the client reads the notice instead of stopping at a
    /// refused request.
    mutating func acceptAll() {
        for case .client(_, let message) in entries { message.accept() }
        entries.removeAll()
    }

    /// Refuses every waiting client request and empties the queue: the channel is closing.
    mutating func refuseAll() {
        for case .client(_, let message) in entries { message.refuse() }
        entries.removeAll()
    }

    /// Empties the queue without answering: the client connection is gone, or the client closed
    /// this channel. Done before the channel handles are released, so no message outlives the
    /// channel it names.
    mutating func dropAll() {
        for case .client(_, let message) in entries { message.dropWithoutReply() }
        entries.removeAll()
    }

    /// Sends queued requests to `upstream` one at a time, answering each client request as the
    /// upstream answers it; `granted` sees every client request the upstream accepted. Returns
    /// true if anything moved.
    mutating func forward(
        to upstream: some RelayedSessionChannel, logger: Logger, granted: (SSHRequest.ChannelRequest) -> Void
    ) -> Bool {
        var moved = false
        while let head = entries.first {
            let progress: RequestProgress
            switch head {
            case .client(let request, _): progress = upstream.send(request)
            case .signal(let name): progress = upstream.sendSignal(name)
            case .agentForwarding: progress = upstream.requestAgentForwarding()
            }
            if progress == .pending { break }
            entries.removeFirst()
            moved = true
            guard case .client(let request, let message) = head else { continue }
            switch progress {
            case .accepted:
                message.accept()
                granted(request)
            case .refused(let why):
                logger.debug("upstream refused channel request", metadata: ["request": "\(request.name)", "error": "\(why)"])
                message.refuse()
            case .pending:
                break
            }
        }
        return moved
    }
}

extension SSHRequest.ChannelRequest {
    /// Requests that start the remote program: the last moment the upstream must be ready.
    var startsProgram: Bool {
        switch self {
        case .shell, .exec, .subsystem: true
        default: false
        }
    }

    /// The request's protocol name, for logs (never its arguments: a command may hold secrets).
    var name: String {
        switch self {
        case .pty: "pty-req"
        case .environment: "env"
        case .shell: "shell"
        case .exec: "exec"
        case .subsystem: "subsystem"
        case .windowChange: "window-change"
        case .x11: "x11-req"
        case .other: "other"
        }
    }
}
