import Foundation
import RouteStore
import SSH
import Synchronization

/// Makes the certificate of each upstream login on a route with `upstream_auth = certificate`:
/// a fresh key that exists only in memory (made by `SSHSession`), one principal, a few minutes
/// of validity, a random serial, and a key id naming the login, the client and the audit
/// session, so that the upstream's own log says who logged in.
final class UpstreamCertificates: Sendable {
    /// Who a certificate is for.
    struct Subject: Sendable {
        /// The name the client logged in with at the gateway.
        var login: String
        /// The client's address as `host:port`.
        var client: String
        /// The session's audit id, if its start could be recorded.
        var auditID: Int64?
        var permissions: CertificatePermissions
    }

    /// How long before now a certificate starts to be valid, so that an upstream whose clock is
    /// a little behind accepts it.
    static let backdating: UInt64 = 60

    private let authorities: any CertificateLookup
    private let storedKeys: StoredRouteKeys?
    /// Opened CA keys by fingerprint: opening reads a file or runs bcrypt-pbkdf.
    private let signers = Mutex<[String: CertificateSigner]>([:])

    init(authorities: any CertificateLookup, storedKeys: StoredRouteKeys?) {
        self.authorities = authorities
        self.storedKeys = storedKeys
    }

    /// The signing CA's key, opened once and kept.
    func signer() throws(ProxyError) -> CertificateSigner {
        let authority: SigningAuthority?
        do {
            authority = try authorities.signingAuthority()
        } catch {
            throw ProxyError(.certificates, "cannot read the signing CA: \(error)")
        }
        guard let authority else {
            throw ProxyError(.certificates, "the route logs in with certificates but the proxy has no CA: run `switchboard ca init`")
        }
        if let signer = signers.withLock({ $0[authority.fingerprint] }) { return signer }
        let signer = try SigningAuthorityKeys.signer(for: authority, storedKeys: storedKeys)
        signers.withLock { $0[authority.fingerprint] = signer }
        return signer
    }

    /// The certificate for `subject`'s login to `route`'s upstream with the public key
    /// `publicKeyBlob` (an ed25519 key blob), signed by `signer`. `sourceAddresses`, if any,
    /// become its `source-address` option: the proxy's own egress addresses.
    static func certificate(
        for route: Route, subject: Subject, publicKeyBlob: [UInt8], sourceAddresses: [AddressRange], signer: CertificateSigner,
        now: Date = Date()
    ) throws(SSHError) -> OpenSSHCertificate {
        var reader = SSHWireReader(publicKeyBlob)
        let keyType = try reader.text()
        guard keyType == "ssh-ed25519" else { throw SSHError(.protocolError, "upstream certificates are made for ed25519 keys, not \(keyType)") }
        let fields = Array(publicKeyBlob.dropFirst(4 + keyType.utf8.count))
        let seconds = UInt64(max(0, now.timeIntervalSince1970))
        var nonce = [UInt8](repeating: 0, count: 32)
        var random = SystemRandomNumberGenerator()
        for index in nonce.indices { nonce[index] = random.next() }
        let permissions = subject.permissions.limited(to: route.forwarding ?? .all)
        var certificate = OpenSSHCertificate(
            keyType: "ssh-ed25519-cert-v01@openssh.com", nonce: nonce, publicKeyFields: fields,
            serial: random.next(), kind: .user, keyID: keyID(for: subject),
            principals: [route.effectiveCertificatePrincipal],
            validAfter: seconds - min(seconds, backdating), validBefore: seconds + UInt64(route.effectiveCertificateLifetime),
            criticalOptions: sourceAddresses.isEmpty
                ? [] : [.text("source-address", sourceAddresses.map(\.description).joined(separator: ","))],
            extensions: permissions.extensionNames.map(CertificateOption.flag),
            reserved: [], signatureKey: [], signature: [])
        try signer.sign(&certificate)
        return certificate
    }

    /// `switchboard login=alice client=203.0.113.7:50122 session=42`: what sshd logs as the
    /// certificate's ID. The login passed the name rules, so it holds no space or quote.
    static func keyID(for subject: Subject) -> String {
        "switchboard login=\(subject.login) client=\(subject.client) session=\(subject.auditID.map(String.init) ?? "unrecorded")"
    }
}
