import Foundation
import SSH
import XCTest

/// Logging in to a real sshd with a certificate made on the spot (`authenticate(withCertificateFrom:)`):
/// a fresh in-memory ed25519 key, certified by a CA key that libssh generated and sshd trusts
/// through `TrustedUserCAKeys`.
final class OpenSSHCertificateLoginTests: XCTestCase {
    private var scratch: TemporaryPath!
    private var signer: CertificateSigner!
    private var upstream: UpstreamServer!
    private let user = TestUsers.alice.name

    override func setUpWithError() throws {
        try TestUsers.ensure()
        scratch = try TemporaryPath(prefix: "sb-cert-login", create: true)
        let caPath = scratch.url.appendingPathComponent("user-ca").path
        _ = try PrivateKeyFile.generateEd25519(at: caPath, comment: "switchboard test CA")
        signer = try CertificateSigner(openSSHPrivateKeyText: String(contentsOfFile: caPath, encoding: .utf8))
        upstream = try UpstreamServer(name: "cert-login", extraConfig: [
            "TrustedUserCAKeys \(caPath).pub", "AuthorizedKeysFile none", "PasswordAuthentication no",
        ])
    }

    override func tearDown() {
        upstream?.stop()
        upstream = nil
        scratch = nil
    }

    func testSSHDAcceptsACertificateForTheLoginMadeForAFreshKey() throws {
        let keyID = "switchboard:cert-login-\(UUID().uuidString.prefix(8))"
        var offered: [UInt8] = []
        let result = try login { (keyBlob: [UInt8]) throws(SSHError) -> OpenSSHCertificate in
            offered = keyBlob
            return try self.certificate(for: keyBlob, principals: [self.user], keyID: keyID)
        }
        XCTAssertEqual(result, .success)
        var reader = SSHWireReader(offered)
        XCTAssertEqual(try reader.text(), "ssh-ed25519")
        XCTAssertEqual(try reader.string().count, 32)
        let log = try waitForLog(containing: "ID \(keyID) (serial 77)")
        XCTAssertTrue(log.contains("Accepted publickey for \(user)"), log)
    }

    func testSSHDRefusesACertificateForAnotherPrincipal() throws {
        let result = try login { (keyBlob: [UInt8]) throws(SSHError) -> OpenSSHCertificate in
            try self.certificate(for: keyBlob, principals: ["someone-else"], keyID: "wrong principal")
        }
        XCTAssertEqual(result, .denied)
        let log = try waitForLog(containing: "Failed publickey for \(user)")
        XCTAssertTrue(log.contains("Certificate invalid: name is not a listed principal"), log)
        XCTAssertTrue(log.contains("ID wrong principal (serial 77)"), log)
    }

    func testAFailedOrMismatchedCertificateIsAnErrorBeforeAnythingIsSent() throws {
        let failed = try login { (_: [UInt8]) throws(SSHError) -> OpenSSHCertificate in
            throw SSHError(.setup, "the CA is not available")
        }
        XCTAssertEqual(failed, .error("the CA is not available"))

        var otherKey = SSHWireWriter()
        otherKey.string("ssh-ed25519")
        otherKey.string([UInt8](repeating: 9, count: 32))
        let mismatched = try login { (_: [UInt8]) throws(SSHError) -> OpenSSHCertificate in
            try self.certificate(for: otherKey.bytes, principals: [self.user], keyID: "other key")
        }
        guard case .error(let message) = mismatched else { return XCTFail("\(mismatched)") }
        XCTAssertTrue(message.contains("not for the ed25519 key"), message)
    }

    /// Connects to the upstream as the test user and logs in with `certify`'s certificate.
    private func login(
        certify: (_ plainPublicKeyBlob: [UInt8]) throws(SSHError) -> OpenSSHCertificate
    ) throws -> SSHSession.AuthResult {
        guard let fd = FreePort.connectRaw(port: upstream.port) else { throw HarnessError("cannot connect to the upstream") }
        let session = try SSHSession.connect(fd: fd, host: "127.0.0.1", port: upstream.port, user: user, timeoutSeconds: 10)
        defer { session.disconnect() }
        return session.authenticate(withCertificateFrom: certify)
    }

    /// A user certificate signed by the test CA, valid from a minute ago for five minutes.
    private func certificate(for keyBlob: [UInt8], principals: [String], keyID: String) throws(SSHError) -> OpenSSHCertificate {
        var reader = SSHWireReader(keyBlob)
        let type = try reader.text()
        let now = UInt64(Date().timeIntervalSince1970)
        var certificate = OpenSSHCertificate(
            keyType: "\(type)-cert-v01@openssh.com", publicKeyFields: Array(keyBlob.dropFirst(4 + type.utf8.count)), serial: 77,
            kind: .user, keyID: keyID, principals: principals, validAfter: now - 60, validBefore: now + 300,
            criticalOptions: [.text("source-address", "127.0.0.1/32")], extensions: [.flag("permit-pty")])
        try signer.sign(&certificate)
        return certificate
    }

    /// sshd's log once it holds `text` (it writes the line just after answering).
    private func waitForLog(containing text: String) throws -> String {
        let path = upstream.directory.appendingPathComponent("sshd.log").path
        let deadline = Date().addingTimeInterval(5)
        var log = ""
        while Date() < deadline {
            log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if log.contains(text) { return log }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw HarnessError("sshd's log has no \"\(text)\":\n\(log)")
    }
}
