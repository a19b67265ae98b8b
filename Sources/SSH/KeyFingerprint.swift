import CCertCrypto
import Foundation

/// SHA-256 fingerprints of key blobs.
enum KeyFingerprint {
    /// "SHA256:" and the unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it.
    static func sha256(of blob: [UInt8]) -> String {
        let text = Data(SHA256Digest.of(blob)).base64EncodedString()
        return "SHA256:" + text.prefix { $0 != "=" }
    }
}

/// SHA-256 through OpenSSL, for callers outside this layer (e.g. hashing admin API tokens).
public enum SHA256Digest {
    /// The 32-byte digest of `bytes`.
    public static func of(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let rc = switchboard_sha256(bytes, bytes.count, &digest)
        precondition(rc == 1, "OpenSSL could not compute SHA-256")
        return digest
    }
}
