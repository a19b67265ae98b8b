import CLibSSH
import Foundation

/// An SSH public key as written in authorized_keys: type, base64 blob, optional comment.
public struct PublicKey: Sendable, Equatable {
    /// The key type as OpenSSH names it, e.g. "ssh-ed25519".
    public let typeName: String
    /// The key blob, base64 as in authorized_keys.
    public let base64: String
    /// `SHA256:…` exactly as `ssh-keygen -l` prints it.
    public let fingerprint: String
    public let comment: String

    /// Parses one authorized_keys line (`type base64 [comment]`). Lines with options before
    /// the key type, unknown types and DSA keys are refused.
    public init(authorizedKeysLine line: String) throws(SSHError) {
        SSHLibrary.initialise()
        let fields = line.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2 else { throw SSHError(.protocolError, "expected `TYPE BASE64 [COMMENT]`") }
        let typeName = String(fields[0])
        let type = ssh_key_type_from_name(typeName)
        guard type != SSH_KEYTYPE_UNKNOWN else {
            throw SSHError(.protocolError, "unknown key type \"\(typeName.prefix(40))\" (authorized_keys options are not supported)")
        }
        guard type != SSH_KEYTYPE_DSS else { throw SSHError(.protocolError, "DSA keys are not accepted") }
        // A certificate would be listed like a plain key and bypass its CA's checks (validity,
        // principals): refused until certificates are verified.
        guard !typeName.hasSuffix("-cert-v01@openssh.com") else {
            throw SSHError(.protocolError, "certificates are not supported as listed keys; list the plain public key")
        }
        var key: ssh_key?
        guard ssh_pki_import_pubkey_base64(String(fields[1]), type, &key) == SSH_OK, let key else {
            throw SSHError(.protocolError, "the key data is not a valid \(typeName) key")
        }
        defer { ssh_key_free(key) }
        try self.init(key: key, comment: fields.dropFirst(2).joined(separator: " "))
        guard self.typeName == typeName else {
            throw SSHError(.protocolError, "the key data is a \(self.typeName) key, not \(typeName)")
        }
    }

    init(key: ssh_key, comment: String = "") throws(SSHError) {
        var blob: UnsafeMutablePointer<CChar>?
        guard ssh_pki_export_pubkey_base64(key, &blob) == SSH_OK, let blob else {
            throw SSHError(.protocolError, "cannot encode public key")
        }
        defer { ssh_string_free_char(blob) }
        typeName = String(cString: ssh_key_type_to_char(ssh_key_type(key)))
        base64 = String(cString: blob)
        fingerprint = try HostKey.sha256Fingerprint(of: key)
        self.comment = comment
    }

    /// The key as one authorized_keys line.
    public var authorizedKeysLine: String { comment.isEmpty ? "\(typeName) \(base64)" : "\(typeName) \(base64) \(comment)" }

    /// The certificate, when the key is one (`typeName` ends in "-cert-v01@openssh.com") and it
    /// decodes; nil otherwise. Its CA signature is not checked here (`verifySignature`).
    public var certificate: OpenSSHCertificate? {
        guard typeName.hasSuffix(OpenSSHCertificate.typeSuffix) else { return nil }
        return try? OpenSSHCertificate(base64: base64)
    }
}

/// Private key files the proxy uses to log in upstream (a route's mapped identity).
public enum PrivateKeyFile {
    /// Checks that `path` is a private key the proxy can use unattended: it exists, is readable,
    /// is not encrypted, and no one but its owner can read it. Returns its public half.
    public static func check(_ path: String) throws(SSHError) -> PublicKey {
        SSHLibrary.initialise()
        var status = stat()
        guard stat(path, &status) == 0 else { throw SSHError(.setup, "\(path): no such file") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw SSHError(.setup, "\(path): not a regular file") }
        guard status.st_mode & 0o077 == 0 else {
            throw SSHError(.setup, "\(path): readable by group or others (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard let contents = FileManager.default.contents(atPath: path) else { throw SSHError(.setup, "\(path): cannot be read") }
        if isEncrypted(contents) { throw SSHError(.setup, "\(path): the key is encrypted; the proxy needs a key without a passphrase") }
        var key: ssh_key?
        guard ssh_pki_import_privkey_file(path, nil, nil, nil, &key) == SSH_OK, let key else {
            throw SSHError(.setup, "\(path): not a private key libssh can read")
        }
        defer { ssh_key_free(key) }
        return try publicHalf(of: key)
    }

    /// Creates an ed25519 key pair: the private key at `path` (mode 0600) and `path.pub`.
    public static func generateEd25519(at path: String, comment: String) throws(SSHError) -> PublicKey {
        SSHLibrary.initialise()
        guard !FileManager.default.fileExists(atPath: path) else { throw SSHError(.setup, "\(path) already exists") }
        var key: ssh_key?
        guard ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) == SSH_OK, let key else {
            throw SSHError(.setup, "cannot generate an ed25519 key")
        }
        defer { ssh_key_free(key) }
        // The file is made 0600 here, before libssh opens it for writing (which keeps the mode),
        // rather than by changing the process-wide umask, which other threads create files under.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SSHError(.setup, "cannot create \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        guard ssh_pki_export_privkey_file(key, nil, nil, nil, path) == SSH_OK else {
            unlink(path)
            throw SSHError(.setup, "cannot write \(path)")
        }
        let result = try publicHalf(of: key, comment: comment)
        do {
            try (result.authorizedKeysLine + "\n").write(toFile: path + ".pub", atomically: true, encoding: .utf8)
        } catch {
            throw SSHError(.setup, "cannot write \(path).pub: \(error.localizedDescription)")
        }
        return result
    }

