#!/usr/bin/env python3
"""Scale benchmark: what thousands of concurrent idle terminal sessions cost Switchboard, and
how fast it sets sessions up, measured with asyncssh on both sides so that the proxy is what
is measured (1,000 OpenSSH sshd sessions alone would cost gigabytes).

    sudo bench/scale.py                          # 1,000, 5,000 and 10,000 sessions: ~5 minutes
    sudo bench/scale.py --counts 1000,2000 --out /tmp/scale
    sudo bench/scale.py --smoke                  # tiny sizes: checks the benchmark runs (CI)

One load generator process (loadgen.py) opens idle terminal sessions (a PTY and a shell)
through Switchboard to one asyncssh upstream process (fake_upstream.py). Switchboard is one
process, or as many sharing its port as the per-process descriptor limit requires for the
largest count (scale_proxies.py); every proxy figure is then the sum over them. The held set
grows to each count in turn; at each, after a settle period, it reads the proxy's RSS, threads,
descriptors, mappings and thread stacks, its CPU over an idle window, then times new logins
made while the sessions are held, and checks that every held session still echoes. With all
sessions released it measures sessions per second with 64 parallel clients, through the proxy
and directly to the upstream, in alternating rounds. It prints a table, and with --out DIR
writes results.json, scale.png and the processes' logs there. It exits 1 if any session
failed. SWITCHBOARD_BIN=PATH uses that switchboard binary instead of building one.
"""
import argparse
import os
import shlex
import signal
import sys
import time

import scale_report
from procfs import (context_switches, meminfo_kib, memory_maps, open_fds, process_cpu_seconds, rss_kib,
                    status_kib, system_cpu_seconds, threads)
from scale_lab import ScaleLab

MEMINFO = ("MemAvailable", "KernelStack", "PageTables", "SUnreclaim")


def settings(args):
    if args.smoke:
        defaults = dict(counts=[20, 50], settle=1, idle=2, probes=5, rate_seconds=3, rounds=2)
    else:
        defaults = dict(counts=[1000, 5000, 10000], settle=10, idle=10, probes=100, rate_seconds=20, rounds=4)
    if args.counts:
        defaults["counts"] = sorted(int(x) for x in args.counts.split(","))
    return dict(defaults, workers=64, concurrency=64, per_second=500)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def proxy_process(pid):
    """One proxy process's share: what shows how the kernel spread the sessions."""
    return {"pid": pid, "threads": threads(pid), "fds": open_fds(pid), "rss_kib": rss_kib(pid)}


def snapshot(lab):
    """The proxy's resources now (all its processes together, and each one's share), with the
    system's kernel memory and the helpers' RSS."""
    proxies = lab.proxies
    stack_threads, stack_mapped, stack_rss = proxies.thread_stacks()
    info = meminfo_kib()
    return {"rss_kib": proxies.total(rss_kib), "threads": proxies.total(threads), "fds": proxies.total(open_fds),
            "maps": proxies.total(memory_maps), "page_tables_kib": proxies.total(lambda pid: status_kib(pid, "VmPTE")),
            "stacks_seen": stack_threads, "stack_mapped_kib": stack_mapped, "stack_rss_kib": stack_rss,
            "per_process": proxies.each(proxy_process),
            "meminfo_kib": {k: info[k] for k in MEMINFO},
            "loadgen_rss_kib": rss_kib(lab.generator.pid), "upstream_rss_kib": rss_kib(lab.upstream.pid)}


def cpu_seconds(lab):
    """CPU seconds so far of each process, and of all cores together ("system", busy time)."""
    seconds = {p.name: process_cpu_seconds(p.pid) for p in (lab.generator, lab.upstream)}
    seconds["proxy"] = lab.proxies.total(process_cpu_seconds)
    seconds["system"] = system_cpu_seconds()[0]
    return seconds


def idle_window(lab, seconds):
    """Each process's CPU over `seconds` as % of one core, and how often the proxy's threads
    were scheduled (context switches per second, all threads)."""
    switches = lab.proxies.total(context_switches)
    before, start = cpu_seconds(lab), time.perf_counter()
    time.sleep(seconds)
    after, elapsed = cpu_seconds(lab), time.perf_counter() - start
    result = {f"{name}_cpu_percent": (after[name] - before[name]) / elapsed * 100 for name in after}
    result["proxy_context_switches_per_s"] = (lab.proxies.total(context_switches) - switches) / elapsed
    return result


