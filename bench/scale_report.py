"""What a scale run shows: a line per session count as it is reached, the console tables,
results.json and the chart scale.png (RSS per session, threads and new-login p99 against the
number of held sessions; only with matplotlib installed)."""
import os
import sys

from procfs import CLK
from report import save_json_and_get_pyplot

# The targets, checked in the summary.
IDLE_CPU_TARGET = 0.5  # % of one core
LOGIN_P99_TARGET = 1.0  # seconds
RATE_RATIO_TARGET = 0.9


def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def proxies_line(proxies):
    count = proxies["processes"]
    return f"{count} proxy process{'es' if count > 1 else ''} ({proxies['reason']})"


def print_proxies(proxies):
    print(f"scale: {proxies_line(proxies)}", file=sys.stderr)


def split(snapshot, field):
    """A field of each proxy process, as "a + b" (empty with one process)."""
    processes = snapshot["per_process"]
    return "" if len(processes) < 2 else " (" + " + ".join(str(p[field]) for p in processes) + ")"


def print_level(level):
    s, i, n = level["snapshot"], level["idle"], level["new_login"]
    print(f"scale: {level['held']}/{level['sessions']} held, {level['per_session']['rss_kib']:.0f} KiB each, "
          f"{s['threads']} threads, {s['fds']}{split(s, 'fds')} fds, idle {i['proxy_cpu_percent']:.2f}% of a core, "
          f"new login p50 {ms(n['p50'])} ms p99 {ms(n['p99'])} ms, {level['failures']} failures", file=sys.stderr)


def print_rows(rows):
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(v).rjust(w) if c else str(v).ljust(w) for c, (v, w) in enumerate(zip(row, widths))))
    print()


def print_table(results):
    b = results["baseline"]
    rows = [("sessions", "held", "RSS MiB", "KiB/session", "threads", "fds", "maps", "idle CPU %", "wakeups/s",
             "box busy %", "new login p50 ms", "p99 ms", "failures"),
            ("0 (baseline)", 0, f"{b['rss_kib'] / 1024:.1f}", "-", b["threads"], b["fds"], b["maps"],
             f"{b['idle']['proxy_cpu_percent']:.2f}", f"{b['idle']['proxy_context_switches_per_s']:.1f}",
             f"{b['idle']['system_cpu_percent']:.1f}", "-", "-", "-")]
    for level in results["levels"]:
        s, p, i, n = level["snapshot"], level["per_session"], level["idle"], level["new_login"]
        rows.append((level["sessions"], level["held"], f"{s['rss_kib'] / 1024:.1f}", f"{p['rss_kib']:.1f}", s["threads"],
                     s["fds"], s["maps"], f"{i['proxy_cpu_percent']:.2f}", f"{i['proxy_context_switches_per_s']:.1f}",
                     f"{i['system_cpu_percent']:.1f}", ms(n["p50"]), ms(n["p99"]), level["failures"]))
    print("Switchboard holding idle terminal sessions (PTY + shell), asyncssh on both sides; idle CPU over "
          f"{results['settings']['idle']} s (resolution: one clock tick, {100 / CLK / results['settings']['idle']:.2f}% here); "
          "wakeups: the proxy's context switches; box busy: all cores, as % of one")
    print_rows(rows)
    for level in results["levels"]:
        n, g = level["new_login"], level["grow"]
        if level["failures"] or n["not_tried"]:
            print(f"at {level['sessions']}: {g['failed']} sessions failed to open, {n['failed']} new logins failed"
                  f" ({n['not_tried']} not tried after 5 in a row), {level['ping']['silent']} held sessions silent")
            for what, errors in (("opening", g["errors"]), ("new login", n["errors"])):
                for error, count in errors.items():
                    print(f"  {what}: {count} x {error}")
    print(f"held sessions that died: {results['died_while_held']}")
    a, z = results["after_release"], results["after_rate"]
    r = results["rate"]
    print(f"proxy RSS: {b['rss_kib'] / 1024:.1f} MiB at the baseline, {a['rss_kib'] / 1024:.1f} MiB once all "
          f"{results['released']} sessions were released ({a['threads']} threads), {z['rss_kib'] / 1024:.1f} MiB after "
          f"the {r['switchboard']['sessions'] + r['switchboard']['failed']} sessions of the rate test")
    proxies = results["proxy_processes"]
    print(f"proxy: {proxies_line(proxies)}" + ("; every proxy figure is the sum over them" if proxies["processes"] > 1 else ""))
    print()
    if proxies["processes"] > 1:
        print_split(results)

    rows = [("sessions", "fds/session", "maps/session", "stack RSS/thread KiB", "stack mapped/thread KiB", "KernelStack/thread KiB",
             "proxy PTE/session KiB", "slab/session KiB", "system mem/session KiB", "loadgen KiB/session",
             "upstream KiB/session", "loadgen CPU %", "upstream CPU %")]
    for level in results["levels"]:
        p, i = level["per_session"], level["idle"]
        rows.append((level["sessions"], f"{p['fds']:.2f}", f"{p['maps']:.2f}", f"{p['stack_rss_kib_per_thread']:.1f}", f"{p['stack_mapped_kib_per_thread']:.0f}",
                     f"{p['kernel_stack_kib_per_added_thread']:.1f}", f"{p['proxy_page_tables_kib']:.2f}",
                     f"{p['system_unreclaimable_slab_kib']:.1f}", f"{p['system_memory_kib']:.0f}",
                     f"{p['loadgen_rss_kib']:.0f}", f"{p['upstream_rss_kib']:.0f}",
                     f"{i['loadgen_cpu_percent']:.2f}", f"{i['upstream_cpu_percent']:.2f}"))
    print("What each session costs (kernel figures are system-wide: all processes' sockets)")
    print_rows(rows)

    r = results["rate"]
    rows = [("sessions/s, " + str(r["workers"]) + " parallel", "per s", "p50 ms", "p99 ms", "failures", "proxy CPU %",
             "loadgen CPU %", "upstream CPU %", "all cores busy %", "CPU ms/session")]
    for path in ("direct", "switchboard"):
        x, cpu = r[path], r[path]["cpu_percent"]
        rows.append((path, f"{x['per_second']:.1f}", ms(x["p50"]), ms(x["p99"]), x["failed"], f"{cpu['proxy']:.0f}",
                     f"{cpu['loadgen']:.0f}", f"{cpu['upstream']:.0f}", f"{cpu['system']:.0f}",
                     " + ".join(f"{cpu[name] * 10 / x['per_second']:.2f}" for name in ("proxy", "loadgen", "upstream"))))
    print(f"Login + exec true + close, {r['switchboard']['seconds']:.0f} s per path in alternating rounds "
          f"(CPU as % of one core, all cores: {results['cores']} x 100%; CPU ms per session: proxy + loadgen + upstream)")
    print_rows(rows)
    print(f"switchboard / direct: {r['ratio']:.2f}x")
    for name, limit in results["kernel_limits"].items():
        if isinstance(limit, dict):
            raised = f", raised to {limit['raised_to']} for the run" if limit["raised_to"] else ""
            print(f"kernel limit {name}: {limit['value']} (needed {limit['needed']}){raised}")
    limits = results["kernel_limits"]
    print(f"descriptor limit per process: {limits['fd_limit_per_process']}"
          + (f" (wanted {limits['fd_limit_wanted']}: the hard limit, which this root cannot raise)"
             if limits["fd_limit_per_process"] < limits["fd_limit_wanted"] else ""))
    log = results["proxy_log"]
    per_process = log["lines_per_process"]
    print(f"proxy log (warning and above): {log['lines']} lines"
          + (" (" + ", ".join(f"{name}: {n}" for name, n in per_process.items()) + ")" if len(per_process) > 1 else "")
          + "".join(f"\n  {n} x {m}" for m, n in log["tally"].items()))
    print_targets(results)


