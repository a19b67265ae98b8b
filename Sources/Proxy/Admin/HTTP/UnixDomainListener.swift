import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A listening Unix-domain stream socket at a path, mode 0600 (its owner only: the admin CLI
/// running as root). A stale socket left at the path by a dead server is replaced; a path
/// something else owns (another file, a server still answering) is refused. The socket file is
/// removed in deinit, unless another server has replaced it by then.
final class UnixDomainListener: Sendable {
    let fd: Int32
    let path: String
    private let device: UInt64
    private let inode: UInt64

    init(path: String) throws(NetworkError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity, !pathBytes.contains(0) else {
            throw .other("\(path): a Unix socket path must have 1 to \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        let length = socklen_t(MemoryLayout.offset(of: \sockaddr_un.sun_path)! + pathBytes.count + 1)

        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard existing.st_mode & S_IFMT == S_IFSOCK else { throw .other("\(path) exists and is not a socket") }
            guard !Self.isAnswering(address, length: length) else { throw .other("\(path): another server is listening there") }
            guard unlink(path) == 0 || errno == ENOENT else { throw .fromErrno(errno, "cannot remove the stale socket \(path)") }
        }

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .fromErrno(errno, "socket") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw .fromErrno(code, "cannot bind \(path)")
        }
        // Nobody can connect before listen(), so the mode is right before the first client.
        var created = stat()
        guard chmod(path, 0o600) == 0, lstat(path, &created) == 0, listen(fd, 64) == 0 else {
            let code = errno
            close(fd)
            unlink(path)
            throw .fromErrno(code, "cannot listen on \(path)")
        }
        self.fd = fd
        self.path = path
        device = UInt64(created.st_dev)
        inode = UInt64(created.st_ino)
    }

    deinit {
        close(fd)
        var current = stat()
        if lstat(path, &current) == 0, UInt64(current.st_dev) == device, UInt64(current.st_ino) == inode {
            unlink(path)
        }
    }

    /// Waits up to `timeoutMilliseconds` for a client: its socket (close-on-exec) and user id.
    func accept(timeoutMilliseconds: Int32) -> (fd: Int32, uid: UInt32?)? {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, timeoutMilliseconds) > 0 else { return nil }
        let client = Glibc.accept(fd, nil, nil)
        guard client >= 0 else {
            if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(errno) { Thread.sleep(forTimeInterval: TCPListener.descriptorBackoff) }
            return nil
        }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        return (client, Self.peerUID(client))
    }

    /// The user id of the process at the other end of a Unix socket (SO_PEERCRED).
    static func peerUID(_ fd: Int32) -> UInt32? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }, which Swift's Glibc does not export.
        var credentials = [UInt32](repeating: 0, count: 3)
        var length = socklen_t(credentials.count * MemoryLayout<UInt32>.size)
        let rc = credentials.withUnsafeMutableBytes { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, $0.baseAddress, &length) }
        guard rc == 0, length == socklen_t(credentials.count * MemoryLayout<UInt32>.size) else { return nil }
        return credentials[1]
    }

    /// Whether a server accepts connections at `address` (a connect succeeds).
    private static func isAnswering(_ address: sockaddr_un, length: socklen_t) -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { close(probe) }
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) }
        } == 0
    }
}
