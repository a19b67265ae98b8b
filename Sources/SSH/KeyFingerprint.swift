import CCertCrypto
import Foundation

/// SHA-256 fingerprints of key blobs.
enum KeyFingerprint {
    /// "SHA256:" and the unpadded base64 of the blob's SHA-256, as `ssh-keygen -l` prints it.
    static func sha256(of blob: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let rc = switchboard_sha256(blob, blob.count, &digest)
        precondition(rc == 1, "OpenSSL could not compute SHA-256")
        let text = Data(digest).base64EncodedString()
        return "SHA256:" + text.prefix { $0 != "=" }
    }
}
