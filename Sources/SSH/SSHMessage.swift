import CLibSSH
import Foundation

/// A request from the peer that waits for our answer. Its reply can be given later (after the
/// upstream has answered), which is why Switchboard uses libssh's message queue rather than
/// server callbacks, whose reply must be decided before the callback returns.
/// Freed in deinit; a message dropped without a reply gets libssh's default (refusal).
public final class SSHMessage {
    private let handle: ssh_message
    private let session: SSHSession
    private var replied = false
    /// What the peer asked for.
    public let request: SSHRequest

    init(handle: ssh_message, session: SSHSession) {
        self.handle = handle
        self.session = session
        self.request = SSHRequest(handle, session: session.handle)
    }

    deinit {
        if !replied { _ = ssh_message_reply_default(handle) }
        ssh_message_free(handle)
    }

    /// Refuses with the protocol's default answer for this kind of request.
    public func refuse() {
        guard markReplied() else { return }
        _ = ssh_message_reply_default(handle)
    }

    /// Leaves the request unanswered because the connection is being closed right away.
    public func dropWithoutReply() {
        replied = true
    }

    /// Accepts a `tcpip-forward` request; `boundPort` is sent when the client asked for port 0.
    public func acceptForward(boundPort: Int) {
        guard markReplied() else { return }
        _ = ssh_message_global_request_reply_success(handle, UInt16(clamping: boundPort))
    }

    /// Accepts a service, channel or global request.
    public func accept() {
        guard markReplied() else { return }
        switch request {
        case .service: _ = ssh_message_service_reply_success(handle)
        case .channelRequest: _ = ssh_message_channel_request_reply_success(handle)
        case .global: _ = ssh_message_global_request_reply_success(handle, 0)
        default: _ = ssh_message_reply_default(handle)
        }
    }

    /// Answers an authentication request: success ends authentication.
    public func acceptAuthentication() {
        guard markReplied() else { return }
        _ = ssh_message_auth_reply_success(handle, 0)
    }

    /// Refuses an authentication request, telling the client which methods it may try next.
    public func refuseAuthentication(offering methods: AuthMethods) {
        guard markReplied() else { return }
        _ = ssh_message_auth_set_methods(handle, Int32(bitPattern: methods.rawValue))
        _ = ssh_message_reply_default(handle)
    }

    /// Answers a public key probe: this key would be accepted, send a signature.
    public func acceptPublicKeyProbe() {
        guard markReplied() else { return }
        _ = ssh_message_auth_reply_pk_ok_simple(handle)
    }

    /// Answers a keyboard-interactive request with a round of questions for the client.
    public func sendKeyboardInteractiveChallenge(_ challenge: KeyboardInteractiveChallenge) {
        guard markReplied() else { return }
        let prompts: [UnsafeMutablePointer<CChar>?] = challenge.prompts.map { $0.text.withCString { strdup($0) } } + [nil]
        var promptPointers = prompts.map { UnsafePointer($0) }
        var echo = challenge.prompts.map { CChar($0.echo ? 1 : 0) } + [0]
        defer { prompts.forEach { free($0) } }
        _ = challenge.name.withCString { name in
            challenge.instruction.withCString { instruction in
                ssh_message_auth_interactive_request(handle, name, instruction, UInt32(challenge.prompts.count), &promptPointers, &echo)
            }
        }
    }

    /// Confirms a channel open request and returns the new channel.
    public func acceptChannelOpen() throws(SSHError) -> SSHChannel {
        guard markReplied() else { throw SSHError(.channel, "already answered") }
        guard let channel = ssh_message_channel_request_open_reply_accept(handle) else {
            throw SSHError.last(.channel, UnsafeMutableRawPointer(session.handle), context: "cannot accept channel")
        }
        return SSHChannel(handle: channel, session: session)
    }

    private func markReplied() -> Bool {
        defer { replied = true }
        return !replied
    }
}

