import Foundation
import XCTest

@testable import RouteStore

/// The CA tables on both backends: the signing CA's life (init, rotate, retire), trusted client
/// CAs and revocations, and the certificate settings of routes.
final class CertificateStoreTests: StoreTestCase {
    private static let fingerprints = (1...4).map { "SHA256:" + String(repeating: Character(String($0)), count: 43) }

    private func authority(_ index: Int) -> SigningAuthority {
        SigningAuthority(
            publicKey: "ssh-ed25519 AAAA\(index) ca-\(index)", fingerprint: Self.fingerprints[index], keyFile: "/tmp/ca-\(index)",
            state: .signing)
    }

    func testTheSigningCAIsInitialisedOnceRotatedAndRetired() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            XCTAssertNil(try store.signingAuthority(), backend.name)
            XCTAssertThrowsError(try store.addNextSigningAuthority(authority(1)), backend.name)
            XCTAssertThrowsError(try store.retireSigningAuthority(), backend.name)
            let first = try store.addFirstSigningAuthority(authority(1))
            XCTAssertEqual(try store.signingAuthority()?.id, first.id, backend.name)
            XCTAssertEqual(try? store.addFirstSigningAuthority(authority(2)), nil, "a second init must be refused (\(backend.name))")

            XCTAssertThrowsError(try store.retireSigningAuthority(), "retire without a rotation (\(backend.name))")
            let next = try store.addNextSigningAuthority(authority(2))
            XCTAssertEqual(next.state, .next, backend.name)
            XCTAssertThrowsError(try store.addNextSigningAuthority(authority(3)), "two rotations at once (\(backend.name))")
            XCTAssertEqual(try store.signingAuthority()?.fingerprint, first.fingerprint, "the old CA signs during the overlap")
            XCTAssertEqual(try store.activeSigningAuthorities().map(\.fingerprint), [first.fingerprint, next.fingerprint], backend.name)

