import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// TCP keepalive: the kernel probes an idle peer after `idleSeconds`, then every 15 s, and
/// gives up after 4 unanswered probes, which ends the session. 0 leaves keepalive off.
func enableKeepalive(on fd: Int32, idleSeconds: Int) {
    guard idleSeconds > 0 else { return }
    var on: Int32 = 1
    var idle = Int32(idleSeconds)
    var interval: Int32 = 15
    var count: Int32 = 4
    let size = socklen_t(MemoryLayout<Int32>.size)
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, size)
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE, &idle, size)
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL, &interval, size)
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT, &count, size)
}
