/// One request as a handler sees it: already parsed, limited and decoded by `HTTPServer`.
public struct HTTPRequest: Sendable {
    /// The method as sent (methods are case-sensitive: `GET`, `POST`, …).
    public var method: String
    /// The percent-decoded path, without the query: absolute, valid UTF-8, no NUL, no `.` or
    /// `..` segment.
    public var path: String
    /// The path's segments after the first `/`, each percent-decoded on its own (so `%2F`
    /// stays inside its segment): `/v1/routes/a%2Fb` is `["v1", "routes", "a/b"]`.
    public var pathSegments: [String]
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
        method: String, path: String, pathSegments: [String]? = nil, query: [String: String] = [:], headers: [String: String] = [:],
        body: [UInt8] = [], peer: String, peerUID: UInt32? = nil
    ) {
        self.method = method
        self.path = path
        self.pathSegments = pathSegments ?? path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        self.query = query
        self.headers = headers
        self.body = body
        self.peer = peer
        self.peerUID = peerUID
    }
}
