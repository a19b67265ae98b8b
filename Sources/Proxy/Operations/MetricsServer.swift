import Foundation
import Logging
import RouteStore
import Synchronization

/// A minimal HTTP endpoint for operators: `GET /metrics` (Prometheus text format, produced by
/// `metrics`) and `GET /healthz` (200 while serving, 503 while draining). One thread answers
/// one short request at a time; a slow or silent client is cut after a few seconds.
public final class MetricsServer: Sendable {
    private let listener: TCPListener
    private let metrics: @Sendable () -> [UInt8]
    private let healthy: @Sendable () -> Bool
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    /// Binds `listen` (the `metrics_listen` setting) right away, so a wrong address fails at start.
    public init(
        listen address: HostPort, metrics: @escaping @Sendable () -> [UInt8], healthy: @escaping @Sendable () -> Bool,
        logger: Logger
    ) throws(ProxyError) {
        do {
            listener = try TCPListener(host: address.host, port: address.port, backlog: 64)
        } catch {
            throw ProxyError(.network, "metrics_listen: \(error)")
        }
        self.metrics = metrics
        self.healthy = healthy
        self.logger = logger
    }

    /// Where it listens (useful with port 0).
    public var address: String { listener.localAddress.description }

    /// Serves on a background thread until `stop()`.
    public func start() {
        logger.info("metrics listening", metadata: ["metrics.addr": "\(address)"])
        let thread = Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                guard let (fd, _) = listener.accept(timeoutMilliseconds: 500) else { continue }
                answer(fd)
                close(fd)
            }
        }
        thread.name = "switchboard-metrics"
        thread.stackSize = 256 << 10
        thread.start()
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    private func answer(_ fd: Int32) {
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 && !request.ends(with: Array("\r\n\r\n".utf8)) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            request += buffer[0..<count]
        }
        let requestLine = String(decoding: request.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self).split(separator: " ")
        let (status, contentType, body): (String, String, [UInt8])
        switch (requestLine.first, requestLine.dropFirst().first.map(String.init)) {
        case ("GET", "/metrics"):
            (status, contentType, body) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics())
        case ("GET", "/healthz"):
            (status, contentType, body) = healthy()
                ? ("200 OK", "text/plain", Array("ok\n".utf8))
                : ("503 Service Unavailable", "text/plain", Array("draining\n".utf8))
        case ("GET", _):
            (status, contentType, body) = ("404 Not Found", "text/plain", Array("not found\n".utf8))
        default:
            (status, contentType, body) = ("405 Method Not Allowed", "text/plain", Array("only GET\n".utf8))
        }
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let response = Array(head.utf8) + body
        var sent = 0
        while sent < response.count {
            let count = response.withUnsafeBytes { send(fd, $0.baseAddress! + sent, response.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
