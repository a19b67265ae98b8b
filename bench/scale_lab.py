"""The scale benchmark's environment: an asyncssh upstream (fake_upstream.py), a release
Switchboard routing one login name to it (as many processes sharing its port as the descriptor
limit requires: scale_proxies.py), and the load generator (loadgen.py), each a process of its
own, plus the kernel limits that 10,000 proxy threads need.

    with ScaleLab(max_sessions=10000) as lab:
        lab.loadgen({"cmd": "grow", "to": 1000, "concurrency": 64, "per_second": 500})

Leaving the block in any way (return, exception, Ctrl-C, or SIGTERM, which scale.py turns into
SystemExit) stops the processes (load generator first, so the proxy has no sessions to drain),
puts back every kernel setting it raised, copies their logs to `log_dir` (if given) and removes
its temporary directory. The children also get SIGTERM if this process dies
without cleaning up (PR_SET_PDEATHSIG).
"""
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

from lab import CleanedUp, free_port, run, switchboard_binary, wait_port
from scale_proxies import ProxyGroup

HERE = os.path.dirname(os.path.abspath(__file__))
USER = "sbscale"  # the login name routed to the fake upstream; no system user is needed
# Descriptors wanted for each process: a held session takes one in the load generator, one in
# the upstream and two (client and upstream sockets) in the proxy. Without CAP_SYS_RESOURCE
# (e.g. in a container) root cannot go past its own hard limit: then that, and as many proxy
# processes as it takes.
WANTED_FD_LIMIT = 200_000


