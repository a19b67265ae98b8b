import Foundation
#if canImport(Glibc)
import Glibc
#endif

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
