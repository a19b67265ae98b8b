import Foundation
import RouteStore
import Synchronization

/// Per-source penalty, like OpenSSH's PerSourcePenalties: `limit` failed logins from one
/// source within `window` ban new connections from it for `banDuration`. A source is an IPv4
/// address, or an IPv6 /64 (one host commonly owns a whole /64, so banning a single address
/// would cost an attacker nothing). Shared by all connection threads; guarded by a mutex.
final class SourcePenalties: Sendable {
    struct Settings: Sendable {
        /// Failed logins that trigger a ban; 0 turns the penalty off.
        var limit: Int
        var window: Duration
        var banDuration: Duration
    }

    private struct Record {
        var failures: [ContinuousClock.Instant] = []
        var bannedUntil: ContinuousClock.Instant?
    }

    private let settings: Settings
    private let records = Mutex<[String: Record]>([:])
    /// Told of every ban this node starts, to share it with the other nodes.
    private let banListener = Mutex<(@Sendable (String, Double) -> Void)?>(nil)

    init(settings: Settings) {
        self.settings = settings
    }

    /// True if connections from `address` are refused right now.
    func isBanned(_ address: String, now: ContinuousClock.Instant = .now) -> Bool {
        guard settings.limit > 0 else { return false }
        let source = Self.source(of: address)
        return records.withLock { records in
            guard let until = records[source]?.bannedUntil else { return false }
            if until > now { return true }
            records[source] = nil
            return false
        }
    }

    /// The key a penalty is kept under: the address itself, or its /64 for IPv6.
    static func source(of address: String) -> String {
        guard let bytes = AddressRange.bytes(of: address) else { return address }
        guard bytes.count == 16 else { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }

    /// Counts one failed login from `address`; returns true if this failure started a ban.
    @discardableResult
    func recordFailure(from address: String, now: ContinuousClock.Instant = .now) -> Bool {
        guard settings.limit > 0 else { return false }
        let address = Self.source(of: address)
        let startedBan = records.withLock { records in
            Self.forgetExpired(in: &records, now: now, window: settings.window)
            var record = records[address] ?? Record()
            record.failures = record.failures.filter { now - $0 < settings.window } + [now]
            var startedBan = false
            if record.failures.count >= settings.limit && record.bannedUntil == nil {
                record.bannedUntil = now + settings.banDuration
                record.failures.removeAll()
                startedBan = true
            }
            records[address] = record
            return startedBan
        }
        if startedBan, let listener = banListener.withLock({ $0 }) {
            let duration = settings.banDuration.components
            listener(address, Double(duration.seconds) + Double(duration.attoseconds) / 1e18)
        }
        return startedBan
    }

    /// Calls `listener` (on the failing connection's thread) with each ban this node starts:
    /// the source and the ban's length in seconds.
    func onBan(_ listener: @escaping @Sendable (String, Double) -> Void) {
        banListener.withLock { $0 = listener }
    }

    /// Takes in bans decided by other nodes: (source, seconds left). A longer local ban stays.
    func takeShared(_ bans: [(source: String, seconds: Double)], now: ContinuousClock.Instant = .now) {
        guard settings.limit > 0, !bans.isEmpty else { return }
        records.withLock { records in
            for ban in bans where ban.seconds > 0 {
                let until = now + .milliseconds(Int(ban.seconds * 1000))
                var record = records[ban.source] ?? Record()
                if record.bannedUntil.map({ $0 < until }) ?? true { record.bannedUntil = until }
                records[ban.source] = record
            }
        }
    }

    /// Keeps the table small: drops sources with no recent failure and no ban in force.
    private static func forgetExpired(in records: inout [String: Record], now: ContinuousClock.Instant, window: Duration) {
        records = records.filter { _, record in
            if let until = record.bannedUntil, until > now { return true }
            return record.failures.contains { now - $0 < window }
        }
    }
}
