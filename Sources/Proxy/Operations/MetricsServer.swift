import Foundation
import Logging
import RouteStore
import Synchronization

/// A minimal HTTP endpoint for operators: `GET /metrics` (Prometheus text format, produced by
/// `metrics`), `GET /healthz` (200 while serving, 503 while draining) and `GET /readyz` (200
/// while the database answers, 503 while it does not). Each request gets a
/// short-lived thread of its own and `requestDeadline` for everything (reading the request,
/// writing the answer), so a slow or silent client cannot hold the endpoint; at most
/// `maximumConcurrentRequests` are served at once, more are closed at accept.
public final class MetricsServer: Sendable {
    /// The whole time one request may take.
    static let requestDeadline: Duration = .seconds(2)
    static let maximumConcurrentRequests = 16

    private let listener: TCPListener
    private let metrics: @Sendable () -> [UInt8]
    private let healthy: @Sendable () -> Bool
    private let ready: @Sendable () -> Bool
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)
    private let requestsInFlight = Atomic<Int>(0)

    /// Binds `listen` (the `metrics_listen` setting) right away, so a wrong address fails at start.
    public init(
        listen address: HostPort, metrics: @escaping @Sendable () -> [UInt8], healthy: @escaping @Sendable () -> Bool,
        ready: @escaping @Sendable () -> Bool = { true }, logger: Logger
    ) throws(ProxyError) {
        do {
            listener = try TCPListener(host: address.host, port: address.port, backlog: 64)
        } catch {
            throw ProxyError(.network, "metrics_listen: \(error)")
        }
        self.metrics = metrics
        self.healthy = healthy
        self.ready = ready
        self.logger = logger
    }

    /// Where it listens (useful with port 0).
    public var address: String { listener.localAddress.description }

    /// Serves on a background thread until `stop()`.
    public func start() {
        logger.info("metrics listening", metadata: ["metrics.addr": "\(address)"])
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                guard case .connection(let fd, _) = listener.accept(timeoutMilliseconds: 500) else { continue }
                guard requestsInFlight.add(1, ordering: .relaxed).newValue <= Self.maximumConcurrentRequests else {
                    requestsInFlight.subtract(1, ordering: .relaxed)
                    close(fd)
                    continue
                }
                let handler = Thread { [self] in
                    answer(fd, deadline: .now + Self.requestDeadline)
                    close(fd)
                    requestsInFlight.subtract(1, ordering: .relaxed)
                }
                handler.name = "switchboard-metrics-request"
                handler.stackSize = 256 << 10
                handler.start()
            }
        }
        thread.name = "switchboard-metrics"
        thread.stackSize = 256 << 10
        thread.start()
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    /// Waits until `fd` is ready for `events` or the deadline passes; false on timeout or error.
    private func wait(_ fd: Int32, for events: Int32, until deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - .now
        guard remaining > .zero else { return false }
        var entry = pollfd(fd: fd, events: Int16(events), revents: 0)
        let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
        return poll(&entry, 1, milliseconds) > 0 && entry.revents & Int16(events) != 0
    }

    private func answer(_ fd: Int32, deadline: ContinuousClock.Instant) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 && !request.ends(with: Array("\r\n\r\n".utf8)) {
            guard wait(fd, for: Int32(POLLIN), until: deadline) else { return }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            request += buffer[0..<count]
        }
        let (status, contentType, body): (String, String, [UInt8])
        switch MetricsRequest(requestHead: request) {
        case .metrics:
            (status, contentType, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics())
        case .health:
            (status, contentType, body) = healthy()
                ? ("200 OK", "text/plain", Array("ok\n".utf8))
                : ("503 Service Unavailable", "text/plain", Array("draining\n".utf8))
        case .readiness:
            (status, contentType, body) = ready()
                ? ("200 OK", "text/plain", Array("ok\n".utf8))
                : ("503 Service Unavailable", "text/plain", Array("database unavailable\n".utf8))
        case .notFound:
            (status, contentType, body) = ("404 Not Found", "text/plain", Array("not found\n".utf8))
        case .methodNotAllowed:
            (status, contentType, body) = ("405 Method Not Allowed", "text/plain", Array("only GET\n".utf8))
        }
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let response = Array(head.utf8) + body
        var sent = 0
        while sent < response.count {
            guard wait(fd, for: Int32(POLLOUT), until: deadline) else { return }
            let count = response.withUnsafeBytes { send(fd, $0.baseAddress! + sent, response.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
