import Foundation
import SSH
import Synchronization

/// Route keys kept in the shared store (`route keygen` with `--database`), opened with the
/// cluster secret. Opening one runs bcrypt-pbkdf, about 0.1 s of CPU by design, which would cap
/// key logins at ten per second per core; so each key is opened once and kept in memory as
/// plain OpenSSH text (as a route key file is on disk), keyed by its encrypted text: a new
/// `route keygen` is a new entry, and nothing stale is ever used.
final class StoredRouteKeys: Sendable {
    /// Opened keys kept at most; past that the memory starts again (each key is re-opened once).
    static let capacity = 10_000
    private let secret: ClusterSecret
    private let opened = Mutex<[String: String]>([:])

    init(secret: ClusterSecret) {
        self.secret = secret
    }

    /// The key `encrypted` as plain text, opening it on first use.
    func openedKey(_ encrypted: String) throws(SSHError) -> String {
        if let key = opened.withLock({ $0[encrypted] }) { return key }
        let key = try PrivateKeyFile.decryptedText(of: encrypted, passphrase: secret.passphrase)
        opened.withLock { opened in
            if opened.count >= Self.capacity { opened.removeAll() }
            opened[encrypted] = key
        }
        return key
    }
}
