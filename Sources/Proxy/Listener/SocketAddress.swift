import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A resolved IPv4 or IPv6 socket address.
struct SocketAddress: CustomStringConvertible, Sendable {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)

    var family: Int32 { Int32(storage.ss_family) }

    /// The address without the port, e.g. "192.0.2.7" or "2001:db8::1".
    var host: String { numeric().host }
    var port: Int { Int(numeric().port) ?? 0 }

    /// `host:port`, IPv6 in brackets.
    var description: String {
        let (hostText, portText) = numeric()
        return family == AF_INET6 ? "[\(hostText)]:\(portText)" : "\(hostText):\(portText)"
    }

    private func numeric() -> (host: String, port: String) {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let rc = withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return ("unknown", "0") }
        return (String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// Resolves `host` and `port` to addresses, in the resolver's order.
    static func resolve(host: String, port: Int, passive: Bool = false) throws(NetworkError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard rc == 0, let list else {
            throw .nameResolution("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var result: [SocketAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            var address = SocketAddress()
            withUnsafeMutableBytes(of: &address.storage) { raw in
                raw.copyMemory(from: UnsafeRawBufferPointer(start: current.pointee.ai_addr, count: Int(current.pointee.ai_addrlen)))
            }
            address.length = current.pointee.ai_addrlen
            result.append(address)
            entry = current.pointee.ai_next
        }
        return result
    }

    /// The local or peer address of a connected socket.
    static func of(socket fd: Int32, peer: Bool) -> SocketAddress {
        var address = SocketAddress()
        withUnsafeMutablePointer(to: &address.storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = peer ? getpeername(fd, $0, &address.length) : getsockname(fd, $0, &address.length)
            }
        }
        return address
    }
}

/// Why a socket operation failed, sorted the way operators ask about upstream trouble.
enum NetworkError: Error, Equatable, CustomStringConvertible {
    case nameResolution(String)
    case refused(String)
    case timeout(String)
    case unreachable(String)
    case other(String)

    /// A stable short reason, safe as a log field or metric label.
    var reason: String {
        switch self {
        case .nameResolution: "name-resolution"
        case .refused: "connection-refused"
        case .timeout: "timeout"
        case .unreachable: "unreachable"
        case .other: "network-error"
        }
    }

    var description: String {
        switch self {
        case .nameResolution(let text), .refused(let text), .timeout(let text), .unreachable(let text), .other(let text): text
        }
    }

    static func fromErrno(_ code: Int32, _ context: String) -> NetworkError {
        let text = "\(context): \(String(cString: strerror(code)))"
        switch code {
        case ECONNREFUSED: return .refused(text)
        case ETIMEDOUT: return .timeout(text)
        case EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN: return .unreachable(text)
        default: return .other(text)
        }
    }
}
