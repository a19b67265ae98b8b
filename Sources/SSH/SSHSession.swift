import CLibSSH
import CSocketReadAhead
import Foundation

/// One SSH connection: either a server session (a client connected to us) or a client session
/// (our connection to an upstream). Confined to the thread that drives it; not Sendable.
public final class SSHSession {
    /// Which side of the protocol this session plays.
    public enum Role: Sendable { case server, client }

    let handle: ssh_session
    public let role: Role
    /// A socket handed over with SSH_OPTIONS_FD. Who closes it depends on how the session ends:
    /// libssh closes it itself when the peer disconnects, on EOF, on a read or write error and
    /// when the key exchange fails (and then forgets it: `ssh_get_fd` is -1), but not in
    /// `ssh_disconnect`, nor before `ssh_connect` took it. `disconnect()` closes it only while
    /// libssh has not: a second close could hit a number another thread has just been given.
    private var ownedSocket: Int32?
    /// True once `ssh_connect` has been given the socket.
    private var socketHandedToLibssh = false
    /// The timeout libssh applies to this session's blocking calls, as last set: login
    /// attempts wait for the upstream's answer in shorter steps and put it back afterwards.
    var timeoutSeconds = 10

    /// libssh's byte counts for this session's socket (what it has read and written).
    private let socketCounter: UnsafeMutablePointer<ssh_counter_struct>

    init(handle: ssh_session, role: Role) {
        self.handle = handle
        self.role = role
        socketCounter = .allocate(capacity: 1)
        socketCounter.initialize(to: ssh_counter_struct())
        ssh_set_counters(handle, socketCounter, nil)
    }

    deinit {
        disconnect()
        ssh_free(handle)
        socketCounter.deallocate()
    }

    // MARK: Common

    /// Bytes libssh has read from this session's socket so far. libssh also reads sockets
    /// inside calls such as a channel write or a message check, so a caller about to sleep in
    /// poll compares this with its value before the last pass to know whether traffic arrived
    /// that it has not handled yet. Counted by libssh itself: costs no system call.
    public var inputConsumed: UInt64 { socketCounter.pointee.in_bytes }

    /// Bytes libssh has written to this session's socket so far. libssh sends what it queued
    /// only when a poll reports the socket writable, and such a poll also happens inside our
    /// calls (a message check): a sink that was backlogged may have drained during a pass
    /// that moved nothing else, and the caller must not sleep before trying it again.
    public var outputSent: UInt64 { socketCounter.pointee.out_bytes }

    /// Non-blocking sessions never wait inside libssh; every call returns at once.
    public var isBlocking: Bool {
        get { ssh_is_blocking(handle) != 0 }
        set { ssh_set_blocking(handle, newValue ? 1 : 0) }
    }

    /// True while the transport is up and no fatal error happened.
    public var isAlive: Bool {
        let status = ssh_get_status(handle)
        return ssh_is_connected(handle) != 0 && status & (SSH_CLOSED | SSH_CLOSED_ERROR) == 0
    }

    /// True while libssh holds bytes it could not write to the socket yet (the peer or the
    /// network is slower than what was written); they go out when the socket is writable.
    public var hasUnsentOutput: Bool { ssh_get_status(handle) & SSH_WRITE_PENDING != 0 }

    /// Why the peer hung up, in its own words (the text of its SSH_MSG_DISCONNECT), once it
    /// did. libssh keeps that text only in its error message.
    public var peerDisconnectReason: String? {
        let prefix = "Received SSH_MSG_DISCONNECT: "
        let error = lastError
        guard !isAlive, error.hasPrefix(prefix) else { return nil }
        return String(error.dropFirst(prefix.count).drop { $0 != ":" }.dropFirst())
    }

    /// libssh's last error text for this session.
    public var lastError: String { String(cString: ssh_get_error(UnsafeMutableRawPointer(handle))) }

    /// Sets the timeout libssh applies to blocking calls on this session.
    public func setTimeout(seconds: Int) throws(SSHError) {
        var value = seconds
        try check(ssh_options_set(handle, SSH_OPTIONS_TIMEOUT, &value), .setup, "set timeout")
        timeoutSeconds = seconds
    }

