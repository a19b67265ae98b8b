import CLibSSH
import Foundation

/// Logging in to an upstream (the client role): which methods it takes, its banner, and each
/// method's attempt. Every attempt blocks, waking every quarter second to see whether the
/// upstream hung up.
extension SSHSession {
    /// The result of an authentication attempt toward an upstream server.
    public enum AuthResult: Sendable, Equatable {
        case success
        case denied
        case partial
        case error(String)
        /// The server hung up instead of answering, with its reason (OpenSSH's sshd does this
        /// at MaxAuthTries: "Too many authentication failures").
        case disconnected(String)
    }

    /// What a server said to the `none` method: the methods it takes, or that it let the
    /// client in without any.
    public enum MethodsAnswer: Sendable, Equatable {
        case offers(AuthMethods)
        case acceptedWithoutCredentials
        case failed(AuthResult)
    }

    /// Asks the upstream which methods it takes (the `none` method, which OpenSSH does not
    /// count as a failed attempt). Any pre-login banner it sends arrives with the answer.
    public func askMethods() -> MethodsAnswer {
        switch authResult(awaitingAnswer { ssh_userauth_none(handle, nil) }) {
        case .success: return .acceptedWithoutCredentials
        case .denied, .partial: return .offers(AuthMethods(rawValue: UInt32(bitPattern: ssh_userauth_list(handle, nil))))
        case let other: return .failed(other)
        }
    }

    /// The pre-login banner (`Banner` in sshd_config) the upstream sent, if any.
    public var issueBanner: String? {
        guard let banner = ssh_get_issue_banner(handle) else { return nil }
        defer { ssh_string_free_char(banner) }
        return String(cString: banner)
    }

    /// Tries password authentication upstream (blocking).
    public func authenticate(password: WireText) -> AuthResult {
        authResult(awaitingAnswer { password.withCString { ssh_userauth_password(handle, nil, $0) } })
    }

    /// One step of keyboard-interactive authentication upstream (blocking). Pass `nil` to
    /// start, then the answers to the prompts of the previous step. Empty rounds (no prompts,
    /// as OpenSSH's PAM sends at the end) are answered here and never surface.
    public func keyboardInteractive(answers: [WireText]?) -> KeyboardInteractiveStep {
        if let answers {
            for (index, answer) in answers.enumerated() {
                guard answer.withCString({ ssh_userauth_kbdint_setanswer(handle, UInt32(index), $0) }) == 0 else {
                    return .finished(.error("cannot set keyboard-interactive answer: \(lastError)"))
                }
            }
        }
        var rc = awaitingAnswer { ssh_userauth_kbdint(handle, nil, nil) }
        while rc == SSH_AUTH_INFO.rawValue && ssh_userauth_kbdint_getnprompts(handle) == 0 {
            rc = awaitingAnswer { ssh_userauth_kbdint(handle, nil, nil) }
        }
        guard rc == SSH_AUTH_INFO.rawValue else { return .finished(authResult(rc)) }
        let count = ssh_userauth_kbdint_getnprompts(handle)
        var prompts: [KeyboardInteractivePrompt] = []
        for index in 0..<max(count, 0) {
            var echo: CChar = 0
            let text = WireText(cString: ssh_userauth_kbdint_getprompt(handle, UInt32(index), &echo))
            prompts.append(KeyboardInteractivePrompt(text: text, echo: echo != 0))
        }
        return .challenge(KeyboardInteractiveChallenge(
            name: WireText(cString: ssh_userauth_kbdint_getname(handle)),
            instruction: WireText(cString: ssh_userauth_kbdint_getinstruction(handle)),
            prompts: prompts))
    }

    /// Tries public key authentication upstream with every key of an SSH agent reachable through
    /// the connected Unix socket `agentSocket` (blocking). libssh owns the socket afterwards.
    public func authenticateWithAgent(socket agentSocket: Int32) -> AuthResult {
        guard ssh_set_agent_socket(handle, agentSocket) == SSH_OK else { return .error(lastError) }
        return authResult(awaitingAnswer { ssh_userauth_agent(handle, nil) })
    }

    /// Tries public key authentication upstream with the private key at `path` (blocking).
    public func authenticate(privateKeyAt path: String) -> AuthResult {
        authenticate(orFailWith: "cannot read private key \(path)") { ssh_pki_import_privkey_file(path, nil, nil, nil, &$0) }
    }

    /// Public-key login with a key given as unencrypted OpenSSH text held in memory (a route key
    /// from a shared store, opened once with the cluster secret).
    public func authenticate(privateKeyText text: String) -> AuthResult {
        authenticate(orFailWith: "cannot read the route's key") { ssh_pki_import_privkey_base64(text, nil, nil, nil, &$0) }
    }

