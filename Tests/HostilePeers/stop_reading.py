#!/usr/bin/env python3
"""A client that promises to take everything and then stops reading: it opens a session with
a 1 GiB window, starts `cat /dev/zero` upstream, says "ready" and stops itself (SIGSTOP), so its
TCP socket fills while the proxy still sees an open window. The caller measures the proxy and
then ends this process.

usage: stop_reading.py PORT USER PASSWORD
"""
import os
import signal
import socket
import sys

import paramiko


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    transport = paramiko.Transport(sock)
    transport.connect(username=user, password=password)
    channel = transport.open_session(window_size=1 << 30, max_packet_size=32768)
    channel.exec_command("cat /dev/zero")
    channel.recv(1)
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
