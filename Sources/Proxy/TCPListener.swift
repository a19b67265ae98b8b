import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The proxy's listening socket, owned directly (not by libssh) so that it can use
/// SO_REUSEPORT for restarts without dropping users, and so accepted sockets can be
/// inspected before the SSH layer sees them.
final class TCPListener: Sendable {
    let fd: Int32
    /// The address actually bound (useful with port 0).
    let localAddress: SocketAddress

    /// Binds and listens on `host:port`.
    init(host: String, port: Int, backlog: Int32 = 512) throws(NetworkError) {
        let candidates = try SocketAddress.resolve(host: host, port: port, passive: true)
        var lastError = NetworkError.other("no address to listen on for \(host):\(port)")
        for address in candidates {
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = .fromErrno(errno, "socket")
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
            var storage = address.storage
            let bound = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
            }
            guard bound == 0, listen(fd, backlog) == 0 else {
                lastError = .fromErrno(errno, "cannot listen on \(address)")
                close(fd)
                continue
            }
            self.fd = fd
            self.localAddress = SocketAddress.of(socket: fd, peer: false)
            return
        }
        throw lastError
    }

    deinit { close(fd) }

    /// Waits up to `timeoutMilliseconds` for a connection. Returns the new socket (close-on-exec,
    /// TCP_NODELAY set) and the peer's address, or nil on timeout or a transient error.
    func accept(timeoutMilliseconds: Int32) -> (fd: Int32, peer: SocketAddress)? {
        var pollfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pollfd, 1, timeoutMilliseconds) > 0 else { return nil }
        var peer = SocketAddress()
        let client = withUnsafeMutablePointer(to: &peer.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &peer.length) }
        }
        guard client >= 0 else { return nil }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return (client, peer)
    }
}

/// TCP keepalive: the kernel probes an idle peer after `idleSeconds`, then every 15 s, and
/// gives up after 4 unanswered probes, which ends the session. 0 leaves keepalive off.
func enableKeepalive(on fd: Int32, idleSeconds: Int) {
    guard idleSeconds > 0 else { return }
    var on: Int32 = 1
    var idle = Int32(idleSeconds)
    var interval: Int32 = 15
    var count: Int32 = 4
    let size = socklen_t(MemoryLayout<Int32>.size)
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
}

/// Opens TCP connections to upstreams with a deadline and a precise failure reason.
enum TCPConnector {
    /// Connects to the first reachable address of `host:port` within `timeoutSeconds`.
    /// The returned socket is blocking, close-on-exec, with TCP_NODELAY.
    static func connect(host: String, port: Int, timeoutSeconds: Int) throws(NetworkError) -> Int32 {
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        var lastError = NetworkError.other("no address for \(host)")
        for address in try SocketAddress.resolve(host: host, port: port) {
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            guard remaining > 0 else { throw .timeout("connecting to \(host):\(port) timed out after \(timeoutSeconds)s") }
            do {
                return try connect(to: address, timeoutMilliseconds: remaining)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func connect(to address: SocketAddress, timeoutMilliseconds: Int32) throws(NetworkError) -> Int32 {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .fromErrno(errno, "socket") }
        var storage = address.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, address.length) }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else {
                let error = NetworkError.fromErrno(errno, "connect to \(address)")
                close(fd)
                throw error
            }
            var pollfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&pollfd, 1, timeoutMilliseconds)
            guard ready > 0 else {
                close(fd)
                throw .timeout("connect to \(address) timed out")
            }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
            guard socketError == 0 else {
                close(fd)
                throw .fromErrno(socketError, "connect to \(address)")
            }
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }
}
