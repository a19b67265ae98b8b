#!/usr/bin/env python3
"""Sends text that is not UTF-8 where SSH carries bytes: the password, an environment value
and the command itself, all with the Latin-1 byte 0xE9 ("é"). Run against sshd directly and
through the proxy: both must see the same bytes.

usage: raw_bytes.py PORT USER PASSWORD_HEX
Prints the hex of the environment value and of a byte string in the command, as the remote
side received them (`od`), or "login refused".
"""
import socket
import sys

import paramiko


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=30))
    transport.start_client(timeout=30)
    try:
        transport.auth_password(user, password, fallback=False)
    except paramiko.AuthenticationException:
        print("login refused")
        return 0
    channel = transport.open_session()
    channel.set_environment_variable(b"SB_BYTES", b"caf\xe9")
    channel.exec_command(b"printf %s \"$SB_BYTES\" | od -An -tx1; printf '%s' 'caf\xe9' | od -An -tx1")
    output = b""
    while True:
        chunk = channel.recv(4096)
        if not chunk:
            break
        output += chunk
    print(" ".join(output.decode().split()))
    transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
