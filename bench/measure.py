"""The measurements. Each takes a started Lab and returns plain numbers for results.json:
throughput and CPU per GiB, session setup time, idle sessions, sessions per second."""
import os
import statistics
import subprocess
import threading
import time

from lab import PASSWORD, PATHS, USER, run
from procfs import (child_pids, children_cpu_seconds, process_cpu_seconds, rss_kib, set_child_subreaper,
                    shell_times_seconds, threads)


def remote_programs(name):
    """How many processes called `name` run as the benchmark user."""
    out = subprocess.run(["pgrep", "-c", "-u", USER, "-x", name], capture_output=True, text=True).stdout
    return int(out.strip() or 0)


def run_transfer(lab, path, direction, size, payload, ciphers="pinned"):
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
        client = subprocess.Popen(lab.ssh(path, f"{command}; times >&2", ciphers=ciphers), stdin=source,
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


def throughput(lab, size_mib, repeats, ciphers="pinned"):
    payload = os.path.join(lab.work, "payload")
    with open(payload, "wb") as f:
        f.write(os.urandom(size_mib << 20))
    gib = size_mib / 1024
    results = {}
    set_child_subreaper(True)
    try:
        for direction in ["upload", "download"]:
            runs = {path: [] for path in PATHS}
            for _ in range(repeats):
                for path in PATHS:  # interleaved, so a noisy moment hurts every path alike
                    runs[path].append(run_transfer(lab, path, direction, size_mib << 20, payload, ciphers))
            for path, samples in runs.items():
                median = lambda index: statistics.median(sample[index] for sample in samples)
                results[f"{direction}/{path}"] = {
                    "mib_per_s": size_mib / median(0), "ssh_cpu_s_per_gib": median(1) / gib,
                    "sshd_cpu_s_per_gib": median(2) / gib, "proxy_cpu_s_per_gib": median(3) / gib}
    finally:
        set_child_subreaper(False)
    return results


def setup_times(lab, repeats, paths=PATHS):
    """Median seconds of `ssh … true` (key login, pinned key exchange) on each of `paths`, the
    paths interleaved so that a noisy moment hurts every path alike."""
    times = {path: [] for path in paths}
    for _ in range(repeats):
        for path in paths:
            start = time.perf_counter()
            run(lab.ssh(path, "true"), timeout=60)
            times[path].append(time.perf_counter() - start)
    return {path: statistics.median(values) for path, values in times.items()}


def negotiated_ciphers(lab, ciphers):
    """The cipher the client's own connection negotiated on each path (from `ssh -v`; for
    ProxyJump, the connection to the upstream through the bastion)."""
    found = {}
    for path in PATHS:
        out = subprocess.run(lab.ssh(path, "true", extra=("-v",), ciphers=ciphers), capture_output=True, text=True).stderr
        chosen = [line.split("cipher:", 1)[1].split()[0] for line in out.splitlines() if "kex: server->client cipher:" in line]
        found[path] = chosen[-1] if chosen else "?"
    return found


def password_login_times(lab, repeats):
    """Median seconds of a default `ssh` client's password login running `true`, direct and
    through Switchboard, alternating. Stock ssh tries keyboard-interactive before password."""
    environment = dict(os.environ, SSHPASS=PASSWORD)
    times = {"direct": [], "switchboard": []}
    for _ in range(repeats):
        for path in times:
            start = time.perf_counter()
            run(lab.password_ssh(path, "true"), timeout=60, env=environment)
            times[path].append(time.perf_counter() - start)
    return {path: statistics.median(values) for path, values in times.items()}


def idle_sessions(lab, count, settle):
    before_rss, before_threads = rss_kib(lab.proxy.pid), threads(lab.proxy.pid)
    sessions = []
    try:
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
        return {
            "sessions": count, "established": remote_programs("cat"),
            "open_in_proxy": threads(lab.proxy.pid) - before_threads,
            "rss_kib_per_session": (rss_kib(lab.proxy.pid) - before_rss) / count,
            "threads": threads(lab.proxy.pid), "idle_cpu_percent_of_core": idle_cpu * 100}
    finally:
        for s in sessions:
            s.terminate()
        for s in sessions:
            s.wait()


def session_rate(lab, path, seconds, workers):
    """`workers` parallel loops of `ssh … true` on `path` for `seconds`: logins per second, p50
    and p99, failures, and the CPU per login of the proxy (if the path has one) and of the
    upstream sshd (its listener's reaped children: a session process that outlives its parent
    is not counted, so a lower bound)."""
    latencies, failures = [], [0]
    proxy = lab.proxy_pid(path)
    proxy_before = process_cpu_seconds(proxy) if proxy else 0.0
    sshd_before = children_cpu_seconds(lab.listeners["upstream"])
    stop = time.time() + seconds
    stopping = threading.Event()  # set early only if the main thread is interrupted
    lock = threading.Lock()

    def worker():
        while time.time() < stop and not stopping.is_set():
            start = time.perf_counter()
            ok = subprocess.run(lab.ssh(path, "true"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    failures[0] += 1

    pool = [threading.Thread(target=worker) for _ in range(workers)]
    try:
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        stopping.set()
    logins = max(1, len(latencies) + failures[0])
    proxy_ms = (process_cpu_seconds(proxy) - proxy_before) * 1000 / logins if proxy else None
    sshd_ms = (children_cpu_seconds(lab.listeners["upstream"]) - sshd_before) * 1000 / logins
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0
    return {"per_second": len(latencies) / seconds, "p50": pick(0.5), "p99": pick(0.99), "failures": failures[0],
            "proxy_cpu_ms_per_login": proxy_ms, "sshd_cpu_ms_per_login": sshd_ms}
