/// Every failure of the route store, with a stable code for scripts and a message for people.
public enum RouteStoreError: Error, Equatable, CustomStringConvertible {
    case invalidLogin(String, reason: String)
    case invalidUpstreamUser(String, reason: String)
    case invalidHost(String, reason: String)
    case invalidPort(String)
    case invalidFingerprint(String)
    case routeExists(String)
    case keyExists(login: String, fingerprint: String)
    case keyNotFound(login: String, fingerprint: String)
    case invalidKey(String)
    case invalidIdentityFile(String)
    case routeNotFound(String)
    case invalidPrincipal(String, reason: String)
    /// A route's `upstream_auth` does not fit the rest of the route.
    case invalidUpstreamAuth(String)
    /// A CA key, CA name or revocation that cannot be used, or a CA operation that does not fit
    /// the current state (e.g. `ca retire` with no rotation under way).
    case invalidAuthority(String)
    case authorityNotFound(String)
    case authorityExists(String)
    /// An access rule of a route (source ranges, schedule, validity, session limit, allowed
    /// channels) that cannot be read or cannot work.
    case invalidPolicy(String)
    case nothingToChange
    case sessionNotRunning(Int64)
    /// An admin API token's name that cannot be used.
    case invalidTokenName(String)
    case tokenExists(String)
    case tokenNotFound(String)
    case database(String)
    /// The database could not be reached (PostgreSQL down or unreachable); it may come back.
    case unavailable(String)
    case migration(String)

    /// A stable identifier, safe to match on in scripts and tests.
    public var code: String {
        switch self {
        case .invalidLogin: "invalid-login"
        case .invalidUpstreamUser: "invalid-upstream-user"
        case .invalidHost: "invalid-host"
        case .invalidPort: "invalid-port"
        case .invalidFingerprint: "invalid-fingerprint"
        case .routeExists: "route-exists"
        case .keyExists: "key-exists"
        case .keyNotFound: "key-not-found"
        case .invalidKey: "invalid-key"
        case .invalidIdentityFile: "invalid-identity-file"
        case .routeNotFound: "route-not-found"
        case .invalidPrincipal: "invalid-principal"
        case .invalidUpstreamAuth: "invalid-upstream-auth"
        case .invalidAuthority: "invalid-ca"
        case .authorityNotFound: "ca-not-found"
        case .authorityExists: "ca-exists"
        case .invalidPolicy: "invalid-policy"
        case .nothingToChange: "nothing-to-change"
        case .sessionNotRunning: "session-not-running"
        case .invalidTokenName: "invalid-token-name"
        case .tokenExists: "token-exists"
        case .tokenNotFound: "token-not-found"
        case .database: "database"
        case .unavailable: "database-unavailable"
        case .migration: "migration"
        }
    }

    public var description: String {
        switch self {
        case .invalidLogin(let name, let reason): "invalid login name \(quoted(name)): \(reason)"
        case .invalidUpstreamUser(let name, let reason): "invalid upstream user \(quoted(name)): \(reason)"
        case .invalidHost(let host, let reason): "invalid upstream host \(quoted(host)): \(reason)"
        case .invalidPort(let port): "invalid port \(quoted(port)): must be a whole number from 1 to 65535"
        case .invalidFingerprint(let text):
            "invalid host key fingerprint \(quoted(text)): expected SHA256: and 43 base64 characters, as ssh-keygen -l prints it"
        case .routeExists(let login): "a route for \(quoted(login)) already exists (use `route set` to change it)"
        case .routeNotFound(let login): "no route for \(quoted(login))"
        case .invalidPrincipal(let name, let reason): "invalid certificate principal \(quoted(name)): \(reason)"
        case .invalidUpstreamAuth(let message): "invalid upstream authentication: \(message)"
        case .invalidAuthority(let message): message
        case .authorityNotFound(let name): "no client CA named \(quoted(name)) is trusted"
        case .authorityExists(let message): message
        case .invalidPolicy(let message): "invalid access policy: \(message)"
        case .keyExists(let login, let fingerprint): "key \(fingerprint) is already listed for \(quoted(login))"
        case .keyNotFound(let login, let fingerprint): "no key \(quoted(fingerprint)) listed for \(quoted(login))"
        case .invalidKey(let message): "invalid public key: \(message)"
        case .invalidIdentityFile(let message): "unusable identity file: \(message)"
        case .nothingToChange: "nothing to change: give at least one of --host, --port, --upstream-user, --enable, --disable, --host-key, --host-key-policy, --identity-file, --forwarding, --record, --upstream-auth, --principal, --cert-ttl"
        case .sessionNotRunning(let id): "no running session with id \(id)"
        case .invalidTokenName(let name):
            "invalid token name \(quoted(name, limit: 80)): use 1 to 64 letters, digits, '.', '_', '-' or '@'"
        case .tokenExists(let name): "a token named \(quoted(name)) already exists (revoke it first, or choose another name)"
        case .tokenNotFound(let name): "no token named \(quoted(name)) that is not revoked"
        case .database(let message): "database error: \(message)"
        case .unavailable(let message): "database unavailable: \(message)"
        case .migration(let message): "migration failed: \(message)"
        }
    }
}

/// Shows control characters visibly so an error message cannot be used to forge terminal output;
/// with `limit`, text longer than that many characters is cut short with an ellipsis.
public func quoted(_ value: some StringProtocol, limit: Int? = nil) -> String {
    var out = "\""
    let scalars = value.unicodeScalars
    for scalar in scalars.prefix(limit ?? scalars.count) {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f:
            out += "\\u{\(String(scalar.value, radix: 16))}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + (limit.map { scalars.count > $0 } == true ? "…\"" : "\"")
}