/// The kinds of request a peer can make, decoded from the libssh message.
public enum SSHRequest: Equatable, Sendable {
    case service(String)
    case authentication(user: String, method: AuthAttempt)
    case channelOpen(ChannelOpenKind)
    case channelRequest(SSHChannelID, ChannelRequest)
    case global(GlobalRequestKind)
    case unknown

    /// An authentication method and its credential.
    public enum AuthAttempt: Equatable, Sendable {
        case none
        case password(WireText)
        /// A public key, with what libssh found of its signature.
        case publicKey(PublicKey?, SignatureCheck)
        /// Keyboard-interactive: `nil` answers for the request that starts it, then the
        /// client's answers to the last challenge sent.
        case keyboardInteractive(answers: [WireText]?)
        case other
    }

    /// A public key request is a probe ("would you accept this key?") until it carries a
    /// signature; libssh verifies the signature against the session id.
    public enum SignatureCheck: Equatable, Sendable {
        case probe
        case verified
        case invalid
    }

    public enum ChannelOpenKind: Equatable, Sendable {
        case session
        case directTCPIP(host: String, port: Int, originHost: String, originPort: Int)
        /// A connection to a port the server listens on for us (after `tcpip-forward`).
        case forwardedTCPIP(host: String, port: Int, originHost: String, originPort: Int)
        /// An agent connection (the server side of an agent-forwarding session asks for it).
        case authAgent
        case other
    }

    public enum ChannelRequest: Equatable, Sendable {
        case pty(terminal: WireText, columns: Int, rows: Int)
        case environment(name: WireText, value: WireText)
        case shell
        case exec(command: WireText)
        case subsystem(name: WireText)
        case windowChange(columns: Int, rows: Int)
        case x11
        case other
    }

    public enum GlobalRequestKind: Equatable, Sendable {
        case tcpipForward(address: String, port: Int)
        case cancelTCPIPForward(address: String, port: Int)
        case keepalive
        case other
    }

