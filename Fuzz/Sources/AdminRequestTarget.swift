@testable import Proxy

/// A request to the admin listener as `HTTPRequestParser` gathers it from the socket. Promises:
/// the outcome does not depend on how the bytes were cut into reads; a complete request's body
/// is exactly its `Content-Length` and within the limit; header names are lowercase; the path
/// is absolute, and its segments, joined again, give the path whenever no segment contains a
/// slash.
enum AdminRequestTarget {
    static let maximumBody = 4096

    static func run(_ bytes: [UInt8]) {
        var whole = HTTPRequestParser(maximumHeadBytes: 2048, maximumBodyBytes: maximumBody)
        let answer = whole.append(bytes[...])

        var split = HTTPRequestParser(maximumHeadBytes: 2048, maximumBodyBytes: maximumBody)
        let cut = bytes.count / 3
        var splitAnswer = split.append(bytes[..<cut])
        if case .needsMoreBytes = splitAnswer { splitAnswer = split.append(bytes[cut...]) }
        require(splitAnswer == answer, "cutting the bytes at \(cut) changed the outcome: \(splitAnswer) vs \(answer)")

        if bytes.count <= 512 {
            var trickle = HTTPRequestParser(maximumHeadBytes: 2048, maximumBodyBytes: maximumBody)
            var trickleAnswer = HTTPRequestParser.Progress.needsMoreBytes
            for index in bytes.indices {
                trickleAnswer = trickle.append(bytes[index...index])
                if case .needsMoreBytes = trickleAnswer { continue }
                break
            }
            require(trickleAnswer == answer, "a byte at a time changed the outcome")
        }

        guard case .complete(let head, let body) = answer else { return }
        require(body.count == head.contentLength && body.count <= maximumBody, "body of \(body.count) bytes for \(head.contentLength)")
        require(head.headers.keys.allSatisfy { $0 == $0.lowercased() }, "a header name is not lowercase")
        require(head.path.hasPrefix("/"), "a relative path \(head.path)")
        if !head.pathSegments.contains(where: { $0.contains("/") }) {
            require("/" + head.pathSegments.joined(separator: "/") == head.path, "segments \(head.pathSegments) for \(head.path)")
        }
    }
}
