#ifndef SWITCHBOARD_TLS_SHIM_H
#define SWITCHBOARD_TLS_SHIM_H

#include <stddef.h>

/// Thin wrappers over OpenSSL 3's libssl for a TLS server on sockets the caller owns. The
/// OpenSSL types stay opaque to Swift: `struct ssl_ctx_st` is an SSL_CTX, `struct ssl_st` an
/// SSL. Error texts come from ERR_error_string_n; every function leaves OpenSSL's error queue
/// empty when it returns, so one connection's failure never shows up in another's.

struct ssl_ctx_st;
struct ssl_st;

/// Which input a failed context creation could not use.
enum switchboard_tls_context_failure {
    SWITCHBOARD_TLS_CONTEXT_OK = 0,
    SWITCHBOARD_TLS_CONTEXT_FAILED = 1,
    SWITCHBOARD_TLS_CERTIFICATE_UNUSABLE = 2,
    SWITCHBOARD_TLS_KEY_UNUSABLE = 3,
    SWITCHBOARD_TLS_KEY_MISMATCH = 4,
};

/// What one non-blocking read or write gave, when it did not move bytes (a positive count).
enum switchboard_tls_io {
    SWITCHBOARD_TLS_IO_CLOSED = 0,
    SWITCHBOARD_TLS_IO_WANTS_READ = -1,
    SWITCHBOARD_TLS_IO_WANTS_WRITE = -2,
    SWITCHBOARD_TLS_IO_FAILED = -3,
};

/// Makes a server context (TLS 1.2 minimum) from a PEM chain file and a PEM key file that must
/// match; on failure returns NULL, sets `failure` and writes a reason to `error`.
struct ssl_ctx_st *switchboard_tls_context_new(const char *certificate_chain_file, const char *key_file,
                                               enum switchboard_tls_context_failure *failure,
                                               char *error, size_t error_length);

/// Frees a context made by switchboard_tls_context_new.
void switchboard_tls_context_free(struct ssl_ctx_st *context);

/// Handshakes as the server on the connected non-blocking socket `fd` within `timeout_ms`;
/// returns the connection, or NULL with a reason in `error` (also on timeout). Never closes `fd`.
struct ssl_st *switchboard_tls_accept(struct ssl_ctx_st *context, int fd, int timeout_ms,
                                      char *error, size_t error_length);

/// Reads up to `length` decrypted bytes without blocking: a count, or a switchboard_tls_io.
int switchboard_tls_read(struct ssl_st *connection, void *buffer, int length);

/// Writes up to `length` bytes without blocking: a count, or a switchboard_tls_io.
int switchboard_tls_write(struct ssl_st *connection, const void *buffer, int length);

/// How many decrypted bytes are buffered, readable without touching the socket.
int switchboard_tls_pending(struct ssl_st *connection);

/// Sends close_notify once, without blocking or waiting for the peer's.
void switchboard_tls_shutdown(struct ssl_st *connection);

/// Frees a connection; its socket stays open (the caller owns it).
void switchboard_tls_free(struct ssl_st *connection);

#endif
