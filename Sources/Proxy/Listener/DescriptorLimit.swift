import Foundation

/// The process's descriptor limit, which bounds how many connections it can serve.
enum DescriptorLimit {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit in force.
    static func raiseToHardLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Descriptors kept for the process itself: listeners, the database, logs, libraries.
    static let reserve = 64

    /// Connections a descriptor limit can carry: each may hold three at once (the client's
    /// socket, the upstream's, and a recording file or an agent socketpair end).
    static func connectionCapacity(descriptorLimit: Int) -> Int {
        max(1, (descriptorLimit - reserve) / 3)
    }
}
