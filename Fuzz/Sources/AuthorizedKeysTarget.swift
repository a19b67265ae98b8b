import Foundation
import Proxy
import RouteStore
import SSH

/// authorized_keys text given to `switchboard key add` (`Credentials.clientKeys`, which reads
/// each line with libssh through `PublicKey(authorizedKeysLine:)`). Promises: one key per key
/// line (a line ends at a line feed), or an error naming a line that exists; an accepted key
/// writes back to a line that reads as the same key; certificates and DSA keys never pass.
enum AuthorizedKeysTarget {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        for line in lines {
            if let key = try? PublicKey(authorizedKeysLine: line) { requireWellFormed(key, from: line) }
        }
        let keyLines = lines.filter { line in
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            return !trimmed.isEmpty && !trimmed.hasPrefix("#")
        }
        do {
            let keys = try Credentials.clientKeys(fromAuthorizedKeys: text, for: "fuzz")
            require(keys.count == keyLines.count, "\(keys.count) keys from \(keyLines.count) key lines")
        } catch RouteStoreError.invalidKey(let message) {
            if keyLines.isEmpty {
                require(message == "no key found in the input", "no key lines, but: \(message)")
            } else {
                let number = message.split(separator: ":").first.flatMap { Int($0.dropFirst("line ".count)) }
                require(number.map { (1...lines.count).contains($0) } == true, "\"\(message)\" names no line of \(lines.count)")
            }
        } catch {
            require(false, "an error other than invalid-key: \(error)")
        }
    }

    /// What any accepted key must look like, and that it reads back from its own line.
    private static func requireWellFormed(_ key: PublicKey, from line: String) {
        require(key.typeName == line.split(whereSeparator: \.isWhitespace).first.map(String.init), "type \(key.typeName) from \(line)")
        require(!key.typeName.hasSuffix("-cert-v01@openssh.com") && key.typeName != "ssh-dss", "\(key.typeName) accepted")
        require(key.fingerprint.hasPrefix("SHA256:") && key.fingerprint.count == 50, "fingerprint \(key.fingerprint)")
        require(Data(base64Encoded: key.base64) != nil, "key data \(key.base64) is not base64")
        require(!key.comment.contains(where: \.isNewline), "the comment \(Array(key.comment.utf8)) holds a line break")
        let again = try? PublicKey(authorizedKeysLine: key.authorizedKeysLine)
        require(again == key, "\(key.authorizedKeysLine) reads back as \(String(describing: again))")
    }
}
