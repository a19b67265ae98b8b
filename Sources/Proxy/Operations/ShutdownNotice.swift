import Foundation
import Synchronization

/// How the server asks its connection threads to end. Connection threads sleep in poll with no
/// timeout, so a flag alone would not reach them: each adds `fd` (the read end of a pipe) to
/// its event; once a byte is written it stays readable, waking every poll from then on.
final class ShutdownNotice: Sendable {
    /// The end connection threads watch.
    let fd: Int32
    private let writeEnd: Int32
    private let requested = Atomic<Bool>(false)

    init() {
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "pipe failed: \(String(cString: strerror(errno)))")
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        fd = ends[0]
        writeEnd = ends[1]
    }

    deinit {
        close(fd)
        close(writeEnd)
    }

    var isRequested: Bool { requested.load(ordering: .relaxed) }

    func request() {
        guard !requested.exchange(true, ordering: .relaxed) else { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }
}
