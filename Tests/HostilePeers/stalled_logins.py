#!/usr/bin/env python3
"""Starts many logins and finishes none: each connection makes one wrong password attempt (so
the proxy connects to the upstream for it) and then sits idle, holding that upstream
connection in its login phase — the way one client could fill an upstream's MaxStartups.

usage: stalled_logins.py PORT USER CONNECTIONS HOLD_SECONDS
Writes "holding N" to stderr once every attempt was answered, then holds the connections open
for HOLD_SECONDS and prints how many attempts were answered with a refusal.
"""
import socket
import sys
import threading
import time

import paramiko


def main():
    port, user, count, hold = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    transports, refused, lock = [], [0], threading.Lock()

    def attempt(index):
        try:
            transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=60))
            transport.start_client(timeout=60)
        except (paramiko.SSHException, EOFError, OSError):
            return
        with lock:
            transports.append(transport)
        try:
            transport.auth_password(user, f"wrong-{index}", fallback=False)
        except paramiko.AuthenticationException:
            with lock:
                refused[0] += 1
        except (paramiko.SSHException, EOFError, OSError):
            pass

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"holding {len(transports)}", file=sys.stderr, flush=True)
    time.sleep(hold)
    for transport in transports:
        transport.close()
    print(refused[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
