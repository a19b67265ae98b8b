/// The request line's target, the request URI (origin form: `/path?query`), split and
/// percent-decoded.
struct HTTPRequestURI: Equatable, Sendable {
    var path: String
    /// The path's segments, each percent-decoded on its own, so `%2F` stays inside a segment.
    var pathSegments: [String]
    var query: [String: String]

    /// Parses a target's bytes; refuses (400) anything but an absolute path with an optional
    /// query, a broken escape, a path or query that decodes to invalid UTF-8 or contains NUL,
    /// and a `.` or `..` path segment. A query parameter without a name is dropped; one without
    /// `=` has the empty value.
    init(parsing target: ArraySlice<UInt8>) throws(HTTPRequestError) {
        guard target.first == UInt8(ascii: "/") else {
            throw HTTPRequestError(400, "the request target must be an absolute path")
        }
        guard !target.contains(UInt8(ascii: "#")) else {
            throw HTTPRequestError(400, "the request target may not contain a fragment")
        }
        let questionMark = target.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex
        guard let path = Self.decodedText(target[..<questionMark], plusIsSpace: false) else {
            throw HTTPRequestError(400, "the path is not validly percent-encoded UTF-8 without NUL")
        }
        guard path.hasPrefix("/") else {
            throw HTTPRequestError(400, "the request target must be an absolute path")
        }
        guard !path.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == "." || $0 == ".." }) else {
            throw HTTPRequestError(400, "the path may not contain . or .. segments")
        }
        self.path = path
        var segments: [String] = []
        for segment in target[target.index(after: target.startIndex)..<questionMark].split(
            separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        {
            guard let text = Self.decodedText(segment, plusIsSpace: false) else {
                throw HTTPRequestError(400, "the path is not validly percent-encoded UTF-8 without NUL")
            }
            segments.append(text)
        }
        pathSegments = segments
        query = [:]
        guard questionMark < target.endIndex else { return }
        for pair in target[(questionMark + 1)...].split(separator: UInt8(ascii: "&")) {
            let equals = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.endIndex
            guard let name = Self.decodedText(pair[..<equals], plusIsSpace: true),
                  let value = Self.decodedText(equals < pair.endIndex ? pair[(equals + 1)...] : [], plusIsSpace: true)
            else {
                throw HTTPRequestError(400, "the query is not validly percent-encoded UTF-8 without NUL")
            }
            if !name.isEmpty { query[name] = value }
        }
    }

    /// Percent-decodes `bytes` (and `+` to a space in a query) into UTF-8 text without NUL;
    /// nil when an escape is broken or the result is not such text.
    static func decodedText(_ bytes: ArraySlice<UInt8>, plusIsSpace: Bool) -> String? {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else {
                    return nil
                }
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        guard !decoded.contains(0), let text = String(validating: decoded, as: UTF8.self) else { return nil }
        return text
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
