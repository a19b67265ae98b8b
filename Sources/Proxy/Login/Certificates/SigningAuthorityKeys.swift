import Foundation
import RouteStore
import SSH

/// The private keys of the proxy's user-signing CAs: made by `ca init` and `ca rotate`, opened
/// to sign, forgotten by `ca retire`. On a single node a key is a file in `<data dir>/ca/`
/// (mode 0600, OpenSSH format, so `ssh-keygen -s` can use it too); in a shared database it is
/// kept in the database, encrypted with the cluster secret, as route keys are.
public enum SigningAuthorityKeys {
    /// Makes a new ed25519 CA key; the result is to be recorded with
    /// `SQLRouteStore.addFirstSigningAuthority` or `addNextSigningAuthority`.
    public static func create(in directory: DataDirectory, sharedWith secret: ClusterSecret?) throws(ProxyError) -> SigningAuthority {
        let comment = "switchboard-user-ca-\(Self.timestamp())"
        if let secret {
            do {
                let (encrypted, publicKey) = try PrivateKeyFile.generateEncryptedEd25519(passphrase: secret.passphrase, comment: comment)
                return SigningAuthority(
                    publicKey: publicKey.authorizedKeysLine, fingerprint: publicKey.fingerprint, encryptedKey: encrypted, state: .signing)
            } catch {
                throw ProxyError(.certificates, "cannot make a CA key: \(error.message)")
            }
        }
        let folder = directory.path + "/ca"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ProxyError(.certificates, "cannot create \(folder): \(error.localizedDescription)")
        }
        let path = "\(folder)/\(comment)_ed25519"
        do {
            let publicKey = try PrivateKeyFile.generateEd25519(at: path, comment: comment)
            return SigningAuthority(publicKey: publicKey.authorizedKeysLine, fingerprint: publicKey.fingerprint, keyFile: path, state: .signing)
        } catch {
            throw ProxyError(.certificates, "cannot make a CA key: \(error.message)")
        }
    }

    /// Opens a CA's private key to sign with. `storedKeys` opens keys kept in a shared database
    /// (nil on a node without the cluster secret).
    static func signer(for authority: SigningAuthority, storedKeys: StoredRouteKeys?) throws(ProxyError) -> CertificateSigner {
        let text: String
        if let encrypted = authority.encryptedKey {
            guard let storedKeys else {
                throw ProxyError(.certificates, "the CA key is kept in the database but this node has no cluster secret (--cluster-secret-file)")
            }
            do {
                text = try storedKeys.openedKey(encrypted)
            } catch {
                throw ProxyError(.certificates, "the CA key cannot be opened with this node's cluster secret")
            }
        } else if let path = authority.keyFile {
            do {
                _ = try PrivateKeyFile.check(path)
            } catch {
                throw ProxyError(.certificates, "CA key \(error.message)")
            }
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw ProxyError(.certificates, "CA key \(path) cannot be read")
            }
            text = String(decoding: contents, as: UTF8.self)
        } else {
            throw ProxyError(.certificates, "the CA \(authority.fingerprint) has no private key (retired)")
        }
        let signer: CertificateSigner
        do {
            signer = try CertificateSigner(openSSHPrivateKeyText: text)
        } catch {
            throw ProxyError(.certificates, "the CA key cannot be used to sign: \(error.message)")
        }
        guard signer.publicKey.fingerprint == authority.fingerprint else {
            throw ProxyError(.certificates, "the CA key file does not hold the CA \(authority.fingerprint) recorded in the store")
        }
        return signer
    }

    /// Removes a retired CA's key file (a key kept in the database was cleared by the store).
    public static func forget(_ authority: SigningAuthority) {
        guard let path = authority.keyFile else { return }
        unlink(path)
        unlink(path + ".pub")
    }

    /// The certificate a login on `route` would get for `publicKey` (an ed25519 key), signed
    /// by `authority`, as one line (`ssh-ed25519-cert-v01@openssh.com AAAA…`): for operators
    /// and tests to check what the CA makes (`ssh-keygen -L`) and whether an upstream takes it.
    public static func demonstrationCertificate(
        for route: Route, publicKey: PublicKey, authority: SigningAuthority, secret: ClusterSecret?, sourceAddresses: [AddressRange]
    ) throws(ProxyError) -> String {
        let signer = try signer(for: authority, storedKeys: secret.map(StoredRouteKeys.init))
        guard let blob = Data(base64Encoded: publicKey.base64) else { throw ProxyError(.certificates, "the public key is not valid base64") }
        let subject = UpstreamCertificates.Subject(login: route.login, client: "sign-demo", auditID: nil, permissions: .unrestricted)
        do {
            let certificate = try UpstreamCertificates.certificate(
                for: route, subject: subject, publicKeyBlob: [UInt8](blob), sourceAddresses: sourceAddresses, signer: signer)
            return certificate.authorizedLine
        } catch {
            throw ProxyError(.certificates, "cannot make the certificate: \(error.message)")
        }
    }

    private static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        return formatter.string(from: Date()) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }
}
