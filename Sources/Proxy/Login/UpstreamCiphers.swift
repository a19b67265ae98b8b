import Foundation

/// The cipher preference for the proxy's own connections to upstream hosts. The client picks
/// the cipher of its leg; the upstream leg is the proxy's choice, and every relayed byte is
/// encrypted once more on it, so it should be the cheapest strong cipher on this CPU: AES-GCM
/// where the processor has AES instructions, ChaCha20-Poly1305 where it has not. (libssh's
/// default puts ChaCha20 first; with AES instructions, AES-GCM relays downloads about 20%
/// faster on the benchmark machine, see docs/PERFORMANCE.md.)
enum UpstreamCiphers {
    static let aesFirst = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"
    static let chachaFirst = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr"

    /// The list for this machine, decided once.
    static let preferred = hasAESInstructions(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
        ? aesFirst : chachaFirst

    /// True if a `/proc/cpuinfo` text lists AES instructions: `aes` among the x86 `flags` or the
    /// ARM `Features`.
    static func hasAESInstructions(cpuinfo: String) -> Bool {
        cpuinfo.split(separator: "\n").contains { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return false }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            guard key == "flags" || key == "Features" else { return false }
            return parts[1].split(separator: " ").contains("aes")
        }
    }
}
