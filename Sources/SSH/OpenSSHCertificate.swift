import Foundation

/// A critical option or an extension of an OpenSSH certificate: a name and its data, which is
/// empty for a flag (`permit-pty`) and otherwise holds the value as an SSH string
/// (`force-command`, `source-address`).
public struct CertificateOption: Sendable, Equatable {
    /// The option's name, e.g. "force-command" or "permit-pty".
    public var name: String
    /// The option's data as encoded in the certificate: empty, or an SSH string.
    public var data: [UInt8]

    /// An option with data already encoded.
    public init(name: String, data: [UInt8]) {
        self.name = name
        self.data = data
    }

    /// An option without data, e.g. `permit-pty`.
    public static func flag(_ name: String) -> CertificateOption {
        CertificateOption(name: name, data: [])
    }

    /// An option whose data is the SSH string `value`, e.g. `force-command`.
    public static func text(_ name: String, _ value: String) -> CertificateOption {
        var writer = SSHWireWriter()
        writer.string(value)
        return CertificateOption(name: name, data: writer.bytes)
    }

    /// The value when the data is exactly one UTF-8 SSH string, nil otherwise.
    public var textValue: String? {
        var reader = SSHWireReader(data)
        guard let value = try? reader.text(), reader.isAtEnd else { return nil }
        return value
    }
}

/// An OpenSSH certificate (PROTOCOL.certkeys, `*-cert-v01@openssh.com`): a public key with the
/// identity, principals, validity and options a CA signed for it. Decoding is strict and checks
/// only the encoding; `verifySignature` checks the CA's signature; what the fields permit
/// (validity, principals, options, which CA to trust) is for the caller to decide.
public struct OpenSSHCertificate: Sendable, Equatable {
    /// Whom the certificate identifies.
    public enum Kind: UInt32, Sendable {
        /// Identifies a user logging in to a server.
        case user = 1
        /// Identifies a server to its clients.
        case host = 2
    }

    /// The certificate's type name, e.g. "ssh-ed25519-cert-v01@openssh.com".
    public var keyType: String
    /// Random bytes the CA chose, so that no two signed messages are alike.
    public var nonce: [UInt8]
    /// The certified key's own fields, as encoded after the nonce (ed25519: string pk; ecdsa:
    /// string curve, string Q; rsa: mpint e, mpint n).
    public var publicKeyFields: [UInt8]
    /// The CA's number for the certificate (0 if it chose none).
    public var serial: UInt64
    public var kind: Kind
    /// The CA's free-form name for the certificate; sshd logs it at every login.
    public var keyID: String
    /// The user or host names the certificate is valid for; empty means any.
    public var principals: [String]
    /// Seconds since 1970: valid from `validAfter` (inclusive) to `validBefore` (exclusive).
    public var validAfter: UInt64
    public var validBefore: UInt64
    /// Options a server must understand and enforce, or refuse the certificate; sorted by name.
    public var criticalOptions: [CertificateOption]
    /// Options a server may ignore (permissions such as `permit-pty`); sorted by name.
    public var extensions: [CertificateOption]
    /// Empty in every certificate OpenSSH makes; kept as read.
    public var reserved: [UInt8]
    /// The CA's public key blob.
    public var signatureKey: [UInt8]
    /// The signature blob: string algorithm || string signature.
    public var signature: [UInt8]

    /// The certificate types this module reads, with the plain key type each certifies.
    static let plainKeyTypes = [
        "ssh-ed25519-cert-v01@openssh.com": "ssh-ed25519",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com": "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384-cert-v01@openssh.com": "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com": "ecdsa-sha2-nistp521",
        "ssh-rsa-cert-v01@openssh.com": "ssh-rsa",
    ]

    /// The suffix every certificate type name ends with.
    static let typeSuffix = "-cert-v01@openssh.com"

    /// A certificate built field by field, to be signed (`CertificateSigner.sign`). The nonce
    /// defaults to 32 random bytes, as ssh-keygen makes it.
    public init(
        keyType: String, nonce: [UInt8] = OpenSSHCertificate.randomNonce(), publicKeyFields: [UInt8], serial: UInt64,
        kind: Kind, keyID: String, principals: [String], validAfter: UInt64, validBefore: UInt64,
        criticalOptions: [CertificateOption] = [], extensions: [CertificateOption] = [], reserved: [UInt8] = [],
        signatureKey: [UInt8] = [], signature: [UInt8] = []
    ) {
        self.keyType = keyType
        self.nonce = nonce
        self.publicKeyFields = publicKeyFields
        self.serial = serial
        self.kind = kind
        self.keyID = keyID
        self.principals = principals
        self.validAfter = validAfter
        self.validBefore = validBefore
        self.criticalOptions = criticalOptions
        self.extensions = extensions
        self.reserved = reserved
        self.signatureKey = signatureKey
        self.signature = signature
    }

    /// Decodes a certificate blob of a supported type (ed25519, ecdsa-sha2-nistp256/384/521,
    /// ssh-rsa). Refused: another type, a kind other than user or host, text that is not UTF-8
    /// or holds NUL, options not in strictly increasing name order (sorted, no repeats, as
    /// PROTOCOL.certkeys requires), and bytes after the signature. The signature is not checked.
    public init(blob: [UInt8]) throws(SSHError) {
        do {
            self = try Self.decode(blob)
        } catch {
            throw SSHError(error.code, "not a valid OpenSSH certificate: \(error.message)")
        }
    }