def per_session(level, baseline):
    """What each held session (or each added thread) adds over the baseline."""
    held = level["held"] or 1
    s, b = level["snapshot"], baseline
    added_threads = (s["threads"] - b["threads"]) or 1
    kernel = lambda field: (s["meminfo_kib"][field] - b["meminfo_kib"][field])
    return {
        "rss_kib": (s["rss_kib"] - b["rss_kib"]) / held,
        "threads": (s["threads"] - b["threads"]) / held,
        "fds": (s["fds"] - b["fds"]) / held,
        "maps": (s["maps"] - b["maps"]) / held,
        "proxy_page_tables_kib": (s["page_tables_kib"] - b["page_tables_kib"]) / held,
        "stack_rss_kib_per_thread": s["stack_rss_kib"] / max(1, s["stacks_seen"]),
        "stack_mapped_kib_per_thread": s["stack_mapped_kib"] / max(1, s["stacks_seen"]),
        "kernel_stack_kib_per_added_thread": kernel("KernelStack") / added_threads,
        "system_page_tables_kib": kernel("PageTables") / held,
        "system_unreclaimable_slab_kib": kernel("SUnreclaim") / held,
        "system_memory_kib": -kernel("MemAvailable") / held,
        "loadgen_rss_kib": (s["loadgen_rss_kib"] - b["loadgen_rss_kib"]) / held,
        "upstream_rss_kib": (s["upstream_rss_kib"] - b["upstream_rss_kib"]) / held,
    }


def hold(lab, count, cfg, baseline):
    """Grows the held set to `count` and measures it."""
    print(f"scale: growing to {count} idle sessions", file=sys.stderr)
    grown = lab.loadgen({"cmd": "grow", "to": count, "concurrency": cfg["concurrency"], "per_second": cfg["per_second"]})
    time.sleep(cfg["settle"])
    level = {"sessions": count, "held": grown["held"], "grow": grown, "snapshot": snapshot(lab)}
    level["idle"] = idle_window(lab, cfg["idle"])
    probe = lab.loadgen({"cmd": "probe", "count": cfg["probes"]})
    level["new_login"] = {"count": len(probe["seconds"]), "failed": probe["failed"], "errors": probe["errors"],
                          "not_tried": probe["not_tried"],
                          "p50": percentile(probe["seconds"], 0.5), "p99": percentile(probe["seconds"], 0.99),
                          "max": max(probe["seconds"], default=None)}
    level["ping"] = lab.loadgen({"cmd": "ping", "timeout": 60})
    level["status"] = lab.loadgen({"cmd": "status"})
    level["per_session"] = per_session(level, baseline)
    # Held sessions that no longer echo (died or hung) include those of earlier levels.
    level["failures"] = grown["failed"] + probe["failed"] + level["ping"]["silent"]
    return level


def session_rate(lab, cfg):
    """`workers` parallel login + `true` + close loops, direct and through the proxy, in
    alternating rounds (ABBA), `rate_seconds` in all per path."""
    paths = {"direct": "direct", "switchboard": "proxy"}
    totals = {path: {"ok": 0, "failed": 0, "errors": {}, "seconds": [], "elapsed": 0.0,
                     "cpu": {"proxy": 0.0, "loadgen": 0.0, "upstream": 0.0, "system": 0.0}} for path in paths}
    for round_number in range(cfg["rounds"]):
        order = list(paths) if round_number % 2 == 0 else list(reversed(paths))
        for path in order:
            before, start = cpu_seconds(lab), time.perf_counter()
            answer = lab.loadgen({"cmd": "rate", "target": paths[path], "seconds": cfg["rate_seconds"] / cfg["rounds"],
                                  "workers": cfg["workers"]})
            elapsed, after = time.perf_counter() - start, cpu_seconds(lab)
            total = totals[path]
            total["ok"] += answer["ok"]
            total["failed"] += answer["failed"]
            total["seconds"] += answer["seconds"]
            total["elapsed"] += elapsed
            for error, n in answer["errors"].items():
                total["errors"][error] = total["errors"].get(error, 0) + n
            for name in total["cpu"]:
                total["cpu"][name] += after[name] - before[name]
    results = {}
    for path, total in totals.items():
        results[path] = {
            "per_second": total["ok"] / total["elapsed"], "sessions": total["ok"], "failed": total["failed"],
            "errors": total["errors"], "p50": percentile(total["seconds"], 0.5), "p99": percentile(total["seconds"], 0.99),
            "seconds": total["elapsed"],
            "cpu_percent": {name: cpu / total["elapsed"] * 100 for name, cpu in total["cpu"].items()}}
    results["ratio"] = results["switchboard"]["per_second"] / results["direct"]["per_second"]
    results["workers"] = cfg["workers"]
    return results


