import Foundation
import RouteStore
import SSH

/// Decides whether a client's user certificate logs it in: libssh checks only that the client
/// holds the certified key; everything the certificate says is checked here, as sshd would with
/// `TrustedUserCAKeys`: the kind, a trusted CA and its signature, the validity window, the login
/// among the principals, revocation, and every critical option.
struct ClientCertificates {
    /// The answer for one certificate.
    enum Verdict: Equatable {
        case accepted(Acceptance)
        /// Refused: `reason` is a stable code for logs and metrics, `detail` says more.
        case refused(reason: String, detail: String)
        case storeUnavailable
    }

    /// What an accepted certificate is, for the log, the audit and the session.
    struct Acceptance: Equatable {
        var authority: String
        var keyID: String
        var serial: UInt64
        var permissions: CertificatePermissions
    }

    /// The critical options the proxy honours; any other makes the certificate unusable, as
    /// PROTOCOL.certkeys requires.
    static let honouredCriticalOptions: Set<String> = ["source-address"]

    let authorities: any CertificateLookup

    func check(_ certificate: OpenSSHCertificate, login: String, clientHost: String, now: Date = Date()) -> Verdict {
        guard certificate.kind == .user else { return .refused(reason: "certificate-not-user", detail: "a host certificate") }
        let authority: TrustedClientAuthority
        do {
            guard let trusted = try authorities.trustedClientAuthority(fingerprint: certificate.caFingerprint) else {
                return .refused(reason: "certificate-untrusted-ca", detail: "signed by \(certificate.caFingerprint), not a trusted client CA")
            }
            authority = trusted
        } catch {
            return .storeUnavailable
        }
        do {
            try certificate.verifySignature()
        } catch {
            return .refused(reason: "certificate-bad-signature", detail: error.message)
        }
        let seconds = UInt64(max(0, now.timeIntervalSince1970))
        if seconds < certificate.validAfter {
            return .refused(reason: "certificate-not-yet-valid", detail: "valid from \(Self.time(certificate.validAfter))")
        }
        if seconds >= certificate.validBefore {
            return .refused(reason: "certificate-expired", detail: "expired at \(Self.time(certificate.validBefore))")
        }
        guard certificate.principals.contains(login) else {
            return .refused(reason: "certificate-wrong-principal", detail: "principals \(certificate.principals.map { "\"\($0)\"" }.joined(separator: ", ")) do not include the login")
        }
        for option in certificate.criticalOptions {
            guard Self.honouredCriticalOptions.contains(option.name) else {
                return .refused(reason: "certificate-unsupported-option", detail: "critical option \"\(option.name)\" cannot be honoured")
            }
        }
        if let option = certificate.criticalOptions.first(where: { $0.name == "source-address" }) {
            guard let list = option.textValue else {
                return .refused(reason: "certificate-bad-option", detail: "source-address is not a list of addresses")
            }
            var ranges: [AddressRange] = []
            for item in list.split(separator: ",") {
                guard let range = AddressRange(String(item)) else {
                    return .refused(reason: "certificate-bad-option", detail: "source-address holds \"\(item.prefix(60))\", not an address or CIDR")
                }
                ranges.append(range)
            }
            guard ranges.contains(where: { $0.contains(clientHost) }) else {
                return .refused(reason: "certificate-source-address", detail: "the client address is not in source-address \(list)")
            }
        }
        do {
            if try authorities.isCertificateRevoked(authority: authority.name, serial: certificate.serial, keyID: certificate.keyID) {
                return .refused(reason: "certificate-revoked", detail: "serial \(certificate.serial) or key id is revoked")
            }
        } catch {
            return .storeUnavailable
        }
        return .accepted(Acceptance(
            authority: authority.name, keyID: certificate.keyID, serial: certificate.serial,
            permissions: CertificatePermissions(extensions: certificate.extensions.map(\.name))))
    }

    private static func time(_ seconds: UInt64) -> String {
        guard seconds < UInt64(Int64.max / 2) else { return "forever" }
        return ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