            let (retired, signing) = try store.retireSigningAuthority()
            XCTAssertEqual(retired.fingerprint, first.fingerprint, backend.name)
            XCTAssertEqual(signing.fingerprint, next.fingerprint, backend.name)
            XCTAssertEqual(try store.signingAuthority()?.fingerprint, next.fingerprint, backend.name)
            XCTAssertEqual(try store.activeSigningAuthorities().map(\.fingerprint), [next.fingerprint], backend.name)
            let all = try store.allSigningAuthorities()
            XCTAssertEqual(all.map(\.state), [.retired, .signing], backend.name)
            XCTAssertNil(all[0].keyFile, "a retired CA keeps no private key (\(backend.name))")
            XCTAssertNotNil(all[0].retiredAt, backend.name)
        }
    }

    func testAnInvalidSigningCAIsRefusedAndNothingIsWritten() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            var noKey = authority(1)
            noKey.keyFile = nil
            XCTAssertThrowsError(try store.addFirstSigningAuthority(noKey), backend.name)
            var badFingerprint = authority(1)
            badFingerprint.fingerprint = "MD5:00"
            XCTAssertThrowsError(try store.addFirstSigningAuthority(badFingerprint), backend.name)
            XCTAssertEqual(try store.allSigningAuthorities(), [], backend.name)
        }
    }

    func testClientCAsAreTrustedByNameAndKeyOnceAndRevocationsMatchSerialOrKeyID() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let corp = TrustedClientAuthority(name: "corp", keyType: "ssh-ed25519", keyBase64: "AAAA1", fingerprint: Self.fingerprints[1])
            try store.trustClientAuthority(corp)
            XCTAssertEqual(try store.trustedClientAuthority(fingerprint: Self.fingerprints[1])?.name, "corp", backend.name)
            XCTAssertNil(try store.trustedClientAuthority(fingerprint: Self.fingerprints[2]), backend.name)
            var sameName = corp
            sameName.fingerprint = Self.fingerprints[2]
            XCTAssertThrowsError(try store.trustClientAuthority(sameName), backend.name) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "ca-exists")
            }
            var sameKey = corp
            sameKey.name = "corp-again"
            XCTAssertThrowsError(try store.trustClientAuthority(sameKey), backend.name)
            var badName = corp
            badName.name = "bad name"
            badName.fingerprint = Self.fingerprints[3]
            XCTAssertThrowsError(try store.trustClientAuthority(badName), backend.name) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "invalid-ca")
            }
            XCTAssertEqual(try store.trustedClientAuthorities().map(\.name), ["corp"], backend.name)

            XCTAssertFalse(try store.isCertificateRevoked(authority: "corp", serial: 42, keyID: "laptop"), backend.name)
            XCTAssertThrowsError(try store.revoke(CertificateRevocation(authority: "nobody", match: .serial(1))), backend.name)
            _ = try store.revoke(CertificateRevocation(authority: "corp", match: .serial(UInt64.max)))
            _ = try store.revoke(CertificateRevocation(match: .keyID("laptop")))
            XCTAssertTrue(try store.isCertificateRevoked(authority: "corp", serial: UInt64.max, keyID: "x"), backend.name)
            XCTAssertFalse(try store.isCertificateRevoked(authority: "other", serial: UInt64.max, keyID: "x"), "a serial is per CA")
            XCTAssertTrue(try store.isCertificateRevoked(authority: "other", serial: 1, keyID: "laptop"), "a key id for every CA")
            XCTAssertEqual(try store.revocations().map(\.match), [.serial(UInt64.max), .keyID("laptop")], backend.name)

            try store.untrustClientAuthority(named: "corp")
            XCTAssertNil(try store.trustedClientAuthority(fingerprint: Self.fingerprints[1]), backend.name)
            XCTAssertEqual(try store.revocations().map(\.match), [.keyID("laptop")], "the CA's own revocations go with it")
            XCTAssertThrowsError(try store.untrustClientAuthority(named: "corp"), backend.name) { error in
                XCTAssertEqual((error as? RouteStoreError)?.code, "ca-not-found")
            }
        }
    }

    func testRoutesKeepTheirUpstreamAuthenticationAndRefuseWhatCannotWork() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let route = try store.add(Route(
                login: "alice", upstreamHost: "10.0.0.5", upstreamAuth: .certificate, certificatePrincipal: "alice@corp",
                certificateLifetime: 120))
            XCTAssertEqual(route.upstreamAuth, .certificate, backend.name)
            XCTAssertEqual(route.effectiveCertificatePrincipal, "alice@corp", backend.name)
            XCTAssertEqual(route.effectiveCertificateLifetime, 120, backend.name)
            let cleared = try store.update(login: "alice", with: RouteChanges(
                upstreamAuth: .some(nil), certificatePrincipal: .some(nil), certificateLifetime: .some(nil)))
            XCTAssertNil(cleared.upstreamAuth, backend.name)
            XCTAssertEqual(cleared.effectiveCertificatePrincipal, "alice", backend.name)
            XCTAssertEqual(cleared.effectiveCertificateLifetime, Route.defaultCertificateLifetime, backend.name)

            let refusals: [(RouteChanges, String)] = [
                (RouteChanges(upstreamAuth: .some(.key)), "invalid-upstream-auth"),
                (RouteChanges(certificatePrincipal: .some("bad principal")), "invalid-principal"),
                (RouteChanges(certificateLifetime: .some(5)), "invalid-upstream-auth"),
                (RouteChanges(certificateLifetime: .some(100_000)), "invalid-upstream-auth"),
            ]
            for (changes, code) in refusals {
                XCTAssertThrowsError(try store.update(login: "alice", with: changes), backend.name) { error in
                    XCTAssertEqual((error as? RouteStoreError)?.code, code, "\(changes)")
                }
            }
            XCTAssertThrowsError(try store.add(Route(login: "*", upstreamHost: "10.0.0.9", upstreamAuth: .certificate)), backend.name)
            XCTAssertEqual(try store.route(for: "alice"), cleared, "a refused change must leave the route as it was")
        }
    }
}

