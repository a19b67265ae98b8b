#!/usr/bin/env python3
"""Side-by-side benchmark: direct OpenSSH, OpenSSH ProxyJump through a bastion sshd, and
Switchboard, all on this machine's loopback, measured in the same run.

    sudo bench/bench.py            # full run (512 MiB transfers, 1000 idle sessions, 30 s load)
    sudo bench/bench.py --smoke    # a quick run that checks the benchmark itself works
    sudo bench/bench.py --only terminal-watch   # just the cost of watching a terminal

It starts its own upstream and bastion sshd, creates the user `sbbench` with a key, builds and
starts a release Switchboard (and a second one whose store is a throw-away PostgreSQL, for the
login rate of a cluster node), and prints a table of medians and ratios. The first Switchboard
also has a route that logs in upstream with a certificate its own CA signs for each login (the
upstream sshd trusts the CA with TrustedUserCAKeys), timed and rated next to the route-key login
and direct OpenSSH. A third Switchboard with its admin listener on measures what watching a
terminal costs the relay: a terminal flood over `ssh -tt` direct, through the proxy unwatched,
with a watcher reading the live stream, and with a watcher that never reads; and a paced terminal
(a watcher can keep up with it) unwatched and watched. With --out DIR it
writes results.json and a chart (PNG, needs matplotlib) there. Every path uses the same client
key, so setup times compare like with like. Loops are bounded; everything it starts is stopped
at exit.
SWITCHBOARD_BIN=PATH uses that switchboard binary instead of building one.
"""
import argparse
import http.client
import json
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import measure
import report
from lab import PATHS, USER, Lab, free_port, proxy_environment, switchboard_binary, wait_port
from procfs import process_cpu_seconds

# The ways the terminal output is relayed, in the order each round runs them.
WATCH_PATHS = ["direct", "unwatched", "watched", "stalled"]


