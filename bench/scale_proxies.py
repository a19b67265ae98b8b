"""The Switchboard processes of a scale run, as one: as many `switchboard serve` processes as
the per-process descriptor limit requires, with identical arguments (the same --listen address
and the same --data-dir). Switchboard binds with SO_REUSEPORT, so they share the port and the
kernel spreads incoming connections over them; the data directory's SQLite database is in WAL
mode with a busy timeout, so they can share it too.

Each held session takes two descriptors in the proxy (the client's socket and the upstream's);
with the 20,000-descriptor hard limit of a container without CAP_SYS_RESOURCE, one process holds
at most 9,468 sessions here (see `sessions_per_process`), so 10,000 need two. When one process
suffices (the smoke run, any count up to 9,000 at that limit), the run is as it always was: one
process, its log named proxy.log.

The measures read each figure of every process and add them up (`total`), and the split per
process (`each`) shows how evenly the kernel spread the sessions.
"""
import math
import time

from lab import proxy_environment
from procfs import descriptor_limit, listening_ports, thread_stacks

FDS_PER_SESSION = 2  # the client's socket and the upstream's
FD_RESERVE = 64  # the proxy's own: listener, database, logs, libraries (its default max-connections keeps as many)
LOGIN_HEADROOM = 1000  # for logins in flight: 64 while growing, the new-login probes, files read per login
CONNECTION_MARGIN = 2000  # --max-connections above a process's share: logins in flight, and an uneven spread


def sessions_per_process(fd_limit):
    """How many held sessions one proxy process can carry under the descriptor limit."""
    return (fd_limit - FD_RESERVE - LOGIN_HEADROOM) // FDS_PER_SESSION


def processes_needed(max_sessions, fd_limit):
    return max(1, math.ceil(max_sessions * FDS_PER_SESSION / (fd_limit - FD_RESERVE - LOGIN_HEADROOM)))


class ProxyGroup:
    """The proxy processes: started one after another (the first generates the data
    directory's host keys, the others load them), each waited for until it listens."""

    def __init__(self, max_sessions, fd_limit, count=None):
        """`count` processes if given (scale.py --proxies), else as many as needed."""
        self.max_sessions = max_sessions
        self.fd_limit = fd_limit
        self.needed = processes_needed(max_sessions, fd_limit)
        self.count = count or self.needed
        self.max_connections = math.ceil(max_sessions / self.count) + CONNECTION_MARGIN
        self.processes = []

    @property
    def names(self):
        """Log names: "proxy" alone, else proxy-1, proxy-2, …"""
        return ["proxy"] if self.count == 1 else [f"proxy-{i}" for i in range(1, self.count + 1)]

    @property
    def pids(self):
        return [p.pid for p in self.processes]

    def start(self, start_process, command, port, log_tail):
        """Starts the processes with `start_process(name, command)`, `command` being the serve
        command line without --max-connections (added here: each process's share plus a
        margin); `log_tail(name)` explains a process that does not come up."""
        for name in self.names:
            process = start_process(name, [*command, "--max-connections", str(self.max_connections)], env=proxy_environment())
            self.processes.append(process)
            self.wait_listening(process, port, lambda: log_tail(name))

    @staticmethod
    def wait_listening(process, port, log_tail, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{process.name} exited with status {process.returncode}:\n{log_tail()}")
            if port in listening_ports(process.pid):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{process.name} does not listen on {port} after {timeout} s:\n{log_tail()}")

    def total(self, reader):
        """`reader(pid)` added up over the processes."""
        return sum(reader(pid) for pid in self.pids)

    def each(self, reader):
        """`reader(pid)` of each process, in start order."""
        return [reader(pid) for pid in self.pids]

    def thread_stacks(self):
        """procfs.thread_stacks added up: (threads seen, stack KiB mapped, stack KiB resident)."""
        return tuple(sum(values) for values in zip(*self.each(thread_stacks)))

    def describe(self):
        """How many processes, and why, for results.json and the report; the descriptor limit
        is the one each running proxy has (from /proc/PID/limits)."""
        limits = self.each(descriptor_limit)
        capacity = sessions_per_process(min(limits))
        reason = (f"one process holds at most {capacity} sessions: descriptor limit {min(limits)} per process "
                  f"(read at run time), {FD_RESERVE} kept for the proxy itself, {LOGIN_HEADROOM} for logins in flight, "
                  f"{FDS_PER_SESSION} per session; {self.max_sessions} sessions need {self.needed}")
        if self.count != self.needed:
            reason = f"{self.count} asked for with --proxies; {reason}"
        return {"processes": self.count, "needed": self.needed, "pids": self.pids, "fd_limit_per_process": limits,
                "sessions_per_process_at_most": capacity, "max_connections_per_process": self.max_connections,
                "reason": reason}
