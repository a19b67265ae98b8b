/// The window libssh 0.10.6 has granted a channel's peer, followed packet by packet and read by
/// read, so that data sent beyond it is noticed at once. libssh itself accepts such data
/// ("accept it anyway" in channels.c) and keeps it, up to 256 MiB per stream; OpenSSH's sshd
/// disconnects the peer instead. libssh does not expose the window it granted, so this repeats
/// its bookkeeping (channels.c of libssh 0.10.6): the window shrinks by every data packet, and
/// libssh tops it up to `base` when a packet leaves the window plus that stream's unread bytes
/// under `refillThreshold`, and when a read leaves the window under it. A later libssh that
/// grants less (0.11 counts unread bytes) keeps every honest peer inside this window.
struct ReceiveWindow {
    /// WINDOWBASE: the window libssh grants when it tops one up.
    static let base = 1_280_000
    /// WINDOWLIMIT: below this, libssh tops the window up.
    static let refillThreshold = base / 2
    /// What a channel starts with: libssh opens channels with 64,000 bytes and accepts the
    /// peer's with 32,000; the larger one covers both.
    static let initial = 64_000

    /// Bytes the peer may still send.
    private(set) var remaining = ReceiveWindow.initial
    /// Bytes the peer sent beyond the window, in all.
    private(set) var excess = 0

    /// A data packet of `count` bytes arrived; `unread` is its stream's unread bytes now,
    /// this packet included.
    mutating func received(_ count: Int, unread: Int) {
        if count > remaining {
            excess += count - remaining
            remaining = 0
        } else {
            remaining -= count
        }
        if remaining + unread < Self.refillThreshold { remaining = max(remaining, Self.base) }
    }

    /// `count` bytes were read from a stream that held `unreadBefore`.
    mutating func read(_ count: Int, requested: Int, unreadBefore: Int) {
        // A read asking for more than is held plus the window first grows it to cover the ask.
        if requested > unreadBefore + remaining { remaining = max(remaining, requested - unreadBefore, Self.base) }
        if remaining < Self.refillThreshold { remaining = max(remaining, Self.base) }
    }
}
