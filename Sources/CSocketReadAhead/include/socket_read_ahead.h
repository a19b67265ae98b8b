#ifndef SWITCHBOARD_SOCKET_READ_AHEAD_H
#define SWITCHBOARD_SOCKET_READ_AHEAD_H

/// Read-ahead for the sockets libssh reads.
///
/// libssh 0.10.6 reads a socket 4,096 bytes at a time (MAX_BUF_SIZE, fixed when it is built)
/// and polls before every read, so a relayed gigabyte cost the proxy about 270,000 recv and as
/// many poll calls per direction. This file defines the process's `recv`, `poll` and `close`
/// (the executable's definitions come before libc's for libssh's calls): on a socket that
/// was enabled here, `recv` takes up to 64 KiB from the kernel at once and hands it out in
/// the sizes asked for, and `poll` reports such a socket readable at once while it still
/// holds bytes. Every other descriptor, and every call with flags, goes straight to the
/// kernel as before.
///
/// Rules: only the thread that reads an enabled socket may close it, and it is closed with
/// close(2) (which forgets its bytes); the buffer exists only while it holds bytes, so an idle
/// socket costs nothing.

/// Enables read-ahead on a connected socket, before libssh first reads it.
void switchboard_read_ahead_enable(int fd);

/// Bytes read from `fd` and not handed out yet (0 for a socket not enabled).
unsigned long switchboard_read_ahead_held(int fd);

/// Waking a thread asleep in libssh's poll. libssh repeats its poll when a signal interrupts it
/// (EINTR), so a signal alone cannot bring a connection thread out of an endless poll. Once
/// this is installed, `signo` delivered to a thread (pthread_kill) makes that thread's current
/// poll, or its next one, return 0 ("nothing ready") once: libssh then returns to its caller,
/// which looks for the reason it was woken. Install once, before sending the signal.
void switchboard_poll_wake_install(int signo);

#endif
