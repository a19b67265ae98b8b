#!/usr/bin/env python3
"""A client that logs in with an OpenSSH user certificate it has altered, which the OpenSSH
client refuses to load. paramiko checks nothing in a certificate (PKey.load_certificate only
compares the type name), so it sends whatever blob it is given and signs the session with the
user's private key: the session signature is good, only the certificate is forged.

usage: forged_certificate.py PORT LOGIN KEY CERT MODE
  KEY   the user's private key (the key the certificate certifies)
  CERT  a certificate for KEY made by `ssh-keygen -s` (the *-cert.pub file)
  MODE  what to do to the certificate before sending it:
    unmodified            send it as it is (the control: paramiko can log in with a certificate)
    tampered-signature    flip one byte inside the CA signature's raw bytes
    resigned-by-stranger  keep the CA key, replace the signature with another ed25519 key's
                          signature over the same signed bytes
    extended-validity     set valid_before to the far future (for an expired certificate)
    added-principal       append LOGIN to the principals (for a certificate for someone else)
    host-certificate      send it as it is (for a host certificate, `ssh-keygen -h`)
    garbage-after-type    the certificate's type name followed by random bytes
    garbage-after-key     the type, nonce and certified key, then random bytes (libssh reads
                          only that far, so the session signature verifies and the proxy's own
                          parser gets the rest)

Prints one line of JSON: {"mode", "accepted", "error"}; exits 0 once the attempt was made.
"""
import base64
import json
import os
import socket
import struct
import sys

import paramiko
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# How many length-prefixed fields of the certified key follow the nonce, per certificate type.
KEY_FIELDS = {
    "ssh-ed25519-cert-v01@openssh.com": 1,  # pk
    "ssh-rsa-cert-v01@openssh.com": 2,  # e, n
    "ecdsa-sha2-nistp256-cert-v01@openssh.com": 2,  # curve, Q
    "ecdsa-sha2-nistp384-cert-v01@openssh.com": 2,
    "ecdsa-sha2-nistp521-cert-v01@openssh.com": 2,
}
FAR_FUTURE = 0xFFFFFFFFFFFFFFFF


def string(data):
    if isinstance(data, str):
        data = data.encode()
    return struct.pack(">I", len(data)) + data


class Reader:
    def __init__(self, data):
        self.data, self.offset = data, 0

    def take(self, count):
        if self.offset + count > len(self.data):
            raise ValueError("truncated certificate")
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def uint32(self):
        return struct.unpack(">I", self.take(4))[0]

    def uint64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def string(self):
        return self.take(self.uint32())


def parse(blob):
    """The certificate's fields in wire order (PROTOCOL.certkeys)."""
    reader = Reader(blob)
    cert = {"type": reader.string().decode(), "nonce": reader.string()}
    cert["key"] = [reader.string() for _ in range(KEY_FIELDS[cert["type"]])]
    cert["serial"] = reader.uint64()
    cert["kind"] = reader.uint32()
    cert["key_id"] = reader.string()
    principals = Reader(reader.string())
    cert["principals"] = []
    while principals.offset < len(principals.data):
        cert["principals"].append(principals.string())
    cert["valid_after"] = reader.uint64()
    cert["valid_before"] = reader.uint64()
    cert["critical_options"] = reader.string()
    cert["extensions"] = reader.string()
    cert["reserved"] = reader.string()
    cert["signature_key"] = reader.string()
    cert["signature"] = reader.string()
    if reader.offset != len(blob):
        raise ValueError("bytes after the signature")
    return cert


def signed_bytes(cert):
    """Everything before the signature: what the CA signs."""
    return (string(cert["type"]) + string(cert["nonce"]) + b"".join(string(field) for field in cert["key"])
            + struct.pack(">QI", cert["serial"], cert["kind"]) + string(cert["key_id"])
            + string(b"".join(string(p) for p in cert["principals"]))
            + struct.pack(">QQ", cert["valid_after"], cert["valid_before"])
            + string(cert["critical_options"]) + string(cert["extensions"]) + string(cert["reserved"])
            + string(cert["signature_key"]))


def serialise(cert):
    return signed_bytes(cert) + string(cert["signature"])


def forge(mode, blob, login):
    """The blob to send for `mode`, made from the certificate `blob`."""
    if mode == "garbage-after-type":
        return string(parse(blob)["type"]) + os.urandom(48)
    if mode == "garbage-after-key":
        cert = parse(blob)
        return string(cert["type"]) + string(cert["nonce"]) + b"".join(string(field) for field in cert["key"]) + os.urandom(48)
    cert = parse(blob)
    if serialise(cert) != blob:
        raise ValueError("the parser does not round-trip this certificate")
    if mode in ("unmodified", "host-certificate"):
        return blob
    if mode == "tampered-signature":
        signature = Reader(cert["signature"])
        algorithm, raw = signature.string(), bytearray(signature.string())
        raw[len(raw) // 2] ^= 0x01
        cert["signature"] = string(algorithm) + string(bytes(raw))
    elif mode == "resigned-by-stranger":
        stranger = Ed25519PrivateKey.generate()
        cert["signature"] = string("ssh-ed25519") + string(stranger.sign(signed_bytes(cert)))
    elif mode == "extended-validity":
        cert["valid_before"] = FAR_FUTURE
    elif mode == "added-principal":
        cert["principals"].append(login.encode())
    else:
        raise ValueError(f"unknown mode {mode}")
    return serialise(cert)


def main():
    port, login, key_path, cert_path, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    key = paramiko.PKey.from_path(key_path)
    with open(cert_path) as file:
        cert_type, cert_base64 = file.read().split()[:2]
    blob = forge(mode, base64.b64decode(cert_base64), login)
    # load_certificate checks only that the blob's first string names the line's type.
    key.load_certificate(f"{cert_type} {base64.b64encode(blob).decode()}")
    accepted, error = False, ""
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port), timeout=30))
    # Refusals come within about a second; only the blob libssh drops unanswered waits this out.
    transport.auth_timeout = 4
    try:
        transport.start_client(timeout=30)
        transport.auth_publickey(login, key)
        accepted = transport.is_authenticated()
    except (paramiko.SSHException, EOFError, OSError) as failure:
        error = f"{type(failure).__name__}: {failure}"
    finally:
        transport.close()
    print(json.dumps({"mode": mode, "accepted": accepted, "error": error}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
