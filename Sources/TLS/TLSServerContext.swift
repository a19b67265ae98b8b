import CTLS

/// A TLS server's certificate chain and private key, loaded once and shared by every
/// connection it accepts (OpenSSL's SSL_CTX). TLS 1.2 is the lowest version it speaks.
///
/// `@unchecked Sendable`: the SSL_CTX is only configured inside `init`; afterwards it is only
/// handed to `SSL_new`, which OpenSSL allows from any number of threads at once.
public final class TLSServerContext: @unchecked Sendable {
    private let context: OpaquePointer

    /// Loads a PEM certificate chain (the server's certificate first) and its PEM private key,
    /// which must match. Throws with a message naming the file that could not be used.
    public init(certificateFile: String, keyFile: String) throws(TLSError) {
        var failure = SWITCHBOARD_TLS_CONTEXT_OK
        var reason = [CChar](repeating: 0, count: 256)
        guard let context = switchboard_tls_context_new(certificateFile, keyFile, &failure, &reason, reason.count) else {
            let text = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch failure {
            case SWITCHBOARD_TLS_CERTIFICATE_UNUSABLE:
                throw TLSError(.certificate, "TLS certificate file \(certificateFile) cannot be used: \(text)")
            case SWITCHBOARD_TLS_KEY_UNUSABLE:
                throw TLSError(.privateKey, "TLS key file \(keyFile) cannot be used (an encrypted key is not supported): \(text)")
            case SWITCHBOARD_TLS_KEY_MISMATCH:
                throw TLSError(.privateKey, "TLS key file \(keyFile) does not match the certificate in \(certificateFile): \(text)")
            default:
                throw TLSError(.library, "cannot create a TLS context: \(text)")
            }
        }
        self.context = context
    }

    deinit { switchboard_tls_context_free(context) }

    /// Handshakes as the server on `socket`, a connected socket in non-blocking mode, within
    /// `timeout`. The socket stays the caller's: the connection never closes it.
    public func accept(socket fd: Int32, timeout: Duration) throws(TLSError) -> TLSConnection {
        let milliseconds = max(1, Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        var reason = [CChar](repeating: 0, count: 256)
        guard let connection = switchboard_tls_accept(context, fd, milliseconds, &reason, reason.count) else {
            let text = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TLSError(.handshake, text)
        }
        return TLSConnection(connection)
    }
}
