#!/usr/bin/env python3
"""A client that breaks the rules of politeness: on each new session channel it sends a
CHANNEL_REQUEST that wants a reply and closes the channel at once, without waiting for the
answer. Then it checks that the connection still works (an exec on a fresh channel).

usage: request_then_close.py PORT USER PASSWORD [ROUNDS]
Prints "ok" and exits 0 if the proxy survived and still answers on the same connection.
"""
import socket
import sys

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    transport = paramiko.Transport(sock)
    transport.connect(username=user, password=password)
    for index in range(rounds):
        channel = transport.open_session(timeout=30)
        request = Message()
        request.add_byte(cMSG_CHANNEL_REQUEST)
        request.add_int(channel.remote_chanid)
        request.add_string("env" if index % 2 else "exec")
        request.add_boolean(True)
        if index % 2:
            request.add_string("SB_ROUND")
            request.add_string(str(index))
        else:
            request.add_string("true")
        transport._send_user_message(request)
        channel.close()
    channel = transport.open_session(timeout=30)
    channel.exec_command("echo still-here")
    output = channel.makefile("rb").read()
    status = channel.recv_exit_status()
    transport.close()
    if output != b"still-here\n" or status != 0:
        print(f"unexpected answer: {output!r}, status {status}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
