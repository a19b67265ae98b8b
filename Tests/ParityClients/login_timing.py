#!/usr/bin/env python3
"""Times refused logins, one fresh connection each, to compare names: a client probing which
names exist measures exactly this.

usage: login_timing.py PORT TRIES password|keyboard-interactive USER...
Tries a wrong password (or wrong answers) for each USER in turn, TRIES rounds, and prints a
JSON object mapping each user to its list of seconds from the attempt to the refusal.
"""
import json
import socket
import sys
import time

import paramiko


def attempt(port, user, method):
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=60))
    try:
        transport.start_client(timeout=60)
        started = time.perf_counter()
        try:
            if method == "password":
                transport.auth_password(user, "not-the-password", fallback=False)
            else:
                transport.auth_interactive(user, lambda title, instructions, prompts: ["not-the-password"] * len(prompts))
        except paramiko.AuthenticationException:
            pass
        return time.perf_counter() - started
    finally:
        transport.close()


def main():
    port, tries, method, users = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    seconds = {user: [] for user in users}
    for _ in range(tries):
        for user in users:
            seconds[user].append(round(attempt(port, user, method), 3))
    print(json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