def log_summary(logs):
    """The proxy processes' log lines ({name: text}; warning and above; text format: time,
    level, "switchboard:", key=value metadata, message) tallied together by level, message,
    reason and error, and counted per process."""
    per_process = {name: [line for line in text.splitlines() if line.strip()] for name, text in logs.items()}
    lines = [line for name_lines in per_process.values() for line in name_lines]
    tally = {}
    for line in lines:
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        fields = dict(word.split("=", 1) for word in words[3:] if "=" in word)
        message = " ".join(word for word in words[3:] if "=" not in word)
        detail = ", ".join(f"{k}={fields[k]}" for k in ("reason", "error") if k in fields)
        key = f"{words[1] if len(words) > 1 else '?'}: {message}" + (f" ({detail})" if detail else "")
        tally[key] = tally.get(key, 0) + 1
    return {"lines": len(lines), "lines_per_process": {name: len(x) for name, x in per_process.items()},
            "tally": dict(sorted(tally.items(), key=lambda kv: -kv[1])[:30])}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that the benchmark runs")
    parser.add_argument("--counts", help="comma-separated session counts, grown in turn (default 1000,5000,10000)")
    parser.add_argument("--out", help="directory for results.json, scale.png and the processes' logs")
    parser.add_argument("--proxies", type=int, help="Switchboard processes sharing the port (default: as many as "
                        "the per-process descriptor limit requires for the largest count, usually 1)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("scale: run as root (it raises descriptor and kernel limits)")
    cfg = settings(args)

    # SIGTERM unwinds like Ctrl-C, so the lab cleans up either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with ScaleLab(max(cfg["counts"]), log_dir=args.out, proxy_processes=args.proxies) as lab:
        results = {"machine": os.uname().nodename, "cores": os.cpu_count(), "smoke": args.smoke, "settings": cfg,
                   "kernel_limits": lab.kernel_limits, "kernel": os.uname().release,
                   "proxy_processes": lab.proxies.describe()}
        scale_report.print_proxies(results["proxy_processes"])
        warm = lab.loadgen({"cmd": "probe", "count": 5})  # first logins fill caches; not the sessions' cost
        if warm["failed"]:
            raise RuntimeError(f"the path through the proxy does not work: {warm['errors']}\n{lab.proxy_log_tails()}")
        time.sleep(cfg["settle"])
        results["baseline"] = snapshot(lab)
        results["baseline"]["idle"] = idle_window(lab, cfg["idle"])
        results["levels"] = []
        for count in cfg["counts"]:
            results["levels"].append(hold(lab, count, cfg, results["baseline"]))
            scale_report.print_level(results["levels"][-1])
        results["died_while_held"] = lab.loadgen({"cmd": "status"})["died"]
        results["released"] = lab.loadgen({"cmd": "release"})["released"]
        time.sleep(cfg["settle"])
        results["after_release"] = snapshot(lab)
        print("scale: sessions per second", file=sys.stderr)
        results["rate"] = session_rate(lab, cfg)
        time.sleep(cfg["settle"])
        # Memory the proxy keeps once sessions are gone: free memory is reused by later
        # sessions, so RSS that grows with every session served would be a leak.
        results["after_rate"] = snapshot(lab)
        results["proxy_log"] = log_summary(lab.proxy_logs())

    levels = results["levels"]
    results["failures"] = (sum(level["grow"]["failed"] + level["new_login"]["failed"] for level in levels)
                           + max(levels[-1]["ping"]["silent"], results["died_while_held"])
                           + results["rate"]["switchboard"]["failed"] + results["rate"]["direct"]["failed"])
    scale_report.print_table(results)
    if args.out:
        scale_report.write_results(results, args.out)
    print(f"scale: {'smoke ' if args.smoke else ''}run complete, {results['failures']} failed sessions")
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
