import Foundation
import SSH
import XCTest

/// OpenSSH certificates against the real `ssh-keygen`: what it writes decodes to the same
/// fields and back to the same bytes, and verifies; every damaged byte is caught; what
/// `CertificateSigner` writes, ssh-keygen reads with the same fields.
final class OpenSSHCertificateTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-certs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    // MARK: Certificates made by ssh-keygen

    func testAnEd25519UserCertificateDecodesToWhatWasAskedAndBackToItsBytes() throws {
        let ca = try makeKey("ca", type: "ed25519")
        let user = try makeKey("user", type: "ed25519")
        let (certificate, bytes) = try certify(user, with: ca, [
            "-I", "alice@example.com session 7", "-n", "alice,bob,deploy", "-V", "20240101000000:20350101120000", "-z", "12345",
            "-O", "source-address=127.0.0.1/32,10.0.0.0/8", "-O", "force-command=/usr/bin/printf hi",
            "-O", "critical:zz@example.com=value", "-O", "critical:aa@example.com",
            "-O", "extension:custom@example.com", "-O", "extension:data@example.com=x",
        ])
        XCTAssertEqual(certificate.blob, bytes)
        XCTAssertEqual(certificate.keyType, "ssh-ed25519-cert-v01@openssh.com")
        XCTAssertEqual(certificate.kind, .user)
        XCTAssertEqual(certificate.keyID, "alice@example.com session 7")
        XCTAssertEqual(certificate.principals, ["alice", "bob", "deploy"])
        XCTAssertEqual(certificate.serial, 12345)
        XCTAssertEqual(certificate.validAfter, 1_704_067_200)
        XCTAssertEqual(certificate.validBefore, 2_051_265_600)
        XCTAssertEqual(certificate.nonce.count, 32)
        XCTAssertEqual(certificate.reserved, [])
        XCTAssertEqual(certificate.criticalOptions, [
            .flag("aa@example.com"), .text("force-command", "/usr/bin/printf hi"),
            .text("source-address", "127.0.0.1/32,10.0.0.0/8"), .text("zz@example.com", "value"),
        ])
        XCTAssertEqual(certificate.extensions.map(\.name), [
            "custom@example.com", "data@example.com", "permit-X11-forwarding", "permit-agent-forwarding",
            "permit-port-forwarding", "permit-pty", "permit-user-rc",
        ])
        XCTAssertEqual(certificate.extensions[1].textValue, "x")
        XCTAssertEqual(certificate.plainKeyType, "ssh-ed25519")
        XCTAssertEqual(certificate.plainKeyBlob, try publicKeyBlob(user))
        XCTAssertEqual(certificate.caKeyType, "ssh-ed25519")
        XCTAssertEqual(certificate.signatureKey, try publicKeyBlob(ca))
        XCTAssertEqual(certificate.caFingerprint, try fingerprint(ca))
        XCTAssertEqual(certificate.keyFingerprint, try fingerprint(user))
        XCTAssertEqual(certificate.authorizedLine, try certificateLine(user).split(separator: " ").prefix(2).joined(separator: " "))
        XCTAssertEqual(certificate.signedBytes + wireString(Array(certificate.signature)), bytes)
        try assertListing(of: user, matches: certificate)
        XCTAssertNoThrow(try certificate.verifySignature())
    }

    func testECDSACertificateAuthoritiesOfEveryCurveVerify() throws {
        let user = try makeKey("user", type: "ecdsa", bits: 256)
        for bits in [256, 384, 521] {
            let ca = try makeKey("ca-\(bits)", type: "ecdsa", bits: bits)
            let (certificate, bytes) = try certify(user, with: ca, ["-I", "ecdsa \(bits)", "-n", "alice", "-z", "\(bits)"])
            XCTAssertEqual(certificate.blob, bytes)
            XCTAssertEqual(certificate.keyType, "ecdsa-sha2-nistp256-cert-v01@openssh.com")
            XCTAssertEqual(certificate.plainKeyBlob, try publicKeyBlob(user))
            XCTAssertEqual(certificate.caKeyType, "ecdsa-sha2-nistp\(bits)")
            XCTAssertEqual(certificate.caFingerprint, try fingerprint(ca))
            XCTAssertEqual(certificate.keyFingerprint, try fingerprint(user))
            try assertListing(of: user, matches: certificate)
            XCTAssertNoThrow(try certificate.verifySignature(), "nistp\(bits)")
        }
    }

    func testAnRSACertificateAuthorityVerifiesWithSHA256AndSHA512() throws {
        let ca = try makeKey("ca", type: "rsa", bits: 3072)
        let user = try makeKey("user", type: "rsa", bits: 2048)
        for algorithm in ["rsa-sha2-256", "rsa-sha2-512"] {
            let (certificate, bytes) = try certify(user, with: ca, ["-I", algorithm, "-n", "alice", "-t", algorithm])
            XCTAssertEqual(certificate.blob, bytes)
            XCTAssertEqual(certificate.keyType, "ssh-rsa-cert-v01@openssh.com")
            XCTAssertEqual(certificate.plainKeyType, "ssh-rsa")
            XCTAssertEqual(certificate.plainKeyBlob, try publicKeyBlob(user))
            XCTAssertEqual(certificate.caKeyType, "ssh-rsa")
            var signature = SSHWireReader(certificate.signature)
            XCTAssertEqual(try signature.text(), algorithm)
            try assertListing(of: user, matches: certificate)
            XCTAssertNoThrow(try certificate.verifySignature(), algorithm)
        }
    }

    func testAnSSHRSASignatureIsRefusedAsSHA1() throws {
        let ca = try makeKey("ca", type: "rsa", bits: 3072)
        let user = try makeKey("user", type: "ed25519")
        let (certificate, bytes) = try certify(user, with: ca, ["-I", "sha1", "-n", "alice", "-t", "ssh-rsa"])
        XCTAssertEqual(certificate.blob, bytes)
        XCTAssertThrowsError(try certificate.verifySignature()) { error in
            XCTAssertTrue("\(error)".contains("SHA-1"), "\(error)")
        }
    }

    func testAHostCertificateAndAClearedUserCertificate() throws {
        let ca = try makeKey("ca", type: "ed25519")
        let host = try makeKey("host", type: "ecdsa", bits: 384)
        let (hostCertificate, hostBytes) = try certify(host, with: ca, ["-h", "-I", "host one", "-n", "host.example.com,10.0.0.1"])
        XCTAssertEqual(hostCertificate.blob, hostBytes)
        XCTAssertEqual(hostCertificate.kind, .host)
        XCTAssertEqual(hostCertificate.keyType, "ecdsa-sha2-nistp384-cert-v01@openssh.com")
        XCTAssertEqual(hostCertificate.principals, ["host.example.com", "10.0.0.1"])
        XCTAssertEqual(hostCertificate.extensions, [])
        XCTAssertEqual(hostCertificate.validAfter, 0)
        XCTAssertEqual(hostCertificate.validBefore, .max)
        try assertListing(of: host, matches: hostCertificate)
        XCTAssertNoThrow(try hostCertificate.verifySignature())

        let user = try makeKey("user", type: "ed25519")
        let (cleared, bytes) = try certify(user, with: ca, ["-I", "pty only", "-n", "alice", "-O", "clear", "-O", "permit-pty"])
        XCTAssertEqual(cleared.blob, bytes)
        XCTAssertEqual(cleared.criticalOptions, [])
        XCTAssertEqual(cleared.extensions, [.flag("permit-pty")])
        XCTAssertNil(cleared.extensions[0].textValue)
        try assertListing(of: user, matches: cleared)
        XCTAssertNoThrow(try cleared.verifySignature())
    }

    // MARK: Damage

    func testEverySingleChangedByteIsCaught() throws {
        let user = try makeKey("user", type: "ed25519")
        let authorities = [
            try makeKey("ca-ed25519", type: "ed25519"), try makeKey("ca-ecdsa", type: "ecdsa", bits: 256),
            try makeKey("ca-rsa", type: "rsa", bits: 3072),
        ]
        for ca in authorities {
            let (certificate, bytes) = try certify(user, with: ca, ["-I", "damage", "-n", "alice", "-O", "source-address=127.0.0.1"])
            XCTAssertNoThrow(try certificate.verifySignature())
            for index in bytes.indices {
                for mask: UInt8 in [0x01, 0x80] {
                    var damaged = bytes
                    damaged[index] ^= mask
                    if let decoded = try? OpenSSHCertificate(blob: damaged) {
                        XCTAssertThrowsError(try decoded.verifySignature(), "\(ca.lastPathComponent): byte \(index) ^ \(mask) passed")
                    }
                }
            }
        }
    }

    func testTruncatedBlobsAndTrailingBytesAreRefused() throws {
        let ca = try makeKey("ca", type: "ecdsa", bits: 384)
        let user = try makeKey("user", type: "rsa", bits: 2048)
        let (_, bytes) = try certify(user, with: ca, ["-I", "cut", "-n", "alice"])
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try OpenSSHCertificate(blob: Array(bytes.prefix(length))), "\(length) of \(bytes.count) bytes")
        }
        for tail: [UInt8] in [[0], [0, 0, 0, 0], [0, 0, 0, 1, 0x41]] {
            XCTAssertThrowsError(try OpenSSHCertificate(blob: bytes + tail)) { error in
                XCTAssertTrue("\(error)".contains("unexpected bytes"), "\(error)")
            }
        }
        XCTAssertThrowsError(try OpenSSHCertificate(base64: "not base64!"))
    }

    func testDecodingIsStrict() throws {
        let ca = try makeKey("ca", type: "ed25519")
        let user = try makeKey("user", type: "ed25519")
        let (certificate, _) = try certify(user, with: ca, ["-I", "strict", "-n", "alice"])

        var unsorted = certificate
        unsorted.extensions = [.flag("permit-pty"), .flag("permit-agent-forwarding")]
        var repeated = certificate
        repeated.criticalOptions = [.text("force-command", "a"), .text("force-command", "b")]
        var nulInKeyID = certificate
        nulInKeyID.keyID = "alice\u{0}root"
        var wrongKeySize = certificate
        wrongKeySize.publicKeyFields = wireString(Array(repeating: 7, count: 31))
        var mismatchedCurve = certificate
        mismatchedCurve.keyType = "ecdsa-sha2-nistp256-cert-v01@openssh.com"
        var unsupported = certificate
        unsupported.keyType = "ssh-dss-cert-v01@openssh.com"
        for (name, damaged) in [("unsorted", unsorted), ("repeated", repeated), ("NUL", nulInKeyID), ("key size", wrongKeySize),
                                ("curve", mismatchedCurve), ("type", unsupported)] {
            XCTAssertThrowsError(try OpenSSHCertificate(blob: damaged.blob), name)
        }

        // The kind is the uint32 after the serial; its last byte set to 3 is neither user nor host.
        let kindOffset = 4 + certificate.keyType.utf8.count + 4 + certificate.nonce.count + certificate.publicKeyFields.count + 8 + 3
        var unknownKind = certificate.blob
        unknownKind[kindOffset] = 3
        XCTAssertThrowsError(try OpenSSHCertificate(blob: unknownKind)) { error in
            XCTAssertTrue("\(error)".contains("kind 3"), "\(error)")
        }

        var invalidUTF8 = SSHWireWriter()
        invalidUTF8.string([0x73, 0x73, 0x68, 0xFF])
        XCTAssertThrowsError(try OpenSSHCertificate(blob: invalidUTF8.bytes))
    }

    func testACertificateAuthorityKeyThatIsACertificateIsRefused() throws {
        let ca = try makeKey("ca", type: "ed25519")
        let user = try makeKey("user", type: "ed25519")
        let (certificate, _) = try certify(user, with: ca, ["-I", "chain", "-n", "alice"])
        var chained = certificate
        chained.signatureKey = certificate.blob
        let decoded = try OpenSSHCertificate(blob: chained.blob)
        XCTAssertEqual(decoded.caKeyType, "ssh-ed25519-cert-v01@openssh.com")
        XCTAssertThrowsError(try decoded.verifySignature()) { error in
            XCTAssertTrue("\(error)".contains("itself a certificate"), "\(error)")
        }

        var otherAlgorithm = certificate
        otherAlgorithm.signature = wireString(Array("rsa-sha2-256".utf8)) + wireString(Array(repeating: 1, count: 64))
        XCTAssertThrowsError(try otherAlgorithm.verifySignature()) { error in
            XCTAssertTrue("\(error)".contains("does not belong"), "\(error)")
        }
    }

    // MARK: Signing

    func testCertificatesSignedWithAnSSHKeygenCAReadTheSameInSSHKeygen() throws {
        let ca = try makeKey("ca", type: "ed25519")
        let signer = try CertificateSigner(openSSHPrivateKeyText: String(contentsOf: ca, encoding: .utf8))
        XCTAssertEqual(signer.publicKeyBlob, try publicKeyBlob(ca))
        XCTAssertEqual(signer.publicKey.fingerprint, try fingerprint(ca))
        for (name, type, bits) in [("ed", "ed25519", 0), ("ec", "ecdsa", 521), ("rsa", "rsa", 2048)] {
            let user = try makeKey(name, type: type, bits: bits)
            let certificate = try signedCertificate(for: user, by: signer)
            try assertListing(of: user, matches: certificate)
            XCTAssertNoThrow(try certificate.verifySignature())
            XCTAssertEqual(try OpenSSHCertificate(blob: certificate.blob), certificate)
        }
    }

    func testCertificatesSignedWithALibsshCAReadTheSameInSSHKeygen() throws {
        let caPath = directory.appendingPathComponent("libssh-ca").path
        let caPublicKey = try PrivateKeyFile.generateEd25519(at: caPath, comment: "")
        let signer = try CertificateSigner(openSSHPrivateKeyText: String(contentsOfFile: caPath, encoding: .utf8))
        XCTAssertEqual(signer.publicKey, caPublicKey)
        let user = try makeKey("user", type: "ed25519")
        let certificate = try signedCertificate(for: user, by: signer)
        XCTAssertEqual(certificate.caFingerprint, caPublicKey.fingerprint)
        try assertListing(of: user, matches: certificate)
        XCTAssertNoThrow(try certificate.verifySignature())
    }

    func testTheSignerRefusesKeysItCannotUse() throws {
        let encrypted = try makeKey("encrypted", type: "ed25519", passphrase: "secret words")
        let ecdsa = try makeKey("ecdsa", type: "ecdsa", bits: 256)
        let libsshEncrypted = try PrivateKeyFile.generateEncryptedEd25519(passphrase: "cluster secret", comment: "").encrypted
        let good = try String(contentsOf: makeKey("good", type: "ed25519"), encoding: .utf8)
        let cases: [(text: String, expected: String)] = [
            (try String(contentsOf: encrypted, encoding: .utf8), "encrypted"),
            (libsshEncrypted, "encrypted"),
            (try String(contentsOf: ecdsa, encoding: .utf8), "ecdsa-sha2-nistp256"),
            ("ssh-ed25519 AAAA", "not an OpenSSH private key"),
            (try damaged(good) { sections in sections.checkIntOffset }, "check numbers differ"),
            (try damaged(good) { sections in sections.publicKeyOffset }, "does not belong"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try CertificateSigner(openSSHPrivateKeyText: text)) { error in
                XCTAssertTrue("\(error)".contains(expected), "expected \"\(expected)\" in: \(error)")
            }
        }
    }

    func testTheSignerRefusesACertificateItWouldEncodeWrongly() throws {
        let signer = try CertificateSigner(openSSHPrivateKeyText: String(contentsOf: makeKey("ca", type: "ed25519"), encoding: .utf8))
        let user = try makeKey("user", type: "ed25519")
        var certificate = try unsignedCertificate(for: user)
        certificate.extensions = [.flag("permit-pty"), .flag("permit-agent-forwarding")]
        let before = certificate
        XCTAssertThrowsError(try signer.sign(&certificate)) { error in
            XCTAssertTrue("\(error)".contains("increasing name order"), "\(error)")
        }
        XCTAssertEqual(certificate, before)
    }

    // MARK: Pieces

    func testOptionsAndTheWireReader() throws {
        XCTAssertEqual(CertificateOption.text("force-command", "ls").data, [0, 0, 0, 2, 0x6C, 0x73])
        XCTAssertEqual(CertificateOption.text("force-command", "ls").textValue, "ls")
        XCTAssertEqual(CertificateOption.flag("permit-pty").data, [])
        XCTAssertNil(CertificateOption(name: "x", data: [0, 0, 0, 1, 0x41, 0]).textValue)
        XCTAssertNil(CertificateOption(name: "x", data: [0, 0, 0, 1, 0xFF]).textValue)

        var writer = SSHWireWriter()
        writer.uint32(7)
        writer.uint64(1 << 40)
        writer.string("text")
        writer.string([0x00, 0x80])
        writer.raw([1, 2])
        var reader = SSHWireReader(writer.bytes)
        XCTAssertEqual(try reader.uint32(), 7)
        XCTAssertEqual(try reader.uint64(), 1 << 40)
        XCTAssertEqual(try reader.text(), "text")
        XCTAssertEqual(try reader.mpint(), [0x80])
        XCTAssertThrowsError(try reader.expectEnd())
        XCTAssertThrowsError(try reader.uint32())
        XCTAssertFalse(reader.isAtEnd)

        var huge = SSHWireReader([0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        XCTAssertThrowsError(try huge.string()) { error in
            XCTAssertTrue("\(error)".contains("truncated"), "\(error)")
        }
        var negative = SSHWireReader([0, 0, 0, 1, 0x80])
        XCTAssertThrowsError(try negative.mpint())

        let plainLine = try String(contentsOf: makeKey("plain", type: "ed25519").appendingPathExtension("pub"), encoding: .utf8)
        XCTAssertNil(try PublicKey(authorizedKeysLine: plainLine).certificate)
    }

    // MARK: Helpers

    /// Generates a key pair with ssh-keygen; returns the private key's path (`.pub` beside it).
    private func makeKey(_ name: String, type: String, bits: Int = 0, passphrase: String = "") throws -> URL {
        let path = directory.appendingPathComponent(name)
        var arguments = ["-q", "-t", type, "-N", passphrase, "-C", "", "-f", path.path]
        if bits > 0 { arguments += ["-b", "\(bits)"] }
        _ = try sshKeygen(arguments)
        return path
    }

    /// Signs `key.pub` with the CA `ca` and returns the decoded certificate and its file's bytes.
    private func certify(_ key: URL, with ca: URL, _ arguments: [String]) throws -> (OpenSSHCertificate, [UInt8]) {
        _ = try sshKeygen(["-q", "-s", ca.path] + arguments + [key.path + ".pub"])
        let fields = try certificateLine(key).split(separator: " ")
        let bytes = try XCTUnwrap(Data(base64Encoded: String(fields[1])))
        let certificate = try OpenSSHCertificate(base64: String(fields[1]))
        XCTAssertEqual(String(fields[0]), certificate.keyType)
        return (certificate, Array(bytes))
    }

    private func certificateLine(_ key: URL) throws -> String {
        try String(contentsOfFile: key.path + "-cert.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A user certificate for `key` with some of everything, not signed yet.
    private func unsignedCertificate(for key: URL) throws -> OpenSSHCertificate {
        let plain = try publicKeyBlob(key)
        var reader = SSHWireReader(plain)
        let plainType = try reader.text()
        return OpenSSHCertificate(
            keyType: plainType + "-cert-v01@openssh.com", publicKeyFields: Array(plain.dropFirst(4 + plainType.utf8.count)),
            serial: 987_654_321, kind: .user, keyID: "switchboard:session-42", principals: ["alice", "root"],
            validAfter: 1_700_000_000, validBefore: 2_000_000_000,
            criticalOptions: [.text("force-command", "/usr/bin/id -un"), .text("source-address", "127.0.0.1/32")],
            extensions: [.flag("permit-port-forwarding"), .flag("permit-pty"), .text("x-note@example.com", "hello")])
    }

    private func signedCertificate(for key: URL, by signer: CertificateSigner) throws -> OpenSSHCertificate {
        var certificate = try unsignedCertificate(for: key)
        try signer.sign(&certificate)
        XCTAssertEqual(certificate.signatureKey, signer.publicKeyBlob)
        XCTAssertEqual(certificate.plainKeyBlob, try publicKeyBlob(key))
        try (certificate.authorizedLine + "\n").write(toFile: key.path + "-cert.pub", atomically: true, encoding: .utf8)
        return certificate
    }

    /// `ssh-keygen -L` prints the same fields as the decoded certificate.
    private func assertListing(of key: URL, matches certificate: OpenSSHCertificate, line: UInt = #line) throws {
        let listing = try parseListing(sshKeygen(["-L", "-f", key.path + "-cert.pub"]))
        let kind = certificate.kind == .user ? "user" : "host"
        XCTAssertEqual(listing["Type"], ["\(certificate.keyType) \(kind) certificate"], line: line)
        XCTAssertEqual(listing["Public key"]?.first?.split(separator: " ").last.map(String.init), certificate.keyFingerprint, line: line)
        XCTAssertEqual(listing["Signing CA"]?.first?.split(separator: " ").dropFirst().first.map(String.init), certificate.caFingerprint, line: line)
        XCTAssertEqual(listing["Key ID"], ["\"\(certificate.keyID)\""], line: line)
        XCTAssertEqual(listing["Serial"], ["\(certificate.serial)"], line: line)
        XCTAssertEqual(listing["Valid"], [validity(certificate)], line: line)
        XCTAssertEqual(listing["Principals"], certificate.principals.isEmpty ? ["(none)"] : certificate.principals, line: line)
        let critical = certificate.criticalOptions.map { listed($0, known: ["force-command", "source-address"], flags: ["verify-required"]) }
        XCTAssertEqual(listing["Critical Options"], critical.isEmpty ? ["(none)"] : critical, line: line)
        let knownExtensions = ["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc",
                               "no-touch-required"]
        let extensions = certificate.extensions.map { listed($0, known: [], flags: Set(knownExtensions)) }
        XCTAssertEqual(listing["Extensions"], extensions.isEmpty ? ["(none)"] : extensions, line: line)
    }

    /// An option as `ssh-keygen -L` prints it.
    private func listed(_ option: CertificateOption, known: Set<String>, flags: Set<String>) -> String {
        if flags.contains(option.name) { return option.name }
        if known.contains(option.name) { return "\(option.name) \(option.textValue ?? "?")" }
        if option.data.isEmpty { return "\(option.name) UNKNOWN FLAG OPTION" }
        let hex = option.data.map { String(format: "%02x", $0) }.joined()
        return "\(option.name) UNKNOWN OPTION: \(hex) (len \(option.data.count))"
    }

    /// The "Valid:" value, in UTC (ssh-keygen runs with TZ=UTC here).
    private func validity(_ certificate: OpenSSHCertificate) -> String {
        if certificate.validAfter == 0 && certificate.validBefore == .max { return "forever" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        let date = { (seconds: UInt64) in formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))) }
        return "from \(date(certificate.validAfter)) to \(date(certificate.validBefore))"
    }

    /// `ssh-keygen -L` output as field name -> its value, or the indented lines under it.
    private func parseListing(_ text: String) -> [String: [String]] {
        var fields: [String: [String]] = [:]
        var current: String?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("                "), let current {
                if fields[current] == [""] { fields[current] = [] }
                fields[current, default: []].append(line.trimmingCharacters(in: .whitespaces))
            } else if line.hasPrefix("        "), let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].trimmingCharacters(in: .whitespaces)
                current = name
                fields[name] = [line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)]
            }
        }
        return fields
    }

    /// The public key blob in `key.pub`.
    private func publicKeyBlob(_ key: URL) throws -> [UInt8] {
        let fields = try String(contentsOfFile: key.path + ".pub", encoding: .utf8).split(separator: " ")
        return Array(try XCTUnwrap(Data(base64Encoded: String(fields[1]))))
    }

    /// The fingerprint `ssh-keygen -l` prints for `key.pub`.
    private func fingerprint(_ key: URL) throws -> String {
        String(try sshKeygen(["-l", "-f", key.path + ".pub"]).split(separator: " ")[1])
    }

    private func wireString(_ bytes: [UInt8]) -> [UInt8] {
        var writer = SSHWireWriter()
        writer.string(bytes)
        return writer.bytes
    }

    /// Where things are in an unencrypted openssh-key-v1 file's bytes.
    private struct KeySections {
        let checkIntOffset: Int
        let publicKeyOffset: Int
    }

    /// `text` (an unencrypted ed25519 key) with one byte flipped at the offset `where` picks.
    private func damaged(_ text: String, where pick: (KeySections) -> Int) throws -> String {
        let lines = text.split(separator: "\n")
        var bytes = Array(try XCTUnwrap(Data(base64Encoded: lines.dropFirst().dropLast().joined())))
        let magic = "openssh-key-v1\0".utf8.count
        var reader = SSHWireReader(Array(bytes.dropFirst(magic)))
        _ = try reader.string()  // cipher
        _ = try reader.string()  // kdf
        _ = try reader.string()  // kdf options
        _ = try reader.uint32()  // key count
        _ = try reader.string()  // the public section, ending in the 32-byte public key
        let privateLengthOffset = magic + (bytes.count - magic - reader.remainingCount)
        let sections = KeySections(checkIntOffset: privateLengthOffset + 4, publicKeyOffset: privateLengthOffset - 1)
        bytes[pick(sections)] ^= 0x01
        return "-----BEGIN OPENSSH PRIVATE KEY-----\n\(Data(bytes).base64EncodedString())\n-----END OPENSSH PRIVATE KEY-----\n"
    }

    @discardableResult
    private func sshKeygen(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["TZ": "UTC"]) { $1 }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        let complaint = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolFailure(description: "ssh-keygen \(arguments.joined(separator: " ")): \(String(decoding: complaint, as: UTF8.self))")
        }
        return String(decoding: printed, as: UTF8.self)
    }
}

private struct ToolFailure: Error, CustomStringConvertible {
    let description: String
}
