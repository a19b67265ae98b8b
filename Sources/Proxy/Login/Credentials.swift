import Foundation
import RouteStore
import SSH

/// Key material the admin CLI handles: client public keys for routes and the private keys a
/// route uses upstream. Everything here validates before anything is written.
public enum Credentials {
    /// Parses authorized_keys text (blank lines and `#` comments skipped) into keys for `login`.
    /// Fails on the first bad line, naming it.
    public static func clientKeys(fromAuthorizedKeys text: String, for login: String) throws -> [ClientKey] {
        var keys: [ClientKey] = []
        // Lines end at every line feed, also one after a carriage return: split as Characters,
        // "\r\n" is one Character and not "\n", and a CRLF file read as a single line.
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(Substring($0)) }
        for (index, rawLine) in lines.enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                let key = try PublicKey(authorizedKeysLine: line)
                keys.append(ClientKey(
                    login: login, keyType: key.typeName, keyBase64: key.base64, fingerprint: key.fingerprint, comment: key.comment))
            } catch {
                throw RouteStoreError.invalidKey("line \(index + 1): \(error.message)")
            }
        }
        guard !keys.isEmpty else { throw RouteStoreError.invalidKey("no key found in the input") }
        return keys
    }

    /// Checks a private key file for use as a route's upstream identity and returns its
    /// absolute path: it must exist, be readable only by its owner, and not be encrypted.
    public static func validatedIdentityFile(_ path: String) throws -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        do {
            _ = try PrivateKeyFile.check(absolute)
        } catch {
            throw RouteStoreError.invalidIdentityFile(error.message)
        }
        return absolute
    }

    /// Creates an ed25519 key pair for a route kept in a shared database: returns the private
    /// key encrypted with the cluster secret, and the public line to install on the upstream.
    public static func generateStoredRouteKey(for login: String, secret: ClusterSecret) throws -> (encrypted: String, publicLine: String) {
        let login = try RouteValidation.routeLogin(login)
        guard !Route(login: login, upstreamHost: "-").servesManyLogins else {
            throw RouteStoreError.invalidIdentityFile(SQLRouteStore.catchAllIdentityRefusal)
        }
        do {
            let (encrypted, publicKey) = try PrivateKeyFile.generateEncryptedEd25519(
                passphrase: secret.passphrase, comment: "switchboard-route-\(login)")
            return (encrypted, publicKey.authorizedKeysLine)
        } catch {
            throw RouteStoreError.invalidIdentityFile(error.message)
        }
    }

    /// Creates an ed25519 key pair for a route in `<data dir>/route-keys/` and returns the
    /// private key's path and the public line to install on the upstream.
    public static func generateRouteKey(for login: String, in directory: DataDirectory) throws -> (path: String, publicLine: String) {
        let login = try RouteValidation.routeLogin(login)
        guard !Route(login: login, upstreamHost: "-").servesManyLogins else {
            throw RouteStoreError.invalidIdentityFile(SQLRouteStore.catchAllIdentityRefusal)
        }
        let fileName = login
        let folder = directory.path + "/route-keys"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = "\(folder)/\(fileName)_ed25519"
        do {
            let key = try PrivateKeyFile.generateEd25519(at: path, comment: "switchboard-route-\(login)")
            return (path, key.authorizedKeysLine)
        } catch {
            throw RouteStoreError.invalidIdentityFile(error.message)
        }
    }
}
