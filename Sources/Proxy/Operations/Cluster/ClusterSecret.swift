import Foundation

/// The secret every node of a cluster shares: it encrypts the route keys kept in the shared
/// database (`route keygen`), so a copy of the database alone opens none of them. Read from a
/// file only its owner can read (`cluster_secret_file`), or from `SWITCHBOARD_CLUSTER_SECRET`.
public struct ClusterSecret: Sendable {
    /// The passphrase libssh encrypts and decrypts route keys with.
    let passphrase: String

    public static let environmentVariable = "SWITCHBOARD_CLUSTER_SECRET"
    static let minimumLength = 16

    /// The file's secret if `file` is given, else the environment's, else `nil`.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ProxyError) -> ClusterSecret?
    {
        if let file {
            var status = stat()
            guard stat(file, &status) == 0 else { throw ProxyError(.configuration, "cluster secret file \(file): no such file") }
            guard status.st_mode & 0o077 == 0 else {
                throw ProxyError(.configuration, "cluster secret file \(file): readable by group or others; chmod 600 it")
            }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ProxyError(.configuration, "cluster secret file \(file): cannot be read as text")
            }
            return try ClusterSecret(text, source: file)
        }
        if let text = environment[environmentVariable], !text.isEmpty {
            return try ClusterSecret(text, source: environmentVariable)
        }
        return nil
    }

    init(_ text: String, source: String) throws(ProxyError) {
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard secret.count >= Self.minimumLength else {
            throw ProxyError(.configuration, "the cluster secret in \(source) is shorter than \(Self.minimumLength) characters (try: openssl rand -base64 32)")
        }
        passphrase = secret
    }
}
