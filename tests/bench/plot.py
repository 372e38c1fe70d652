"""Plots a cdc_bench results.json: target-visible rows over time in the backlog run (from the
resume) for every system, and the lag distribution (insert acknowledged -> visible) for every
system plus the source's own floor. Run with the python of tests/bench/plot_venv.sh:

    plot.py results.json bench.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main(src, dst):
    doc = json.load(open(src))
    results = [e for e in doc["results"] if e.get("result")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5))

    # backlog: the first run that has it, per system
    seen = set()
    for e in results:
        if e["workload"] != "backlog" or e["system"] in seen:
            continue
        seen.add(e["system"])
        tl = e["result"].get("timeline") or []
        if not tl:
            continue
        t = [0.0] + [p[0] for p in tl]
        n = [0] + [p[1] for p in tl]
        label = f"{e['system']} ({e['result'].get('rows_per_s', 0):,} rows/s, run {e['run']})"
        ax1.step(t, n, where="post", label=label)
    rows = doc.get("meta", {}).get("sizes", {}).get("backlog", {}).get("rows")
    ax1.set_title(f"backlog: rows visible on the target after resume"
                  + (f" ({rows:,} rows of 128-d)" if rows else ""))
    ax1.set_xlabel("seconds since resume (raw: since its first insert)")
    ax1.set_ylabel("count(*) on the target (Eventually)")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)

    # lag: all runs pooled, per system; the source floor pooled over all systems' runs
    lags, floor = {}, []
    for e in results:
        if e["workload"] != "lag":
            continue
        lags.setdefault(e["system"], []).extend(e["result"].get("lags_ms") or [])
        floor.extend(e["result"].get("source_lags_ms") or [])
    series = list(lags.items()) + ([("source itself (floor)", floor)] if floor else [])
    for name, v in series:
        if not v:
            continue
        v = np.sort(np.asarray(v))
        y = np.arange(1, len(v) + 1) / len(v)
        ax2.plot(v, y, label=f"{name}: p50 {np.percentile(v, 50):.0f} ms, "
                 f"p99 {np.percentile(v, 99):.0f} ms (n={len(v)})")
    ax2.set_xscale("log")
    ax2.set_title("lag at 500 rows/s: insert acknowledged -> visible (CDF)")
    ax2.set_xlabel("ms (log)")
    ax2.set_ylabel("fraction of marker rows")
    ax2.grid(alpha=0.3, which="both")
    ax2.legend(fontsize=8, loc="lower right")

    m = doc.get("meta", {})
    fig.suptitle(f"cdc_bench {m.get('started', '')} on {m.get('host', '')} "
                 f"({m.get('cpus', '?')} CPUs), server {m.get('server_commit', '')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"plot: {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
