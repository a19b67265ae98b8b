"""What the measurements read about processes: CPU time, memory and threads from /proc, and the
child-subreaper switch that lets the benchmark reap (and so count) sshd's orphaned processes."""
import ctypes
import os

CLK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def process_cpu_seconds(pid):
    """User + system CPU of a process and its reaped children, in seconds."""
    return sum(int(x) for x in _stat_fields(pid)[11:15]) / CLK


def children_cpu_seconds(pid):
    """CPU of the reaped descendants of a process (cutime + cstime)."""
    return sum(int(x) for x in _stat_fields(pid)[13:15]) / CLK


def set_child_subreaper(on):
    """sshd's per-connection processes can outlive their parent; as a subreaper this process
    inherits them and reaps them itself, so their CPU time can be counted (run_transfer)."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)


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


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))

