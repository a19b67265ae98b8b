import Foundation

/// Reads an `strace -f` log of descriptor system calls and finds double closes: a thread that
/// closes a descriptor it already closed, without having opened that number again itself in
/// between. Between the two closes another thread may have been given the same number (a
/// freshly accepted client, another user's upstream, a recording file): the second close then
/// takes it from under that thread.
struct DescriptorTrace {
    /// The system calls to trace: those that create descriptors, and close.
    static let syscalls = "close,socket,accept,accept4,open,openat,pipe,pipe2,socketpair,dup,dup2,dup3,eventfd2,epoll_create1,timerfd_create"

    struct DoubleClose: CustomStringConvertible {
        let thread: Int
        let descriptor: Int
        let result: String
        var description: String { "thread \(thread) closed fd \(descriptor) a second time (= \(result))" }
    }

    private(set) var closes = 0
    private(set) var doubleCloses: [DoubleClose] = []

    init(log: String) {
        var pending: [Int: String] = [:]
        var closedByThread: [Int: Set<Int>] = [:]
        for rawLine in log.split(separator: "\n") {
            guard let space = rawLine.firstIndex(of: " "), let thread = Int(rawLine[..<space]) else { continue }
            var call = rawLine[rawLine.index(after: space)...].trimmingCharacters(in: .whitespaces)
            if call.hasSuffix("<unfinished ...>") {
                pending[thread] = String(call.dropLast("<unfinished ...>".count))
                continue
            }
            if call.hasPrefix("<... "), let resumed = call.range(of: " resumed>") {
                call = (pending.removeValue(forKey: thread) ?? "") + call[resumed.upperBound...]
            }
            // strace pads the result column: `close(7)                = 0`.
            guard let parts = call.firstMatch(of: /^(\w+)\((.*)\)\s+=\s+(.*)$/) else { continue }
            let name = String(parts.1)
            let arguments = parts.2
            let result = parts.3
            let returned = Int(result.prefix { $0 == "-" || $0.isNumber }) ?? -1
            if name == "close" {
                guard let descriptor = Int(arguments.prefix { $0.isNumber }) else { continue }
                closes += 1
                if closedByThread[thread, default: []].contains(descriptor) {
                    doubleCloses.append(DoubleClose(thread: thread, descriptor: descriptor, result: String(result)))
                }
                closedByThread[thread, default: []].insert(descriptor)
            } else {
                var created: [Int] = returned >= 0 ? [returned] : []
                if name == "pipe" || name == "pipe2" || name == "socketpair", let list = arguments.firstMatch(of: /\[(\d+), (\d+)\]/) {
                    created = [Int(list.1)!, Int(list.2)!]
                }
                for descriptor in created { closedByThread[thread]?.remove(descriptor) }
            }
        }
    }
}
