import CLibSSH
import CSocketReadAhead
import Foundation

/// Server-side settings shared by every accepted connection: host keys and algorithms.
/// Wraps an `ssh_bind`; `ssh_bind_accept_fd` mutates the bind on first use (key import,
/// config parse), so every accept is serialised by `lock`. That lock is why this class may be
/// shared across connection threads (`@unchecked Sendable`).
public final class SSHServer: @unchecked Sendable {
    private let bind: ssh_bind
    private let lock = NSLock()

    /// Algorithms offered to clients: modern AEAD ciphers, ETM MACs, curve25519 key exchange.
    public struct Algorithms: Sendable {
        public var keyExchange = "curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512"
        public var ciphers = "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr"
        public var macs = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com"
        /// Host key signatures: RSA only with SHA-2, never ssh-rsa (SHA-1).
        public var hostKeys = "ssh-ed25519,rsa-sha2-512,rsa-sha2-256"
        /// Client public key signatures: RSA only with SHA-2, never ssh-rsa (SHA-1).
        public var clientKeys = """
            ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,\
            sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256
            """
        public init() {}
    }

    /// Creates a server identity from host key files (OpenSSH private key format). `version`
    /// is what follows `SSH-2.0-` in the line the server sends first (nil: libssh's own,
    /// `libssh_0.10.6`).
    public init(hostKeyPaths: [String], version: String? = nil, algorithms: Algorithms = Algorithms()) throws(SSHError) {
        SSHLibrary.initialise()
        guard let bind = ssh_bind_new() else { throw SSHError(.setup, "ssh_bind_new failed") }
        self.bind = bind
        var processConfig = false
        try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &processConfig), "disable libssh server config")
        if let version { try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BANNER, version), "set the version line") }
        for path in hostKeyPaths {
            try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY, path), "load host key \(path)")
        }
        try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_KEY_EXCHANGE, algorithms.keyExchange), "set key exchange algorithms")
        try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_C_S, algorithms.ciphers), "set ciphers")
        try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_S_C, algorithms.ciphers), "set ciphers")
        try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HMAC_C_S, algorithms.macs), "set MACs")
        try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HMAC_S_C, algorithms.macs), "set MACs")
        try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, algorithms.hostKeys), "set host key algorithms")
        try check(ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, algorithms.clientKeys), "set client key algorithms")
    }

    deinit { ssh_bind_free(bind) }

    /// Wraps an accepted TCP socket in a new server session. The session owns `fd` from here on.
    /// Key exchange has not happened yet; call `SSHSession.handleKeyExchange`.
    public func accept(fd: Int32) throws(SSHError) -> SSHSession {
        guard let session = ssh_new() else {
            close(fd)
            throw SSHError(.setup, "ssh_new failed")
        }
        switchboard_read_ahead_enable(fd)
        let rc = lock.withLock { ssh_bind_accept_fd(bind, session, fd) }
        guard rc == SSH_OK else {
            let error = SSHError.last(.setup, UnsafeMutableRawPointer(bind), context: "accept")
            // Once libssh has attached the socket, ssh_free closes it; closing it again here
            // could close a descriptor another thread has just been given.
            let sessionOwnsSocket = ssh_get_fd(session) == fd
            ssh_free(session)
            if !sessionOwnsSocket { close(fd) }
            throw error
        }
        return SSHSession(handle: session, role: .server)
    }

    private func check(_ rc: Int32, _ what: String) throws(SSHError) {
        guard rc == SSH_OK else { throw SSHError.last(.setup, UnsafeMutableRawPointer(bind), context: "cannot \(what)") }
    }
}
