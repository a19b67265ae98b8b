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
