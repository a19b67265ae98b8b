/// What a request to the metrics endpoint asks for, decided from its request line alone
/// (`GET /metrics HTTP/1.1`): the method and the target, separated by spaces. Headers and
/// anything after the first line break do not matter.
enum MetricsRequest: Equatable {
    /// `GET /metrics`: the Prometheus text.
    case metrics
    /// `GET /healthz`: serving or draining.
    case health
    /// `GET /readyz`: whether the database answers (reported apart from health, so a database
    /// outage does not take every node out of the load balancer at once).
    case readiness
    /// `GET` of any other target.
    case notFound
    /// Any method but `GET`, or no request line at all.
    case methodNotAllowed

    /// Reads the request line of `requestHead` (the bytes received, up to the blank line).
    init(requestHead: [UInt8]) {
        let requestLine = requestHead.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        let words = requestLine.split(separator: UInt8(ascii: " ")).map(Array.init)
        guard words.first == Array("GET".utf8) else {
            self = .methodNotAllowed
            return
        }
        let target = words.dropFirst().first
        if target == Array("/metrics".utf8) {
            self = .metrics
        } else if target == Array("/healthz".utf8) {
            self = .health
        } else if target == Array("/readyz".utf8) {
            self = .readiness
        } else {
            self = .notFound
        }
    }
}
