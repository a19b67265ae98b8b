import Foundation
import Logging
import Synchronization
import TLS

/// A small HTTP/1.1 server for the admin API, plain or over TLS: one request per connection
/// (every answer says `Connection: close`), each connection on a thread of its own that runs the
/// handler, at most `Limits.maximumConnections` at once (more are closed at accept). Deadlines
/// bound everything a client controls — the TLS handshake and the request together, a complete
/// response, each write of a stream — so a slow, silent or hostile client costs one thread for a
/// bounded time and never stalls the others.
public final class HTTPServer: Sendable {
    /// The bounds a client is held to.
    public struct Limits: Sendable {
        /// From accept to the request's last byte, the TLS handshake included.
        public var requestDeadline: Duration = .seconds(10)
        /// For writing a complete (non-stream) response, and a stream's head.
        public var responseDeadline: Duration = .seconds(10)
        /// For each write of a stream (`HTTPStream.write`).
        public var streamSendDeadline: Duration = .seconds(5)
        /// How long, after answering, the server reads what the client still sends before closing.
        public var lingering: Duration = .seconds(1)
        public var maximumConnections = 64
        public var maximumHeadBytes = 16 << 10
        public var maximumBodyBytes = 1 << 20

        public init() {}
    }

    private static let acceptPollMilliseconds: Int32 = 500
    /// As much as a connection thread gets: a handler may run a libssh key exchange (`route
    /// trust`) or open a libpq connection.
    private static let threadStackSize = 1 << 20

    private let listener: HTTPListener
    private let tls: TLSServerContext?
    private let handler: @Sendable (HTTPRequest) -> HTTPReply
    private let logger: Logger
    private let limits: Limits
    private let started = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    private let connectionsInFlight = Atomic<Int>(0)

    /// Serves `listener`'s clients with `handler`, over TLS when `tls` is given.
    public init(
        listener: HTTPListener, tls: TLSServerContext?, limits: Limits = Limits(),
        handler: @escaping @Sendable (HTTPRequest) -> HTTPReply, logger: Logger
    ) {
        self.listener = listener
        self.tls = tls
        self.limits = limits
        self.handler = handler
        self.logger = logger
    }

    /// Where it listens (useful with port 0).
    public var address: String { listener.address }

    /// How many connections are being served right now.
    public var activeConnections: Int { connectionsInFlight.load(ordering: .relaxed) }

