import CThreadMemory

/// Gives back memory a connection thread needed only while logging in, or while busy. Key
/// exchanges and logins run deep call chains (libssh, OpenSSL) whose stack pages would
/// otherwise stay resident for the thread's whole life, and they free many temporary heap
/// blocks that glibc would keep; an idle session would carry both for hours.
enum ThreadMemory {
    /// Call on the connection's thread once the login is complete, before the relay starts.
    static func releaseAfterLogin() {
        switchboard_release_unused_memory(4 * 1024)
    }
}
