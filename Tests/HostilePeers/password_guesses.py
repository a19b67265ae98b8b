#!/usr/bin/env python3
"""A password guesser that keeps one connection open and tries wrong passwords one after the
other, the way a brute-force client does to avoid reconnecting.

usage: password_guesses.py PORT USER GUESSES
Prints how many guesses the server answered with a refusal before it closed the connection.
"""
import socket
import sys

import paramiko


def main():
    port, user, guesses = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=30))
    transport.start_client(timeout=30)
    refused = 0
    for index in range(guesses):
        try:
            transport.auth_password(user, f"wrong-{index}", fallback=False)
        except paramiko.AuthenticationException:
            refused += 1
            continue
        except (paramiko.SSHException, EOFError, OSError):
            break
    transport.close()
    print(refused)
    return 0


if __name__ == "__main__":
    sys.exit(main())
