#!/usr/bin/env python3
"""A/B of two Switchboard builds on the same lab: 512 MiB downloads and uploads through each,
ROUNDS times, alternating builds, medians of MiB/s and of the proxy's CPU seconds per GiB.

    sudo bench/ab.py OLD_BINARY NEW_BINARY [ROUNDS]

Build an older commit with e.g. `git worktree add /tmp/old REV && cd /tmp/old &&
swift build -c release --scratch-path .build-old`.
"""
import os
import statistics
import sys

from lab import Lab
from measure import run_transfer

SIZE_MIB = 512


def main():
    binaries, rounds = sys.argv[1:3], int(sys.argv[3]) if len(sys.argv) > 3 else 4
    samples = {(binary, direction): [] for binary in binaries for direction in ("download", "upload")}
    for _ in range(rounds):
        for binary in binaries:
            os.environ["SWITCHBOARD_BIN"] = binary
            with Lab() as lab:
                lab.start_switchboard()
                payload = os.path.join(lab.work, "payload")
                with open(payload, "wb") as f:
                    f.write(os.urandom(SIZE_MIB << 20))
                for direction in ("download", "upload"):
                    elapsed, _, _, proxy_cpu = run_transfer(lab, "switchboard", direction, SIZE_MIB << 20, payload)
                    samples[(binary, direction)].append((SIZE_MIB / elapsed, proxy_cpu / (SIZE_MIB / 1024)))
    for (binary, direction), values in samples.items():
        print(f"{direction:8} {binary}: {statistics.median(v[0] for v in values):.0f} MiB/s, "
              f"proxy {statistics.median(v[1] for v in values):.2f} CPU s/GiB")


if __name__ == "__main__":
    sys.exit(main())