def print_split(results):
    """Each proxy process's share at every count: the kernel spreads connections over the
    SO_REUSEPORT listeners by a hash, not evenly; what matters is that none nears its limit."""
    limits = results["proxy_processes"]["fd_limit_per_process"]
    rows = [("sessions", "process", "pid", "threads", "fds", "fd limit", "fds free", "RSS MiB")]
    for label, s in ([("0 (baseline)", results["baseline"])] + [(level["sessions"], level["snapshot"]) for level in results["levels"]]
                     + [("released", results["after_release"]), ("after rate", results["after_rate"])]):
        for index, (p, limit) in enumerate(zip(s["per_process"], limits)):
            rows.append((label if index == 0 else "", index + 1, p["pid"], p["threads"], p["fds"], limit,
                         limit - p["fds"], f"{p['rss_kib'] / 1024:.1f}"))
    print("Per proxy process (the kernel's spread of the sessions over the processes sharing the port)")
    print_rows(rows)


def print_targets(results):
    top, rate = results["levels"][-1], results["rate"]
    checks = [
        (f"{top['sessions']} sessions held, zero failures", top["held"] == top["sessions"] and results["died_while_held"] == 0
         and all(level["failures"] == 0 for level in results["levels"])),
        (f"idle CPU < {IDLE_CPU_TARGET}% of a core at {top['sessions']}", top["idle"]["proxy_cpu_percent"] < IDLE_CPU_TARGET),
        (f"new login p99 < {LOGIN_P99_TARGET} s at {top['sessions']}",
         top["new_login"]["p99"] is not None and top["new_login"]["p99"] < LOGIN_P99_TARGET),
        (f"sessions/s >= {RATE_RATIO_TARGET}x direct, zero failures",
         rate["ratio"] >= RATE_RATIO_TARGET and rate["switchboard"]["failed"] + rate["direct"]["failed"] == 0)]
    print("targets:")
    for text, met in checks:
        print(f"  {'met    ' if met else 'NOT met'}  {text}")


def write_results(results, out):
    """results.json and scale.png in the directory `out`."""
    plt = save_json_and_get_pyplot(results, out, "scale")
    if plt is None:
        return
    levels = results["levels"]
    counts = [level["held"] for level in levels]
    panels = [("proxy RSS per session (KiB)", [level["per_session"]["rss_kib"] for level in levels]),
              ("proxy threads", [level["snapshot"]["threads"] for level in levels]),
              ("new-login setup time (ms)", None)]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, (title, values) in zip(axes, panels):
        if values is None:
            for q in ("p50", "p99"):
                points = [(n, level["new_login"][q] * 1000) for n, level in zip(counts, levels) if level["new_login"][q]]
                ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=q)
            ax.axhline(LOGIN_P99_TARGET * 1000, color="grey", linestyle=":", label="target p99")
            failed = [n for n, level in zip(counts, levels) if level["new_login"]["p99"] is None]
            if failed:
                ax.plot(failed, [LOGIN_P99_TARGET * 1000] * len(failed), "rx", markersize=10, label="no login succeeded")
            ax.set_yscale("log")  # the target is far above the usual times
            ax.legend()
        else:
            ax.plot(counts, values, marker="o")
            ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.set_xlabel("idle sessions held")
        ax.grid(alpha=0.3)
    processes = results["proxy_processes"]["processes"]
    fig.suptitle("Switchboard at scale (asyncssh load generator and upstream, loopback"
                 + (f"; {processes} proxy processes on one port, summed)" if processes > 1 else ")"))
    fig.tight_layout()
    fig.savefig(os.path.join(out, "scale.png"))
