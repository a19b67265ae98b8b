import Foundation

/// What a login needs of the routing table: the route, whether a client key is listed, and
/// trust on first use of an upstream host key. The proxy depends on this much only.
public protocol RouteLookup: Sendable {
    /// The route for `login`, or `nil` if there is none (disabled routes are returned).
    func route(for login: String) throws(RouteStoreError) -> Route?
    /// True if `fingerprint` is listed for `login`.
    func isKeyListed(_ fingerprint: String, for login: String) throws(RouteStoreError) -> Bool
    /// True if a route exists whose login equals `login` but for letter case (`alice` for
    /// `ALICE`): such a name must not be served by the catch-all route.
    func hasRoute(differingOnlyInCaseFrom login: String) throws(RouteStoreError) -> Bool
    /// Trust on first use: records `fingerprint` as the route's upstream host key unless one is
    /// already pinned. Returns true if it was recorded now.
    func pinHostKeyIfUnpinned(login: String, fingerprint: String) throws(RouteStoreError) -> Bool
    /// The pattern routes in the order logins try them (priority, then pattern).
    func patternRoutes() throws(RouteStoreError) -> [Route]
}

/// Reads and writes the routing table. The proxy only reads; the admin CLI writes.
/// Every write validates its input first and writes nothing if any part is invalid.
public protocol RouteStore: RouteLookup {
    /// All routes ordered by login name.
    func allRoutes() throws(RouteStoreError) -> [Route]
    /// Adds a new route; fails with `.routeExists` if the login already has one.
    func add(_ route: Route) throws(RouteStoreError) -> Route
    /// Applies `changes` to an existing route and returns the result.
    func update(login: String, with changes: RouteChanges) throws(RouteStoreError) -> Route
    /// Removes the route for `login` and its keys; fails with `.routeNotFound` if there is none.
    func remove(login: String) throws(RouteStoreError)

    /// Adds client keys to a route, all or none: fails if the route is missing or a key is
    /// already listed for it.
    func addKeys(_ keys: [ClientKey], to login: String) throws(RouteStoreError)
    /// The keys listed for a route (empty if none), oldest first.
    func keys(for login: String) throws(RouteStoreError) -> [ClientKey]
    /// Removes one key from a route; fails if it is not listed.
    func removeKey(_ fingerprint: String, from login: String) throws(RouteStoreError)
}

/// Where Switchboard keeps its state: the database and the proxy's host keys.
public struct DataDirectory: Sendable, Equatable {
    /// The directory itself.
    public let path: String

    /// Used for root when neither `--data-dir` nor `SWITCHBOARD_DATA_DIR` is given.
    public static let systemPath = "/var/lib/switchboard"
    /// The environment variable that names the data directory.
    public static let environmentVariable = "SWITCHBOARD_DATA_DIR"

    /// The default: /var/lib/switchboard for root, else $XDG_DATA_HOME/switchboard
    /// (~/.local/share/switchboard), so an unprivileged operator can start it too.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if geteuid() == 0 { return systemPath }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/switchboard" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share/switchboard"
    }

    /// Chooses the data directory: an explicit path, else the environment, else the default.
    public init(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) {
        path = explicit ?? environment[Self.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.defaultPath(environment: environment)
    }

    public var databasePath: String { (path as NSString).appendingPathComponent("switchboard.db") }

    /// Takes group and other permissions away from the directory, its `route-keys` and `ca`
    /// folders and every file in them (the database and its journal, host keys, route keys, CA
    /// keys): all of it is secret. Returns the paths it changed, for a warning.
    public func tightenPermissions() -> [String] {
        var changed: [String] = []
        func tighten(_ path: String, to mode: mode_t) {
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFLNK, info.st_mode & 0o077 != 0 else { return }
            if chmod(path, mode) == 0 { changed.append(path) }
        }
        for folder in [path, path + "/route-keys", path + "/ca"] {
            tighten(folder, to: 0o700)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let file = folder + "/" + name
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue {
                    tighten(file, to: 0o600)
                }
            }
        }
        return changed
    }

    /// Creates the directory (mode 0700) if it does not exist yet.
    public func create() throws(RouteStoreError) {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .database("\(path) exists and is not a directory") }
            return
        }
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .database("cannot create data directory \(path): \(error.localizedDescription)")
        }
    }
}
