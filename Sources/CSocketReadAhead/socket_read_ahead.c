// See include/socket_read_ahead.h for why this exists and the rules callers follow.
#define _GNU_SOURCE
#include "socket_read_ahead.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum {
    /// What one recv takes from the kernel: sixteen of libssh's reads.
    chunk_size = 64 * 1024,
    /// Descriptors at or above this are never enabled (the table is virtual memory only).
    max_descriptors = 1 << 20,
};

/// Bytes read from one socket and not handed out yet: `count` of them from `start` in `bytes`.
struct read_ahead {
    unsigned char *bytes;
    size_t start;
    size_t count;
};

/// Enabled sockets by descriptor. An entry is set, used and cleared by the thread that owns the
/// socket; atomics keep a reader on another descriptor from seeing half-written pointers.
static _Atomic(struct read_ahead *) enabled_sockets[max_descriptors];
/// How many entries are set: zero lets poll skip its scan.
static atomic_long enabled_count;

static struct read_ahead *lookup(int fd) {
    if (fd < 0 || fd >= max_descriptors || atomic_load_explicit(&enabled_count, memory_order_relaxed) == 0) return NULL;
    return atomic_load_explicit(&enabled_sockets[fd], memory_order_acquire);
}

static void release_bytes(struct read_ahead *ahead) {
    free(ahead->bytes);
    ahead->bytes = NULL;
    ahead->start = 0;
    ahead->count = 0;
}

static void forget(int fd) {
    if (fd < 0 || fd >= max_descriptors) return;
    struct read_ahead *ahead = atomic_exchange_explicit(&enabled_sockets[fd], NULL, memory_order_acq_rel);
    if (ahead == NULL) return;
    atomic_fetch_sub_explicit(&enabled_count, 1, memory_order_relaxed);
    release_bytes(ahead);
    free(ahead);
}

void switchboard_read_ahead_enable(int fd) {
    if (fd < 0 || fd >= max_descriptors) return;
    struct read_ahead *ahead = calloc(1, sizeof *ahead);
    if (ahead == NULL) return;  // then the socket is simply read as before
    forget(fd);
    atomic_fetch_add_explicit(&enabled_count, 1, memory_order_relaxed);
    atomic_store_explicit(&enabled_sockets[fd], ahead, memory_order_release);
}

unsigned long switchboard_read_ahead_held(int fd) {
    struct read_ahead *ahead = lookup(fd);
    return ahead == NULL ? 0 : ahead->count;
}

static int holds_bytes_for(const struct pollfd *entry) {
    if (!(entry->events & POLLIN)) return 0;
    struct read_ahead *ahead = lookup(entry->fd);
    return ahead != NULL && ahead->count > 0;
}

ssize_t recv(int fd, void *buffer, size_t length, int flags) {
    struct read_ahead *ahead = flags == 0 && length > 0 ? lookup(fd) : NULL;
    if (ahead == NULL) return recvfrom(fd, buffer, length, flags, NULL, NULL);
    if (ahead->count == 0) {
        if (length >= chunk_size) return recvfrom(fd, buffer, length, 0, NULL, NULL);
        if (ahead->bytes == NULL && (ahead->bytes = malloc(chunk_size)) == NULL) {
            return recvfrom(fd, buffer, length, 0, NULL, NULL);
        }
        ssize_t received = recvfrom(fd, ahead->bytes, chunk_size, 0, NULL, NULL);
        if (received <= 0) {
            int saved = errno;
            release_bytes(ahead);
            errno = saved;
            return received;
        }
        ahead->start = 0;
        ahead->count = (size_t)received;
    }
    size_t taken = length < ahead->count ? length : ahead->count;
    memcpy(buffer, ahead->bytes + ahead->start, taken);
    ahead->start += taken;
    ahead->count -= taken;
    if (ahead->count == 0) release_bytes(ahead);
    return (ssize_t)taken;
}

/// Set by the wake signal's handler on the thread it was sent to; read and cleared by poll.
static _Thread_local volatile sig_atomic_t wake_requested;

static void note_wake(int signo) {
    (void)signo;
    wake_requested = 1;
}

void switchboard_poll_wake_install(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = note_wake;
    sigemptyset(&action.sa_mask);
    sigaction(signo, &action, NULL);
}

/// True (once) if the wake signal came since the last look.
static int take_wake(void) {
    if (!wake_requested) return 0;
    wake_requested = 0;
    return 1;
}

static int woken(struct pollfd *fds, nfds_t count) {
    for (nfds_t i = 0; i < count; i++) fds[i].revents = 0;
    return 0;
}

int poll(struct pollfd *fds, nfds_t count, int timeout) {
    if (take_wake()) return woken(fds, count);
    nfds_t holding = 0;
    if (atomic_load_explicit(&enabled_count, memory_order_relaxed) > 0) {
        for (nfds_t i = 0; i < count; i++) holding += holds_bytes_for(&fds[i]) ? 1 : 0;
    }
    if (holding == 0) {
        struct timespec limit = {.tv_sec = timeout / 1000, .tv_nsec = (long)(timeout % 1000) * 1000000L};
        int ready = ppoll(fds, count, timeout < 0 ? NULL : &limit, NULL);
        if (ready < 0 && errno == EINTR && take_wake()) return woken(fds, count);
        return ready;
    }
    // Bytes already held are ready now: report only those sockets, without asking the kernel.
    // The others are polled once these bytes are used up, at most a chunk later.
    for (nfds_t i = 0; i < count; i++) fds[i].revents = holds_bytes_for(&fds[i]) ? POLLIN : 0;
    return (int)holding;
}

int close(int fd) {
    forget(fd);
    return (int)syscall(SYS_close, fd);
}
