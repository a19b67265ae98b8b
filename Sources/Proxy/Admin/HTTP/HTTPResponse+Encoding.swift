/// How a response's head goes on the wire. The server owns the framing and the security
/// headers: a handler's own `Content-Length`, `Transfer-Encoding`, `Connection`, `Date`,
/// `X-Content-Type-Options`, `Referrer-Policy` and `X-Frame-Options` are replaced, and
/// `Cache-Control: no-store` is added unless the handler set a `Cache-Control`.
extension HTTPResponse {
    private static let serverHeaders: Set<String> = [
        "content-length", "transfer-encoding", "connection", "date", "x-content-type-options", "referrer-policy", "x-frame-options",
    ]

    /// Whether this status may carry a body (204 and 304 may not).
    var allowsBody: Bool { status != 204 && status != 304 }

    /// The status line and headers, ending with the blank line; with `Content-Length` unless
    /// `streaming`. Nil when the status is not 200…599 or a header name is not a token or a
    /// value holds CR, LF or another control character: such a head must not be sent.
    func encodedHead(streaming: Bool, date: String) -> [UInt8]? {
        guard (200...599).contains(status) else { return nil }
        var head = "HTTP/1.1 \(status) \(Self.reasonPhrase(status))\r\n"
        for (name, value) in headers where !Self.serverHeaders.contains(name.lowercased()) {
            guard !name.isEmpty, name.utf8.allSatisfy(HTTPRequestHead.isTokenByte),
                  value.utf8.allSatisfy({ $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7F) })
            else { return nil }
            head += "\(name): \(value)\r\n"
        }
        if header("Cache-Control") == nil { head += "Cache-Control: no-store\r\n" }
        head += "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
        head += "Date: \(date)\r\nConnection: close\r\n"
        if !streaming && allowsBody { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8)
    }
}
