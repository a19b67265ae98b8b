import CCertCrypto
import Foundation

/// Signs certificates with an ed25519 CA key.
public struct CertificateSigner: Sendable {
    /// The CA's 32-byte private seed.
    private let seed: [UInt8]
    /// The CA's public key blob: string "ssh-ed25519" || string pk.
    public let publicKeyBlob: [UInt8]
    /// The CA's public key, e.g. for `TrustedUserCAKeys`.
    public let publicKey: PublicKey

    private static let begin = "-----BEGIN OPENSSH PRIVATE KEY-----"
    private static let end = "-----END OPENSSH PRIVATE KEY-----"
    private static let magic = Array("openssh-key-v1\0".utf8)
    /// The private section of an unencrypted key is a multiple of this many bytes.
    private static let unencryptedBlockSize = 8

    /// Reads an unencrypted ed25519 key in OpenSSH's format ("openssh-key-v1", as ssh-keygen and
    /// libssh's ssh_pki_export_privkey_base64 write it). Refused: encrypted keys, other key
    /// types, files with several keys, check numbers that differ, and a stored public key that
    /// is not the one of the private key.
    public init(openSSHPrivateKeyText text: String) throws(SSHError) {
        let (publicSection, privateSection) = try Self.sections(of: text)

        var publicReader = SSHWireReader(publicSection)
        let publicKey: [UInt8]
        do throws(SSHError) {
            let type = try publicReader.text()
            guard type == "ssh-ed25519" else {
                throw SSHError(.setup, "the CA key is a \(type.prefix(40)) key; certificates are signed with ed25519 keys only")
            }
            publicKey = try publicReader.string()
            try publicReader.expectEnd()
        } catch {
            throw SSHError(.setup, "the CA key's public part is damaged: \(error.message)")
        }
        guard publicKey.count == 32 else { throw SSHError(.setup, "the CA key's public key has \(publicKey.count) bytes, not 32") }

        let seed = try Self.seed(in: privateSection, publicKey: publicKey)
        var derived = [UInt8](repeating: 0, count: 32)
        guard switchboard_ed25519_public_key(seed, &derived) == 1 else {
            throw SSHError(.setup, "OpenSSL cannot read the CA key's ed25519 seed")
        }
        guard derived == publicKey else {
            throw SSHError(.setup, "the CA key's stored public key is not the one of its private key (a damaged key)")
        }
        self.seed = seed
        var blob = SSHWireWriter()
        blob.string("ssh-ed25519")
        blob.string(publicKey)
        publicKeyBlob = blob.bytes
        self.publicKey = try PublicKey(authorizedKeysLine: "ssh-ed25519 \(Data(blob.bytes).base64EncodedString())")
    }

    /// The public key blob and the private section of an unencrypted single-key file.
    private static func sections(of text: String) throws(SSHError) -> (public: [UInt8], private: [UInt8]) {
        guard let start = text.range(of: begin), let finish = text.range(of: end, range: start.upperBound..<text.endIndex) else {
            throw SSHError(.setup, "not an OpenSSH private key: no \(begin) ... \(end) block")
        }
        let body = text[start.upperBound..<finish.lowerBound].filter { !$0.isWhitespace }
        guard let decoded = Data(base64Encoded: String(body)) else {
            throw SSHError(.setup, "the OpenSSH private key's base64 text is damaged")
        }
        let bytes = Array(decoded)
        guard bytes.starts(with: magic) else { throw SSHError(.setup, "not an OpenSSH private key (no openssh-key-v1 header)") }
        var reader = SSHWireReader(Array(bytes.dropFirst(magic.count)))
        do throws(SSHError) {
            let cipher = try reader.text()
            let kdf = try reader.text()
            let kdfOptions = try reader.string()
            guard cipher == "none", kdf == "none", kdfOptions.isEmpty else {
                throw SSHError(
                    .setup, "the CA key is encrypted (cipher \(cipher.prefix(40)), kdf \(kdf.prefix(40))); give it without a passphrase")
            }
            let count = try reader.uint32()
            guard count == 1 else { throw SSHError(.setup, "the key file holds \(count) keys; one is expected") }
            let publicSection = try reader.string()
            let privateSection = try reader.string()
            try reader.expectEnd()
            return (publicSection, privateSection)
        } catch where error.code == .setup {
            throw error
        } catch {
            throw SSHError(.setup, "the OpenSSH private key is damaged: \(error.message)")
        }
    }

    /// The ed25519 seed in an unencrypted private section, checked against `publicKey`.
    private static func seed(in section: [UInt8], publicKey: [UInt8]) throws(SSHError) -> [UInt8] {
        guard section.count % unencryptedBlockSize == 0 else {
            throw SSHError(.setup, "the CA key's private part is not a multiple of \(unencryptedBlockSize) bytes (a damaged key)")
        }
        var reader = SSHWireReader(section)
        do throws(SSHError) {
            let first = try reader.uint32()
            let second = try reader.uint32()
            guard first == second else {
                throw SSHError(.setup, "the CA key's two check numbers differ (a damaged or encrypted key)")
            }
            let type = try reader.text()
            guard type == "ssh-ed25519" else { throw SSHError(.setup, "the CA key's private part is a \(type.prefix(40)) key") }
            let storedPublicKey = try reader.string()
            let secret = try reader.string()
            _ = try reader.string()  // the comment
            // Padding is 1, 2, 3, ...: ssh-keygen pads to 8 bytes, libssh 0.10.6 to 16 even
            // without a cipher, so only the pattern is checked, as OpenSSH does.
            let padding = reader.remainingBytes()
            guard padding.enumerated().allSatisfy({ $0.element == UInt8(truncatingIfNeeded: $0.offset + 1) }) else {
                throw SSHError(.setup, "the CA key's private part ends in bytes that are not its padding")
            }
            // OpenSSH stores the ed25519 secret as seed || public key.
            guard storedPublicKey == publicKey, secret.count == 64, Array(secret.suffix(32)) == publicKey else {
                throw SSHError(.setup, "the CA key's private part does not belong to its public key (a damaged key)")
            }
            return Array(secret.prefix(32))
        } catch where error.code == .setup {
            throw error
        } catch {
            throw SSHError(.setup, "the CA key's private part is damaged: \(error.message)")
        }
    }

    /// Signs `certificate`: sets `signatureKey` to this CA's key and `signature` to an ed25519
    /// signature over `signedBytes`. Throws, leaving it unchanged, if the result would not
    /// decode as itself (an unsupported key type, unsorted or repeated options, a NUL in text).
    public func sign(_ certificate: inout OpenSSHCertificate) throws(SSHError) {
        var signed = certificate
        signed.signatureKey = publicKeyBlob
        let message = signed.signedBytes
        var signature = [UInt8](repeating: 0, count: 64)
        guard switchboard_ed25519_sign(seed, message, message.count, &signature) == 1 else {
            throw SSHError(.setup, "OpenSSL could not sign the certificate")
        }
        var blob = SSHWireWriter()
        blob.string("ssh-ed25519")
        blob.string(signature)
        signed.signature = blob.bytes
        let decoded: OpenSSHCertificate
        do {
            decoded = try OpenSSHCertificate(blob: signed.blob)
        } catch {
            throw SSHError(.protocolError, "the certificate cannot be signed as built: \(error.message)")
        }
        guard decoded == signed else {
            throw SSHError(.protocolError, "the certificate cannot be signed as built: its key fields do not match its type \(signed.keyType)")
        }
        certificate = signed
    }
}
