#include "tls_shim.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

// Writes the oldest queued OpenSSL error (or `fallback`) to `error`, then empties the queue.
static void take_error(const char *fallback, char *error, size_t error_length) {
    unsigned long code = ERR_get_error();
    if (error != NULL && error_length > 0) {
        if (code != 0) {
            ERR_error_string_n(code, error, error_length);
        } else {
            strncpy(error, fallback, error_length - 1);
            error[error_length - 1] = '\0';
        }
    }
    ERR_clear_error();
}

// Refuses every passphrase request, so an encrypted key fails instead of prompting on a terminal.
static int no_passphrase(char *buffer, int size, int rwflag, void *userdata) {
    (void)buffer; (void)size; (void)rwflag; (void)userdata;
    return 0;
}

// Milliseconds on the monotonic clock.
static long long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

struct ssl_ctx_st *switchboard_tls_context_new(const char *certificate_chain_file, const char *key_file,
                                               enum switchboard_tls_context_failure *failure,
                                               char *error, size_t error_length) {
    ERR_clear_error();
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (context == NULL) {
        *failure = SWITCHBOARD_TLS_CONTEXT_FAILED;
        take_error("cannot create a TLS context", error, error_length);
        return NULL;
    }
    SSL_CTX_set_default_passwd_cb(context, no_passphrase);
    if (SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1) {
        *failure = SWITCHBOARD_TLS_CONTEXT_FAILED;
        goto fail;
    }
    SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(context, 0);
    if (SSL_CTX_use_certificate_chain_file(context, certificate_chain_file) != 1) {
        *failure = SWITCHBOARD_TLS_CERTIFICATE_UNUSABLE;
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(context, key_file, SSL_FILETYPE_PEM) != 1) {
        *failure = SWITCHBOARD_TLS_KEY_UNUSABLE;
        goto fail;
    }
    if (SSL_CTX_check_private_key(context) != 1) {
        *failure = SWITCHBOARD_TLS_KEY_MISMATCH;
        goto fail;
    }
    *failure = SWITCHBOARD_TLS_CONTEXT_OK;
    ERR_clear_error();
    return context;
fail:
    take_error("OpenSSL refused the setting", error, error_length);
    SSL_CTX_free(context);
    return NULL;
}

void switchboard_tls_context_free(struct ssl_ctx_st *context) {
    SSL_CTX_free(context);
}

struct ssl_st *switchboard_tls_accept(struct ssl_ctx_st *context, int fd, int timeout_ms,
                                      char *error, size_t error_length) {
    ERR_clear_error();
    SSL *connection = SSL_new(context);
    if (connection == NULL || SSL_set_fd(connection, fd) != 1) {
        take_error("cannot create a TLS connection", error, error_length);
        SSL_free(connection);
        return NULL;
    }
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int rc = SSL_accept(connection);
        if (rc == 1) {
            ERR_clear_error();
            return connection;
        }
        int reason = SSL_get_error(connection, rc);
        if (reason != SSL_ERROR_WANT_READ && reason != SSL_ERROR_WANT_WRITE) {
            take_error(reason == SSL_ERROR_SYSCALL ? "connection closed during the TLS handshake"
                                                   : "TLS handshake failed", error, error_length);
            SSL_free(connection);
            return NULL;
        }
        long long remaining = deadline - now_ms();
        struct pollfd entry = { .fd = fd, .events = reason == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT };
        int ready = remaining > 0 ? poll(&entry, 1, (int)remaining) : 0;
        if (ready == 0 || (ready < 0 && errno != EINTR)) {
            take_error("TLS handshake timed out", error, error_length);
            SSL_free(connection);
            return NULL;
        }
    }
}

// Maps the result of SSL_read or SSL_write to a count or a switchboard_tls_io.
static int io_result(SSL *connection, int rc) {
    if (rc > 0) return rc;
    int reason = SSL_get_error(connection, rc);
    ERR_clear_error();
    switch (reason) {
    case SSL_ERROR_WANT_READ: return SWITCHBOARD_TLS_IO_WANTS_READ;
    case SSL_ERROR_WANT_WRITE: return SWITCHBOARD_TLS_IO_WANTS_WRITE;
    case SSL_ERROR_ZERO_RETURN: return SWITCHBOARD_TLS_IO_CLOSED;
    default: return SWITCHBOARD_TLS_IO_FAILED;
    }
}

int switchboard_tls_read(struct ssl_st *connection, void *buffer, int length) {
    ERR_clear_error();
    return io_result(connection, SSL_read(connection, buffer, length));
}

int switchboard_tls_write(struct ssl_st *connection, const void *buffer, int length) {
    ERR_clear_error();
    return io_result(connection, SSL_write(connection, buffer, length));
}

int switchboard_tls_pending(struct ssl_st *connection) {
    return SSL_pending(connection);
}

void switchboard_tls_shutdown(struct ssl_st *connection) {
    ERR_clear_error();
    if (SSL_is_init_finished(connection)) SSL_shutdown(connection);
    ERR_clear_error();
}

void switchboard_tls_free(struct ssl_st *connection) {
    SSL_free(connection);
}
