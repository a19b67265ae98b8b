import RouteStore

/// Everything `switchboard serve` needs to run, with the documented defaults.
public struct ProxyConfiguration: Sendable {
    /// Address the proxy listens on, e.g. `0.0.0.0:2222` or `[::]:2222`.
    public var listen: String = "0.0.0.0:2222"
    /// Holds the routing database and the proxy's host keys.
    public var dataDirectory: DataDirectory
    /// Seconds a client has for key exchange plus authentication.
    public var loginGraceSeconds: Int = 30
    /// Password attempts allowed on one connection.
    public var maxAuthTries: Int = 6
    /// Seconds allowed for the TCP connect plus SSH handshake to an upstream.
    public var upstreamConnectTimeoutSeconds: Int = 10
    /// Seconds without channel data either way after which a session is closed; 0 is off.
    public var idleTimeoutSeconds: Int = 0
    /// Connections served at once; more are refused at accept.
    public var maxConnections: Int = 4096
    /// Connections served at once from one address; 0 is no limit.
    public var maxConnectionsPerSource: Int = 256
    /// TCP keepalive toward clients and upstreams: idle seconds before the first probe (0: off).
    /// Dead peers are found by the kernel, without waking the proxy.
    public var tcpKeepaliveSeconds: Int = 60
    /// Directory for asciicast recordings of terminal sessions; `nil` records nothing.
    public var recordDirectory: String?
    /// Also record what the user types (passwords typed at prompts included).
    public var recordInput = false
    /// Require a PROXY protocol (v1 or v2) header on every connection, from `trustedProxies` only.
    public var proxyProtocol = false
    /// Addresses or CIDR ranges allowed to send PROXY headers (e.g. "10.0.0.0/8").
    public var trustedProxies: [String] = []
    /// Failed logins from one address within `banWindowSeconds` that get it banned; 0 disables.
    public var banAfter: Int = 10
    public var banWindowSeconds: Int = 60
    /// How long a banned address's new connections are refused.
    public var banTimeSeconds: Int = 300
    /// Host key policy for routes that do not set their own.
    public var defaultHostKeyPolicy: HostKeyPolicy = .acceptNew
    /// A failed login is answered no sooner than this, whatever the reason, so that response
    /// time does not tell a missing route from a wrong password.
    public var failedLoginDelayMilliseconds: Int = 1000

    public init(dataDirectory: DataDirectory) {
        self.dataDirectory = dataDirectory
    }

    /// Checks what the type system cannot; throws a message naming the first problem.
    public func validate() throws {
        _ = try parsedTrustedProxies()
        if proxyProtocol && trustedProxies.isEmpty {
            throw ConfigurationError("--proxy-protocol needs --trusted-proxies (the load balancers' addresses)")
        }
    }

    func parsedTrustedProxies() throws -> [AddressRange] {
        try trustedProxies.map { text in
            guard let range = AddressRange(text) else {
                throw ConfigurationError("invalid trusted proxy \"\(text)\": expected an address or CIDR such as 10.0.0.0/8")
            }
            return range
        }
    }
}

/// A setting that cannot work, with a message for the operator.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
