#!/usr/bin/env python3
"""The cluster lab's checks (started by docker/cluster-lab.sh, which checks root and the tools
and builds the binary): PostgreSQL from scripts/postgres.sh, three Switchboard nodes sharing it,
HAProxy in front of them (docker/haproxy.cfg), and two OpenSSH sshd upstreams on loopback
(127.0.0.2 and 127.0.0.3), each with its own host key and a marker (SetEnv
SWITCHBOARD_UPSTREAM) that shows which one a login reached. Prints `PASS name` / `FAIL name`
lines, the figures the cluster issue asks for, and `cluster-lab: N passed, M failed`; exits 0
only if all pass. Everything it starts or creates (processes, sbcl-* users, temporary
directories) is removed on exit, also after a failure or an interrupt; with CLUSTER_LAB_KEEP=1
the work directory (logs of the nodes, sshd and HAProxy) is left for a look.

    python3 docker/cluster_lab.py SWITCHBOARD_BINARY
    python3 docker/cluster_lab.py proxy-v2 HOST PORT   (an ssh ProxyCommand: connects to a node
        directly, as HAProxy would, with a PROXY protocol v2 header in front of the SSH bytes)
"""

import hashlib
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_LOST_AFTER = 6          # --node-lost-after: a node silent this long has its sessions closed
MARK_SLACK = 4               # documented: within 2 s more (the sweep runs every 2 s); 2 s more for this lab's polling
HEALTH_GRACE = 2             # --health-grace: /healthz says 503 this long before the node stops accepting
DRAIN_TIMEOUT = 30
KILL_LIMIT = 2.0             # `sessions kill` must end a session on another node within this
OUTAGE = 20                  # seconds PostgreSQL is stopped
RECONNECT_LIMIT = 12         # seconds the nodes may take to find it again (back-off up to 4 s, +50 % jitter)
PORTS = range(47000, 48000)
UPSTREAMS = {"upstream-1": "127.0.0.2", "upstream-2": "127.0.0.3"}
USERS = {"sbcl-one": "sbcl-one-lab-password", "sbcl-two": "sbcl-two-lab-password"}
SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
               "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10", "-o", "BatchMode=no"]


class Interrupted(BaseException):
    """SIGINT/SIGTERM/SIGHUP: unwinds to the cleanup."""


class CheckFailed(Exception):
    pass


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


# ---------------------------------------------------------------------------------------------
# proxy-v2: the ProxyCommand for direct logins to a node that requires the PROXY protocol.

def proxy_v2(host, port):
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.settimeout(None)
    src_host, src_port = sock.getsockname()[:2]
    dst_host, dst_port = sock.getpeername()[:2]
    addresses = socket.inet_aton(src_host) + socket.inet_aton(dst_host) + struct.pack("!HH", src_port, dst_port)
    sock.sendall(b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses)
    stdin_open = True
    while True:
        readable, _, _ = select.select([sock] + ([0] if stdin_open else []), [], [])
        if 0 in readable:
            data = os.read(0, 65536)
            if data:
                sock.sendall(data)
            else:
                stdin_open = False
                sock.shutdown(socket.SHUT_WR)
        if sock in readable:
            data = sock.recv(65536)
            if not data:
                return 0
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]


# ---------------------------------------------------------------------------------------------
# Processes and helpers.

def run(args, timeout=60, env=None, **kwargs):
    """Runs a command to its end; returns (exit status, stdout, stderr)."""
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
        return result.returncode, result.stdout, result.stderr
    except subprocess.TimeoutExpired as error:
        return 124, error.stdout or "", f"timed out after {timeout} s: {' '.join(args)}"


def free_ports(count, taken):
    candidates = [port for port in PORTS if port not in taken]
    random.shuffle(candidates)
    chosen = []
    for port in candidates:
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        chosen.append(port)
        taken.add(port)
        if len(chosen) == count:
            return chosen
    raise CheckFailed(f"no {count} free ports in {PORTS.start}-{PORTS.stop - 1}")


def wait_for(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def http_status(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def listening(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Client:
    """One ssh client session, running in the background. Its stdout is read by a thread,
    `rate` bytes a second at most (the rest waits in the relay: backpressure), hashed and kept
    (the first MiB) for checks; `exited_at` is when the ssh process ended."""

    def __init__(self, lab, login, command, port, direct=False, rate=None, keep_output=True):
        self.login = login
        self.started_at = time.monotonic()
        self.started_wall = time.time()
        self.exited_at = None
        self.status = None
        self.bytes = 0
        self.digest = hashlib.sha256()
        self.output = bytearray()
        self.errors = bytearray()
        self.rate = rate
        self.keep_output = keep_output
        self.process = subprocess.Popen(lab.ssh_args(login, port, direct) + [command], env=lab.ssh_env(login),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        start_new_session=True)
        lab.clients.append(self)
        self.threads = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True),
                        threading.Thread(target=self._wait, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _read_stdout(self):
        began = time.monotonic()
        while True:
            data = self.process.stdout.read1(65536)
            if not data:
                return
            self.bytes += len(data)
            self.digest.update(data)
            if self.keep_output and len(self.output) < 1 << 20:
                self.output += data
            if self.rate:
                ahead = self.bytes / self.rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)

    def _read_stderr(self):
        for line in self.process.stderr:
            self.errors += line

    def _wait(self):
        self.status = self.process.wait()
        self.exited_at = time.monotonic()

    def text(self):
        return self.output.decode(errors="replace")

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0, deadline - time.monotonic()))
        return self.exited_at is not None

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()

    def describe(self):
        return (f"{self.login}: exit {self.status}, {self.bytes} bytes, stdout {self.text()[:200]!r}, "
                f"stderr {self.errors.decode(errors='replace')[-300:]!r}")


