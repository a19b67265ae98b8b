import RouteStore
import XCTest

@testable import Proxy

/// What `switchboard key add` accepts as a client key.
final class CredentialsTests: XCTestCase {
    private let plain = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIZ24oZnmg8LIIiZAWCF6binADTMrJS2NmncuN9bq69 listed"
    private let certificate = """
        ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIKsxrTVTKhpGGWX6z3FxvI+SnDX3MycBEvtfUilm3OWQAAAAIGLM+lVN2hzkYf77n74k+voHo/9/Fma8Yl3/cI1cNKkBAAAAAAAAAAAAAAABAAAABHRlc3QAAAAJAAAABWFsaWNlAAAAAAAAAAD//////////wAAAAAAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAAAAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbmcAAAAAAAAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1wdHkAAAAAAAAADnBlcm1pdC11c2VyLXJjAAAAAAAAAAAAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIMBOodjZgP0Rken4/e+fYc+/UkwPIIsJdHBP1XyblguYAAAAUwAAAAtzc2gtZWQyNTUxOQAAAECiQPpvMpFZinh20GWIH3dyOGIDpzOxxKEGvhmnNfhVE6J+tBLmUw49SFhj1E8PvODmnR7PGc+QbhUcYFOSwcgN user
        """

    func testAPlainKeyIsListed() throws {
        let keys = try Credentials.clientKeys(fromAuthorizedKeys: plain + "\n", for: "alice")
        XCTAssertEqual(keys.map(\.keyType), ["ssh-ed25519"])
    }

    /// Found by the authorized-keys fuzz target: with CRLF line endings the whole file was one
    /// line, so the first key was listed with every later key in its comment.
    func testWindowsLineEndingsListEveryKey() throws {
        let second = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNAFHCNvrIQNl6ooDVM2it63hZFq1bY/MWoEQbdHin5Bp8040L7HMKNpSyw5NG0Hjurjv5CgSOlK3oKHg/PDF48= second"
        let keys = try Credentials.clientKeys(fromAuthorizedKeys: plain + "\r\n# comment\r\n" + second + "\r\n", for: "alice")
        XCTAssertEqual(keys.map(\.keyType), ["ssh-ed25519", "ecdsa-sha2-nistp256"])
        XCTAssertEqual(keys.map(\.comment), ["listed", "second"])
        XCTAssertThrowsError(try Credentials.clientKeys(fromAuthorizedKeys: plain + "\r\nnot a key\r\n", for: "alice")) { error in
            XCTAssertTrue("\(error)".contains("line 2:"), "\(error)")
        }
    }

    func testACertificateIsRefusedUntilCertificatesAreVerified() {
        XCTAssertThrowsError(try Credentials.clientKeys(fromAuthorizedKeys: plain + "\n" + certificate, for: "alice")) { error in
            XCTAssertTrue("\(error)".contains("line 2: certificates are not supported"), "\(error)")
        }
    }
}

/// Route keys kept in a shared store: encrypted with the cluster secret, opened once per node.
final class StoredRouteKeysTests: XCTestCase {
    func testAStoredKeyOpensWithTheSecretOnlyAndOnce() throws {
        let secret = try ClusterSecret("a-cluster-secret-of-enough-length", source: "test")
        let (encrypted, publicLine) = try Credentials.generateStoredRouteKey(for: "alice", secret: secret)
        XCTAssertTrue(encrypted.contains("BEGIN OPENSSH PRIVATE KEY"))
        XCTAssertTrue(publicLine.hasPrefix("ssh-ed25519 ") && publicLine.hasSuffix(" switchboard-route-alice"), publicLine)

        let keys = StoredRouteKeys(secret: secret)
        let started = ContinuousClock.now
        let opened = try keys.openedKey(encrypted)
        let first = ContinuousClock.now - started
        XCTAssertFalse(opened.isEmpty)
        XCTAssertNotEqual(opened, encrypted, "the opened key is the plain text")
        let again = ContinuousClock.now
        XCTAssertEqual(try keys.openedKey(encrypted), opened)
        XCTAssertLessThan(ContinuousClock.now - again, first, "the second use did not open the key again")

        let stranger = StoredRouteKeys(secret: try ClusterSecret("another-secret-of-enough-length", source: "test"))
        XCTAssertThrowsError(try stranger.openedKey(encrypted), "another secret opens nothing")
        XCTAssertThrowsError(try ClusterSecret("short", source: "test"), "a short secret is refused")
        XCTAssertThrowsError(try Credentials.generateStoredRouteKey(for: "*", secret: secret), "never for the catch-all route")
    }
}
