"""What the measurements read about processes: CPU time, memory, threads, descriptors, mappings
and thread stacks from /proc, system memory from /proc/meminfo, and the child-subreaper switch
that lets the benchmark reap (and so count) sshd's orphaned processes."""
import bisect
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



def status_kib(pid, field):
    """A kB field of /proc/PID/status (VmPTE, VmStk, …); 0 if absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def descriptor_limit(pid):
    """The process's soft descriptor limit (RLIMIT_NOFILE), from /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise RuntimeError(f"no descriptor limit in /proc/{pid}/limits")


def listening_ports(pid):
    """The TCP ports the process listens on (its sockets in LISTEN state, IPv4 and IPv6)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)  # the header
                for line in f:
                    fields = line.split()  # sl, local address, remote address, state, …, inode (10th)
                    if fields[3] == "0A" and fields[9] in inodes:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:  # no IPv6
            pass
    return ports


def memory_maps(pid):
    """How many mappings the process has (the kernel caps this at vm.max_map_count)."""
    with open(f"/proc/{pid}/maps") as f:
        return sum(1 for _ in f)


def meminfo_kib():
    """/proc/meminfo as {field: kB}."""
    with open("/proc/meminfo") as f:
        return {line.split(":")[0]: int(line.split()[1]) for line in f}


def context_switches(pid):
    """Voluntary + involuntary context switches of all of the process's threads so far."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                total += sum(int(line.split()[1]) for line in f if "ctxt_switches:" in line)
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return total


def thread_stacks(pid):
    """(threads, stack KiB mapped, stack KiB resident) over the process's threads, each thread's
    stack being the mapping that holds its stack pointer (from /proc/PID/task/TID/syscall, so the
    process must be stopped in, or between, system calls; a running thread is skipped)."""
    pointers = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
        except (FileNotFoundError, PermissionError):
            continue
        if len(fields) >= 3 and fields[0] != "running":
            pointers.append(int(fields[-2], 16))
    regions = []  # (start, end, size KiB, rss KiB)
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(x, 16) for x in head.split("-"))
                regions.append([start, end, 0, 0])
            elif head == "Size:":
                regions[-1][2] = int(line.split()[1])
            elif head == "Rss:":
                regions[-1][3] = int(line.split()[1])
    regions.sort()
    starts = [r[0] for r in regions]
    used = {}
    for sp in pointers:
        index = bisect.bisect_right(starts, sp) - 1
        if index >= 0 and regions[index][0] <= sp < regions[index][1]:
            used[index] = regions[index]
    return len(pointers), sum(r[2] for r in used.values()), sum(r[3] for r in used.values())


def system_cpu_seconds():
    """(busy, total) CPU seconds of all cores since boot, from /proc/stat (busy: all but idle
    and iowait)."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK, sum(values) / CLK
