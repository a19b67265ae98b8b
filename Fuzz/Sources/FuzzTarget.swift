import Foundation

/// The parsers of untrusted bytes under test, by the name `SWITCHBOARD_FUZZ_TARGET` and
/// `Fuzz/Corpus/<name>/` use. Not crashing is the least of it: each target checks the parser's
/// promises with `require`.
enum FuzzTarget: String, CaseIterable, Sendable {
    case proxyProtocol = "proxy-protocol"
    case httpRequest = "http-request"
    case authorizedKeys = "authorized-keys"
    case configFile = "config-file"
    case openSSHCertificate = "openssh-certificate"
    case adminRequest = "admin-request"

    /// Feeds `bytes` to the parser and checks what it made of them.
    func run(_ bytes: [UInt8]) {
        switch self {
        case .proxyProtocol: ProxyProtocolTarget.run(bytes)
        case .httpRequest: HTTPRequestTarget.run(bytes)
        case .authorizedKeys: AuthorizedKeysTarget.run(bytes)
        case .configFile: ConfigFileTarget.run(bytes)
        case .openSSHCertificate: OpenSSHCertificateTarget.run(bytes)
        case .adminRequest: AdminRequestTarget.run(bytes)
        }
    }
}

/// Stops the run with `message` when a promise is broken; libFuzzer keeps the input as a crash.
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    FileHandle.standardError.write(Data("invariant broken (\(file):\(line)): \(message())\n".utf8))
    abort()
}
