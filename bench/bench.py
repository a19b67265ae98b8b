#!/usr/bin/env python3
"""Side-by-side benchmark: direct OpenSSH, OpenSSH ProxyJump through a bastion sshd, and
Switchboard, all on this machine's loopback, measured in the same run.

    sudo bench/bench.py            # full run (512 MiB transfers, 1000 idle sessions, 30 s load)
    sudo bench/bench.py --smoke    # a quick run that checks the benchmark itself works

It starts its own upstream and bastion sshd, creates the user `sbbench` with a key, builds and
starts a release Switchboard, and prints a table of medians and ratios. With --out DIR it writes
results.json and a chart (PNG, needs matplotlib) there. Every path uses the same client key, so
setup times compare like with like. Loops are bounded; everything it starts is stopped at exit.
"""
import argparse
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = "sbbench"
CLK = os.sysconf("SC_CLK_TCK")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def process_cpu_seconds(pid):
    """User + system CPU of a process and its reaped children, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK


def set_child_subreaper(on):
    """sshd's per-connection processes can outlive their parent; as a subreaper this process
    inherits them and reaps them itself, so their CPU time can be counted (run_transfer)."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)


def children_cpu_seconds(pid):
    """CPU of the reaped descendants of a process (cutime + cstime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[13:15]) / CLK


def child_pids(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(x) for x in f.read().split()}


def shell_times_seconds(text):
    """Sums the two lines bash's `times` prints (the shell's and its children's user/sys)."""
    total = 0.0
    for line in text.strip().splitlines()[-2:]:
        for part in line.split():
            minutes, seconds = part.rstrip("s").split("m")
            total += int(minutes) * 60 + float(seconds)
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def remote_programs(name):
    out = subprocess.run(["pgrep", "-c", "-u", USER, "-x", name], capture_output=True, text=True).stdout
    return int(out.strip() or 0)


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


class Lab:
    def __init__(self, work):
        self.work = work
        self.procs = []
        self.key = os.path.join(work, "client_key")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key])
        if subprocess.run(["id", USER], capture_output=True).returncode != 0:
            run(["useradd", "--create-home", "--shell", "/bin/bash", USER])
        # A new account is locked ("!"), and sshd without PAM refuses even key logins to it.
        run(["usermod", "-p", "*", USER])
        home = f"/home/{USER}/.ssh"
        os.makedirs(home, exist_ok=True)
        self.authorized = [open(self.key + ".pub").read().strip()]
        self.write_authorized()
        os.makedirs("/run/sshd", exist_ok=True)
        self.listeners = {}  # sshd name -> listener pid, for CPU accounting
        self.upstream = self.sshd("upstream")
        self.bastion = self.sshd("bastion")

    def write_authorized(self):
        home = f"/home/{USER}/.ssh"
        with open(f"{home}/authorized_keys", "w") as f:
            f.write("\n".join(self.authorized) + "\n")
        run(["chown", "-R", f"{USER}:{USER}", home])
        os.chmod(home, 0o700)

    def sshd(self, name):
        port = free_port()
        d = os.path.join(self.work, name)
        os.makedirs(d)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/host_key"])
        # Newer OpenSSH limits unauthenticated connections per source; the load test needs many.
        per_source = "PerSourceMaxStartups none\n" if self.supports_per_source() else ""
        with open(f"{d}/sshd_config", "w") as f:
            f.write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/pid
