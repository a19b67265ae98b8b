import RouteStore
import XCTest

@testable import Proxy

/// Upstream host key verdicts for each policy, with and without a pin.
final class HostKeyVerifierTests: XCTestCase {
    private func route(pin: String? = nil, policy: HostKeyPolicy? = nil) -> Route {
        Route(login: "alice", upstreamHost: "10.0.0.5", hostKeyFingerprint: pin, hostKeyPolicy: policy)
    }

    private func failure(_ body: () throws(UpstreamFailure) -> HostKeyVerifier.Verdict) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return error.reason
        }
    }

    func testAcceptNewPinsOnFirstUseAndRefusesAChangedKey() throws {
        let verifier = HostKeyVerifier(defaultPolicy: .acceptNew)
        XCTAssertEqual(try verifier.verify("SHA256:a", for: route()), .pinOnSuccess("SHA256:a"))
        XCTAssertEqual(try verifier.verify("SHA256:a", for: route(pin: "SHA256:a")), .pinned)
        XCTAssertEqual(failure { () throws(UpstreamFailure) in try verifier.verify("SHA256:b", for: route(pin: "SHA256:a")) }, "host-key-mismatch")
    }

    func testStrictRefusesWhatIsNotPinned() throws {
        let verifier = HostKeyVerifier(defaultPolicy: .strict)
        XCTAssertEqual(failure { () throws(UpstreamFailure) in try verifier.verify("SHA256:a", for: route()) }, "host-key-not-pinned")
        XCTAssertEqual(try verifier.verify("SHA256:a", for: route(pin: "SHA256:a")), .pinned)
        XCTAssertEqual(failure { () throws(UpstreamFailure) in try verifier.verify("SHA256:b", for: route(pin: "SHA256:a")) }, "host-key-mismatch")
    }

    func testOffChecksNothingEvenAgainstAPin() throws {
        let verifier = HostKeyVerifier(defaultPolicy: .off)
        XCTAssertEqual(try verifier.verify("SHA256:b", for: route(pin: "SHA256:a")), .unchecked("SHA256:b"))
    }

    func testARoutesOwnPolicyWinsOverTheDefault() throws {
        let verifier = HostKeyVerifier(defaultPolicy: .off)
        XCTAssertEqual(failure { () throws(UpstreamFailure) in try verifier.verify("SHA256:a", for: route(policy: .strict)) }, "host-key-not-pinned")
        XCTAssertEqual(try HostKeyVerifier(defaultPolicy: .strict).verify("SHA256:a", for: route(policy: .acceptNew)), .pinOnSuccess("SHA256:a"))
    }
}
