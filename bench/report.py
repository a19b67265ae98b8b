"""What a run shows: the console table of medians and ratios, results.json and the throughput
chart (throughput.png, only with matplotlib installed)."""
import json
import os
import sys

from lab import PATHS


def table_rows(results):
    """(measure, values, ratio) rows, one or two per measurement."""
    rows = []
    settings = [("throughput", "pinned ciphers")]
    if "throughput_default_ciphers" in results:
        settings.append(("throughput_default_ciphers", "OpenSSH default ciphers"))
    for key, label in settings:
        if "ciphers" in results:
            chosen = results["ciphers"]["pinned" if key == "throughput" else "default"]
            rows.append((f"{label}: client leg cipher", " / ".join(chosen[path] for path in PATHS), "direct / jump / switchboard"))
        rows += throughput_rows(results[key])
    rows += other_rows(results)
    return rows


def throughput_rows(t):
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
    return rows


def other_rows(results):
    rows = []
    s = results["setup_seconds"]
    rows.append(("setup s (direct / jump / switchboard)", f"{s['direct']:.3f} / {s['proxyjump']:.3f} / {s['switchboard']:.3f}",
                 f"{s['switchboard'] / s['direct']:.2f}x direct"))
    if "switchboard-certificate" in s:
        rows.append(("certificate login s (direct / switchboard route key / certificate route)",
                     f"{s['direct']:.3f} / {s['switchboard']:.3f} / {s['switchboard-certificate']:.3f}",
                     f"{s['switchboard-certificate'] / s['direct']:.2f}x direct, {s['switchboard-certificate'] / s['switchboard']:.2f}x route key"))
    p = results.get("password_login_seconds")
    if p:
        rows.append(("default-client password login s (direct / switchboard)", f"{p['direct']:.3f} / {p['switchboard']:.3f}",
                     f"{p['switchboard'] / p['direct']:.2f}x direct"))
    i = results["idle"]
    rows.append((f"{i['established']}/{i['sessions']} idle terminal sessions", f"{i['rss_kib_per_session']:.0f} KiB each, {i['threads']} threads",
                 f"{i['idle_cpu_percent_of_core']:.2f}% of a core"))
    r = results["rate"]
    rows.append(("sessions/s (direct / switchboard)", f"{r['direct']['per_second']:.1f} / {r['switchboard']['per_second']:.1f}",
                 f"{r['switchboard']['per_second'] / r['direct']['per_second']:.2f}x, p50 {r['switchboard']['p50']:.3f}s, "
                 f"p99 {r['switchboard']['p99']:.3f}s, failures {r['switchboard']['failures']}"))
    c = r.get("switchboard-certificate")
    if c:
        rows.append(("certificate login sessions/s (switchboard route key / certificate route)", f"{r['switchboard']['per_second']:.1f} / {c['per_second']:.1f}",
                     f"{c['per_second'] / r['switchboard']['per_second']:.2f}x route key, {c['per_second'] / r['direct']['per_second']:.2f}x direct, "
                     f"p50 {c['p50']:.3f}s, p99 {c['p99']:.3f}s, failures {c['failures']}"))
        k = r["switchboard"]
        if c.get("proxy_cpu_ms_per_login") is not None:
            rows.append(("CPU ms per login under that load (route key / certificate route)",
                         f"proxy {k['proxy_cpu_ms_per_login']:.1f} / {c['proxy_cpu_ms_per_login']:.1f}",
                         f"upstream sshd {k['sshd_cpu_ms_per_login']:.1f} / {c['sshd_cpu_ms_per_login']:.1f} "
                         f"(direct: {r['direct']['sshd_cpu_ms_per_login']:.1f})"))
    pg = r.get("switchboard-postgresql")
    if pg:
        rows.append(("sessions/s, store on SQLite / on PostgreSQL", f"{r['switchboard']['per_second']:.1f} / {pg['per_second']:.1f}",
                     f"{pg['per_second'] / r['switchboard']['per_second']:.2f}x, p50 {pg['p50']:.3f}s, "
                     f"p99 {pg['p99']:.3f}s, failures {pg['failures']}"))
    return rows


def print_table(results):
    rows = table_rows(results)
    width = max(len(a) for a, _, _ in rows)
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:<28}  {c}")


def save_json_and_get_pyplot(results, out, program):
    """Writes `results` to `out`/results.json; returns matplotlib's pyplot for a chart, or None
    (saying so on stderr as `program`) if matplotlib is not installed."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"{program}: matplotlib is not installed; no chart", file=sys.stderr)
        return None
    return plt


def write_results(results, out):
    """results.json and throughput.png in the directory `out`."""
    plt = save_json_and_get_pyplot(results, out, "bench")
    if plt is None:
        return
    t = results["throughput"]
    labels = ["upload", "download"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for offset, path in enumerate(PATHS):
        ax.bar([x + offset * 0.25 for x in range(2)], [t[f"{d}/{path}"]["mib_per_s"] for d in labels], 0.25, label=path)
    ax.set_xticks([x + 0.25 for x in range(2)], labels)
    ax.set_ylabel("MiB/s")
    ax.set_title("Throughput on loopback (median)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "throughput.png"))
