#!/usr/bin/env python3
"""Writes the PROXY protocol seeds of Fuzz/Corpus/proxy-protocol: v1 lines and binary v2 headers,
valid ones and edge cases. Run it again after changing it; the files it writes are committed."""
import os
import socket
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
BANNER = b"SSH-2.0-OpenSSH_9.2\r\n"
folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Corpus", "proxy-protocol")


def v2(command, family, block):
    """A v2 header: signature, version 2 with `command`, `family`, the block's length, the block."""
    return SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(block)) + block


def ipv4_block(source, destination, source_port, destination_port):
    return socket.inet_pton(socket.AF_INET, source) + socket.inet_pton(socket.AF_INET, destination) + struct.pack("!HH", source_port, destination_port)


def ipv6_block(source, destination, source_port, destination_port):
    return socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, destination) + struct.pack("!HH", source_port, destination_port)


tcp4 = ipv4_block("192.0.2.7", "198.51.100.1", 40000, 2222)
tcp6 = ipv6_block("2001:db8::5", "2001:db8::1", 40001, 22)
seeds = {
    "v1-tcp4": b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 2222\r\n" + BANNER,
    "v1-tcp6": b"PROXY TCP6 2001:db8::5 2001:db8::1 40001 22\r\n" + BANNER,
    "v1-tcp6-mapped": b"PROXY TCP6 ::ffff:192.0.2.7 ::ffff:198.51.100.1 1 65535\r\n",
    "v1-unknown": b"PROXY UNKNOWN\r\n" + BANNER,
    "v1-unknown-addresses": b"PROXY UNKNOWN 192.0.2.7 198.51.100.1 40000 2222\r\n",
    "v1-longest": b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
    "v1-overlong": b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
    "v1-port-too-big": b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 22\r\n",
    "v1-nul-in-host": b"PROXY TCP4 192.0.2.7\x00x 198.51.100.1 40000 2222\r\n",
    "v1-lf-only": b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 2222\n" + BANNER,
    "v2-tcp4": v2(0x1, 0x11, tcp4) + BANNER,
    "v2-udp4": v2(0x1, 0x12, tcp4),
    "v2-tcp6": v2(0x1, 0x21, tcp6) + BANNER,
    "v2-tcp6-mapped": v2(0x1, 0x21, ipv6_block("::ffff:192.0.2.7", "::1", 443, 22)),
    "v2-tcp4-tlvs": v2(0x1, 0x11, tcp4 + b"\x04\x00\x03abc" + b"\x02\x00\x0bexample.com"),
    "v2-local": v2(0x0, 0x00, b"") + BANNER,
    "v2-local-with-block": v2(0x0, 0x11, tcp4),
    "v2-unspec": v2(0x1, 0x00, b""),
    "v2-unix": v2(0x1, 0x31, b"/run/a".ljust(108, b"\x00") + b"/run/b".ljust(108, b"\x00")),
    "v2-tcp4-short-block": v2(0x1, 0x11, tcp4[:8]),
    "v2-truncated": v2(0x1, 0x21, tcp6)[:30],
    "v2-version-1": SIGNATURE + bytes([0x11, 0x11, 0, 12]) + tcp4,
    "not-a-header": BANNER,
}
os.makedirs(folder, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(folder, name), "wb") as seed:
        seed.write(data)
print(f"{len(seeds)} seeds in {folder}")
