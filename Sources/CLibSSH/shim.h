#include <libssh/libssh.h>
#include <libssh/server.h>
#include <libssh/callbacks.h>

/*
 * The message accessors below are marked deprecated in 0.10.6 (in favour of callbacks that cannot
 * defer their reply), but they are the only way to read a queued message (pty size, password,
 * public key). These wrappers keep the deprecation warning out of every Swift build.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static inline const char *switchboard_msg_pty_term(ssh_message msg) { return ssh_message_channel_request_pty_term(msg); }
static inline int switchboard_msg_pty_width(ssh_message msg) { return ssh_message_channel_request_pty_width(msg); }
static inline int switchboard_msg_pty_height(ssh_message msg) { return ssh_message_channel_request_pty_height(msg); }
static inline int switchboard_msg_pty_pxwidth(ssh_message msg) { return ssh_message_channel_request_pty_pxwidth(msg); }
static inline int switchboard_msg_pty_pxheight(ssh_message msg) { return ssh_message_channel_request_pty_pxheight(msg); }
static inline const char *switchboard_msg_auth_password(ssh_message msg) { return ssh_message_auth_password(msg); }
static inline ssh_key switchboard_msg_auth_pubkey(ssh_message msg) { return ssh_message_auth_pubkey(msg); }
static inline enum ssh_publickey_state_e switchboard_msg_auth_publickey_state(ssh_message msg) { return ssh_message_auth_publickey_state(msg); }
#pragma GCC diagnostic pop