def fd_limit():
    """The descriptor limit the children get: the wanted one, or the hard limit if lower and
    this process cannot raise it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= WANTED_FD_LIMIT:
        return WANTED_FD_LIMIT
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, WANTED_FD_LIMIT))
        return WANTED_FD_LIMIT
    except (ValueError, OSError):
        return hard


def child_setup(limit):
    """What each child does before exec: a session of its own (a terminal's Ctrl-C reaches only
    scale.py, which then stops the children in order), SIGTERM if scale.py dies, and the
    descriptor limit `limit` for tens of thousands of sockets."""
    os.setsid()
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def system_threads():
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += len(os.listdir(f"/proc/{entry}/task"))
            except FileNotFoundError:
                pass
    return count


class ScaleLab(CleanedUp):
    def __init__(self, max_sessions, log_dir=None, proxy_processes=None):
        self.max_sessions = max_sessions
        self.proxy_processes = proxy_processes  # None: as many as the descriptor limit requires
        self.log_dir = log_dir
        self.work = None
        self.procs = []  # in start order
        self.log_names = []  # of every process started, in start order
        self.proxies = None
        self.raised = {}  # sysctl path -> the value to put back
        self.kernel_limits = {}

    def setup(self):
        self.work = tempfile.mkdtemp(prefix="switchboard-scale-")
        self.check_kernel_limits()
        key = os.path.join(self.work, "client_key")
        host_key = os.path.join(self.work, "upstream_host_key")
        for path in (key, host_key):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path])
        fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", host_key + ".pub"], capture_output=True, text=True,
                                     check=True).stdout.split()[1]
        self.upstream_port, self.proxy_port = free_port(), free_port()
        binary = switchboard_binary()
        data = os.path.join(self.work, "proxy-data")
        sb = lambda *a: subprocess.run([binary, *a, "--data-dir", data], capture_output=True, text=True,
                                       check=True).stdout.strip()
        sb("route", "add", USER, f"127.0.0.1:{self.upstream_port}", "--host-key", fingerprint)
        sb("key", "add", USER, key + ".pub")
        authorized = os.path.join(self.work, "upstream_authorized_keys")
        with open(key + ".pub") as f, open(authorized, "w") as out:
            # The client's key logs in directly; the route's key is the proxy's login upstream.
            out.write(f.read().strip() + "\n" + sb("route", "keygen", USER) + "\n")

        self.upstream = self.start("upstream", [sys.executable, os.path.join(HERE, "fake_upstream.py"),
                                                "--port", str(self.upstream_port), "--host-key", host_key,
                                                "--authorized-keys", authorized])
        wait_port(self.upstream_port)
        self.proxies = ProxyGroup(self.max_sessions, self.fd_limit, self.proxy_processes)
        self.proxies.start(self.start, [
            binary, "serve", "--listen", f"127.0.0.1:{self.proxy_port}", "--data-dir", data, "--ban-after", "0",
            "--max-connections-per-source", "0",
            "--max-unauthenticated", "1000", "--max-unauthenticated-per-source", "0",
            "--max-upstream-startups", "1000", "--max-upstream-startups-per-source", "0",
            "--drain-timeout", "5", "--log-level", "warning"], self.proxy_port, self.log_tail)
        self.generator = self.start("loadgen", [sys.executable, os.path.join(HERE, "loadgen.py"),
                                                "--proxy-port", str(self.proxy_port),
                                                "--direct-port", str(self.upstream_port), "--user", USER, "--key", key],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def start(self, name, command, **pipes):
        log = open(os.path.join(self.work, f"{name}.log"), "w")
        process = subprocess.Popen(command, stderr=log, preexec_fn=lambda: child_setup(self.fd_limit), text=True,
                                   **({"stdout": log} | pipes))
        log.close()
        process.name = name
        self.procs.append(process)
        self.log_names.append(name)
        return process

    def loadgen(self, command):
        """Sends one command to the load generator and returns its answer."""
        self.generator.stdin.write(json.dumps(command) + "\n")
        self.generator.stdin.flush()
        line = self.generator.stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator ended: {self.log_tail('loadgen')}")
        return json.loads(line)

    def log_tail(self, name, lines=20):
        with open(os.path.join(self.work, f"{name}.log"), errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def proxy_logs(self):
        """{name: text} of the proxy processes' logs."""
        logs = {}
        for name in self.proxies.names:
            with open(os.path.join(self.work, f"{name}.log"), errors="replace") as f:
                logs[name] = f.read()
        return logs

    def proxy_log_tails(self):
        return "\n".join(f"{name}:\n{self.log_tail(name)}" for name in self.proxies.names)

    def check_kernel_limits(self):
        """Raises, for this run only, the kernel limits that the proxy's threads (one per
        session) would exceed; every thread takes a pid and at least two mappings (its stack
        and the guard page below it)."""
        threads = system_threads() + self.max_sessions + 4000
        needs = {"kernel/threads-max": threads, "kernel/pid_max": threads,
                 "vm/max_map_count": 3 * self.max_sessions + 10_000}
        for name, needed in needs.items():
            path = f"/proc/sys/{name}"
            with open(path) as f:
                current = int(f.read())
            entry = {"value": current, "needed": needed, "raised_to": None}
            if current < needed:
                self.raised[path] = current
                with open(path, "w") as f:
                    f.write(str(needed))
                entry["raised_to"] = needed
            self.kernel_limits[name.replace("/", ".")] = entry
        self.fd_limit = fd_limit()
        self.kernel_limits["fd_limit_per_process"] = self.fd_limit
        self.kernel_limits["fd_limit_wanted"] = WANTED_FD_LIMIT

    program = "scale"

    def cleanup_steps(self):
        return (self.stop_processes, self.restore_kernel_limits, self.keep_logs, self.remove_work)

    def stop_processes(self):
        # The load generator first: its sessions end, so the proxy stops at once.
        for p in reversed(self.procs):
            if p.stdin:
                try:
                    p.stdin.close()  # the load generator releases its sessions and exits
                    p.wait(timeout=60)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()
        self.procs = []

    def restore_kernel_limits(self):
        for path, value in self.raised.items():
            with open(path, "w") as f:
                f.write(str(value))
        self.raised = {}

    def keep_logs(self):
        if self.log_dir and self.work:
            os.makedirs(self.log_dir, exist_ok=True)
            for name in self.log_names:
                source = os.path.join(self.work, f"{name}.log")
                if os.path.exists(source):
                    shutil.copy(source, os.path.join(self.log_dir, f"{name}.log"))

    def remove_work(self):
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None