class WatchedProxy:
    """A Switchboard with its admin listener on loopback, routing USER to the lab's upstream
    like the lab's own proxy, and an API token. Its process is the lab's to stop."""

    def __init__(self, lab):
        binary = switchboard_binary()
        data = os.path.join(lab.work, "proxy-data-watch")
        sb = lambda *a: subprocess.run([binary, *a, "--data-dir", data], capture_output=True, text=True,
                                       check=True).stdout.strip()
        sb("route", "add", USER, f"127.0.0.1:{lab.upstream}")
        sb("key", "add", USER, lab.key + ".pub")
        lab.authorized.append(sb("route", "keygen", USER))
        lab.write_authorized()
        self.token = sb("token", "create", "--name", "bench")
        self.port, self.admin_port = free_port(), free_port()
        with open(os.path.join(lab.work, "proxy-watch.log"), "w") as log:
            self.process = subprocess.Popen(
                [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--admin-listen", f"127.0.0.1:{self.admin_port}",
                 "--data-dir", data, "--ban-after", "0", "--log-level", "warning"],
                stderr=log, env=proxy_environment())
        lab.procs.append(self.process)
        wait_port(self.port)
        wait_port(self.admin_port)
        self.seen = set()  # the sessions already measured

    def request(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)
        connection.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        return connection, connection.getresponse()

    def new_session(self, timeout=20):
        """The id of the running session not seen before, once the proxy lists it as live."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            connection, response = self.request("/v1/sessions?active=true")
            body = response.read()
            connection.close()
            if response.status != 200:
                raise RuntimeError(f"GET /v1/sessions: {response.status} {body[:200]!r}")
            fresh = [s["id"] for s in json.loads(body)["sessions"] if s.get("live") and s["id"] not in self.seen]
            if fresh:
                self.seen.add(fresh[0])
                return fresh[0]
            time.sleep(0.02)
        raise RuntimeError(f"no new live session listed within {timeout} s")


class StreamWatcher:
    """One operator watching a session through `GET /v1/sessions/{id}/stream`. Once the header
    event has come (the proxy sends it after the watcher is attached), a reading watcher reads
    and discards everything on a thread of its own; a stalled one reads nothing more until
    `finish`, which then takes the rest (to see how the stream ended)."""

    def __init__(self, proxy, session, reading):
        self.connection, self.response = proxy.request(f"/v1/sessions/{session}/stream")
        if self.response.status != 200:
            raise RuntimeError(f"stream of session {session}: {self.response.status} {self.response.read(300)!r}")
        first = self.response.readline()
        if not first.startswith(b"data: {"):
            raise RuntimeError(f"stream of session {session} began with {first[:200]!r}")
        self.response.readline()  # the blank line that ends the event
        self.received, self.tail, self.error = 0, b"", None
        self.thread = threading.Thread(target=self.read_all, daemon=True) if reading else None
        if self.thread:
            self.thread.start()

    def read_all(self):
        try:
            while chunk := self.response.read1(1 << 16):
                self.received += len(chunk)
                self.tail = (self.tail + chunk)[-512:]
        except OSError as error:  # a timeout (the connection's 30 s) or a reset
            self.error = error

    def close(self):
        # The response holds the connection's socket (http.client hands it over on
        # `Connection: close`).
        self.response.close()
        self.connection.close()

    def finish(self, timeout=30):
        """Reads to the end of the stream; returns (bytes received after the header, how it
        ended: the reason of its `end` event, or "cut-off" if it closed without one)."""
        try:
            if self.thread:
                self.thread.join(timeout)
                if self.thread.is_alive():
                    raise RuntimeError(f"the watcher's stream did not end within {timeout} s of the session")
            else:
                self.read_all()
        finally:
            self.close()
        marker = b"event: end\ndata: "
        if marker not in self.tail:
            return self.received, f"error ({self.error})" if self.error else "cut-off"
        return self.received, json.loads(self.tail.rsplit(marker, 1)[1].split(b"\n", 1)[0])["reason"]


def watch_run(lab, proxy, path, output, marks):
    """One `ssh -tt` whose remote command waits for the go-ahead (a file the benchmark makes
    once the session is found and the watcher, if any, attached), notes the time, then runs
    `output`, a shell command writing to the terminal; the client's output goes to /dev/null.
    Returns (seconds from the note to the client's exit, proxy CPU seconds from the go-ahead to
    the end of the watch, what the watcher received and how its stream ended)."""
    go, start = os.path.join(marks, "go"), os.path.join(marks, "start")
    for name in (go, start):
        if os.path.exists(name):
            os.remove(name)
    command = f"for i in $(seq 3000); do [ -e {go} ] && break; sleep 0.01; done; date +%s.%N > {start}; {output}"
    argv = lab.ssh("direct", command, extra=("-tt", "-o", "ServerAliveInterval=0"))
    if path != "direct":
        argv[argv.index("-p") + 1] = str(proxy.port)
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watcher, cpu_before = None, None
    try:
        if path != "direct":
            session = proxy.new_session()
            if path in ("watched", "stalled"):
                watcher = StreamWatcher(proxy, session, reading=path == "watched")
            cpu_before = process_cpu_seconds(proxy.process.pid)
        open(go, "w").close()
        # A plain wait (waitpid) returns at the exit; Popen.wait with a timeout polls in steps
        # of up to 50 ms. The timer bounds it.
        guard = threading.Timer(300, client.kill)
        guard.daemon = True
        guard.start()
        try:
            client.wait()
        finally:
            guard.cancel()
        finished = time.time()
        if client.returncode != 0:
            raise RuntimeError(f"ssh -tt ({path}) exited {client.returncode}: {client.stderr.read().decode(errors='replace')}")
        with open(start) as f:
            started = float(f.read())
        received, end = watcher.finish() if watcher else (None, None)
        cpu = process_cpu_seconds(proxy.process.pid) - cpu_before if cpu_before is not None else None
        return finished - started, cpu, received, end
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        client.stdin.close()
        client.stderr.close()
        if watcher:
            watcher.close()


def terminal_watch(lab, flood_bytes, paced_ticks, repeats):
    """What watching a terminal costs the relay. Terminal output over `ssh -tt`:
    - flood: base64 of `flood_bytes` zeros on one line, as fast as it goes: direct, through a
      Switchboard nobody watches, with one watcher reading the live stream, and with one that
      attached and never reads;
    - paced: 100 kB of the same, then a 10 ms pause, `paced_ticks` times (a busy terminal a
      watcher can follow), through the proxy unwatched and watched.
    `repeats` rounds, every variant once per round. Medians of MB/s (10^6 bytes) and of the
    proxy's CPU per MB; how each watcher's stream ended and what it received."""
    proxy = WatchedProxy(lab)
    encoded = lambda n: 4 * -(-n // 3)  # what base64 -w 0 writes for n bytes
    kinds = {
        "flood": (f"head -c {flood_bytes} /dev/zero | base64 -w 0", encoded(flood_bytes), WATCH_PATHS),
        "paced": (f"for i in $(seq {paced_ticks}); do head -c 75000 /dev/zero | base64 -w 0; sleep 0.01; done",
                  paced_ticks * encoded(75000), ["unwatched", "watched"]),
    }
    # Where the remote command finds its go-ahead and notes when its output begins: somewhere
    # both the user and the benchmark may write.
    marks = tempfile.mkdtemp(prefix="switchboard-bench-watch-")
    user = pwd.getpwnam(USER)
    os.chown(marks, user.pw_uid, user.pw_gid)
    samples = {(kind, path): [] for kind, (_, _, paths) in kinds.items() for path in paths}
    try:
        for _ in range(repeats):
            for kind, path in samples:
                samples[(kind, path)].append(watch_run(lab, proxy, path, kinds[kind][0], marks))
    finally:
        shutil.rmtree(marks, ignore_errors=True)
    results = {"repeats": repeats}
    for (kind, path), runs in samples.items():
        mb = kinds[kind][1] / 1e6
        entry = {"mb_per_s": statistics.median(mb / seconds for seconds, _, _, _ in runs),
                 "mb_per_s_each": [round(mb / seconds, 1) for seconds, _, _, _ in runs]}
        if path != "direct":
            entry["proxy_cpu_ms_per_mb"] = statistics.median(cpu * 1000 / mb for _, cpu, _, _ in runs)
        if path in ("watched", "stalled"):
            entry["watcher_mb"] = statistics.median(received / 1e6 for _, _, received, _ in runs)
            entry["watcher_ends"] = [end for _, _, _, end in runs]
        results.setdefault(kind, {"output_bytes": kinds[kind][1], "command": kinds[kind][0], "paths": {}})["paths"][path] = entry
    return results


def watch_rows(w):
    """The table rows of terminal_watch's results."""
    f, p = w["flood"]["paths"], w["paced"]["paths"]
    speed = {path: f[path]["mb_per_s"] for path in WATCH_PATHS}
    cpu = {path: f[path]["proxy_cpu_ms_per_mb"] for path in WATCH_PATHS[1:]}

    def ratio(a, b):
        # CPU is read in clock ticks (10 ms): a smoke run's small outputs can read 0.
        return f"{a / b:.2f}x" if b else "n/a"

    def ends(entry):
        return ", ".join(f"{end} x{entry['watcher_ends'].count(end)}" for end in sorted(set(entry["watcher_ends"])))

    return [
        (f"terminal flood MB/s, ssh -tt, {w['flood']['output_bytes'] / 1e6:.0f} MB "
         "(direct / switchboard: unwatched / watched / stalled watcher)",
         " / ".join(f"{speed[path]:.0f}" for path in WATCH_PATHS),
         f"{ratio(speed['unwatched'], speed['direct'])} direct; watched {ratio(speed['watched'], speed['unwatched'])}, "
         f"stalled {ratio(speed['stalled'], speed['unwatched'])} unwatched"),
        ("terminal flood proxy CPU ms/MB (unwatched / watched / stalled watcher)",
         " / ".join(f"{cpu[path]:.1f}" for path in WATCH_PATHS[1:]),
         f"watched {ratio(cpu['watched'], cpu['unwatched'])}, stalled {ratio(cpu['stalled'], cpu['unwatched'])} unwatched"),
        ("terminal flood watchers: MB received, how the stream ended (watched / stalled)",
         f"{f['watched']['watcher_mb']:.1f} / {f['stalled']['watcher_mb']:.1f}",
         f"{ends(f['watched'])} / {ends(f['stalled'])}"),
        (f"paced terminal MB/s, {w['paced']['output_bytes'] / 1e6:.0f} MB, 100 kB bursts, 10 ms pauses (unwatched / watched)",
         f"{p['unwatched']['mb_per_s']:.1f} / {p['watched']['mb_per_s']:.1f}",
         ratio(p['watched']['mb_per_s'], p['unwatched']['mb_per_s'])),
        ("paced terminal proxy CPU ms/MB (unwatched / watched)",
         f"{p['unwatched']['proxy_cpu_ms_per_mb']:.1f} / {p['watched']['proxy_cpu_ms_per_mb']:.1f}",
         f"{ratio(p['watched']['proxy_cpu_ms_per_mb'], p['unwatched']['proxy_cpu_ms_per_mb'])}; watcher got "
         f"{p['watched']['watcher_mb']:.1f} MB, {ends(p['watched'])}"),
    ]