class LoginLoop:
    """Logs in again and again (`threads` at a time) until stopped; records every attempt as
    (start wall time, succeeded, detail)."""

    def __init__(self, lab, login, port, threads=2):
        self.lab, self.login, self.port = lab, login, port
        self.attempts = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.workers = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]
        for worker in self.workers:
            worker.start()

    def _loop(self):
        while not self.stopping.is_set():
            started = time.time()
            status, out, err = run(self.lab.ssh_args(self.login, self.port) + ['echo "ok $SWITCHBOARD_UPSTREAM"'],
                                   env=self.lab.ssh_env(self.login), timeout=30)
            ok = status == 0 and out.strip() == "ok upstream-1"
            with self.lock:
                self.attempts.append((started, ok, f"exit {status} {out.strip()!r} {err.strip()[-200:]!r}"))

    def stop(self):
        self.stopping.set()
        for worker in self.workers:
            worker.join(40)
        return self.attempts


# ---------------------------------------------------------------------------------------------
# The lab.

class Node:
    def __init__(self, name, directory, port, metrics_port):
        self.name, self.directory, self.port, self.metrics_port = name, directory, port, metrics_port
        self.process = None
        self.log_path = f"{directory}.log"

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""


class Lab:
    def __init__(self, binary):
        self.binary = binary
        self.clients = []
        self.processes = []     # (name, Popen) started by the lab, stopped at the end
        self.passed = 0
        self.failed = 0
        self.figures = []
        self.taken_ports = set()
        self.work = tempfile.mkdtemp(prefix="switchboard-cluster-lab.")
        os.chmod(self.work, 0o755)   # the lab users read the transfer payload from here
        self.pg_dir = None
        self.database = None
        self.nodes = []
        self.upstreams = {}
        self.haproxy = None
        # Until the binary knows --database the nodes run alone: the lab's own mechanics still run.
        self.cluster = re.search(r"--database\b", run([binary, "serve", "--help"])[1]) is not None
        self.keep = bool(os.environ.get("CLUSTER_LAB_KEEP"))

    # -- output ---------------------------------------------------------------------------------

    def check(self, name, function, *args):
        self.notes = []
        try:
            function(*args)
            ok = True
        except CheckFailed as error:
            ok = False
            self.notes.append(str(error))
        except Exception as error:   # a bug in the lab is a failure too, with its reason
            ok = False
            self.notes.append(f"{type(error).__name__}: {error}")
        if ok:
            print(f"PASS {name}", flush=True)
            self.passed += 1
        else:
            print(f"FAIL {name}", flush=True)
            for note in self.notes:
                for line in str(note).rstrip().splitlines():
                    print(f"     {line}", flush=True)
            self.failed += 1
        return ok

    def note(self, text):
        self.notes.append(text)

    def figure(self, text):
        self.figures.append(text)
        print(f"measured: {text}", flush=True)

    # -- commands -------------------------------------------------------------------------------

    def ssh_env(self, login):
        password = USERS.get(login) or USERS["sbcl-one"]   # other logins are routed to sbcl-one
        return dict(os.environ, SSHPASS=password)

    def ssh_args(self, login, port, direct=False):
        args = ["sshpass", "-e", "ssh"] + SSH_OPTIONS + ["-p", str(port)]
        if direct:
            args += ["-o", f"ProxyCommand={sys.executable} {os.path.abspath(__file__)} proxy-v2 %h %p"]
        return args + [f"{login}@127.0.0.1"]

    def login(self, login, port, direct=False, command='echo "$SWITCHBOARD_UPSTREAM $(whoami)"', timeout=30):
        return run(self.ssh_args(login, port, direct) + [command], env=self.ssh_env(login), timeout=timeout)

    def cli(self, node, *args, timeout=30):
        """The admin CLI as run on `node`: its data directory and, in a cluster, the database."""
        command = [self.binary] + list(args) + ["--data-dir", node.directory]
        if self.cluster:
            command += ["--database", self.database]
        return run(command, timeout=timeout)

    def sessions(self, node, *extra):
        status, out, err = self.cli(node, "sessions", "list", "--json", *extra)
        require(status == 0, f"sessions list --json on {node.name}: exit {status}: {err.strip()}")
        try:
            return json.loads(out)
        except ValueError:
            raise CheckFailed(f"sessions list --json printed no JSON: {out[:300]!r}")

    @staticmethod
    def node_of(record):
        node = record.get("node", record.get("node_name"))
        return node.get("name") if isinstance(node, dict) else node

    # -- setup ----------------------------------------------------------------------------------

    def start_postgres(self):
        self.pg_dir = tempfile.mkdtemp(prefix="sbcl-pg.")
        port = free_ports(1, self.taken_ports)[0]
        status, out, err = run([f"{ROOT}/scripts/postgres.sh", "start", self.pg_dir, str(port)], timeout=120)
        require(status == 0, f"scripts/postgres.sh start failed: {err.strip()}")
        self.database = out.strip().splitlines()[-1]

    def add_users(self):
        for user, password in USERS.items():
            if run(["id", user])[0] != 0:
                status, _, err = run(["useradd", "--create-home", "--shell", "/bin/bash", user])
                require(status == 0, f"useradd {user}: {err.strip()}")
            status, _, err = run(["chpasswd"], input=f"{user}:{password}\n")
            require(status == 0, f"chpasswd {user}: {err.strip()}")

    def sshd_config(self, name, key):
        upstream = self.upstreams[name]
        with open(f"{ROOT}/scripts/sshd_config.template") as template:
            text = template.read().format(
                port=upstream["port"], listen=upstream["address"], host_key=key,
                pid_file=f"{upstream['dir']}/sshd.pid",
                extra="\n".join(["UsePAM no", "PasswordAuthentication yes", "KbdInteractiveAuthentication no",
                                 "MaxStartups 200", "MaxSessions 50", f"SetEnv SWITCHBOARD_UPSTREAM={name}"]))
        with open(f"{upstream['dir']}/sshd_config", "w") as config:
            config.write(text)

    def start_sshd(self, name, key="host_key"):
        upstream = self.upstreams[name]
        self.sshd_config(name, f"{upstream['dir']}/{key}")
        process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", f"{upstream['dir']}/sshd_config",
                                    "-E", f"{upstream['dir']}/sshd.log"], start_new_session=True)
        upstream["process"] = process
        self.processes.append((name, process))
        require(wait_for(lambda: listening(upstream["address"], upstream["port"]), 10),
                f"sshd {name} is not listening on {upstream['address']}:{upstream['port']}")

    def stop_sshd(self, name):
        process = self.upstreams[name]["process"]
        process.terminate()
        process.wait(10)

    def start_upstreams(self):
        os.makedirs("/run/sshd", exist_ok=True)
        for name, address in UPSTREAMS.items():
            directory = f"{self.work}/{name}"
            os.makedirs(directory)
            self.upstreams[name] = {"address": address, "port": free_ports(1, self.taken_ports)[0], "dir": directory}
            for key in ("host_key", "other_host_key"):
                status, _, err = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{directory}/{key}"])
                require(status == 0, f"ssh-keygen: {err}")
            self.start_sshd(name)

    def upstream_fingerprint(self, name, key="host_key"):
        out = run(["ssh-keygen", "-l", "-f", f"{self.upstreams[name]['dir']}/{key}.pub"])[1]
        return out.split()[1]

    def make_node(self, index):
        port, metrics = free_ports(2, self.taken_ports)
        node = Node(f"node-{index}", f"{self.work}/node{index}", port, metrics)
        os.makedirs(node.directory, mode=0o700)
        return node

    def start_node(self, node):
        args = [self.binary, "serve", "--listen", f"127.0.0.1:{node.port}", "--data-dir", node.directory,
                "--metrics-listen", f"127.0.0.1:{node.metrics_port}", "--proxy-protocol",
                "--trusted-proxies", "127.0.0.1/32", "--host-key-policy", "accept-new",
                "--drain-timeout", str(DRAIN_TIMEOUT), "--ban-after", "0"]
        if self.cluster:
            args += ["--database", self.database, "--node-name", node.name,
                     "--node-lost-after", str(NODE_LOST_AFTER), "--health-grace", str(HEALTH_GRACE)]
        log = open(node.log_path, "a")
        node.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.processes.append((node.name, node.process))

    def wait_healthy(self, node, timeout=30):
        healthy = wait_for(lambda: not node.alive() or http_status(node.metrics_port, "/healthz") == 200, timeout)
        require(healthy and node.alive(), f"{node.name} did not become healthy:\n{node.log_tail()}")

    def start_nodes(self):
        self.nodes = [self.make_node(index) for index in (1, 2, 3)]
        first = self.nodes[0]
        status, _, err = run([self.binary, "hostkey", "show", "--data-dir", first.directory])
        require(status == 0, f"hostkey show: {err.strip()}")
        for node in self.nodes[1:]:
            for key in ("ssh_host_ed25519_key", "ssh_host_rsa_key"):
                shutil.copyfile(f"{first.directory}/{key}", f"{node.directory}/{key}")
                os.chmod(f"{node.directory}/{key}", 0o600)
        # The first node registers the host keys; the others then start next to it.
        self.start_node(first)
        self.wait_healthy(first)
        for node in self.nodes[1:]:
            self.start_node(node)
        for node in self.nodes[1:]:
            self.wait_healthy(node)

    def haproxy_config(self):
        with open(f"{ROOT}/docker/haproxy.cfg") as source:
            lines = source.read().splitlines()
        text = []
        hard_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        for line in lines:
            if re.match(r"\s*server\s", line):
                continue
            maxconn = re.match(r"(\s*maxconn\s+)(\d+)", line)
            if maxconn and hard_limit != resource.RLIM_INFINITY and 2 * int(maxconn[2]) + 100 > hard_limit:
                line = f"{maxconn[1]}{(hard_limit - 100) // 2}"   # HAProxy refuses to start above the limit
            text.append(line)
            if line.strip() == "global":
                text.append(f"    stats socket {self.work}/haproxy.sock mode 600 level admin")
            if line.strip().startswith("default-server"):
                text += [f"    server {node.name} 127.0.0.1:{node.port} check port {node.metrics_port}" for node in self.nodes]
        path = f"{self.work}/haproxy.cfg"
        with open(path, "w") as config:
            config.write("\n".join(text) + "\n")
        return path

    def start_haproxy(self):
        self.haproxy_port = free_ports(1, self.taken_ports)[0]
        path = self.haproxy_config()
        env = dict(os.environ, SWITCHBOARD_HAPROXY_BIND=f"127.0.0.1:{self.haproxy_port}")
        status, out, err = run(["haproxy", "-c", "-q", "-f", path], env=env)
        require(status == 0, f"haproxy -c: {out}{err}")
        log = open(f"{self.work}/haproxy.log", "a")
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", path], env=env, stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.processes.append(("haproxy", self.haproxy))
        def all_up():
            states = self.haproxy_states()
            return self.haproxy.poll() is not None or (len(states) == len(self.nodes) and set(states.values()) == {"UP"})
        wait_for(all_up, 15)
        with open(f"{self.work}/haproxy.log", errors="replace") as log:
            require(self.haproxy.poll() is None, f"HAProxy exited {self.haproxy.returncode}:\n{log.read()[-1500:]}")
        require(all_up(), f"HAProxy does not see every node UP: {self.haproxy_states()}")

    def haproxy_stats(self):
        """The backend's servers as HAProxy's `show stat` reports them: name -> row."""
        try:
            with socket.socket(socket.AF_UNIX) as stats:
                stats.settimeout(2)
                stats.connect(f"{self.work}/haproxy.sock")
                stats.sendall(b"show stat\n")
                data = b""
                while chunk := stats.recv(65536):
                    data += chunk
        except OSError:
            return {}
        lines = data.decode().splitlines()
        if not lines:
            return {}
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {row["svname"]: row for row in rows
                if row.get("pxname") == "switchboard" and row["svname"] not in ("BACKEND", "FRONTEND")}

    def haproxy_states(self):
        return {name: row["status"].split(" ")[0] for name, row in self.haproxy_stats().items()}

    def haproxy_totals(self):
        return {name: int(row["stot"] or 0) for name, row in self.haproxy_stats().items()}

    def setup(self):
        steps = [("PostgreSQL", self.start_postgres), ("lab users", self.add_users),
                 ("sshd upstreams", self.start_upstreams), ("Switchboard nodes", self.start_nodes),
                 ("HAProxy", self.start_haproxy)]
        for what, step in steps:
            try:
                step()
            except CheckFailed as error:
                print(f"FAIL setup: {what}", flush=True)
                for line in str(error).splitlines():
                    print(f"     {line}", flush=True)
                self.failed += 1
                return False
        mode = f"PostgreSQL {self.database}" if self.cluster else "no --database in this binary: nodes run alone"
        print(f"cluster-lab: {len(self.nodes)} nodes ({mode}), HAProxy on 127.0.0.1:{self.haproxy_port}, "
              f"work directory {self.work}", flush=True)
        return True

    # -- cleanup --------------------------------------------------------------------------------

    def cleanup(self):
        for client in self.clients:
            client.stop()
        self.clients = []
        processes, self.processes = self.processes, []
        for _, process in reversed(processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for user in USERS:
            if run(["id", user])[0] != 0:
                continue
            for pid in run(["pgrep", "-u", user])[1].split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            for _ in range(50):
                if run(["userdel", "--remove", user])[0] in (0, 6):
                    break
                time.sleep(0.1)
        if self.pg_dir:
            run([f"{ROOT}/scripts/postgres.sh", "stop", self.pg_dir], timeout=60)
            shutil.rmtree(self.pg_dir, ignore_errors=True)
            self.pg_dir = None
        if self.keep:
            print(f"cluster-lab: CLUSTER_LAB_KEEP: the logs are left in {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- checks ---------------------------------------------------------------------------------

    def check_refused_node(self):
        node = self.make_node(4)
        status, _, err = run([self.binary, "hostkey", "show", "--data-dir", node.directory])
        require(status == 0, f"hostkey show for node-4: {err.strip()}")
        self.start_node(node)
        exited = wait_for(lambda: not node.alive(), 20)
        if not exited:
            node.process.kill()
            node.process.wait()
            raise CheckFailed(f"node-4 with other host keys is still running after 20 s:\n{node.log_tail()}")
        log = node.log_tail()
        require(node.process.returncode != 0, f"node-4 exited 0:\n{log}")
        require(re.search(r"host[ _-]?key", log, re.IGNORECASE), f"node-4's message does not mention the host keys:\n{log}")
        self.note(log)

    def check_nodes_listed(self):
        status, out, err = self.cli(self.nodes[0], "nodes", "--json")
        require(status == 0, f"nodes --json: exit {status}: {err.strip()}")
        listed = json.loads(out)
        states = {entry.get("name"): entry.get("state") for entry in listed}
        for node in self.nodes:
            require(states.get(node.name) == "running", f"{node.name} is not listed as running: {states}")

    def add_route(self, node, login, upstream, user, only_here=False):
        """Adds a route through `node`'s CLI. Without a shared database (a binary that has no
        --database yet) it is added on every node, unless `only_here`, so that the later checks
        still exercise the lab."""
        upstream = self.upstreams[upstream]
        for target in [node] if self.cluster or only_here else self.nodes:
            status, _, err = self.cli(target, "route", "add", login, f"{upstream['address']}:{upstream['port']}",
                                      "--upstream-user", user, "--host-key-policy", "accept-new")
            require(status == 0, f"route add {login} through {target.name}: exit {status}: {err.strip()}")

    def check_route_everywhere(self):
        try:
            self.add_route(self.nodes[0], "sbcl-one", "upstream-1", "sbcl-one", only_here=True)
            self.route_everywhere()
        finally:
            if not self.cluster:
                for node in self.nodes[1:]:
                    self.add_route(node, "sbcl-one", "upstream-1", "sbcl-one", only_here=True)

    def route_everywhere(self):
        problems = []
        for node in self.nodes:
            status, out, err = self.login("sbcl-one", node.port, direct=True)
            if out.strip() != "upstream-1 sbcl-one":
                problems.append(f"direct to {node.name}: exit {status}, {out.strip()!r}, {err.strip()[-300:]!r}")
        before = self.haproxy_totals()
        for attempt in range(2 * len(self.nodes)):
            status, out, err = self.login("sbcl-one", self.haproxy_port)
            if out.strip() != "upstream-1 sbcl-one":
                problems.append(f"through HAProxy, login {attempt + 1}: exit {status}, {out.strip()!r}, {err.strip()[-300:]!r}")
        after = self.haproxy_totals()
        spread = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        self.note(f"HAProxy sent the logins to: {spread}")
        for node in self.nodes:
            if spread.get(node.name, 0) == 0:
                problems.append(f"HAProxy sent no login to {node.name}: {spread}")
        require(not problems, "\n".join(problems))

    def check_pin_shared(self):
        first, second = self.nodes[0], self.nodes[1]
        self.add_route(first, "sbcl-two", "upstream-2", "sbcl-two")
        status, out, err = self.login("sbcl-two", first.port, direct=True)
        require(out.strip() == "upstream-2 sbcl-two", f"first login through {first.name}: exit {status}, {out!r}, {err!r}")
        status, out, err = self.cli(second, "route", "show", "sbcl-two", "--json")
        require(status == 0, f"route show on {second.name}: {err.strip()}")
        pinned = json.loads(out).get("host_key_fingerprint")
        expected = self.upstream_fingerprint("upstream-2")
        require(pinned == expected, f"{second.name} sees the pin {pinned!r}, the upstream's key is {expected}")
        self.stop_sshd("upstream-2")
        self.start_sshd("upstream-2", key="other_host_key")
        try:
            for node in self.nodes[1:]:
                status, out, err = self.login("sbcl-two", node.port, direct=True)
                require(status != 0 and "upstream-2" not in out,
                        f"{node.name} let a login through to upstream-2 with a changed host key: exit {status}, {out!r}")
                self.note(f"{node.name} refused: exit {status}, {err.strip()[-200:]!r}")
        finally:
            self.stop_sshd("upstream-2")
            self.start_sshd("upstream-2")
        status, out, err = self.login("sbcl-two", second.port, direct=True)
        require(out.strip() == "upstream-2 sbcl-two",
                f"after the original key came back, {second.name}: exit {status}, {out!r}, {err!r}")

    def held_session(self, node, login, client, timeout=10):
        """The audit record of `client`'s session on `node`, found through node 1's CLI."""
        def find():
            records = self.sessions(self.nodes[0], "--active", "--user", login)
            return [record for record in records if self.node_of(record) == node.name]
        found = wait_for(find, timeout, interval=0.3)
        require(found, f"sessions --active through {self.nodes[0].name} lists no {login} session on {node.name}: "
                       f"{self.sessions(self.nodes[0], '--active')}; client {client.describe()}")
        return found

    def check_remote_kill(self):
        first, third = self.nodes[0], self.nodes[2]
        client = Client(self, "sbcl-one", "echo ready; sleep 300", third.port, direct=True)
        try:
            self.remote_kill(first, third, client)
        finally:
            client.stop()

    def remote_kill(self, first, third, client):
        require(wait_for(lambda: "ready" in client.text() or client.exited_at, 15) and client.exited_at is None,
                f"the session on {third.name} did not start: {client.describe()}")
        status, table, err = self.cli(first, "sessions", "list", "--active")
        require(status == 0 and re.search(r"\bNODE\b", table) and third.name in table,
                f"the table on {first.name} has no NODE column with {third.name}:\n{table}{err}")
        found = self.held_session(third, "sbcl-one", client)
        session_id = found[0]["id"]
        started = time.monotonic()
        status, out, err = self.cli(first, "sessions", "kill", str(session_id))
        client.wait(10)
        require(status == 0, f"sessions kill {session_id} on {first.name}: exit {status}: {out}{err}")
        require(client.exited_at is not None, "the client is still connected 10 s after sessions kill")
        latency = client.exited_at - started
        self.figure(f"kill latency {latency * 1000:.0f} ms (sessions kill {session_id} on {first.name} "
                    f"to the client's ssh exit; the session was on {third.name})")
        require(third.name in out, f"sessions kill does not say which node held it: {out!r}")
        require(latency <= KILL_LIMIT, f"the session ended {latency:.2f} s after sessions kill (limit {KILL_LIMIT} s)")
        record = [r for r in self.sessions(first, "--user", "sbcl-one") if r["id"] == session_id]
        require(record and record[0].get("ended_at"), f"the audit does not show session {session_id} ended: {record}")
        self.note(f"end_reason {record[0].get('end_reason')}")

    def check_database_outage(self):
        nodes = [node for node in self.nodes if node.alive()]   # the drained node has stopped
        self.add_route(nodes[0], "sbcl-outage", "upstream-1", "sbcl-one")
        for node in nodes:   # every node has served the route once before the outage
            status, out, err = self.login("sbcl-outage", node.port, direct=True)
            require(out.strip() == "upstream-1 sbcl-one", f"sbcl-outage before the outage on {node.name}: {err.strip()}")
        before = len(self.sessions(nodes[0], "--user", "sbcl-outage"))
        ticks = OUTAGE + 6
        live = [Client(self, "sbcl-one", f"for i in $(seq 1 {ticks}); do echo tick $i; sleep 1; done",
                       node.port, direct=True) for node in nodes]
        require(wait_for(lambda: all("tick 1" in c.text() for c in live), 15),
                f"the live sessions did not start: {[c.describe() for c in live]}")
        status, _, err = run([f"{ROOT}/scripts/postgres.sh", "pause", self.pg_dir], timeout=60)
        require(status == 0, f"postgres.sh pause: {err.strip()}")
        paused_at = time.monotonic()
        problems = []
        try:
            time.sleep(3)
            ready = {node.name: http_status(node.metrics_port, "/readyz") for node in nodes}
            healthy = {node.name: http_status(node.metrics_port, "/healthz") for node in nodes}
            self.note(f"during the outage: /readyz {ready}, /healthz {healthy}, HAProxy {self.haproxy_states()}")
            if any(code != 503 for code in ready.values()):
                problems.append(f"/readyz is not 503 with the database down: {ready}")
            if any(code != 200 for code in healthy.values()):
                problems.append(f"/healthz is not 200 with the database down (HAProxy would drop the node): {healthy}")
            during = 0
            for node in nodes:
                status, out, err = self.login("sbcl-outage", node.port, direct=True)
                during += 1
                if out.strip() != "upstream-1 sbcl-one":
                    problems.append(f"a known route during the outage, direct to {node.name}: exit {status}, {err.strip()[-300:]!r}")
            for _ in range(2):
                status, out, err = self.login("sbcl-outage", self.haproxy_port)
                during += 1
                if out.strip() != "upstream-1 sbcl-one":
                    problems.append(f"a known route during the outage, through HAProxy: exit {status}, {err.strip()[-300:]!r}")
            time.sleep(max(0, OUTAGE - (time.monotonic() - paused_at)))
        finally:
            status, _, err = run([f"{ROOT}/scripts/postgres.sh", "resume", self.pg_dir], timeout=60)
        require(status == 0, f"postgres.sh resume: {err.strip()}")
        resumed_at = time.monotonic()
        self.note(f"PostgreSQL was stopped for {resumed_at - paused_at:.1f} s")
        for client in live:
            client.wait(ticks + 20)
            if client.status != 0 or client.text().split("\n").count(f"tick {ticks}") != 1:
                problems.append(f"a live session did not survive the outage: {client.describe()}")
        # Reconnects back off up to 4 s, with jitter up to half that again.
        if wait_for(lambda: all(http_status(n.metrics_port, "/readyz") == 200 for n in nodes), RECONNECT_LIMIT, 0.5):
            self.figure(f"/readyz back to 200 on every node {time.monotonic() - resumed_at:.1f} s after PostgreSQL returned")
        else:
            problems.append(f"/readyz did not come back to 200 within {RECONNECT_LIMIT} s of the database")

        def spooled():
            try:
                records = self.sessions(nodes[0], "--user", "sbcl-outage")
            except CheckFailed:
                return False
            return len(records) >= before + during and all(r.get("ended_at") for r in records)
        if wait_for(spooled, RECONNECT_LIMIT, 0.5):
            self.figure(f"audit rows spooled during the outage appeared {time.monotonic() - resumed_at:.1f} s after PostgreSQL returned")
        else:
            records = self.sessions(nodes[0], "--user", "sbcl-outage")
            problems.append(f"{before} sbcl-outage sessions before the outage, {during} during it; after it the audit "
                            f"has {len(records)}, {sum(1 for r in records if r.get('ended_at'))} ended")
        require(not problems, "\n".join(problems))

    def check_node_killed(self):
        self.add_route(self.nodes[0], "sbcl-loop", "upstream-1", "sbcl-one")
        victim, survivors = self.nodes[2], self.nodes[:2]
        payload = f"{self.work}/payload"
        with open(payload, "wb") as out:
            out.write(os.urandom(12 << 20))
        os.chmod(payload, 0o644)
        with open(payload, "rb") as source:
            expected = hashlib.sha256(source.read()).hexdigest()
        rate = 1536 << 10    # each transfer lasts about 8 s
        transfers = [Client(self, "sbcl-one", f"cat {payload}", node.port, direct=True, rate=rate, keep_output=False)
                     for node in survivors]
        on_victim = [Client(self, "sbcl-one", f"cat {payload}", victim.port, direct=True, rate=rate, keep_output=False),
                     Client(self, "sbcl-one", "echo ready; sleep 300", victim.port, direct=True)]
        require(wait_for(lambda: all(c.bytes > 1 << 20 for c in transfers + on_victim[:1]), 15),
                f"the transfers did not get going: {[c.describe() for c in transfers + on_victim]}")
        lost_ids = []
        if self.cluster:
            lost_ids = [record["id"] for record in self.held_session(victim, "sbcl-one", on_victim[1])]
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        killed_at, killed_wall = time.monotonic(), time.time()
        loop = LoginLoop(self, "sbcl-loop", self.haproxy_port)
        down = wait_for(lambda: self.haproxy_states().get(victim.name) == "DOWN", 10)
        down_after = time.monotonic() - killed_at
        time.sleep(max(0, 8 - (time.monotonic() - killed_at)))
        attempts = loop.stop()
        succeeded = sum(1 for _, ok, _ in attempts if ok)
        self.figure(f"logins through HAProxy during and after the kill -9 of {victim.name}: "
                    f"{succeeded}/{len(attempts)} succeeded (HAProxy marked it DOWN after {down_after:.1f} s)")
        problems = []
        if not down:
            problems.append(f"HAProxy did not mark {victim.name} DOWN: {self.haproxy_states()}")
        problems += failed_logins(attempts, killed_wall)
        if not attempts:
            problems.append("no login was tried")
        for client in transfers:
            client.wait(60)
            if client.status != 0 or client.digest.hexdigest() != expected or client.bytes != 12 << 20:
                problems.append(f"a transfer on a surviving node broke: {client.describe()}")
        for client in on_victim:
            client.wait(15)
            if client.exited_at is None:
                problems.append(f"a client of the killed node is still connected: {client.describe()}")
        if self.cluster:
            def marked():
                records = {r["id"]: r for r in self.sessions(self.nodes[0], "--user", "sbcl-one")}
                return all(records.get(i, {}).get("end_reason") == "node-lost" for i in lost_ids) and records
            limit = NODE_LOST_AFTER + MARK_SLACK
            if wait_for(marked, limit + 10, 0.5):
                took = time.monotonic() - killed_at
                self.figure(f"{victim.name}'s sessions closed in the audit (node-lost) {took:.1f} s after its kill -9 "
                            f"(node_lost_after {NODE_LOST_AFTER} s)")
                if took > limit:
                    problems.append(f"the lost node's sessions were marked after {took:.1f} s (limit {limit} s)")
            else:
                records = [r for r in self.sessions(self.nodes[0], "--user", "sbcl-one") if r["id"] in lost_ids]
                problems.append(f"the lost node's sessions are not closed with node-lost: {records}")
            status, out, _ = self.cli(self.nodes[0], "nodes", "--json")
            states = {entry.get("name"): entry.get("state") for entry in json.loads(out or "[]")} if status == 0 else {}
            if states.get(victim.name) != "lost":
                problems.append(f"nodes does not show {victim.name} lost: {states}")
        else:
            problems.append("no audit shared between nodes (this binary has no --database): node-lost cannot be checked")
        require(not problems, "\n".join(problems))

    def check_rejoin(self):
        victim = self.nodes[2]
        self.start_node(victim)
        self.wait_healthy(victim)
        require(wait_for(lambda: self.haproxy_states().get(victim.name) == "UP", 10),
                f"HAProxy does not see {victim.name} UP again: {self.haproxy_states()}")
        if self.cluster:
            status, out, err = self.cli(self.nodes[0], "nodes", "--json")
            require(status == 0, f"nodes --json: {err.strip()}")
            states = {entry.get("name"): entry.get("state") for entry in json.loads(out)}
            require(states.get(victim.name) == "running", f"nodes does not show {victim.name} running again: {states}")

    def check_drain(self):
        self.add_route(self.nodes[0], "sbcl-drain", "upstream-1", "sbcl-one")
        held = [Client(self, "sbcl-one", f"sleep 6; echo finished {index}", self.haproxy_port) for index in range(3)]
        # leastconn puts each new session on the node with the fewest; pick one that holds one.
        require(wait_for(lambda: sum(int(r["scur"] or 0) for r in self.haproxy_stats().values()) >= 3, 10),
                f"the three sessions did not reach the nodes: {[c.describe() for c in held]}")
        current = {name: int(row["scur"] or 0) for name, row in self.haproxy_stats().items()}
        self.note(f"sessions through HAProxy per node: {current}")
        by_name = {node.name: node for node in self.nodes}
        candidates = [name for name in ("node-2", "node-1", "node-3") if current.get(name, 0) > 0 and by_name[name].alive()]
        require(candidates, f"no live node holds a session through HAProxy: {current}")
        node = by_name[candidates[0]]
        time.sleep(0.5)
        node.process.send_signal(signal.SIGTERM)
        term_at, term_wall = time.monotonic(), time.time()
        loop = LoginLoop(self, "sbcl-drain", self.haproxy_port)
        said_503 = wait_for(lambda: http_status(node.metrics_port, "/healthz") == 503, 1, 0.05)
        grace_status = 503 if said_503 else http_status(node.metrics_port, "/healthz")
        accepting_in_grace = listening("127.0.0.1", node.port)
        down = wait_for(lambda: self.haproxy_states().get(node.name) != "UP", HEALTH_GRACE + 3)
        down_after = time.monotonic() - term_at
        time.sleep(max(0, HEALTH_GRACE + 1 - (time.monotonic() - term_at)))
        accepting_after_grace = listening("127.0.0.1", node.port)
        problems = []
        if not accepting_in_grace:
            problems.append(f"{node.name} stopped accepting at once (it should for the {HEALTH_GRACE} s health grace)")
        if accepting_after_grace:
            problems.append(f"{node.name} still accepts {HEALTH_GRACE + 1} s after SIGTERM (health grace {HEALTH_GRACE} s)")
        for client in held:
            client.wait(40)
        for index, client in enumerate(held):
            if client.status != 0 or client.text() != f"finished {index}\n":
                problems.append(f"a session lost in the drain: {client.describe()}")
        exited = wait_for(lambda: not node.alive(), DRAIN_TIMEOUT + 5)
        time.sleep(max(0, 1 - (time.monotonic() - term_at)))
        attempts = loop.stop()
        succeeded = sum(1 for _, ok, _ in attempts if ok)
        self.figure(f"logins through HAProxy while {node.name} drained: {succeeded}/{len(attempts)} succeeded; "
                    f"/healthz said {grace_status} after SIGTERM, HAProxy took it out after {down_after:.1f} s, "
                    f"it exited {node.process.returncode if exited else 'not yet'} after {time.monotonic() - term_at:.1f} s")
        if grace_status != 503:
            problems.append(f"/healthz answered {grace_status} within 1 s of SIGTERM (expected 503 during the grace)")
        if not down:
            problems.append(f"HAProxy kept {node.name} UP during its drain: {self.haproxy_states()}")
        if not exited:
            problems.append(f"{node.name} did not exit after its sessions ended")
        elif node.process.returncode != 0:
            problems.append(f"{node.name} exited {node.process.returncode} after the drain:\n{node.log_tail()}")
        problems += failed_logins(attempts, term_wall)
        if not attempts:
            problems.append("no login was tried during the drain")
        if self.cluster:
            late = [r for r in self.sessions(self.nodes[0], "--user", "sbcl-drain") if self.node_of(r) == node.name
                    and iso_time(r.get("started_at")) >= term_wall + HEALTH_GRACE + 1]
            if late:
                problems.append(f"logins after the health grace went to the draining {node.name}: {late}")
        require(not problems, "\n".join(problems))


def failed_logins(attempts, since):
    """The first few failed attempts of a LoginLoop, and how many there were."""
    failed = [f"login at +{start - since:.1f} s failed: {detail}" for start, ok, detail in attempts if not ok]
    return failed[:5] + ([f"... {len(failed) - 5} more failed logins"] if len(failed) > 5 else [])


def iso_time(text):
    from datetime import datetime
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0


def main(binary):
    if os.geteuid() != 0:
        print("cluster-lab: needs root (sshd, lab users, the postgres user)", file=sys.stderr)
        return 2

    def interrupted(signum, _frame):
        raise Interrupted(signum)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)

    lab = Lab(os.path.abspath(binary))
    began = time.monotonic()
    try:
        if lab.setup():
            if lab.cluster:
                lab.check("a node with other host keys refuses to join", lab.check_refused_node)
                lab.check("nodes lists the three nodes running", lab.check_nodes_listed)
            lab.check("a route added through node-1's CLI logs in on every node, directly and through HAProxy",
                      lab.check_route_everywhere)
            lab.check("a host key pinned through node-1 is enforced on node-2 and node-3", lab.check_pin_shared)
            lab.check(f"sessions on node-1 lists node-3's session; sessions kill ends it within {KILL_LIMIT:.0f} s",
                      lab.check_remote_kill)
            lab.check("kill -9 of node-3: transfers elsewhere go on, HAProxy logins succeed, its sessions are node-lost",
                      lab.check_node_killed)
            lab.check("node-3 rejoins after its kill", lab.check_rejoin)
            lab.check("SIGTERM drain behind HAProxy: no session lost, new logins go to the other nodes",
                      lab.check_drain)
            # Last: if a node does not recover from the outage, the checks above still tell their own story.
            lab.check(f"PostgreSQL down {OUTAGE} s: sessions go on, known routes log in, the audit catches up",
                      lab.check_database_outage)
    except Interrupted:
        print("cluster-lab: interrupted, cleaning up", file=sys.stderr, flush=True)
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        lab.cleanup()
    for text in lab.figures:
        print(f"cluster-lab: {text}")
    print(f"cluster-lab: {lab.passed} passed, {lab.failed} failed ({time.monotonic() - began:.0f} s)")
    return 0 if lab.failed == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "proxy-v2":
        sys.exit(proxy_v2(sys.argv[2], sys.argv[3]))
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
