@testable import Proxy

/// The request head a client sends to the metrics endpoint (`MetricsRequest`). Promises: only
/// the request line decides; extra spaces between or around its words do not; the two
/// endpoints answer only a GET of exactly their path.
enum HTTPRequestTarget {
    private static let space = UInt8(ascii: " ")
    private static let lineBreaks: Set<UInt8> = [UInt8(ascii: "\r"), UInt8(ascii: "\n")]

    static func run(_ bytes: [UInt8]) {
        let answer = MetricsRequest(requestHead: bytes)
        let requestLine = Array(bytes.prefix { !lineBreaks.contains($0) })

        let otherHeaders = requestLine + Array("\r\nHost: fuzz\r\nX-Path: /metrics\r\n\r\n".utf8)
        require(MetricsRequest(requestHead: otherHeaders) == answer, "headers after the request line changed the answer")
        require(MetricsRequest(requestHead: requestLine) == answer, "the request line alone answers differently")

        let words = requestLine.split(separator: space)
        let respaced = [space, space] + Array(words.joined(separator: [space, space, space])) + [space]
        require(MetricsRequest(requestHead: respaced) == answer, "spacing changed the answer")

        let method = words.first.map { String(decoding: $0, as: UTF8.self) }
        let target = words.dropFirst().first.map { String(decoding: $0, as: UTF8.self) }
        switch answer {
        case .metrics: require(method == "GET" && target == "/metrics", "metrics for \(requestLine)")
        case .health: require(method == "GET" && target == "/healthz", "health for \(requestLine)")
        case .readiness: require(method == "GET" && target == "/readyz", "readiness for \(requestLine)")
        case .notFound:
            require(method == "GET" && !["/metrics", "/healthz", "/readyz"].contains(target), "not found for \(requestLine)")
        case .methodNotAllowed: require(method != "GET", "method not allowed for \(requestLine)")
        }
    }
}