    /// Decodes the base64 form, as in a `-cert.pub` file's second field.
    public init(base64: String) throws(SSHError) {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw SSHError(.protocolError, "not a valid OpenSSH certificate: the text is not base64")
        }
        try self.init(blob: Array(data))
    }

    /// 32 random bytes from the system's secure generator.
    public static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    private static func decode(_ blob: [UInt8]) throws(SSHError) -> OpenSSHCertificate {
        var reader = SSHWireReader(blob)
        let keyType = try reader.text()
        guard let plainType = plainKeyTypes[keyType] else {
            throw SSHError(.protocolError, "unsupported certificate type \"\(keyType.prefix(60))\"")
        }
        let nonce = try reader.string()
        let fieldsStart = reader.position
        _ = try PublicKeyFields.read(plainType: plainType, from: &reader)
        let publicKeyFields = reader.bytesRead(since: fieldsStart)
        let serial = try reader.uint64()
        let kindValue = try reader.uint32()
        guard let kind = Kind(rawValue: kindValue) else {
            throw SSHError(.protocolError, "unknown certificate kind \(kindValue) (1 is user, 2 is host)")
        }
        let keyID = try cString(&reader, "the key ID")
        let principals = try principalList(reader.string())
        let validAfter = try reader.uint64()
        let validBefore = try reader.uint64()
        let criticalOptions = try optionList(reader.string(), "critical options")
        let extensions = try optionList(reader.string(), "extensions")
        let reserved = try reader.string()
        let signatureKey = try reader.string()
        let signature = try reader.string()
        try reader.expectEnd()
        var caKey = SSHWireReader(signatureKey)
        _ = try caKey.text()
        return OpenSSHCertificate(
            keyType: keyType, nonce: nonce, publicKeyFields: publicKeyFields, serial: serial, kind: kind, keyID: keyID,
            principals: principals, validAfter: validAfter, validBefore: validBefore, criticalOptions: criticalOptions,
            extensions: extensions, reserved: reserved, signatureKey: signatureKey, signature: signature)
    }

    /// A UTF-8 string without NUL, which OpenSSH reads as a C string.
    private static func cString(_ reader: inout SSHWireReader, _ what: String) throws(SSHError) -> String {
        let text = try reader.text()
        guard !text.utf8.contains(0) else { throw SSHError(.protocolError, "\(what) holds a NUL byte") }
        return text
    }

    private static func principalList(_ data: [UInt8]) throws(SSHError) -> [String] {
        var reader = SSHWireReader(data)
        var principals: [String] = []
        while !reader.isAtEnd {
            principals.append(try cString(&reader, "a principal"))
        }
        return principals
    }

    private static func optionList(_ data: [UInt8], _ section: String) throws(SSHError) -> [CertificateOption] {
        var reader = SSHWireReader(data)
        var options: [CertificateOption] = []
        while !reader.isAtEnd {
            let name = try cString(&reader, "an option name")
            let value = try reader.string()
            if let previous = options.last, !previous.name.utf8.lexicographicallyPrecedes(name.utf8) {
                throw SSHError(.protocolError, "the \(section) are not in strictly increasing name order at \"\(name.prefix(60))\"")
            }
            options.append(CertificateOption(name: name, data: value))
        }
        return options
    }

    private static func encode(_ options: [CertificateOption]) -> [UInt8] {
        var writer = SSHWireWriter()
        for option in options {
            writer.string(option.name)
            writer.string(option.data)
        }
        return writer.bytes
    }

    /// Everything the CA signs: every field before the signature, encoded.
    public var signedBytes: [UInt8] {
        var writer = SSHWireWriter()
        writer.string(keyType)
        writer.string(nonce)
        writer.raw(publicKeyFields)
        writer.uint64(serial)
        writer.uint32(kind.rawValue)
        writer.string(keyID)
        var principalList = SSHWireWriter()
        for principal in principals { principalList.string(principal) }
        writer.string(principalList.bytes)
        writer.uint64(validAfter)
        writer.uint64(validBefore)
        writer.string(Self.encode(criticalOptions))
        writer.string(Self.encode(extensions))
        writer.string(reserved)
        writer.string(signatureKey)
        return writer.bytes
    }

    /// The whole certificate, encoded; a decoded certificate gives back exactly its bytes.
    public var blob: [UInt8] {
        var writer = SSHWireWriter()
        writer.raw(signedBytes)
        writer.string(signature)
        return writer.bytes
    }

    /// The certified key's type, e.g. "ssh-ed25519" for "ssh-ed25519-cert-v01@openssh.com".
    public var plainKeyType: String {
        Self.plainKeyTypes[keyType] ?? (keyType.hasSuffix(Self.typeSuffix) ? String(keyType.dropLast(Self.typeSuffix.count)) : keyType)
    }

    /// The certified key as a plain public key blob: string type || its fields.
    public var plainKeyBlob: [UInt8] {
        var writer = SSHWireWriter()
        writer.string(plainKeyType)
        writer.raw(publicKeyFields)
        return writer.bytes
    }

    /// The CA key's type, e.g. "ssh-ed25519" (empty if the CA key blob does not start with one).
    public var caKeyType: String {
        var reader = SSHWireReader(signatureKey)
        return (try? reader.text()) ?? ""
    }

    /// The CA key's fingerprint, `SHA256:…` exactly as `ssh-keygen -l` prints it.
    public var caFingerprint: String { KeyFingerprint.sha256(of: signatureKey) }

    /// The certified key's fingerprint, `SHA256:…` exactly as `ssh-keygen -l` prints it.
    public var keyFingerprint: String { KeyFingerprint.sha256(of: plainKeyBlob) }

    /// "<keyType> <base64 blob>", as a `-cert.pub` file holds it (without a comment).
    public var authorizedLine: String { "\(keyType) \(Data(blob).base64EncodedString())" }
}