    /// Public-key login with a fresh in-memory ed25519 key and a certificate for it that `certify`
    /// makes (blocking). The key never touches the disk. `certify` gets the key as a plain public
    /// key blob and must return an ed25519 certificate for exactly that key; if it throws, the
    /// result is `.error` with its message and nothing is sent.
    public func authenticate(
        withCertificateFrom certify: (_ plainPublicKeyBlob: [UInt8]) throws(SSHError) -> OpenSSHCertificate
    ) -> AuthResult {
        var generated: ssh_key?
        guard ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &generated) == SSH_OK, let privateKey = generated else {
            return .error("cannot generate an ed25519 key")
        }
        defer { ssh_key_free(privateKey) }
        guard let keyBlob = Self.publicKeyBlob(of: privateKey) else { return .error("cannot encode the generated key") }
        let certificate: OpenSSHCertificate
        do {
            certificate = try certify(keyBlob)
        } catch {
            return .error(error.message)
        }
        guard certificate.keyType == "ssh-ed25519-cert-v01@openssh.com", certificate.plainKeyBlob == keyBlob else {
            return .error("the certificate (\(certificate.keyType)) is not for the ed25519 key it was asked for")
        }
        // libssh 0.10.6 imports a certificate only from base64 and trusts the type it is given.
        var imported: ssh_key?
        let base64 = Data(certificate.blob).base64EncodedString()
        guard ssh_pki_import_cert_base64(base64, SSH_KEYTYPE_ED25519_CERT01, &imported) == SSH_OK, let certificateKey = imported else {
            return .error("libssh cannot read the certificate")
        }
        defer { ssh_key_free(certificateKey) }
        guard ssh_pki_copy_cert_to_privkey(certificateKey, privateKey) == SSH_OK else {
            return .error("libssh cannot attach the certificate to the key")
        }
        return authResult(awaitingAnswer { ssh_userauth_publickey(handle, nil, privateKey) })
    }

    /// The public key blob of a key (libssh exports it only as base64).
    private static func publicKeyBlob(of key: ssh_key) -> [UInt8]? {
        var publicKey: ssh_key?
        guard ssh_pki_export_privkey_to_pubkey(key, &publicKey) == SSH_OK, let publicKey else { return nil }
        defer { ssh_key_free(publicKey) }
        var encoded: UnsafeMutablePointer<CChar>?
        guard ssh_pki_export_pubkey_base64(publicKey, &encoded) == SSH_OK, let encoded else { return nil }
        defer { ssh_string_free_char(encoded) }
        return Data(base64Encoded: String(cString: encoded)).map { Array($0) }
    }

    /// Public-key login with the key `load` reads (a libssh import call), freed afterwards.
    private func authenticate(orFailWith failure: String, load: (inout ssh_key?) -> Int32) -> AuthResult {
        var key: ssh_key?
        guard load(&key) == SSH_OK, let key else { return .error(failure) }
        defer { ssh_key_free(key) }
        return authResult(awaitingAnswer { ssh_userauth_publickey(handle, nil, key) })
    }

    /// Runs a blocking login call, looking every quarter second whether the upstream hung up,
    /// for at most the session's timeout. libssh 0.10.6 stops waiting for an answer only when
    /// its timeout runs out, even after the server sent DISCONNECT (its wait does not look at
    /// the session's state), so a refusal by disconnect would cost the whole timeout.
    private func awaitingAnswer(_ call: () -> Int32) -> Int32 {
        var step = 0
        var stepMicroseconds = 250_000
        _ = ssh_options_set(handle, SSH_OPTIONS_TIMEOUT, &step)
        _ = ssh_options_set(handle, SSH_OPTIONS_TIMEOUT_USEC, &stepMicroseconds)
        defer {
            var seconds = timeoutSeconds
            var noMicroseconds = 0
            _ = ssh_options_set(handle, SSH_OPTIONS_TIMEOUT, &seconds)
            _ = ssh_options_set(handle, SSH_OPTIONS_TIMEOUT_USEC, &noMicroseconds)
        }
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var rc = call()
        while rc == SSH_AUTH_AGAIN.rawValue && isAlive && .now < deadline {
            rc = call()  // libssh resumes the pending call
        }
        return rc
    }

    private func authResult(_ rc: Int32) -> AuthResult {
        switch rc {
        case SSH_AUTH_SUCCESS.rawValue: return .success
        case SSH_AUTH_DENIED.rawValue: return .denied
        case SSH_AUTH_PARTIAL.rawValue: return .partial
        default:
            if let reason = peerDisconnectReason { return .disconnected(reason) }
            if rc == SSH_AUTH_AGAIN.rawValue { return .error(isAlive ? "no answer in time" : "the upstream closed the connection") }
            return .error(lastError)
        }
    }
}

/// One question of a keyboard-interactive round.
public struct KeyboardInteractivePrompt: Sendable, Equatable {
    public var text: WireText
    /// Whether the answer may be shown while typed (false for passwords and codes).
    public var echo: Bool

    public init(text: WireText, echo: Bool) {
        self.text = text
        self.echo = echo
    }
}

/// A keyboard-interactive round: what the server asks.
public struct KeyboardInteractiveChallenge: Sendable, Equatable {
    public var name: WireText
    public var instruction: WireText
    public var prompts: [KeyboardInteractivePrompt]

    public init(name: WireText, instruction: WireText, prompts: [KeyboardInteractivePrompt]) {
        self.name = name
        self.instruction = instruction
        self.prompts = prompts
    }
}

/// Where a keyboard-interactive exchange with an upstream stands.
public enum KeyboardInteractiveStep: Sendable, Equatable {
    /// The upstream asks these questions; answer them in the next step.
    case challenge(KeyboardInteractiveChallenge)
    case finished(SSHSession.AuthResult)
}
