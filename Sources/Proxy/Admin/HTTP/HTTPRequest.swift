/// One request as a handler sees it: already parsed, limited and decoded by `HTTPServer`.
public struct HTTPRequest: Sendable {
    /// The method as sent (methods are case-sensitive: `GET`, `POST`, …).
    public var method: String
    /// The percent-decoded path, without the query: absolute, valid UTF-8, no NUL, no `.` or
    /// `..` segment.
    public var path: String
    /// The query's parameters, percent-decoded with `+` as a space; of a repeated name, the last.
    public var query: [String: String]
    /// Header values by lowercased name. A repeated header's values are joined with ", "
    /// (`cookie` with "; "); `host`, `content-length` and `authorization` may not repeat.
    public var headers: [String: String]
    /// Exactly `Content-Length` bytes; empty without one.
    public var body: [UInt8]
    /// The client: `address:port` over TCP, `unix` over a Unix-domain socket.
    public var peer: String
    /// The client process's user id over a Unix-domain socket (SO_PEERCRED); nil over TCP.
    public var peerUID: UInt32?

    public init(
        method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:],
        body: [UInt8] = [], peer: String, peerUID: UInt32? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.peer = peer
        self.peerUID = peerUID
    }
}
