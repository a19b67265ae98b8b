import Foundation
import RouteStore
import SSH

/// The proxy's own host keys in the data directory: ed25519 and RSA 3072, generated with mode
/// 0600 on first use and reused afterwards.
public enum ProxyHostKeys {
    /// A host key and where it lives.
    public struct Entry {
        public let typeName: String
        public let fingerprint: String
        public let path: String
        /// True if this call created the key.
        public let generated: Bool
    }

    static func paths(in directory: DataDirectory) -> [(HostKey.Kind, String)] {
        [
            (.ed25519, directory.path + "/ssh_host_ed25519_key"),
            (.rsa(bits: 3072), directory.path + "/ssh_host_rsa_key"),
        ]
    }

    /// The host keys of a node sharing its store with others: they must exist (a cluster has one
    /// identity, so no node makes its own), and match the fingerprints the cluster registered;
    /// the first node registers its own. See the README, "Running several nodes".
    public static func loadClusterKeys(in directory: DataDirectory, registry: some ClusterStore) throws(ProxyError) -> [Entry] {
        var entries: [Entry] = []
        for (kind, path) in paths(in: directory) {
            guard FileManager.default.fileExists(atPath: path) else {
                throw ProxyError(.hostKeys, """
                    \(path) is missing: nodes sharing a database must present the cluster's host keys, and none is made \
                    per node. Copy ssh_host_ed25519_key and ssh_host_rsa_key (mode 0600) from a running node's data \
                    directory, or on the first node create them with `switchboard hostkey show --data-dir \(directory.path)`
                    """)
            }
            do {
                let (key, _) = try HostKey.loadOrGenerate(kind, at: path)
                entries.append(Entry(typeName: key.typeName, fingerprint: key.fingerprint, path: path, generated: false))
            } catch {
                throw ProxyError(.hostKeys, "host key \(path): \(error)")
            }
        }
        let registered: [String: String]
        do {
            registered = try registry.registerHostKeys(Dictionary(uniqueKeysWithValues: entries.map { ($0.typeName, $0.fingerprint) }))
        } catch {
            throw ProxyError(.hostKeys, "cannot check the host keys against the cluster's: \(error)")
        }
        let differing = entries.filter { registered[$0.typeName] != $0.fingerprint }
        guard differing.isEmpty else {
            let list = differing.map { "\($0.typeName) \($0.fingerprint) (the cluster's: \(registered[$0.typeName] ?? "none"))" }
            throw ProxyError(.hostKeys, """
                this node's host keys differ from the cluster's: \(list.joined(separator: "; ")). Clients would see a \
                different host key on this node. Copy the cluster's host keys into \(directory.path) (README, "Running several nodes")
                """)
        }
        return entries
    }

    /// Loads every host key, generating the missing ones.
    public static func loadOrGenerate(in directory: DataDirectory) throws(ProxyError) -> [Entry] {
        do {
            try directory.create()
            return try paths(in: directory).map { kind, path in
                let (key, generated) = try HostKey.loadOrGenerate(kind, at: path)
                return Entry(typeName: key.typeName, fingerprint: key.fingerprint, path: path, generated: generated)
            }
        } catch {
            throw ProxyError(.hostKeys, "host keys in \(directory.path): \(error)")
        }
    }
}
