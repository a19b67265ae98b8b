#!/usr/bin/env python3
"""A client that ignores the flow-control windows: on CHANNELS session channels running
`sleep 60` upstream (which reads nothing), it sends MEGABYTES MiB of CHANNEL_DATA in all, round
robin, without looking at the window the proxy granted.

usage: ignore_window.py PORT USER PASSWORD CHANNELS MEGABYTES
Prints the MiB it managed to send before the proxy closed the connection.
"""
import socket
import sys

import paramiko
from paramiko.common import cMSG_CHANNEL_DATA
from paramiko.message import Message


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    channels, megabytes = int(sys.argv[4]), int(sys.argv[5])
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=60))
    transport.connect(username=user, password=password)
    opened = []
    for _ in range(channels):
        channel = transport.open_session(timeout=30)
        channel.exec_command("sleep 60")
        opened.append(channel)
    chunk = b"z" * 32768
    sent = 0
    try:
        while sent < megabytes << 20 and transport.is_active():
            for channel in opened:
                message = Message()
                message.add_byte(cMSG_CHANNEL_DATA)
                message.add_int(channel.remote_chanid)
                message.add_string(chunk)
                transport._send_user_message(message)
                sent += len(chunk)
    except (EOFError, OSError, paramiko.SSHException):
        pass
    transport.close()
    print(sent >> 20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
