import Foundation
import RouteStore

/// What the CLI's `sessions` commands and the admin API share about sessions: reading a
/// "since" duration and waiting for a session an operator asked to end.
public enum SessionControl {
    /// "90s", "30m", "2h", "7d" in seconds; nil if it is not one of those.
    public static func seconds(in text: String) -> TimeInterval? {
        guard let unit = text.last, let number = Double(text.dropLast()), number >= 0, number.isFinite else { return nil }
        switch unit {
        case "s": return number
        case "m": return number * 60
        case "h": return number * 3600
        case "d": return number * 86400
        default: return nil
        }
    }

    /// Waits up to `seconds` for session `id` to end (after `requestKill`); the ended record, or
    /// nil if it still runs.
    public static func waitForEnd(of id: Int64, in store: some SessionAudit, seconds: Double) throws(RouteStoreError) -> SessionRecord? {
        let started = Date()
        while Date().timeIntervalSince(started) < seconds {
            if let record = try store.sessions(matching: SessionFilter(id: id)).first, record.endedAt != nil { return record }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }
}
