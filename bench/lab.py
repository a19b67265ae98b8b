"""The benchmark's environment: the user `sbbench` with a client key, an upstream and a bastion
sshd on loopback, and a release Switchboard routing to the upstream.

    with Lab() as lab:
        lab.start_switchboard()
        subprocess.run(lab.ssh("direct", "true"))

Leaving the block in any way (return, exception, Ctrl-C, or SIGTERM, which bench.py turns into
SystemExit) stops every process the lab started and removes its temporary directory; it deletes
the user if the lab created it, and otherwise puts back the user's authorized_keys and password.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = "sbbench"
# For the password-login measure: a default `ssh` client typing a password (through sshpass).
PASSWORD = "sbbench-Pw-1"
PATHS = ["direct", "proxyjump", "switchboard"]  # the ways Lab.ssh reaches the upstream
# The login of the route that logs in upstream with a certificate from the proxy's CA (as USER),
# reached by Lab.ssh("switchboard-certificate", ...) with the same client key.
CERTIFICATE_LOGIN = f"{USER}-cert"
SSHD_TEMPLATE = os.path.join(ROOT, "scripts", "sshd_config.template")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def render_sshd_config(**values):
    """scripts/sshd_config.template with its placeholders filled in."""
    with open(SSHD_TEMPLATE) as f:
        return f.read().format(**values)


def proxy_environment():
    """The environment a benchmarked Switchboard runs with: this process's, plus the glibc
    setting the README's start command (scripts/run.sh) and the container image give it."""
    return {**os.environ, "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", "glibc.malloc.tcache_max=64")}


def switchboard_binary():
    """$SWITCHBOARD_BIN if set, else a release build made now in .build."""
    binary = os.environ.get("SWITCHBOARD_BIN")
    if binary:
        return os.path.abspath(binary)
    run(["swift", "build", "-c", "release", "--product", "switchboard"], cwd=ROOT, stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, ".build", "release", "switchboard")


def user_pids(uid):
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                pids.append(int(entry))
        except FileNotFoundError:
            pass
    return pids


class CleanedUp:
    """`with`-block behaviour shared by the labs: `setup()` on entry (cleaning up if it fails
    half-way), `cleanup()` on every way out, which runs each of `cleanup_steps()` in turn."""

    # The program name that prefixes a failed cleanup step's message.
    program = "bench"

    def cleanup_steps(self):
        raise NotImplementedError

    def cleanup(self):
        # Ignore a second Ctrl-C or a SIGTERM meanwhile, so that the cleanup is not cut short.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for step in self.cleanup_steps():
                try:
                    step()
                except Exception as error:  # one failed step must not skip the others
                    print(f"{self.program}: cleanup: {error}", file=sys.stderr)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __enter__(self):
        try:
            self.setup()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


