import Foundation
import RouteStore

/// Where each `serve` process on this machine listens for local control requests: one Unix
/// socket per process, `<data dir>/control/serve-<pid>.sock`, mode 0600 in a 0700 folder, so
/// only the proxy's own user (or root) can connect; the proxy checks the peer's uid as well.
/// `switchboard sessions watch` uses it, so watching needs neither the admin API nor a token.
public enum ControlSocket {
    public static func directory(of dataDirectory: DataDirectory) -> String { dataDirectory.path + "/control" }

    public static func path(of dataDirectory: DataDirectory, pid: Int32 = getpid()) -> String {
        directory(of: dataDirectory) + "/serve-\(pid).sock"
    }
}

/// The reading side of `switchboard sessions watch ID`: asks each proxy process on this machine
/// (through its control socket) for the session's live stream, and hands each asciicast event
/// to `output` until the session ends. Several processes may share a data directory during a
/// restart; the one holding the session answers, the others refuse.
public enum LocalWatchClient {
    /// One event of the stream.
    public enum Event: Equatable {
        /// The asciicast header: the terminal's size when watching began.
        case started(columns: Int, rows: Int)
        case output(String)
        case resized(columns: Int, rows: Int)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Watches session `id`; returns why the stream ended ("session-ended", "too-slow").
    public static func watch(sessionID id: Int64, dataDirectory: DataDirectory, output: (Event) -> Void) throws(Failure) -> String {
        let folder = ControlSocket.directory(of: dataDirectory)
        let sockets = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("serve-") && $0.hasSuffix(".sock") }.sorted()
        var refusals: [String] = []
        for name in sockets {
            guard let connection = connect(to: "\(folder)/\(name)") else { continue }
            defer { close(connection) }
            let request = "GET /v1/sessions/\(id)/stream HTTP/1.1\r\nHost: switchboard\r\nConnection: close\r\n\r\n"
            guard send(connection, request, request.utf8.count, Int32(MSG_NOSIGNAL)) == request.utf8.count else { continue }
            var reader = LineReader(descriptor: connection)
            guard let status = reader.line(), status.hasPrefix("HTTP/1.1 ") else { continue }
            while let header = reader.line(), !header.isEmpty {}
            guard status.hasPrefix("HTTP/1.1 200") else {
                refusals.append(errorMessage(in: reader.rest()) ?? status)
                continue
            }
            return follow(&reader, output: output)
        }
        if sockets.isEmpty || refusals.isEmpty {
            throw Failure(description: "no running proxy found in \(dataDirectory.path) (its control sockets are in \(folder))")
        }
        throw Failure(description: refusals.first { !$0.contains("no running session") } ?? refusals[0])
    }

    /// Reads server-sent events until `event: end`.
    private static func follow(_ reader: inout LineReader, output: (Event) -> Void) -> String {
        var eventName = "message"
        var sawHeader = false
        while let line = reader.line() {
            if line.hasPrefix("event: ") {
                eventName = String(line.dropFirst(7))
            } else if line.hasPrefix("data: ") {
                let data = Data(line.dropFirst(6).utf8)
                if eventName == "end" {
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                    return object?["reason"] as? String ?? "session-ended"
                }
                if !sawHeader {
                    sawHeader = true
                    let header = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
                    output(.started(columns: header?["width"] as? Int ?? 80, rows: header?["height"] as? Int ?? 24))
                    continue
                }
                guard let event = try? JSONSerialization.jsonObject(with: data) as? [Any], event.count == 3,
                      let kind = event[1] as? String, let text = event[2] as? String
                else { continue }
                if kind == "o" {
                    output(.output(text))
                } else if kind == "r" {
                    let size = text.split(separator: "x").compactMap { Int($0) }
                    if size.count == 2 { output(.resized(columns: size[0], rows: size[1])) }
                }
            } else if line.isEmpty {
                eventName = "message"
            }
        }
        return "connection-closed"
    }

    private static func errorMessage(in body: [UInt8]) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        return (object?["error"] as? [String: Any])?["message"] as? String
    }

    /// A connected Unix socket to `path`, or nil (a stale socket of a process that is gone).
    private static func connect(to path: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            return nil
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Lines (without their line ends) read from a socket with a buffer.
    private struct LineReader {
        let descriptor: Int32
        private var buffer: [UInt8] = []
        private var closed = false

        init(descriptor: Int32) { self.descriptor = descriptor }

        mutating func line() -> String? {
            while true {
                if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    var line = Array(buffer[..<end])
                    buffer.removeSubrange(...end)
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    return String(decoding: line, as: UTF8.self)
                }
                guard fill() else { return nil }
            }
        }

        /// Everything left until the peer closes (a short error body).
        mutating func rest() -> [UInt8] {
            while buffer.count < 65536, fill() {}
            return buffer
        }

        private mutating func fill() -> Bool {
            guard !closed else { return false }
            var chunk = [UInt8](repeating: 0, count: 16384)
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else {
                closed = true
                return false
            }
            buffer += chunk[..<count]
            return true
        }
    }
}