    /// Sends SSH_MSG_DISCONNECT (with `message` as its text, which OpenSSH shows the user) and
    /// closes the socket. Safe to call more than once.
    public func disconnect(message: String? = nil) {
        if let message { _ = ssh_session_set_disconnect_message(handle, message) }
        if isAlive {
            // Flushing first makes sure that what was said before (a notice on stderr) has left
            // before the DISCONNECT and the close.
            _ = ssh_send_ignore(handle, "")
            _ = ssh_blocking_flush(handle, 2000)
        }
        let libsshClosedSocket = socketHandedToLibssh && ssh_get_fd(handle) != ownedSocket
        // A client's socket outlives libssh's close through a copy, until the client has read
        // the DISCONNECT: closing with its unread input pending would send a reset, and a reset
        // makes the client's kernel throw away what it had not read yet, reason included.
        let lingering = role == .server && isAlive && ssh_get_fd(handle) >= 0 ? dup(ssh_get_fd(handle)) : -1
        // libssh writes the DISCONNECT packet at once only if it believes the socket writable,
        // a belief every earlier write clears; otherwise it is left queued and lost with the
        // close. Tell it so when the socket really is.
        var writable = pollfd(fd: ssh_get_fd(handle), events: Int16(POLLOUT), revents: 0)
        if writable.fd >= 0, poll(&writable, 1, 0) > 0, writable.revents & Int16(POLLOUT) != 0 { ssh_set_fd_towrite(handle) }
        ssh_disconnect(handle)
        if let socket = ownedSocket, !libsshClosedSocket {
            close(socket)
        }
        ownedSocket = nil
        if lingering >= 0 { Self.closeOnceThePeerHasRead(lingering) }
    }

    /// How long a closing connection waits for its client to read the end and hang up.
    static let lingerMilliseconds: Int32 = 1000

