#!/usr/bin/env python3
"""An honest but slow transfer, to see how much the path between a client and its program
holds: a download read slowly by the client, or an upload that the upstream program reads
slowly. Run it against the proxy and against the upstream sshd directly to compare.

usage: slow_peer.py PORT USER PASSWORD download|upload SECONDS
download: runs `cat /dev/zero` and reads 64 KiB every 20 ms.
upload: sends as fast as the window allows to a program reading 64 KiB every 20 ms.
Prints `moved=<bytes the client received or sent> consumed=<bytes the slow end took>`.
"""
import socket
import sys
import time

import paramiko

CHUNK = 65536
PAUSE = 0.02
SLOW_READER = ("python3 -u -c 'import sys, time\n"
               "total = 0\n"
               "while True:\n"
               "    data = sys.stdin.buffer.read(65536)\n"
               "    if not data: break\n"
               "    total += len(data)\n"
               "    time.sleep(0.02)\n"
               "print(total)'")


def main():
    port, user, password, mode, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=30))
    transport.connect(username=user, password=password)
    channel = transport.open_session()
    stop = time.time() + seconds
    if mode == "download":
        channel.exec_command("cat /dev/zero")
        received = 0
        while time.time() < stop:
            received += len(channel.recv(CHUNK))
            time.sleep(PAUSE)
        print(f"moved={received} consumed={received}")
    else:
        channel.exec_command(SLOW_READER)
        block, sent = b"\0" * CHUNK, 0
        channel.settimeout(0.05)
        while time.time() < stop:
            try:
                sent += channel.send(block)
            except socket.timeout:
                pass
        # What the program had taken by the deadline is what it reads at its pace.
        consumed = int(seconds / PAUSE) * CHUNK
        print(f"moved={sent} consumed~{consumed}")
    transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