    /// Creates an ed25519 key pair held only as text: the private key in OpenSSH's format,
    /// encrypted with `passphrase` by libssh (bcrypt-pbkdf and AES-128-CBC in 0.10.6), for a
    /// store shared by several nodes. Returns that text and the public half.
    public static func generateEncryptedEd25519(passphrase: String, comment: String) throws(SSHError)
        -> (encrypted: String, publicKey: PublicKey)
    {
        SSHLibrary.initialise()
        var key: ssh_key?
        guard ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) == SSH_OK, let key else {
            throw SSHError(.setup, "cannot generate an ed25519 key")
        }
        defer { ssh_key_free(key) }
        return (try text(of: key, passphrase: passphrase), try publicHalf(of: key, comment: comment))
    }

    /// Opens a key made by `generateEncryptedEd25519` and returns it as unencrypted OpenSSH text,
    /// to be kept in memory only. Opening runs bcrypt-pbkdf, about 0.1 s of CPU by design.
    public static func decryptedText(of encrypted: String, passphrase: String) throws(SSHError) -> String {
        SSHLibrary.initialise()
        var key: ssh_key?
        guard ssh_pki_import_privkey_base64(encrypted, passphrase, nil, nil, &key) == SSH_OK, let key else {
            throw SSHError(.setup, "the stored key cannot be opened with this cluster secret")
        }
        defer { ssh_key_free(key) }
        return try text(of: key, passphrase: nil)
    }

    /// A private key as OpenSSH text, encrypted with `passphrase` if one is given.
    private static func text(of key: ssh_key, passphrase: String?) throws(SSHError) -> String {
        var text: UnsafeMutablePointer<CChar>?
        guard ssh_pki_export_privkey_base64(key, passphrase, nil, nil, &text) == SSH_OK, let text else {
            throw SSHError(.setup, "cannot export the key as text")
        }
        defer { ssh_string_free_char(text) }
        return String(cString: text)
    }

    /// The public half of a private key.
    private static func publicHalf(of key: ssh_key, comment: String = "") throws(SSHError) -> PublicKey {
        var publicKey: ssh_key?
        guard ssh_pki_export_privkey_to_pubkey(key, &publicKey) == SSH_OK, let publicKey else {
            throw SSHError(.setup, "cannot derive the public key")
        }
        defer { ssh_key_free(publicKey) }
        return try PublicKey(key: publicKey, comment: comment)
    }

    /// PEM keys say `ENCRYPTED` in a header; OpenSSH keys name a cipher other than "none".
    private static func isEncrypted(_ contents: Data) -> Bool {
        let text = String(decoding: contents, as: UTF8.self)
        if text.contains("ENCRYPTED") { return true }
        let begin = "-----BEGIN OPENSSH PRIVATE KEY-----"
        let end = "-----END OPENSSH PRIVATE KEY-----"
        guard let start = text.range(of: begin), let finish = text.range(of: end) else { return false }
        let body = text[start.upperBound..<finish.lowerBound].filter { !$0.isWhitespace }
        guard let blob = Data(base64Encoded: String(body)) else { return false }
        let magic = Array("openssh-key-v1\0".utf8)
        guard blob.count > magic.count + 4, Array(blob.prefix(magic.count)) == magic else { return false }
        let lengthBytes = blob.dropFirst(magic.count).prefix(4)
        let length = lengthBytes.reduce(0) { $0 << 8 | Int($1) }
        let cipher = blob.dropFirst(magic.count + 4).prefix(length)
        return String(decoding: cipher, as: UTF8.self) != "none"
    }
}