    /// Ends our side (FIN after everything written), discards what the peer still sends until
    /// it closes or `lingerMilliseconds` pass, then closes `fd`.
    private static func closeOnceThePeerHasRead(_ fd: Int32) {
        defer { close(fd) }
        guard shutdown(fd, Int32(SHUT_WR)) == 0 else { return }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let deadline = ContinuousClock.now + .milliseconds(Int(lingerMilliseconds))
        var discard = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = deadline - ContinuousClock.now
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            guard poll(&entry, 1, milliseconds) > 0 else { return }
            let count = discard.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return }
            if count < 0 && errno != EINTR && errno != EAGAIN { return }
        }
    }

    /// The next queued protocol message (auth, channel open, channel or global request), or
    /// `nil` if none is waiting. Never blocks when the session is non-blocking.
    public func nextMessage() -> SSHMessage? {
        guard let message = ssh_message_get(handle) else { return nil }
        return SSHMessage(handle: message, session: self)
    }

    /// The peer's software version banner, e.g. "SSH-2.0-OpenSSH_9.2p1".
    public var peerBanner: String? {
        let banner = role == .server ? ssh_get_clientbanner(handle) : ssh_get_serverbanner(handle)
        return banner.map { String(cString: $0) }
    }

    // MARK: Server role

    /// Runs the key exchange with the connected client (blocking, bounded by the session timeout).
    public func handleKeyExchange() throws(SSHError) {
        precondition(role == .server)
        try check(ssh_handle_key_exchange(handle), .keyExchange, "key exchange")
    }

    /// Announces the authentication methods this server offers.
    public func setAuthMethods(_ methods: AuthMethods) {
        ssh_set_auth_methods(handle, Int32(bitPattern: methods.rawValue))
    }

    /// Shows `text` to the client during authentication (SSH_MSG_USERAUTH_BANNER).
    /// OpenSSH prints it on the client's terminal.
    public func sendBanner(_ text: String) {
        guard let string = ssh_string_from_char(text) else { return }
        defer { ssh_string_free(string) }
        _ = ssh_send_issue_banner(handle, string)
    }

    // MARK: Client role

    /// Starts an SSH client session over an already connected TCP socket `fd` (which the session
    /// then owns) and runs the handshake, blocking for at most `timeoutSeconds`. `ciphers` is
    /// the preference list (comma-separated, libssh names) for both directions; nil keeps
    /// libssh's default. `~/.ssh/config` is never read.
    public static func connect(
        fd: Int32, host: String, port: Int, user: String, timeoutSeconds: Int, ciphers: String? = nil
    ) throws(SSHError) -> SSHSession {
        SSHLibrary.initialise()
        guard let handle = ssh_new() else {
            close(fd)
            throw SSHError(.setup, "ssh_new failed")
        }
        let session = SSHSession(handle: handle, role: .client)
        session.ownedSocket = fd
        var processConfig = false
        var portValue = UInt32(port)
        var timeout = timeoutSeconds
        var socket = fd
        try session.check(ssh_options_set(handle, SSH_OPTIONS_PROCESS_CONFIG, &processConfig), .setup, "disable ssh config")
        try session.check(ssh_options_set(handle, SSH_OPTIONS_HOST, host), .setup, "set host")
        try session.check(ssh_options_set(handle, SSH_OPTIONS_PORT, &portValue), .setup, "set port")
        try session.check(ssh_options_set(handle, SSH_OPTIONS_USER, user), .setup, "set user")
        try session.check(ssh_options_set(handle, SSH_OPTIONS_TIMEOUT, &timeout), .setup, "set timeout")
        switchboard_read_ahead_enable(fd)
        try session.check(ssh_options_set(handle, SSH_OPTIONS_FD, &socket), .setup, "attach socket")
        if let ciphers {
            try session.check(ssh_options_set(handle, SSH_OPTIONS_CIPHERS_C_S, ciphers), .setup, "set ciphers")
            try session.check(ssh_options_set(handle, SSH_OPTIONS_CIPHERS_S_C, ciphers), .setup, "set ciphers")
        }
        session.socketHandedToLibssh = true
        session.timeoutSeconds = timeoutSeconds
        let rc = ssh_connect(handle)
        guard rc == SSH_OK else {
            let error = SSHError.last(.keyExchange, UnsafeMutableRawPointer(handle), context: "SSH handshake with \(host):\(port)")
            throw error.message.localizedCaseInsensitiveContains("timeout") ? SSHError(.timeout, error.message) : error
        }
        return session
    }

    /// The upstream server's host key as `SHA256:…`.
    public func serverKeyFingerprint() throws(SSHError) -> String {
        var key: ssh_key?
        guard ssh_get_server_publickey(handle, &key) == SSH_OK, let key else {
            throw SSHError.last(.hostKey, UnsafeMutableRawPointer(handle), context: "no server host key")
        }
        defer { ssh_key_free(key) }
        return try HostKey.sha256Fingerprint(of: key)
    }

    /// Asks the server to listen on `address:port` and forward connections to us (`tcpip-forward`),
    /// waiting for the answer (up to the session timeout). Returns the port it bound (the
    /// allocated one when `port` is 0), or nil if refused. libssh 0.10.6 reads the allocated port
    /// from the last packet it received, which is why this waits here rather than in the relay.
    public func listenForward(address: String, port: Int) -> Int? {
        let wasBlocking = isBlocking
        isBlocking = true
        defer { isBlocking = wasBlocking }
        var bound: Int32 = 0
        guard ssh_channel_listen_forward(handle, address, Int32(clamping: port), &bound) == SSH_OK else { return nil }
        return port == 0 ? Int(bound) : port
    }

    /// Cancels a `tcpip-forward` (waiting for the answer); true if the server agreed.
    public func cancelForward(address: String, port: Int) -> Bool {
        let wasBlocking = isBlocking
        isBlocking = true
        defer { isBlocking = wasBlocking }
        return ssh_channel_cancel_forward(handle, address, Int32(clamping: port)) == SSH_OK
    }

    func check(_ rc: Int32, _ code: SSHError.Code, _ what: String) throws(SSHError) {
        guard rc == SSH_OK else { throw SSHError.last(code, UnsafeMutableRawPointer(handle), context: what) }
    }
}

/// A set of SSH authentication methods (`none`, `password`, `publickey`, …).
public struct AuthMethods: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let none = AuthMethods(rawValue: UInt32(SSH_AUTH_METHOD_NONE))
    public static let password = AuthMethods(rawValue: UInt32(SSH_AUTH_METHOD_PASSWORD))
    public static let publicKey = AuthMethods(rawValue: UInt32(SSH_AUTH_METHOD_PUBLICKEY))
    public static let keyboardInteractive = AuthMethods(rawValue: UInt32(SSH_AUTH_METHOD_INTERACTIVE))
}
