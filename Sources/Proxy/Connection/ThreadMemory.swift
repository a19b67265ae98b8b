import CThreadMemory

/// Gives back memory a connection thread needed only while logging in, or while busy. Key
/// exchanges and logins run deep call chains (libssh, OpenSSL) whose stack pages would
/// otherwise stay resident for the thread's whole life, and they free many temporary heap
/// blocks that glibc would keep; an idle session would carry both for hours.
public enum ThreadMemory {
    /// glibc's per-thread cache of freed blocks (tcache) keeps up to 7 blocks of each size up
    /// to 1,032 bytes for the thread that freed them, for the thread's whole life: a connection
    /// thread's key exchange and login free hundreds of such blocks, and an idle session kept
    /// about 23 KiB of them (measured at 500 idle terminal sessions). Caching only blocks of up
    /// to 64 bytes keeps the fast path for the small objects that come and go while relaying
    /// and sends the rest back to the shared heap.
    static let mallocThreadCache = "glibc.malloc.tcache_max=64"

    /// Call first thing in `serve`, before any other thread starts: glibc reads its tunables
    /// only when a program starts, so this runs the program again in the same process (same
    /// pid, arguments and environment) with `mallocThreadCache` added to GLIBC_TUNABLES, once.
    /// An operator's own `glibc.malloc.tcache_max` in GLIBC_TUNABLES is kept as it is. Returns
    /// only if nothing needed doing or the restart failed (then the proxy runs with glibc's
    /// defaults).
    public static func restartWithSmallMallocCaches() {
        switchboard_restart_with_glibc_tunable(mallocThreadCache)
    }

    /// Call on the connection's thread once the login is complete, before the relay starts.
    static func releaseAfterLogin() {
        switchboard_release_unused_memory(4 * 1024)
    }

    /// Call on the connection's thread before it sleeps through a quiet spell: the relay's
    /// sleeping frames fit in fewer stack pages than a pass that moved traffic touched (libssh's
    /// packet and channel callbacks run below the poll), and OpenSSL's per-thread random
    /// generators are rebuilt only when the next packet goes out. One system call, no heap walk.
    static func releaseWhileIdle() {
        switchboard_release_unused_stack()
        switchboard_release_crypto_thread_state()
    }
}