    /// Accepts on a background thread until `stop()`; once (a second call does nothing).
    public func start() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        logger.info("http listening", metadata: ["http.addr": "\(address)", "http.tls": "\(tls != nil)"])
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                guard let client = listener.accept(timeoutMilliseconds: Self.acceptPollMilliseconds) else { continue }
                guard connectionsInFlight.add(1, ordering: .relaxed).newValue <= limits.maximumConnections else {
                    connectionsInFlight.subtract(1, ordering: .relaxed)
                    close(client.fd)
                    logger.debug("http connection refused: too many at once", metadata: ["client.addr": "\(client.peer)"])
                    continue
                }
                startConnection(client)
            }
        }
        thread.name = "switchboard-http"
        thread.stackSize = Self.threadStackSize
        thread.start()
    }

    /// Stops accepting (within half a second); connections being served finish on their own.
    public func stop() { stopped.store(true, ordering: .relaxed) }

    private func startConnection(_ client: HTTPListener.Client) {
        let thread = Thread { [self] in
            defer { connectionsInFlight.subtract(1, ordering: .relaxed) }
            var logger = logger
            logger[metadataKey: "client.addr"] = "\(client.peer)"
            serve(HTTPConnection(fd: client.fd), peer: client.peer, peerUID: client.peerUID, logger: logger)
        }
        thread.name = "switchboard-http-request"
        thread.stackSize = Self.threadStackSize
        thread.start()
    }

    /// Everything one connection's thread does, from the handshake to the close.
    private func serve(_ connection: HTTPConnection, peer: String, peerUID: UInt32?, logger: Logger) {
        Self.ignoreBrokenPipeOnThisThread()
        let requestDeadline = ContinuousClock.now + limits.requestDeadline
        if let tls {
            do {
                try connection.startTLS(tls, until: requestDeadline)
            } catch {
                logger.debug("http TLS handshake failed", metadata: ["error": "\(error)"])
                return
            }
        }
        let request: HTTPRequest
        switch readRequest(connection, until: requestDeadline) {
        case .complete(let head, let body):
            request = HTTPRequest(
                method: head.method, path: head.path, pathSegments: head.pathSegments, query: head.query, headers: head.headers,
                body: body, peer: peer, peerUID: peerUID)
        case .refused(let error):
            logger.debug("http request refused", metadata: ["http.status": "\(error.status)", "error": "\(error.message)"])
            send(error.response, on: connection, headOnly: false, logger: logger)
            connection.finish(lingering: limits.lingering)
            return
        case .needsMoreBytes:
            logger.debug("http request incomplete at its deadline or close")
            return
        }

        let headOnly = request.method == "HEAD"
        switch handler(request) {
        case .response(let response):
            logger.debug("http answered", metadata: ["http.method": "\(request.method)", "http.status": "\(response.status)"])
            send(response, on: connection, headOnly: headOnly, logger: logger)
        case .stream(let head, let body):
            logger.debug("http stream", metadata: ["http.method": "\(request.method)", "http.status": "\(head.status)"])
            guard let encoded = head.encodedHead(streaming: true, date: HTTPDate.now()) else {
                logger.error("http handler answered a head that cannot be sent; answering 500 instead", metadata: ["http.path": "\(request.path)"])
                send(Self.malformedReply, on: connection, headOnly: headOnly, logger: logger)
                break
            }
            guard connection.write(encoded, until: .now + limits.responseDeadline) else { return }
            if !headOnly { body(HTTPStream(connection: connection, sendDeadline: limits.streamSendDeadline)) }
        }
        connection.finish(lingering: limits.lingering)
    }

    private static let continueResponse = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Reads until the request is complete, refused, or the client stops short of it. A client
    /// that waits for `100 Continue` before its body (curl does for large ones) gets it once
    /// the head has passed.
    private func readRequest(_ connection: HTTPConnection, until deadline: ContinuousClock.Instant) -> HTTPRequestParser.Progress {
        var parser = HTTPRequestParser(maximumHeadBytes: limits.maximumHeadBytes, maximumBodyBytes: limits.maximumBodyBytes)
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        var continueSent = false
        while true {
            guard case .bytes(let count) = buffer.withUnsafeMutableBytes({ connection.read(into: $0, until: deadline) }) else {
                return .needsMoreBytes
            }
            let progress = parser.append(buffer[..<count])
            guard progress == .needsMoreBytes else { return progress }
            if !continueSent, parser.headAwaitingBody?.headers["expect"]?.lowercased() == "100-continue" {
                continueSent = true
                guard connection.write(Self.continueResponse, until: deadline) else { return .needsMoreBytes }
            }
        }
    }

    private static let malformedReply = HTTPResponse.text(status: 500, "the server made an answer it cannot send\n")

    /// Writes a complete response within the response deadline; a head that cannot be sent
    /// becomes a 500.
    private func send(_ response: HTTPResponse, on connection: HTTPConnection, headOnly: Bool, logger: Logger) {
        let date = HTTPDate.now()
        var response = response
        var head = response.encodedHead(streaming: false, date: date)
        if head == nil {
            logger.error("http handler answered a head that cannot be sent; answering 500 instead")
            response = Self.malformedReply
            head = response.encodedHead(streaming: false, date: date)
        }
        guard let head else { return }
        let bytes = headOnly || !response.allowsBody ? head : head + response.body
        if !connection.write(bytes, until: .now + limits.responseDeadline) {
            logger.debug("http response not delivered within its deadline")
        }
    }

    /// A write to a socket the client closed raises SIGPIPE, which would end the process unless
    /// ignored; OpenSSL writes without MSG_NOSIGNAL. Blocked on this thread, it stays pending
    /// and is discarded with the thread.
    private static func ignoreBrokenPipeOnThisThread() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }
}