/// A route's access rules on both backends: written, read back the same, changed one at a time,
/// turned off, and refused when they cannot work.
final class AccessPolicyStoreTests: StoreTestCase {
    func testAccessRulesRoundTripAndRefuseWhatCannotWork() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            let policy = AccessPolicy(
                allowFrom: try AccessPolicy.addressRanges(parsing: "10.0.0.0/8, 2001:db8::/32"),
                schedule: try AccessSchedule(parsing: "Mon-Fri 08:00-19:00 Europe/Berlin"),
                validFrom: try AccessPolicy.moment(parsing: "2026-12-01"), validUntil: try AccessPolicy.moment(parsing: "2027-03-31T18:00:00+01:00"),
                maxSessions: 2, allowedChannels: try ChannelKind.set(parsing: "sftp,subsystem:netconf,pty"))
            let added = try store.add(Route(login: "alice", upstreamHost: "10.0.0.5", access: policy))
            XCTAssertEqual(added.access, policy, backend.name)
            XCTAssertEqual(try store.route(for: "alice")?.access, policy, backend.name)

            let changed = try store.update(login: "alice", with: RouteChanges(access: AccessPolicyChanges(maxSessions: .some(5))))
            XCTAssertEqual(changed.access.maxSessions, 5, backend.name)
            XCTAssertEqual(changed.access.schedule, policy.schedule, "other rules stay (\(backend.name))")
            let off = try store.update(login: "alice", with: RouteChanges(access: AccessPolicyChanges(
                allowFrom: [], schedule: .some(nil), validFrom: .some(nil), validUntil: .some(nil), maxSessions: .some(nil),
                allowedChannels: .some(nil))))
            XCTAssertEqual(off.access, .open, backend.name)

            let refusals: [AccessPolicyChanges] = [
                AccessPolicyChanges(validFrom: .some(try AccessPolicy.moment(parsing: "2027-01-01")),
                                    validUntil: .some(try AccessPolicy.moment(parsing: "2026-01-01"))),
                AccessPolicyChanges(maxSessions: .some(0)),
                AccessPolicyChanges(maxSessions: .some(AccessPolicy.maximumSessions + 1)),
                AccessPolicyChanges(allowedChannels: .some([])),
            ]
            for changes in refusals {
                XCTAssertThrowsError(try store.update(login: "alice", with: RouteChanges(access: changes)), backend.name) { error in
                    XCTAssertEqual((error as? RouteStoreError)?.code, "invalid-policy", "\(changes)")
                }
            }
            XCTAssertEqual(try store.route(for: "alice")?.access, .open, "a refused change writes nothing (\(backend.name))")
        }
        XCTAssertThrowsError(try AccessPolicy.addressRanges(parsing: "10.0.0.0/33"))
        XCTAssertThrowsError(try AccessPolicy.moment(parsing: "tomorrow"))
        XCTAssertThrowsError(try ChannelKind.set(parsing: "shell,teleport"))
        XCTAssertThrowsError(try ChannelKind.set(parsing: "subsystem:"))
        XCTAssertEqual(ChannelKind.text(of: try ChannelKind.set(parsing: "subsystem:sftp,exec")), "exec,sftp")
    }
}

/// `--max-sessions` counts running sessions in the shared audit, on both backends.
final class SessionCountingTests: StoreTestCase {
    func testRunningSessionsAreCountedPerLoginAndBeforeAnID() throws {
        try forEachBackend { backend in
            let store = try backend.openStore()
            func start(_ login: String) throws -> Int64 {
                try store.recordStart(SessionRecord(
                    login: login, clientAddress: "192.0.2.1", clientPort: 40000, upstreamHost: "10.0.0.5", upstreamPort: 22,
                    upstreamUser: login, authMethod: "password", nodeID: "n1"))
            }
            let first = try start("alice")
            let second = try start("alice")
            _ = try start("bob")
            XCTAssertEqual(try store.runningSessions(of: "alice", startedBefore: nil), 2, backend.name)
            XCTAssertEqual(try store.runningSessions(of: "alice", startedBefore: second), 1, backend.name)
            XCTAssertEqual(try store.runningSessions(of: "alice", startedBefore: first), 0, backend.name)
            try store.recordEnd(id: first, SessionEnd(bytesToUpstream: 0, bytesToClient: 0, exitStatus: nil, reason: "client-closed"))
            XCTAssertEqual(try store.runningSessions(of: "alice", startedBefore: nil), 1, backend.name)
        }
    }
}
