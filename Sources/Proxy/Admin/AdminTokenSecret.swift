import Foundation
import SSH

/// The secret text of an admin API token: made once by `switchboard token create`, shown once,
/// and kept by the store only as its SHA-256 (a token carries 256 random bits, so a fast hash
/// is as safe as a slow one and costs nothing per request).
public enum AdminTokenSecret {
    /// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
    public static let prefix = "sbt_"

    /// A new token: the prefix and 32 bytes from the system's CSPRNG in unpadded base64url.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let text = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return prefix + text
    }

    /// The hex SHA-256 the store looks a token up by.
    public static func hash(_ token: String) -> String {
        SHA256Digest.of(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