def print_rows(rows):
    width = max(len(a) for a, _, _ in rows)
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<28}  {c}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the benchmark runs")
    parser.add_argument("--out", help="directory for results.json and chart.png")
    parser.add_argument("--only", choices=["terminal-watch"], help="run only these rows (no chart)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it starts sshd and creates the user sbbench)")
    size, repeats, setups, idle, rate_seconds, workers = (
        (8, 1, 3, 20, 3, 4) if args.smoke else (512, 3, 15, 1000, 30, 64))
    # Terminal output: bytes of the flood (base64 writes 4/3 of them), how many 100 kB bursts
    # the paced output writes, rounds.
    flood, ticks, watch_repeats = (3_000_000, 10, 1) if args.smoke else (75_000_000, 150, 5)

    # SIGTERM unwinds like Ctrl-C, so the lab cleans up either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with Lab() as lab:
        results = {"machine": os.uname().nodename, "cores": os.cpu_count(), "smoke": args.smoke}
        if not args.only:
            lab.start_switchboard(certificate_route=True)
            # The same proxy with its store in PostgreSQL (a cluster's node), for the login rate.
            lab.start_switchboard(database=lab.start_postgresql())
            results |= {
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
        results["terminal_watch"] = terminal_watch(lab, flood, ticks, watch_repeats)

    print_rows(([] if args.only else report.table_rows(results)) + watch_rows(results["terminal_watch"]))
    if args.out and args.only:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
    elif args.out:
        report.write_results(results, args.out)
    failures = sum(rate["failures"] for rate in results.get("rate", {}).values())
    print(f"bench: {'smoke ' if args.smoke else ''}run complete, {failures} failed sessions")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
