import Logging
import SSH

/// Relays a plain data channel that one side asked for and the proxy opens on the other side:
/// agent connections (the upstream asks, the client's agent answers) and port forwards (the
/// client asks, the upstream connects). Data flows both ways
/// with EOF per direction; when either side closes, the rest is delivered and both are closed.
final class DataChannelRelay {
    /// The life of a data channel relay.
    enum State {
        /// Waiting for the far side to confirm the channel we opened; the request waits with it.
        case opening(request: SSHMessage)
        case open(requester: SSHChannel)
        case finished
    }

    private(set) var state: State
    /// The channel the proxy opened on the other connection.
    private let opened: SSHChannel
    private let open: (SSHChannel) -> RequestProgress
    private var requesterToOpened = DirectionPump()
    private var openedToRequester = DirectionPump()
    private let logger: Logger

    /// `open` starts (and, called again, continues) opening `opened`, e.g. `{ $0.openAuthAgent() }`.
    init(request: SSHMessage, opened: SSHChannel, logger: Logger, open: @escaping (SSHChannel) -> RequestProgress) {
        self.state = .opening(request: request)
        self.opened = opened
        self.open = open
        self.logger = logger
    }

    /// The channels this relay holds: the one it opened, and the requester's once open.
    var channelIDs: [SSHChannelID] {
        if case .open(let requester) = state { return [opened.id, requester.id] }
        return [opened.id]
    }

    /// True once either peer sent far more than the window it was given.
    var windowOverrun: Bool { requesterToOpened.sourceOverran || openedToRequester.sourceOverran }

    var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// Advances without waiting; returns true if anything moved.
    func step() -> Bool {
        switch state {
        case .opening(let request):
            switch open(opened) {
            case .pending:
                return false
            case .refused(let why):
                logger.debug("could not open the other side of a channel", metadata: ["error": "\(why)"])
                request.refuse()
                state = .finished
                return true
            case .accepted:
                do {
                    state = .open(requester: try request.acceptChannelOpen())
                } catch {
                    opened.close()
                    state = .finished
                }
                return true
            }
        case .open(let requester):
            var moved = requesterToOpened.pump(from: requester, to: opened)
            moved = openedToRequester.pump(from: opened, to: requester) || moved
            let requesterDone = requester.receivedClose && requesterToOpened.isDrained
            let openedDone = opened.receivedClose && openedToRequester.isDrained
            if requesterDone || openedDone || (requester.receivedClose && opened.receivedClose) {
                requester.close()
                opened.close()
                state = .finished
                return true
            }
            return moved
        case .finished:
            return false
        }
    }

    /// One of the connections is gone: close what is left.
    func close() {
        switch state {
        case .opening(let request): request.refuse()
        case .open(let requester): requester.close()
        case .finished: break
        }
        opened.close()
        state = .finished
    }
}
