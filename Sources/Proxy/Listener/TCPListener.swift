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

    /// What one wait for a connection gave.
    enum Accepted {
        /// A new socket (close-on-exec, TCP_NODELAY set) and the peer's address.
        case connection(fd: Int32, peer: SocketAddress)
        /// Nothing in time, or a transient error.
        case nothing
        /// The process (or the system) has no descriptor left for the waiting connection.
        case outOfDescriptors
    }

    /// How long to wait for descriptors to be freed before trying to accept again: a waiting
    /// connection stays in the backlog, so poll would report it again at once.
    static let descriptorBackoff: TimeInterval = 0.1

    /// Waits up to `timeoutMilliseconds` for a connection.
    func accept(timeoutMilliseconds: Int32) -> Accepted {
        var pollfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pollfd, 1, timeoutMilliseconds) > 0 else { return .nothing }
        var peer = SocketAddress()
        let client = withUnsafeMutablePointer(to: &peer.storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(fd, $0, &peer.length) }
        }
        guard client >= 0 else {
            guard [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) else { return .nothing }
            Thread.sleep(forTimeInterval: Self.descriptorBackoff)
            return .outOfDescriptors
        }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return .connection(fd: client, peer: peer)
    }
}