UsePAM no
PasswordAuthentication no
PubkeyAuthentication yes
StrictModes no
MaxStartups 2000
MaxSessions 100
{per_source}""")
        process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", f"{d}/sshd_config", "-E", f"{d}/log"])
        self.procs.append(process)
        self.listeners[name] = process.pid
        wait_port(port)
        return port

    @staticmethod
    def supports_per_source():
        out = subprocess.run(["/usr/sbin/sshd", "-T", "-f", "/dev/null", "-o", "PerSourceMaxStartups=none"],
                             capture_output=True, text=True)
        return out.returncode == 0

    def start_switchboard(self):
        run(["swift", "build", "-c", "release", "--product", "switchboard"], cwd=ROOT, stdout=subprocess.DEVNULL)
        binary = os.path.join(ROOT, ".build", "release", "switchboard")
        data = os.path.join(self.work, "proxy-data")
        sb = lambda *a: run([binary, *a, "--data-dir", data], stdout=subprocess.DEVNULL)
        sb("route", "add", USER, f"127.0.0.1:{self.upstream}")
        sb("key", "add", USER, self.key + ".pub")
        pub = subprocess.run([binary, "route", "keygen", USER, "--data-dir", data],
                             capture_output=True, text=True, check=True).stdout.strip()
        self.authorized.append(pub)
        self.write_authorized()
        self.proxy_port = free_port()
        self.proxy = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.proxy_port}", "--data-dir", data, "--ban-after", "0",
             "--max-connections", "5000", "--max-connections-per-source", "0", "--log-level", "warning"],
            stderr=open(os.path.join(self.work, "proxy.log"), "w"))
        self.procs.append(self.proxy)
        wait_port(self.proxy_port)

    def ssh(self, path, *remote, extra=()):
        base = ["ssh", "-i", self.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "Ciphers=aes128-gcm@openssh.com", "-o", "KexAlgorithms=curve25519-sha256", *extra]
        if path == "direct":
            return base + ["-p", str(self.upstream), f"{USER}@127.0.0.1", *remote]
        if path == "proxyjump":
            jump = " ".join(base + ["-W", "%h:%p", "-p", str(self.bastion), f"{USER}@127.0.0.1"])
            return base + ["-o", f"ProxyCommand={jump}", "-p", str(self.upstream), f"{USER}@127.0.0.1", *remote]
        return base + ["-p", str(self.proxy_port), f"{USER}@127.0.0.1", *remote]

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


PATHS = ["direct", "proxyjump", "switchboard"]


def run_transfer(lab, path, direction, size, payload):
    """One transfer; returns (seconds, CPU seconds of: ssh client(s), upstream sshd, Switchboard).

    The remote command ends with bash's `times`, so the program's own CPU (head or cat) can be
    taken out of the upstream sshd's: what is left is sshd's work alone."""
    known = child_pids(os.getpid())
    listeners = list(lab.listeners.values())
    listeners_before = sum(children_cpu_seconds(pid) for pid in listeners)
    proxy_before = process_cpu_seconds(lab.proxy.pid)
    command = "cat > /dev/null" if direction == "upload" else f"head -c {size} /dev/zero"
    start = time.perf_counter()
    with open(payload if direction == "upload" else os.devnull, "rb") as source:
        client = subprocess.Popen(lab.ssh(path, f"{command}; times >&2"), stdin=source,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        report = client.stderr.read()
        _, status, usage = os.wait4(client.pid, 0)
        client.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if client.returncode != 0:
        raise RuntimeError(f"{path} {direction} failed: {report}")
    client_cpu = usage.ru_utime + usage.ru_stime
    # Collect sshd's per-connection processes: the monitor is reaped by its listener, the
    # session process may outlive it and come to us (subreaper).
    orphans_cpu, deadline = 0.0, time.time() + 10
    while time.time() < deadline:
        strays = child_pids(os.getpid()) - known - {client.pid}
        for pid in list(strays):
            done, _, usage = os.wait4(pid, os.WNOHANG)
            if done:
                orphans_cpu += usage.ru_utime + usage.ru_stime
                strays.discard(pid)
        if not strays and not any(child_pids(pid) for pid in listeners):
            break
        time.sleep(0.02)
    sshd_cpu = (sum(children_cpu_seconds(pid) for pid in listeners) - listeners_before + orphans_cpu
                - shell_times_seconds(report))
    return elapsed, client_cpu, sshd_cpu, process_cpu_seconds(lab.proxy.pid) - proxy_before


def throughput(lab, size_mib, repeats):
    payload = os.path.join(lab.work, "payload")
    with open(payload, "wb") as f:
        f.write(os.urandom(size_mib << 20))
    gib = size_mib / 1024
    results = {}
    set_child_subreaper(True)
    for direction in ["upload", "download"]:
        runs = {path: [] for path in PATHS}
        for _ in range(repeats):
            for path in PATHS:  # interleaved, so a noisy moment hurts every path alike
                runs[path].append(run_transfer(lab, path, direction, size_mib << 20, payload))
        for path, samples in runs.items():
            median = lambda index: statistics.median(sample[index] for sample in samples)
            results[f"{direction}/{path}"] = {
                "mib_per_s": size_mib / median(0), "ssh_cpu_s_per_gib": median(1) / gib,
                "sshd_cpu_s_per_gib": median(2) / gib, "proxy_cpu_s_per_gib": median(3) / gib}
    set_child_subreaper(False)
    return results


def setup_times(lab, repeats):
    results = {}
    for path in PATHS:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(lab.ssh(path, "true"), timeout=60)
            times.append(time.perf_counter() - start)
        results[path] = statistics.median(times)
    return results


def idle_sessions(lab, count, settle):
    before_rss, before_threads = rss_kib(lab.proxy.pid), threads(lab.proxy.pid)
    sessions = []
    for index in range(count):
        # An interactive terminal session: a PTY and a channel, the remote end waiting for input.
        sessions.append(subprocess.Popen(lab.ssh("switchboard", "cat", extra=("-tt", "-o", "ServerAliveInterval=0")),
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if index % 50 == 49:
            time.sleep(1)
    # Established means the remote `cat` runs: channel, PTY and program are all up.
    deadline = time.time() + 180
    while remote_programs("cat") < count and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(settle)
    cpu = process_cpu_seconds(lab.proxy.pid)
    time.sleep(10)
    idle_cpu = (process_cpu_seconds(lab.proxy.pid) - cpu) / 10
    result = {
        "sessions": count, "established": remote_programs("cat"),
        "open_in_proxy": threads(lab.proxy.pid) - before_threads,
        "rss_kib_per_session": (rss_kib(lab.proxy.pid) - before_rss) / count,
        "threads": threads(lab.proxy.pid), "idle_cpu_percent_of_core": idle_cpu * 100}
    for s in sessions:
        s.terminate()
    for s in sessions:
        s.wait()
    return result


def session_rate(lab, path, seconds, workers):
    latencies, failures = [], [0]
    stop = time.time() + seconds
    lock = threading.Lock()

    def worker():
        while time.time() < stop:
            start = time.perf_counter()
            ok = subprocess.run(lab.ssh(path, "true"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    failures[0] += 1

    pool = [threading.Thread(target=worker) for _ in range(workers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0
    return {"per_second": len(latencies) / seconds, "p50": pick(0.5), "p99": pick(0.99), "failures": failures[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the benchmark runs")
    parser.add_argument("--out", help="directory for results.json and chart.png")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (it starts sshd and creates the user sbbench)")
    size, repeats, setups, idle, rate_seconds, workers = (
        (8, 1, 3, 20, 3, 4) if args.smoke else (512, 3, 15, 1000, 30, 32))

    work = tempfile.mkdtemp(prefix="switchboard-bench-")
    lab = Lab(work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        lab.start_switchboard()
        results = {"machine": os.uname().nodename, "cores": os.cpu_count(), "smoke": args.smoke,
                   "throughput": throughput(lab, size, repeats), "setup_seconds": setup_times(lab, setups),
                   "idle": idle_sessions(lab, idle, 2 if args.smoke else 10),
                   "rate": {p: session_rate(lab, p, rate_seconds, workers) for p in ["direct", "switchboard"]}}
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)

    t = results["throughput"]
    rows = []
    for direction in ["upload", "download"]:
        d = t[f"{direction}/direct"]["mib_per_s"]
        rows.append((f"{direction} MiB/s (direct / jump / switchboard)",
                     f"{d:.0f} / {t[f'{direction}/proxyjump']['mib_per_s']:.0f} / {t[f'{direction}/switchboard']['mib_per_s']:.0f}",
                     f"{t[f'{direction}/switchboard']['mib_per_s'] / d:.2f}x direct, "
                     f"{t[f'{direction}/switchboard']['mib_per_s'] / t[f'{direction}/proxyjump']['mib_per_s']:.2f}x jump"))
        proxy_cpu = t[f"{direction}/switchboard"]["proxy_cpu_s_per_gib"]
        direct_cpu = t[f"{direction}/direct"]["ssh_cpu_s_per_gib"] + t[f"{direction}/direct"]["sshd_cpu_s_per_gib"]
        rows.append((f"{direction} CPU s/GiB (switchboard / direct ssh+sshd)", f"{proxy_cpu:.2f} / {direct_cpu:.2f}",
                     f"{proxy_cpu / direct_cpu:.2f}x"))
    s = results["setup_seconds"]
    rows.append(("setup s (direct / jump / switchboard)", f"{s['direct']:.3f} / {s['proxyjump']:.3f} / {s['switchboard']:.3f}",
                 f"{s['switchboard'] / s['direct']:.2f}x direct"))
    i = results["idle"]
    rows.append((f"{i['established']}/{i['sessions']} idle terminal sessions", f"{i['rss_kib_per_session']:.0f} KiB each, {i['threads']} threads",
                 f"{i['idle_cpu_percent_of_core']:.2f}% of a core"))
    r = results["rate"]
    rows.append(("sessions/s (direct / switchboard)", f"{r['direct']['per_second']:.1f} / {r['switchboard']['per_second']:.1f}",
                 f"{r['switchboard']['per_second'] / r['direct']['per_second']:.2f}x, p50 {r['switchboard']['p50']:.3f}s, "
                 f"p99 {r['switchboard']['p99']:.3f}s, failures {r['switchboard']['failures']}"))
    width = max(len(a) for a, _, _ in rows)
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<28}  {c}")

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            labels = ["upload", "download"]
            fig, ax = plt.subplots(figsize=(7, 4))
            for offset, path in enumerate(PATHS):
                ax.bar([x + offset * 0.25 for x in range(2)], [t[f"{d}/{path}"]["mib_per_s"] for d in labels], 0.25, label=path)
            ax.set_xticks([x + 0.25 for x in range(2)], labels)
            ax.set_ylabel("MiB/s")
            ax.set_title("Throughput on loopback (median)")
            ax.legend()
            fig.tight_layout()
            fig.savefig(os.path.join(args.out, "throughput.png"))
        except ImportError:
            print("bench: matplotlib is not installed; no chart", file=sys.stderr)
    failures = results["rate"]["switchboard"]["failures"] + results["rate"]["direct"]["failures"]
    print(f"bench: {'smoke ' if args.smoke else ''}run complete, {failures} failed sessions")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