    init(_ message: ssh_message, session: ssh_session) {
        let subtype = ssh_message_subtype(message)
        switch Int(ssh_message_type(message)) {
        case Int(SSH_REQUEST_SERVICE.rawValue):
            self = .service(string(ssh_message_service_service(message)))
        case Int(SSH_REQUEST_AUTH.rawValue):
            let user = string(ssh_message_auth_user(message))
            let method: AuthAttempt = switch UInt32(subtype) {
            case SSH_AUTH_METHOD_NONE: .none
            case SSH_AUTH_METHOD_PASSWORD: .password(WireText(cString: switchboard_msg_auth_password(message)))
            case SSH_AUTH_METHOD_PUBLICKEY:
                .publicKey(
                    switchboard_msg_auth_pubkey(message).flatMap { try? PublicKey(key: $0) },
                    SignatureCheck(switchboard_msg_auth_publickey_state(message)))
            case SSH_AUTH_METHOD_INTERACTIVE:
                .keyboardInteractive(answers: ssh_message_auth_kbdint_is_response(message) != 0 ? answers(on: session) : nil)
            default: .other
            }
            self = .authentication(user: user, method: method)
        case Int(SSH_REQUEST_CHANNEL_OPEN.rawValue):
            switch Int(subtype) {
            case Int(SSH_CHANNEL_SESSION.rawValue):
                self = .channelOpen(.session)
            case Int(SSH_CHANNEL_DIRECT_TCPIP.rawValue):
                self = .channelOpen(.directTCPIP(
                    host: string(ssh_message_channel_request_open_destination(message)),
                    port: Int(ssh_message_channel_request_open_destination_port(message)),
                    originHost: string(ssh_message_channel_request_open_originator(message)),
                    originPort: Int(ssh_message_channel_request_open_originator_port(message))))
            case Int(SSH_CHANNEL_FORWARDED_TCPIP.rawValue):
                self = .channelOpen(.forwardedTCPIP(
                    host: string(ssh_message_channel_request_open_destination(message)),
                    port: Int(ssh_message_channel_request_open_destination_port(message)),
                    originHost: string(ssh_message_channel_request_open_originator(message)),
                    originPort: Int(ssh_message_channel_request_open_originator_port(message))))
            case Int(SSH_CHANNEL_AUTH_AGENT.rawValue):
                self = .channelOpen(.authAgent)
            default:
                self = .channelOpen(.other)
            }
        case Int(SSH_REQUEST_CHANNEL.rawValue):
            guard let channel = ssh_message_channel_request_channel(message) else {
                self = .unknown
                return
            }
            let request: ChannelRequest = switch Int(subtype) {
            case Int(SSH_CHANNEL_REQUEST_PTY.rawValue):
                .pty(terminal: WireText(cString: switchboard_msg_pty_term(message)),
                     columns: Int(switchboard_msg_pty_width(message)), rows: Int(switchboard_msg_pty_height(message)))
            case Int(SSH_CHANNEL_REQUEST_ENV.rawValue):
                .environment(name: WireText(cString: ssh_message_channel_request_env_name(message)),
                             value: WireText(cString: ssh_message_channel_request_env_value(message)))
            case Int(SSH_CHANNEL_REQUEST_SHELL.rawValue): .shell
            case Int(SSH_CHANNEL_REQUEST_EXEC.rawValue): .exec(command: WireText(cString: ssh_message_channel_request_command(message)))
            case Int(SSH_CHANNEL_REQUEST_SUBSYSTEM.rawValue):
                .subsystem(name: WireText(cString: ssh_message_channel_request_subsystem(message)))
            case Int(SSH_CHANNEL_REQUEST_WINDOW_CHANGE.rawValue):
                .windowChange(columns: Int(switchboard_msg_pty_width(message)), rows: Int(switchboard_msg_pty_height(message)))
            case Int(SSH_CHANNEL_REQUEST_X11.rawValue): .x11
            default: .other
            }
            self = .channelRequest(SSHChannelID(channel), request)
        case Int(SSH_REQUEST_GLOBAL.rawValue):
            let address = string(ssh_message_global_request_address(message))
            let port = Int(ssh_message_global_request_port(message))
            self = switch Int(subtype) {
            case Int(SSH_GLOBAL_REQUEST_TCPIP_FORWARD.rawValue): .global(.tcpipForward(address: address, port: port))
            case Int(SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD.rawValue): .global(.cancelTCPIPForward(address: address, port: port))
            case Int(SSH_GLOBAL_REQUEST_KEEPALIVE.rawValue): .global(.keepalive)
            default: .global(.other)
            }
        default:
            self = .unknown
        }
    }
}

extension SSHRequest.SignatureCheck {
    init(_ state: ssh_publickey_state_e) {
        switch state {
        case SSH_PUBLICKEY_STATE_NONE: self = .probe
        case SSH_PUBLICKEY_STATE_VALID: self = .verified
        default: self = .invalid
        }
    }
}

/// The answers of a keyboard-interactive response, read from the session it arrived on.
private func answers(on session: ssh_session) -> [WireText] {
    let count = ssh_userauth_kbdint_getnanswers(session)
    return (0..<max(count, 0)).map { WireText(cString: ssh_userauth_kbdint_getanswer(session, UInt32($0))) }
}

private func string(_ pointer: UnsafePointer<CChar>?) -> String {
    pointer.map { String(cString: $0) } ?? ""
}

/// A passwords is kept out of `description` so it cannot reach a log line by accident.
extension SSHRequest.AuthAttempt: CustomStringConvertible {
    public var description: String {
        switch self {
        case .none: "none"
        case .password: "password"
        case .publicKey: "publickey"
        case .keyboardInteractive: "keyboard-interactive"
        case .other: "other"
        }
    }
}
