import Foundation
import RouteStore

/// The route chores that need more than the store, shared by `switchboard route trust|keygen`
/// and the admin API: each reaches the store only through `update`, so the API can record the
/// change in the same transaction.
public enum RouteUpkeep {
    /// A host key pinned by `pinHostKey`, and the one it replaced.
    public struct PinnedKey: Sendable, Encodable {
        public let fingerprint: String
        public let previous: String?
    }

    /// Connects to the route's upstream once and pins the host key it presents.
    public static func pinHostKey(
        of login: String, in store: some RouteLookup, timeoutSeconds: Int,
        update: (RouteChanges) throws -> Route
    ) throws -> PinnedKey {
        guard let route = try store.route(for: login) else { throw RouteStoreError.routeNotFound(login) }
        let fingerprint = try UpstreamProbe.hostKeyFingerprint(of: route, timeoutSeconds: timeoutSeconds)
        _ = try update(RouteChanges(hostKeyFingerprint: .some(fingerprint)))
        return PinnedKey(fingerprint: fingerprint, previous: route.hostKeyFingerprint == fingerprint ? nil : route.hostKeyFingerprint)
    }

    /// A key made by `createKey`: the public line to install upstream, and where the private
    /// key is (a file, or nil when it is kept encrypted in the shared database).
    public struct CreatedKey: Sendable, Encodable {
        public let publicKey: String
        public let file: String?
    }

    /// Makes an ed25519 key pair for the route and has it log in upstream. With `secret` (a
    /// shared database) the private key is kept in the database, encrypted; otherwise it is a
    /// file in the data directory's `route-keys` folder.
    public static func createKey(
        for login: String, in store: some RouteLookup, secret: ClusterSecret?, dataDirectory: DataDirectory,
        update: (RouteChanges) throws -> Route
    ) throws -> CreatedKey {
        guard try store.route(for: login) != nil else { throw RouteStoreError.routeNotFound(login) }
        if let secret {
            let (encrypted, publicLine) = try Credentials.generateStoredRouteKey(for: login, secret: secret)
            _ = try update(RouteChanges(identityFile: .some(nil), identityKey: .some(encrypted)))
            return CreatedKey(publicKey: publicLine, file: nil)
        }
        let (path, publicLine) = try Credentials.generateRouteKey(for: login, in: dataDirectory)
        do {
            _ = try update(RouteChanges(identityFile: .some(path), identityKey: .some(nil)))
        } catch {
            // The route did not take the key (removed meanwhile, database away): leave no file
            // behind that would make the next keygen fail.
            unlink(path)
            unlink(path + ".pub")
            throw error
        }
        return CreatedKey(publicKey: publicLine, file: path)
    }
}
