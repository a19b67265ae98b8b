#ifndef SWITCHBOARD_THREAD_MEMORY_H
#define SWITCHBOARD_THREAD_MEMORY_H

#include <stddef.h>

/// Releases the calling thread's stack pages below its current frame (less `margin` bytes)
/// and the free pages of the malloc heap. Needs glibc (pthread_getattr_np, malloc_trim).
void switchboard_release_unused_memory(size_t margin);

/// Releases the calling thread's stack pages below the page holding its current frame (less
/// the few bytes the release itself runs in), and nothing else: cheap enough for a thread about
/// to sleep (one madvise, no heap walk).
void switchboard_release_unused_stack(void);

/// Runs the program again in this process (execv of /proc/self/exe: same pid, arguments and
/// environment) with `setting` ("name=value") added to GLIBC_TUNABLES, which glibc reads only
/// when a program starts. Does nothing if GLIBC_TUNABLES already names the tunable (an
/// operator's own choice, or the second start) or under valgrind. Returns only if it did
/// nothing or the exec failed, with the environment as it was.
void switchboard_restart_with_glibc_tunable(const char *setting);

/// Frees OpenSSL's state of the calling thread (OPENSSL_thread_stop): its random generators
/// and error queue. OpenSSL makes them again, smaller, when the thread next needs them (libssh
/// asks for random padding with every packet it sends; only a key exchange needs the private
/// generator).
void switchboard_release_crypto_thread_state(void);

#endif
