import Foundation
import Logging
import RouteStore
import TLS

/// The admin surface of one `serve` process: the admin API and web console on `admin_listen`
/// (off unless set; TLS with `admin_tls_certificate`/`admin_tls_key`, plain only on loopback),
/// and the local control socket (`ControlSocket`) through which `switchboard sessions watch`
/// reads a live terminal on this machine without a token.
public final class AdminService: Sendable {
    private let servers: [HTTPServer]
    private let logger: Logger

    /// Binds everything at once, so a wrong address or an unusable certificate fails at start.
    public init(
        settings: ProxySettings, store: any AdminAPIStore, proxy: ProxyServer, sharedStore: Bool, logger: Logger
    ) throws(ProxyError) {
        let api = AdminAPI(
            context: AdminAPI.Context(
                store: store, live: proxy, nodeID: proxy.node.id, dataDirectory: settings.dataDirectory,
                clusterSecret: try ClusterSecret.load(file: settings[.clusterSecretFile]), sharedStore: sharedStore),
            logger: logger)
        var servers: [HTTPServer] = []
        if let address = settings[.adminListen] {
            var tls: TLSServerContext?
            if let certificate = settings[.adminTLSCertificate], let key = settings[.adminTLSKey] {
                do {
                    tls = try TLSServerContext(certificateFile: certificate, keyFile: key)
                } catch {
                    throw ProxyError(.configuration, "admin TLS: \(error)")
                }
            }
            let listener = try HTTPListener(host: address.host, port: address.port)
            servers.append(HTTPServer(listener: listener, tls: tls, handler: { api.handle($0) }, logger: logger))
            if !AdminConsole.shared.hasTerminal {
                logger.warning("the web console cannot show terminals: install Debian's node-xterm and libjs-xterm")
            }
            logger.info("admin API listening", metadata: [
                "admin.addr": "\(listener.address)", "admin.tls": "\(tls != nil)",
            ])
        }
        let folder = ControlSocket.directory(of: settings.dataDirectory)
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            Self.removeSocketsOfEndedProcesses(in: folder)
            let control = try HTTPListener(unixSocketPath: ControlSocket.path(of: settings.dataDirectory))
            servers.append(HTTPServer(listener: control, tls: nil, handler: { api.handleControl($0) }, logger: logger))
        } catch {
            // Watching from this machine's CLI is a convenience; the proxy serves without it.
            logger.warning("no control socket: `sessions watch` cannot reach this process", metadata: ["error": "\(error)"])
        }
        self.servers = servers
        self.logger = logger
    }

    /// A process killed without its cleanup leaves its socket behind; those of processes that
    /// no longer run are removed, so the folder lists only live ones.
    private static func removeSocketsOfEndedProcesses(in folder: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            guard name.hasPrefix("serve-"), name.hasSuffix(".sock"), let pid = Int32(name.dropFirst(6).dropLast(5)) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink("\(folder)/\(name)") }
        }
    }

    public func start() {
        for server in servers { server.start() }
    }

    public func stop() {
        for server in servers { server.stop() }
    }
}
