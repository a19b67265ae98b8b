import CLibSSH
import Foundation

/// A private key used by the proxy to identify itself to clients.
public final class HostKey {
    let handle: ssh_key
    /// Where the key is stored on disk.
    public let path: String

    private init(handle: ssh_key, path: String) {
        self.handle = handle
        self.path = path
    }

    deinit { ssh_key_free(handle) }

    /// The kinds of host key the proxy generates.
    public enum Kind: Sendable {
        case ed25519
        case rsa(bits: Int32)

        fileprivate var libsshType: ssh_keytypes_e {
            switch self {
            case .ed25519: SSH_KEYTYPE_ED25519
            case .rsa: SSH_KEYTYPE_RSA
            }
        }

        fileprivate var bits: Int32 {
            switch self {
            case .ed25519: 0
            case .rsa(let bits): bits
            }
        }
    }

    /// Loads the key at `path`, generating one of `kind` (mode 0600) on first use.
    /// Returns the key and whether it was generated now.
    public static func loadOrGenerate(_ kind: Kind, at path: String) throws(SSHError) -> (key: HostKey, generated: Bool) {
        SSHLibrary.initialise()
        var generated = false
        if !FileManager.default.fileExists(atPath: path) {
            var key: ssh_key?
            guard ssh_pki_generate(kind.libsshType, kind.bits, &key) == SSH_OK, let key else {
                throw SSHError(.setup, "cannot generate a \(kind) host key")
            }
            defer { ssh_key_free(key) }
            let previousMask = umask(0o077)
            let rc = ssh_pki_export_privkey_file(key, nil, nil, nil, path)
            umask(previousMask)
            guard rc == SSH_OK else { throw SSHError(.setup, "cannot write host key to \(path)") }
            generated = true
        }
        guard chmod(path, 0o600) == 0 else { throw SSHError(.setup, "cannot set mode 0600 on \(path)") }
        var key: ssh_key?
        guard ssh_pki_import_privkey_file(path, nil, nil, nil, &key) == SSH_OK, let key else {
            throw SSHError(.setup, "cannot read host key \(path) (is it an unencrypted OpenSSH private key?)")
        }
        return (HostKey(handle: key, path: path), generated)
    }

    /// The key type as OpenSSH names it, e.g. "ssh-ed25519".
    public var typeName: String { String(cString: ssh_key_type_to_char(ssh_key_type(handle))) }

    /// `SHA256:…` as `ssh-keygen -l` prints it.
    public var fingerprint: String { (try? Self.sha256Fingerprint(of: handle)) ?? "unknown" }

    static func sha256Fingerprint(of key: ssh_key) throws(SSHError) -> String {
        var hash: UnsafeMutablePointer<UInt8>?
        var length = 0
        guard ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &length) == SSH_OK else {
            throw SSHError(.hostKey, "cannot hash key")
        }
        defer { ssh_clean_pubkey_hash(&hash) }
        guard let text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, length) else {
            throw SSHError(.hostKey, "cannot format fingerprint")
        }
        defer { ssh_string_free_char(text) }
        return String(cString: text)
    }
}
