#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `host:port` pair as an operator writes it: `10.0.0.5:22`, `db.internal`, `[::1]:2222`.
/// Used for upstreams, listen addresses and client addresses.
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    /// Host name or IP address; IPv6 is stored without brackets.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// True for an address only this machine can reach: 127.0.0.0/8, ::1, `localhost`.
    public var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Parses `HOST[:PORT]`, validating both parts. IPv6 addresses must be bracketed.
    /// `allowedPorts` is 1...65535 for upstreams; a listen address may also use 0 (any free port).
    public init(parsing text: String, defaultPort: Int = 22, allowedPorts: ClosedRange<Int> = 1...65535) throws(RouteStoreError) {
        var hostPart = Substring(text)
        var portPart: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .invalidHost(text, reason: "missing closing bracket; write IPv6 addresses as [::1]:22")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw .invalidHost(text, reason: "expected ':PORT' after the closing bracket")
                }
                portPart = rest.dropFirst()
            }
            guard RouteValidation.isIPv6(String(hostPart)) else {
                throw .invalidHost(text, reason: "not an IPv6 address inside the brackets")
            }
        } else if let colon = text.firstIndex(of: ":") {
            if text[text.index(after: colon)...].contains(":") {
                throw .invalidHost(text, reason: "write IPv6 addresses in brackets, e.g. [::1]:22")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        let port = try portPart.map { p throws(RouteStoreError) in try RouteValidation.port(String(p), allowed: allowedPorts) } ?? defaultPort
        self.host = try RouteValidation.host(String(hostPart))
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The rules every route field must pass before it is written. Names are checked against what
/// OpenSSH accepts as a user name and what Debian's libssh accepts for SSH_OPTIONS_USER.
public enum RouteValidation {
    /// Longest accepted login or upstream user name.
    public static let maximumNameLength = 64

    /// Validates a login name at the gateway; "*" names the catch-all route.
    public static func routeLogin(_ name: String) throws(RouteStoreError) -> String {
        if name == Route.catchAllLogin { return name }
        if name.first == RoutePattern.marker {
            _ = try RoutePattern(String(name.dropFirst()))
            return name
        }
        return try login(name)
    }

    /// Validates a login name a client can use.
    public static func login(_ name: String) throws(RouteStoreError) -> String {
        if let reason = userNameProblem(name) { throw .invalidLogin(name, reason: reason) }
        return name
    }

    /// True if a client may log in with `name` (a catch-all route can serve it, and it is safe
    /// to write to a log).
    public static func isValidLogin(_ name: String) -> Bool { userNameProblem(name) == nil }

    /// Validates the user name used on the upstream host.
    public static func upstreamUser(_ name: String) throws(RouteStoreError) -> String {
        if let reason = userNameProblem(name) { throw .invalidUpstreamUser(name, reason: reason) }
        return name
    }

    /// Validates the principal written into a route's upstream certificates: a user name as
    /// above, or one with a domain (`alice@corp`), as AuthorizedPrincipalsFile entries often are.
    public static func certificatePrincipal(_ name: String) throws(RouteStoreError) -> String {
        let parts = name.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        for part in parts {
            if let reason = userNameProblem(String(part)) { throw .invalidPrincipal(name, reason: reason) }
        }
        return name
    }

    /// The shortest and longest lifetime of an upstream certificate, in seconds.
    public static let certificateLifetimes = 30...86_400

    /// Range-checks a certificate lifetime in seconds.
    public static func certificateLifetime(_ seconds: Int) throws(RouteStoreError) -> Int {
        guard certificateLifetimes.contains(seconds) else {
            throw .invalidUpstreamAuth("a certificate lifetime is from \(certificateLifetimes.lowerBound) seconds to 24 hours (got \(seconds) s)")
        }
        return seconds
    }

    /// Checks that a route's access rules can work together.
    public static func accessPolicy(_ policy: AccessPolicy) throws(RouteStoreError) {
        if let from = policy.validFrom, let until = policy.validUntil, from >= until {
            throw .invalidPolicy("--valid-from must be before --valid-until")
        }
        if let maximum = policy.maxSessions, !(1...AccessPolicy.maximumSessions).contains(maximum) {
            throw .invalidPolicy("--max-sessions is from 1 to \(AccessPolicy.maximumSessions) (got \(maximum))")
        }
        if let kinds = policy.allowedChannels, kinds.isEmpty {
            throw .invalidPolicy("--allow needs at least one kind")
        }
        if policy.allowFrom.count > 256 { throw .invalidPolicy("at most 256 address ranges per route") }
        if policy.scheduleEndsSessions && policy.schedule == nil {
            throw .invalidPolicy("--schedule-ends-sessions needs a --schedule")
        }
    }

    /// Validates the name of a trusted client CA (the same rules as a login name).
    public static func authorityName(_ name: String) throws(RouteStoreError) -> String {
        if let reason = userNameProblem(name) { throw .invalidAuthority("invalid CA name \"\(name.prefix(80))\": \(reason)") }
        return name
    }

    /// Validates a certificate key id to revoke: printable text, at most 1024 bytes.
    public static func certificateKeyID(_ text: String) throws(RouteStoreError) -> String {
        guard !text.isEmpty, text.utf8.count <= 1024, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw .invalidAuthority("a key id to revoke is 1 to 1024 bytes of printable text")
        }
        return text
    }

    /// Parses and range-checks a port written as text.
    public static func port(_ text: String, allowed: ClosedRange<Int> = 1...65535) throws(RouteStoreError) -> Int {
        guard text.allSatisfy(\.isASCII), let value = Int(text), allowed.contains(value) else { throw .invalidPort(text) }
        return value
    }

    /// Range-checks a numeric port.
    public static func port(_ value: Int) throws(RouteStoreError) -> Int {
        guard (1...65535).contains(value) else { throw .invalidPort(String(value)) }
        return value
    }

    /// Validates a host: an IPv4 or IPv6 address (brackets allowed) or a DNS name.
    public static func host(_ text: String) throws(RouteStoreError) -> String {
        var candidate = text
        if candidate.hasPrefix("[") && candidate.hasSuffix("]") {
            candidate = String(candidate.dropFirst().dropLast())
            guard isIPv6(candidate) else { throw .invalidHost(text, reason: "not an IPv6 address inside the brackets") }
            return candidate
        }
        if candidate.isEmpty { throw .invalidHost(text, reason: "the host is empty") }
        if isIPv4(candidate) || isIPv6(candidate) { return candidate }
        if let reason = hostNameProblem(candidate) { throw .invalidHost(text, reason: reason) }
        return candidate
    }

    /// Validates an OpenSSH SHA256 fingerprint (`SHA256:` + 43 unpadded base64 characters).
    public static func fingerprint(_ text: String) throws(RouteStoreError) -> String {
        let prefix = "SHA256:"
        guard text.hasPrefix(prefix) else { throw .invalidFingerprint(text) }
        let body = text.dropFirst(prefix.count)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        guard body.count == 43, body.allSatisfy(alphabet.contains) else { throw .invalidFingerprint(text) }
        return text
    }

    static func userNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "the name is empty" }
        if name.utf8.count > maximumNameLength { return "longer than \(maximumNameLength) characters" }
        if name.hasPrefix("-") || name.hasPrefix(".") { return "must not start with '-' or '.'" }
        for scalar in name.unicodeScalars where !isNameCharacter(scalar) {
            return "only letters, digits, '.', '_' and '-' are allowed (found \(describe(scalar)))"
        }
        return nil
    }

    static func hostNameProblem(_ name: String) -> String? {
        if name.utf8.count > 253 { return "a host name is at most 253 characters" }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            if label.isEmpty { return "empty label (two dots in a row, or a leading or trailing dot)" }
            if label.utf8.count > 63 { return "a label is at most 63 characters" }
            if label.hasPrefix("-") || label.hasSuffix("-") { return "a label must not start or end with '-'" }
            for scalar in label.unicodeScalars where !(isASCIIAlphanumeric(scalar) || scalar == "-" || scalar == "_") {
                return "only letters, digits, '-', '_' and '.' are allowed in a host name (found \(describe(scalar)))"
            }
        }
        if name.split(separator: ".").allSatisfy({ $0.allSatisfy(\.isNumber) }) {
            return "not a valid IPv4 address"
        }
        return nil
    }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }

    private static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        isASCIIAlphanumeric(scalar) || scalar == "." || scalar == "_" || scalar == "-"
    }

    private static func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case " ": "a space"
        case "\t": "a tab"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f: "a control character"
        default: "'\(scalar)'"
        }
    }
}
