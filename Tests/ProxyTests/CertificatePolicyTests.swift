import Foundation
import RouteStore
import SSH
import XCTest

@testable import Proxy

/// What the proxy decides about certificates, without a network: which client certificates log
/// in (and what they allow), and what goes into the certificate of an upstream login.
final class CertificatePolicyTests: XCTestCase {
    private var scratch: String!
    private var signer: CertificateSigner!
    private var stranger: CertificateSigner!
    private var authorities: FixedAuthorities!
    /// The certified key: any valid ed25519 public key blob.
    private var userKey: [UInt8]!
    private let now = Date(timeIntervalSince1970: 1_800_000_000)

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "sb-cert-policy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        signer = try makeSigner("ca")
        stranger = try makeSigner("stranger")
        userKey = try makeSigner("user").publicKeyBlob
        authorities = FixedAuthorities(trusted: [
            TrustedClientAuthority(name: "corp", keyType: "ssh-ed25519", keyBase64: signer.publicKey.base64, fingerprint: signer.publicKey.fingerprint),
        ])
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    private func makeSigner(_ name: String) throws -> CertificateSigner {
        let path = scratch + "/" + name
        _ = try PrivateKeyFile.generateEd25519(at: path, comment: name)
        return try CertificateSigner(openSSHPrivateKeyText: String(contentsOfFile: path, encoding: .utf8))
    }

    /// A user certificate for "alice" valid an hour around `now`, changed by `adjust`, signed by `by`.
    private func certificate(by: CertificateSigner? = nil, _ adjust: (inout OpenSSHCertificate) -> Void = { _ in }) throws -> OpenSSHCertificate {
        var reader = SSHWireReader(userKey)
        let type = try reader.text()
        var certificate = OpenSSHCertificate(
            keyType: "ssh-ed25519-cert-v01@openssh.com", publicKeyFields: Array(userKey.dropFirst(4 + type.utf8.count)), serial: 7,
            kind: .user, keyID: "alice-laptop", principals: ["alice"],
            validAfter: UInt64(now.timeIntervalSince1970) - 1800, validBefore: UInt64(now.timeIntervalSince1970) + 1800,
            extensions: [.flag("permit-pty")])
        adjust(&certificate)
        try (by ?? signer).sign(&certificate)
        return certificate
    }

    private func verdict(_ certificate: OpenSSHCertificate, login: String = "alice", from host: String = "192.0.2.10") -> ClientCertificates.Verdict {
        ClientCertificates(authorities: authorities).check(certificate, login: login, clientHost: host, now: now)
    }

    private func reason(_ verdict: ClientCertificates.Verdict) -> String? {
        if case .refused(let reason, _) = verdict { return reason }
        return nil
    }

    func testAValidCertificateLogsInWithTheExtensionsItCarries() throws {
        guard case .accepted(let acceptance) = verdict(try certificate()) else { return XCTFail("a valid certificate was refused") }
        XCTAssertEqual(acceptance.authority, "corp")
        XCTAssertEqual(acceptance.serial, 7)
        XCTAssertEqual(acceptance.permissions, CertificatePermissions(pty: true, portForwarding: false, agentForwarding: false))
    }

    func testEachRuleRefusesWithItsOwnReason() throws {
        let seconds = UInt64(now.timeIntervalSince1970)
        XCTAssertEqual(reason(verdict(try certificate { $0.kind = .host })), "certificate-not-user")
        XCTAssertEqual(reason(verdict(try certificate(by: stranger))), "certificate-untrusted-ca")
        XCTAssertEqual(reason(verdict(try certificate { $0.validBefore = seconds })), "certificate-expired", "valid_before is exclusive")
        XCTAssertEqual(reason(verdict(try certificate { $0.validAfter = seconds + 1 })), "certificate-not-yet-valid")
        XCTAssertNil(reason(verdict(try certificate { $0.validAfter = seconds })), "valid_after is inclusive")
        XCTAssertEqual(reason(verdict(try certificate(), login: "bob")), "certificate-wrong-principal")
        XCTAssertEqual(reason(verdict(try certificate { $0.principals = [] })), "certificate-wrong-principal", "no principals: nobody")
        XCTAssertEqual(reason(verdict(try certificate { $0.criticalOptions = [.text("force-command", "/bin/true")] })),
                       "certificate-unsupported-option")
        XCTAssertEqual(reason(verdict(try certificate { $0.criticalOptions = [.flag("verify-required")] })), "certificate-unsupported-option")
        XCTAssertEqual(reason(verdict(try certificate { $0.criticalOptions = [.text("source-address", "10.0.0.0/8,2001:db8::/32")] })),
                       "certificate-source-address")
        XCTAssertNil(reason(verdict(try certificate { $0.criticalOptions = [.text("source-address", "10.0.0.0/8,192.0.2.0/24")] })))
        XCTAssertEqual(reason(verdict(try certificate { $0.criticalOptions = [.text("source-address", "10.0.0.0/8,not-an-address")] })),
                       "certificate-bad-option")
        XCTAssertEqual(reason(verdict(try certificate { $0.criticalOptions = [.flag("source-address")] })), "certificate-bad-option")

        var forged = try certificate()
        forged.principals = ["alice", "root"]
        XCTAssertEqual(reason(verdict(forged)), "certificate-bad-signature", "a changed certificate keeps its old signature")

        authorities.revoked = [.serial(7)]
        XCTAssertEqual(reason(verdict(try certificate())), "certificate-revoked")
        authorities.revoked = [.keyID("alice-laptop")]
        XCTAssertEqual(reason(verdict(try certificate())), "certificate-revoked")
        authorities.failing = true
        XCTAssertEqual(verdict(try certificate()), .storeUnavailable)
    }