class Lab(CleanedUp):
    def __init__(self):
        self.work = None
        self.procs = []
        self.listeners = {}  # sshd name -> listener pid, for CPU accounting
        self.authorized = []
        self.created_user = False
        self.saved_user = None  # an existing user's (password field, authorized_keys or None)

    def setup(self):
        self.work = tempfile.mkdtemp(prefix="switchboard-bench-")
        self.key = os.path.join(self.work, "client_key")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key])
        home = f"/home/{USER}/.ssh"
        if subprocess.run(["id", USER], capture_output=True).returncode != 0:
            run(["useradd", "--create-home", "--shell", "/bin/bash", USER])
            self.created_user = True
        else:
            password = subprocess.run(["getent", "shadow", USER], capture_output=True, text=True,
                                      check=True).stdout.split(":")[1]
            keys = None
            if os.path.exists(f"{home}/authorized_keys"):
                with open(f"{home}/authorized_keys", "rb") as f:
                    keys = f.read()
            self.saved_user = (password, keys)
        # A new account is locked ("!"), and sshd without PAM refuses even key logins to it; a
        # password lets the bench measure password logins too (the old one is put back).
        run(["chpasswd"], input=f"{USER}:{PASSWORD}\n", text=True)
        os.makedirs(home, exist_ok=True)
        with open(self.key + ".pub") as f:
            self.authorized = [f.read().strip()]
        self.write_authorized()
        os.makedirs("/run/sshd", exist_ok=True)
        # The upstream trusts the proxy's CA (the file is filled in once `ca init` has made it;
        # sshd reads it at each certificate login).
        self.trusted_user_ca_keys = os.path.join(self.work, "trusted_user_ca_keys")
        open(self.trusted_user_ca_keys, "w").close()
        self.upstream = self.sshd("upstream", [f"TrustedUserCAKeys {self.trusted_user_ca_keys}"])
        self.bastion = self.sshd("bastion")

    def write_authorized(self):
        home = f"/home/{USER}/.ssh"
        with open(f"{home}/authorized_keys", "w") as f:
            f.write("\n".join(self.authorized) + "\n")
        run(["chown", "-R", f"{USER}:{USER}", home])
        os.chmod(home, 0o700)

    def sshd(self, name, options=()):
        """Starts an sshd on loopback with the bench's options plus `options` (sshd_config
        lines); returns its port."""
        port = free_port()
        d = os.path.join(self.work, name)
        os.makedirs(d)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/host_key"])
        extra = ["UsePAM no", "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
                 "MaxStartups 2000", "MaxSessions 100", *options]
        # Newer OpenSSH limits unauthenticated connections per source; the load test needs many.
        if self.supports_per_source():
            extra.append("PerSourceMaxStartups none")
        with open(f"{d}/sshd_config", "w") as f:
            f.write(render_sshd_config(port=port, listen="127.0.0.1", host_key=f"{d}/host_key",
                                       pid_file=f"{d}/pid", extra="\n".join(extra)))
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

    def start_switchboard(self, database=None, certificate_route=False):
        """Starts a Switchboard with the route and keys the paths use: on SQLite in its data
        directory, or with `database` (a PostgreSQL URL) as its store. With `certificate_route`
        it also makes the proxy's CA, has the upstream trust it, and adds the route
        CERTIFICATE_LOGIN (`--upstream-auth certificate`, upstream user USER) with the client's
        key listed. Returns its port."""
        binary = switchboard_binary()
        data = os.path.join(self.work, "proxy-data-postgresql" if database else "proxy-data")
        store = ["--database", database] if database else []
        secret = []
        if database:
            # A node on a shared store makes no host keys of its own, and keeps route keys
            # encrypted with the cluster secret.
            run([binary, "hostkey", "show", "--data-dir", data], stdout=subprocess.DEVNULL)
            secret_file = os.path.join(self.work, "cluster-secret")
            with open(os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write("bench-cluster-secret-of-enough-length\n")
            secret = ["--cluster-secret-file", secret_file]
        sb = lambda *a: run([binary, *a, "--data-dir", data, *store], stdout=subprocess.DEVNULL)
        sb("route", "add", USER, f"127.0.0.1:{self.upstream}")
        sb("key", "add", USER, self.key + ".pub")
        pub = subprocess.run([binary, "route", "keygen", USER, "--data-dir", data, *store, *secret],
                             capture_output=True, text=True, check=True).stdout.strip()
        self.authorized.append(pub)
        self.write_authorized()
        if certificate_route:
            # `ca init` explains itself on stderr; keep that out of the bench's output.
            made = subprocess.run([binary, "ca", "init", "--data-dir", data, *store], capture_output=True, text=True)
            if made.returncode != 0:
                raise RuntimeError(f"switchboard ca init: {made.stderr.strip()}")
            ca = subprocess.run([binary, "ca", "show", "--data-dir", data, *store], capture_output=True, text=True, check=True).stdout
            with open(self.trusted_user_ca_keys, "w") as f:
                f.write(ca)
            sb("route", "add", CERTIFICATE_LOGIN, f"127.0.0.1:{self.upstream}", "--upstream-user", USER, "--upstream-auth", "certificate")
            sb("key", "add", CERTIFICATE_LOGIN, self.key + ".pub")
        port = free_port()
        limits = ["--max-connections", "5000", "--max-connections-per-source", "0"]
        # Builds before the pre-login limits existed (for A/B runs) do not know these flags.
        help_text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout
        if "--max-unauthenticated" in help_text:
            limits += ["--max-unauthenticated", "5000", "--max-unauthenticated-per-source", "0"]
        # The bench's sshd allows MaxStartups 2000, so the proxy may keep as many logins going.
        if "--max-upstream-startups" in help_text:
            limits += ["--max-upstream-startups", "2000", "--max-upstream-startups-per-source", "0"]
        with open(os.path.join(self.work, "proxy-postgresql.log" if database else "proxy.log"), "w") as log:
            proxy = subprocess.Popen(
                [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--ban-after", "0",
                 *limits, *store, *secret, "--log-level", "warning"],
                stderr=log, env=proxy_environment())
        self.procs.append(proxy)
        wait_port(port)
        if database:
            self.proxy_postgresql, self.proxy_postgresql_port = proxy, port
        else:
            self.proxy, self.proxy_port = proxy, port
        return port

    def start_postgresql(self):
        """A throw-away PostgreSQL (scripts/postgres.sh) for a Switchboard whose store it is;
        returns its URL. Stopped and removed at cleanup."""
        # Its own directory under /tmp: the server runs as the postgres user, who cannot enter
        # the lab's private work directory.
        self.postgres_dir = tempfile.mkdtemp(prefix="switchboard-bench-postgresql-")
        return subprocess.run([os.path.join(ROOT, "scripts/postgres.sh"), "start", self.postgres_dir, str(free_port())],
                              capture_output=True, text=True, check=True).stdout.strip()

    def stop_postgresql(self):
        if getattr(self, "postgres_dir", None):
            subprocess.run([os.path.join(ROOT, "scripts/postgres.sh"), "stop", self.postgres_dir], capture_output=True)
            self.postgres_dir = None

    def ssh(self, path, *remote, extra=(), ciphers="pinned"):
        """The ssh command line for one of PATHS (or switchboard-postgresql, the second proxy;
        switchboard-certificate, the certificate route), running `remote` on the upstream. `ciphers`:
        "pinned" (aes128-gcm and curve25519 on every leg the client negotiates) or "default"
        (whatever ssh and each server pick by themselves)."""
        pinned = ["-o", "Ciphers=aes128-gcm@openssh.com", "-o", "KexAlgorithms=curve25519-sha256"] if ciphers == "pinned" else []
        base = ["ssh", "-i", self.key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                *pinned, *extra]
        if path == "direct":
            return base + ["-p", str(self.upstream), f"{USER}@127.0.0.1", *remote]
        if path == "proxyjump":
            jump = " ".join(base + ["-W", "%h:%p", "-p", str(self.bastion), f"{USER}@127.0.0.1"])
            return base + ["-o", f"ProxyCommand={jump}", "-p", str(self.upstream), f"{USER}@127.0.0.1", *remote]
        if path == "switchboard-postgresql":
            return base + ["-p", str(self.proxy_postgresql_port), f"{USER}@127.0.0.1", *remote]
        if path == "switchboard-certificate":
            return base + ["-p", str(self.proxy_port), f"{CERTIFICATE_LOGIN}@127.0.0.1", *remote]
        return base + ["-p", str(self.proxy_port), f"{USER}@127.0.0.1", *remote]

    def proxy_pid(self, path):
        """The Switchboard process a path of Lab.ssh goes through, or None (direct, proxyjump)."""
        if path == "switchboard-postgresql":
            return self.proxy_postgresql.pid
        return self.proxy.pid if path.startswith("switchboard") else None

    def password_ssh(self, path, *remote):
        """A default `ssh` client's command line (keyboard-interactive before password, no key),
        the password typed by sshpass from $SSHPASS; `path` is direct or switchboard."""
        port = self.upstream if path == "direct" else self.proxy_port
        # The same key exchange both ways (the proxy has no post-quantum one), so the login is
        # what differs.
        return ["sshpass", "-e", "ssh", "-o", "PubkeyAuthentication=no", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "KexAlgorithms=curve25519-sha256",
                "-p", str(port), f"{USER}@127.0.0.1", *remote]

    def cleanup_steps(self):
        return (self.stop_processes, self.stop_postgresql, self.restore_user, self.remove_work)

    def stop_processes(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def restore_user(self):
        if self.created_user:
            # Sessions can outlive a stopped sshd (after a failure). This user is the lab's own,
            # so every process it has is one the lab caused.
            uid = pwd.getpwnam(USER).pw_uid
            deadline = time.time() + 10
            while (pids := user_pids(uid)) and time.time() < deadline:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
            out = subprocess.run(["userdel", "--remove", USER], capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"userdel {USER}: {out.stderr.strip()}")
            self.created_user = False
        elif self.saved_user:
            password, keys = self.saved_user
            run(["usermod", "-p", password, USER])
            authorized = f"/home/{USER}/.ssh/authorized_keys"
            if keys is None:
                if os.path.exists(authorized):
                    os.remove(authorized)
            else:
                with open(authorized, "wb") as f:
                    f.write(keys)
            self.saved_user = None

    def remove_work(self):
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None
