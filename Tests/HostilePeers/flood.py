#!/usr/bin/env python3
"""Floods one connection: CHANNELS channel opens without waiting for the answers, then REQUESTS
want-reply `env` requests of SIZE bytes on one session channel without waiting for the
replies. Then checks that a fresh channel on the same connection still runs a command.

usage: flood.py PORT USER PASSWORD CHANNELS REQUESTS SIZE
Prints "opened=N requests_answered=M ok" on success.
"""
import socket
import sys
import time

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    channels, requests, size = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=60))
    transport.connect(username=user, password=password)
    opened = []
    for _ in range(channels):
        try:
            opened.append(transport.open_session(timeout=30))
        except paramiko.ChannelException:
            pass
    count = len(opened)
    for channel in opened:
        channel.close()
    time.sleep(0.5)

    target = transport.open_session(timeout=30)
    value = "x" * size
    for index in range(requests):
        request = Message()
        request.add_byte(cMSG_CHANNEL_REQUEST)
        request.add_int(target.remote_chanid)
        request.add_string("env")
        request.add_boolean(True)
        request.add_string(f"SB_FLOOD_{index}")
        request.add_string(value)
        transport._send_user_message(request)
    time.sleep(3)  # the proxy works through what it was sent while the channel stays open
    target.close()

    check = transport.open_session(timeout=60)
    check.exec_command("echo alive")
    output = check.makefile("rb").read()
    transport.close()
    if output != b"alive\n":
        print(f"opened={count} unexpected answer {output!r}")
        return 1
    print(f"opened={count} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