    func testAnUpstreamCertificateNamesTheLoginAndCarriesOnlyWhatTheRouteAllows() throws {
        let subject = UpstreamCertificates.Subject(
            login: "alice", client: "[2001:db8::7]:50122", auditID: 42, permissions: .unrestricted)
        let seconds = UInt64(now.timeIntervalSince1970)
        for (policy, extensions) in [
            (ForwardingPolicy.all, ["permit-agent-forwarding", "permit-port-forwarding", "permit-pty"]),
            (.remote, ["permit-agent-forwarding", "permit-port-forwarding", "permit-pty"]),
            (.local, ["permit-port-forwarding", "permit-pty"]),
            (.none, ["permit-pty"]),
        ] {
            let route = Route(login: "alice", upstreamHost: "10.0.0.5", upstreamUser: "deploy", forwarding: policy, certificateLifetime: 120)
            let made = try UpstreamCertificates.certificate(
                for: route, subject: subject, publicKeyBlob: userKey, sourceAddresses: [], signer: signer, now: now)
            XCTAssertEqual(made.extensions.map(\.name), extensions, "\(policy)")
            XCTAssertEqual(made.principals, ["deploy"])
            XCTAssertEqual(made.kind, .user)
            XCTAssertEqual(made.validAfter, seconds - 60)
            XCTAssertEqual(made.validBefore, seconds + 120)
            XCTAssertEqual(made.keyID, "switchboard login=alice client=[2001:db8::7]:50122 session=42")
            XCTAssertEqual(made.plainKeyBlob, userKey)
            XCTAssertEqual(made.criticalOptions, [])
            XCTAssertNoThrow(try made.verifySignature())
            XCTAssertEqual(made.caFingerprint, signer.publicKey.fingerprint)
        }
        // A client certificate's limits carry over; the egress ranges become source-address.
        var narrowed = subject
        narrowed.permissions = CertificatePermissions(pty: false, portForwarding: true, agentForwarding: false)
        let route = Route(login: "alice", upstreamHost: "10.0.0.5", certificatePrincipal: "ops@corp")
        let made = try UpstreamCertificates.certificate(
            for: route, subject: narrowed, publicKeyBlob: userKey,
            sourceAddresses: [try XCTUnwrap(AddressRange("198.51.100.0/24")), try XCTUnwrap(AddressRange("2001:db8::1"))],
            signer: signer, now: now)
        XCTAssertEqual(made.extensions.map(\.name), ["permit-port-forwarding"])
        XCTAssertEqual(made.principals, ["ops@corp"])
        XCTAssertEqual(made.validBefore, seconds + UInt64(Route.defaultCertificateLifetime))
        XCTAssertEqual(made.criticalOptions, [.text("source-address", "198.51.100.0/24,2001:db8::1")])
        let another = try UpstreamCertificates.certificate(
            for: route, subject: narrowed, publicKeyBlob: userKey, sourceAddresses: [], signer: signer, now: now)
        XCTAssertNotEqual(made.serial, another.serial, "each login's certificate has its own serial")
        XCTAssertNotEqual(made.nonce, another.nonce)
    }
}

/// Trusted client CAs and revocations held in memory.
private final class FixedAuthorities: CertificateLookup, @unchecked Sendable {
    // Tests use it from one thread.
    let trusted: [TrustedClientAuthority]
    var revoked: [CertificateRevocation.Match] = []
    var failing = false

    init(trusted: [TrustedClientAuthority]) {
        self.trusted = trusted
    }

    func signingAuthority() throws(RouteStoreError) -> SigningAuthority? { nil }

    func trustedClientAuthority(fingerprint: String) throws(RouteStoreError) -> TrustedClientAuthority? {
        if failing { throw .unavailable("test outage") }
        return trusted.first { $0.fingerprint == fingerprint }
    }

    func isCertificateRevoked(authority: String, serial: UInt64, keyID: String) throws(RouteStoreError) -> Bool {
        if failing { throw .unavailable("test outage") }
        return revoked.contains { $0 == .serial(serial) || $0 == .keyID(keyID) }
    }
}
