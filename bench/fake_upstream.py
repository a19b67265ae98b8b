#!/usr/bin/env python3
"""The scale benchmark's upstream: one asyncssh server process standing in for many sshd.

    python3 bench/fake_upstream.py --port PORT --host-key FILE --authorized-keys FILE

It accepts a public-key login with any key in the authorized-keys file (the route's key, which
Switchboard logs in with, and the client key, for the direct path) and serves two kinds of
session, cheaply enough that one process can hold the other end of 10,000 of them:

- a shell (with or without a PTY): writes the prompt "$ " once, then echoes what it reads, and
  otherwise stays idle until the client closes it;
- `exec true`: exits at once with status 0 (the sessions-per-second measure).

Any other command exits with status 127. It runs in a process of its own so that its CPU and
memory are not counted as the proxy's; it prints "ready" on standard output once it listens and
runs until it is terminated.
"""
import argparse
import asyncio
import gc
import signal
import sys

import asyncssh

PROMPT = "$ "
# The same key exchange and cipher as bench.py pins, on both of the proxy's legs and direct,
# and an ed25519 host key everywhere: asyncssh would otherwise pick the proxy's RSA key, whose
# signature costs the proxy milliseconds per login (OpenSSH prefers ed25519).
KEX = ["curve25519-sha256"]
CIPHERS = ["aes128-gcm@openssh.com"]
HOST_KEY_ALGS = ["ssh-ed25519"]


class Session(asyncssh.SSHServerSession):
    """One session channel: an idle echoing shell or a `true` that exits at once."""

    def __init__(self):
        self.channel = None
        self.command = None

    def connection_made(self, channel):
        self.channel = channel

    def pty_requested(self, term_type, term_size, term_modes):
        return True

    def shell_requested(self):
        return True

    def exec_requested(self, command):
        self.command = command
        return True

    def session_started(self):
        if self.command is None:
            self.channel.write(PROMPT)
        else:
            self.channel.exit(0 if self.command.strip() == "true" else 127)

    def data_received(self, data, datatype):
        self.channel.write(data)

    def eof_received(self):
        self.channel.exit(0)
        return False


class Server(asyncssh.SSHServer):
    def session_requested(self):
        return Session()


async def serve(port, host_key, authorized_keys):
    server = await asyncssh.listen(
        "127.0.0.1", port, server_factory=Server, server_host_keys=[host_key],
        authorized_client_keys=authorized_keys, kex_algs=KEX, encryption_algs=CIPHERS,
        compression_algs=None, allow_pty=True, line_editor=False, agent_forwarding=False, x11_forwarding=False,
        keepalive_interval=0, login_timeout=120, backlog=4096)
    print("ready", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host-key", required=True, help="private host key file")
    parser.add_argument("--authorized-keys", required=True, help="authorized_keys file of the keys allowed to log in")
    args = parser.parse_args()
    asyncssh.set_log_level("WARNING")
    # Thousands of long-lived connections make every full collection walk them all; collecting
    # rarely keeps those pauses out of the measured login times.
    gc.set_threshold(100_000, 50, 1000)
    asyncio.run(serve(args.port, args.host_key, args.authorized_keys))


if __name__ == "__main__":
    sys.exit(main())
