#!/usr/bin/env python3
"""Asks for a terminal twice on one session channel, which OpenSSH's sshd answers by ending
the connection with a reason. Prints the disconnect reason the client received (from
paramiko's log), or "no disconnect".

usage: second_pty.py PORT USER PASSWORD
"""
import logging
import socket
import sys
import time

import paramiko


class Reasons(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith("Disconnect (code"):
            self.seen.append(message.split("): ", 1)[-1])


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    reasons = Reasons()
    logging.getLogger("paramiko").addHandler(reasons)
    logging.getLogger("paramiko").setLevel(logging.INFO)
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=30))
    transport.connect(username=user, password=password)
    channel = transport.open_session()
    channel.get_pty()
    try:
        channel.get_pty()
    except (paramiko.SSHException, EOFError, OSError):
        pass
    deadline = time.time() + 10
    while transport.is_active() and time.time() < deadline:
        time.sleep(0.05)
    print(reasons.seen[0] if reasons.seen else "no disconnect")
    return 0


if __name__ == "__main__":
    sys.exit(main())
