/// A request's line and headers, parsed from bytes alone (no socket), strictly: the server
/// refuses what it would otherwise have to guess about.
///
/// - Lines end with CRLF; a bare CR or LF, a folded (indented) header line, a space before a
///   header's colon or a control character in a value is a 400.
/// - Only `HTTP/1.1` and `HTTP/1.0`; another HTTP version is a 505. HTTP/1.1 needs `Host`.
/// - A body is framed by `Content-Length` only: `Transfer-Encoding` is a 501, a length over the
///   limit a 413, and POST, PUT and PATCH without a length a 411 (other methods without one
///   have no body).
/// - `Host`, `Content-Length` and `Authorization` may appear once; other repeated headers are
///   joined with ", " (`Cookie` with "; ").
struct HTTPRequestHead: Equatable, Sendable {
    var method: String
    var path: String
    var pathSegments: [String]
    var query: [String: String]
    /// By lowercased name.
    var headers: [String: String]
    /// How many body bytes follow the head.
    var contentLength: Int

    private static let singleHeaders: Set<String> = ["host", "content-length", "authorization"]
    private static let methodsWithBody: Set<String> = ["POST", "PUT", "PATCH"]

    /// Parses `bytes`: the head without the blank line that ends it (the last header line has
    /// no CRLF of its own).
    init(parsing bytes: ArraySlice<UInt8>, maximumBodyBytes: Int) throws(HTTPRequestError) {
        var lines = Self.lines(bytes)
        guard !lines.isEmpty else { throw HTTPRequestError(400, "the request line is missing") }
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(Self.isTokenByte) else {
            throw HTTPRequestError(400, "the request line is not 'METHOD /path HTTP/1.1'")
        }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPRequestError(400, "the request target has a byte that is not visible ASCII")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            if version.utf8.count == 8, version.hasPrefix("HTTP/"), version.utf8.dropFirst(5).enumerated().allSatisfy({
                $0.offset == 1 ? $0.element == UInt8(ascii: ".") : (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0.element)
            }) {
                throw HTTPRequestError(505, "only HTTP/1.1 and HTTP/1.0 are served")
            }
            throw HTTPRequestError(400, "the request line is not 'METHOD /path HTTP/1.1'")
        }
        method = String(decoding: parts[0], as: UTF8.self)
        let target = try HTTPRequestURI(parsing: parts[1])
        path = target.path
        pathSegments = target.pathSegments
        query = target.query

        headers = [:]
        for line in lines {
            let (name, value) = try Self.header(line)
            if let earlier = headers[name] {
                guard !Self.singleHeaders.contains(name) else {
                    throw HTTPRequestError(400, "the \(name) header may appear only once")
                }
                headers[name] = earlier + (name == "cookie" ? "; " : ", ") + value
            } else {
                headers[name] = value
            }
        }
        if version == "HTTP/1.1" && headers["host"] == nil {
            throw HTTPRequestError(400, "an HTTP/1.1 request needs a Host header")
        }
        if headers["transfer-encoding"] != nil {
            throw HTTPRequestError(501, "a request body must be sent with Content-Length, not Transfer-Encoding")
        }
        if let length = headers["content-length"] {
            guard !length.isEmpty, length.utf8.count <= 18, length.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  let count = Int(length)
            else {
                throw HTTPRequestError(400, "Content-Length is not a number")
            }
            guard count <= maximumBodyBytes else {
                throw HTTPRequestError(413, "the request body may have at most \(maximumBodyBytes) bytes")
            }
            contentLength = count
        } else if Self.methodsWithBody.contains(method) {
            throw HTTPRequestError(411, "a \(method) request needs a Content-Length header")
        } else {
            contentLength = 0
        }
    }

    /// Splits at CRLF; a CR or LF that is not part of a CRLF is refused at the header check.
    private static func lines(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\r"), index + 1 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "\n") {
                lines.append(bytes[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        if start < bytes.endIndex || lines.isEmpty { lines.append(bytes[start...]) }
        return lines
    }

    /// One header line's lowercased name and its value without surrounding spaces and tabs.
    private static func header(_ line: ArraySlice<UInt8>) throws(HTTPRequestError) -> (String, String) {
        if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            throw HTTPRequestError(400, "folded header lines are not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
              line[..<colon].allSatisfy(isTokenByte)
        else {
            throw HTTPRequestError(400, "a header line is not 'Name: value'")
        }
        var value = line[(colon + 1)...]
        while let first = value.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { value = value.dropFirst() }
        while let last = value.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { value = value.dropLast() }
        guard value.allSatisfy({ $0 == UInt8(ascii: "\t") || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPRequestError(400, "a header value contains a control character")
        }
        return (String(decoding: line[..<colon], as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self))
    }

    /// The bytes of a method or header name (RFC 9110's `tchar`).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
