#!/usr/bin/env python3
"""Side-by-side benchmark: direct OpenSSH, OpenSSH ProxyJump through a bastion sshd, and
Switchboard, all on this machine's loopback, measured in the same run.

    sudo bench/bench.py            # full run (512 MiB transfers, 1000 idle sessions, 30 s load)
    sudo bench/bench.py --smoke    # a quick run that checks the benchmark itself works

It starts its own upstream and bastion sshd, creates the user `sbbench` with a key, builds and
starts a release Switchboard (and a second one whose store is a throw-away PostgreSQL, for the
login rate of a cluster node), and prints a table of medians and ratios. The first Switchboard
also has a route that logs in upstream with a certificate its own CA signs for each login (the
upstream sshd trusts the CA with TrustedUserCAKeys), timed and rated next to the route-key login
and direct OpenSSH. With --out DIR it writes results.json and a chart (PNG, needs matplotlib)
there. Every path uses the same client key, so setup times compare like with like. Loops are
bounded; everything it starts is stopped at exit.
SWITCHBOARD_BIN=PATH uses that switchboard binary instead of building one.
"""
import argparse
import os
import signal
import sys

import measure
import report
from lab import PATHS, Lab


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the benchmark runs")
    parser.add_argument("--out", help="directory for results.json and chart.png")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it starts sshd and creates the user sbbench)")
    size, repeats, setups, idle, rate_seconds, workers = (
        (8, 1, 3, 20, 3, 4) if args.smoke else (512, 3, 15, 1000, 30, 64))

    # SIGTERM unwinds like Ctrl-C, so the lab cleans up either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with Lab() as lab:
        lab.start_switchboard(certificate_route=True)
        # The same proxy with its store in PostgreSQL (a cluster's node), for the login rate.
        lab.start_switchboard(database=lab.start_postgresql())
        results = {"machine": os.uname().nodename, "cores": os.cpu_count(), "smoke": args.smoke,
                   "throughput": measure.throughput(lab, size, repeats),
                   "throughput_default_ciphers": measure.throughput(lab, size, repeats, ciphers="default"),
                   "ciphers": {setting: measure.negotiated_ciphers(lab, setting) for setting in ("pinned", "default")},
                   "setup_seconds": measure.setup_times(lab, setups, PATHS + ["switchboard-certificate"]),
                   "password_login_seconds": measure.password_login_times(lab, setups),
                   "idle": measure.idle_sessions(lab, idle, 2 if args.smoke else 10),
                   "rate": {p: measure.session_rate(lab, p, seconds, workers)
                            for p, seconds in [("direct", rate_seconds), ("switchboard", rate_seconds),
                                               # CI's smoke run has a tight budget: 1 s shows this path works.
                                               ("switchboard-certificate", 1 if args.smoke else rate_seconds),
                                               ("switchboard-postgresql", rate_seconds)]}}

    report.print_table(results)
    if args.out:
        report.write_results(results, args.out)
    failures = sum(rate["failures"] for rate in results["rate"].values())
    print(f"bench: {'smoke ' if args.smoke else ''}run complete, {failures} failed sessions")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
