import Foundation

/// The listening socket an `HTTPServer` accepts its clients from: TCP (with SO_REUSEPORT, like
/// the proxy's own) or a Unix-domain socket at a path (mode 0600, whose clients' user ids
/// reach the handler as `HTTPRequest.peerUID`).
public final class HTTPListener: Sendable {
    private enum Socket: Sendable {
        case tcp(TCPListener)
        case unixDomain(UnixDomainListener)
    }

    /// One accepted client.
    struct Client {
        let fd: Int32
        let peer: String
        let peerUID: UInt32?
    }

    private let socket: Socket

    /// Listens on `host:port` (port 0: any free port; see `address`).
    public init(host: String, port: Int) throws(ProxyError) {
        do {
            socket = .tcp(try TCPListener(host: host, port: port, backlog: 128))
        } catch {
            throw ProxyError(.network, "cannot listen on \(host):\(port): \(error)")
        }
    }

    /// Listens on a Unix-domain socket at `path` (see `UnixDomainListener`).
    public init(unixSocketPath path: String) throws(ProxyError) {
        do {
            socket = .unixDomain(try UnixDomainListener(path: path))
        } catch {
            throw ProxyError(.network, "\(error)")
        }
    }

    /// Where it listens: `host:port` (IPv6 in brackets), or `unix:<path>`.
    public var address: String {
        switch socket {
        case .tcp(let listener): listener.localAddress.description
        case .unixDomain(let listener): "unix:\(listener.path)"
        }
    }

    /// Waits up to `timeoutMilliseconds` for the next client.
    func accept(timeoutMilliseconds: Int32) -> Client? {
        switch socket {
        case .tcp(let listener):
            guard case .connection(let fd, let peer) = listener.accept(timeoutMilliseconds: timeoutMilliseconds) else { return nil }
            return Client(fd: fd, peer: peer.description, peerUID: nil)
        case .unixDomain(let listener):
            guard let (fd, uid) = listener.accept(timeoutMilliseconds: timeoutMilliseconds) else { return nil }
            return Client(fd: fd, peer: "unix", peerUID: uid)
        }
    }
}
