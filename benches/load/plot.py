#!/usr/bin/env python3
"""Draws the scaling curves of a bench.py run: python3 plot.py target/bench-load.json docs/bench-scaling.png

Top: requests/s and p99 latency against concurrent connections (1 KiB responses).
Bottom: the same against the response (1 KiB, 64 KiB, a 16-event stream) at one connection count.
Markers are medians over the rounds; bars span min–max. "upstream direct" is plain HTTP to the
upstream without a proxy (one round): the ceiling of the setup, not a competitor.
"""

import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "tlsgate": dict(color="#1f77b4", marker="o", label="tlsgate"),
    "nginx": dict(color="#2ca02c", marker="s", label="nginx"),
    "haproxy": dict(color="#ff7f0e", marker="^", label="HAProxy"),
    "upstream": dict(color="#7f7f7f", marker=".", linestyle="--", label="upstream direct (plain HTTP)"),
}
SIZE_LABELS = {"64k": "64 KiB", "stream16": "16-event stream"}


def stats(runs, key):
    vals = [r[key] for r in runs if r.get(key)]  # a run with no answers has no latency
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def main(src, dst):
    r = json.load(open(src))
    sc = r["scaling"]
    pts = sc["points"]
    conn_keys = sorted((k for k in pts if k.startswith("c")), key=lambda k: pts[k]["conns"])
    size_conns = r["settings"]["conns"]  # the 64 KiB and stream points use the headline count
    size_keys = [k for k in [f"c{size_conns}", "64k", "stream16"] if k in pts]
    names = [n for n in ("tlsgate", "nginx", "haproxy", "upstream") if n in sc["runs"]]

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    for col, (key, ylabel) in enumerate((("rps", "requests/s"), ("p99_ms", "p99 latency, ms"))):
        ax = axes[0][col]
        for n in names:
            xs, ys, lo, hi = [], [], [], []
            for k in conn_keys:
                s = stats(sc["runs"][n].get(k, []), key)
                if s:
                    xs.append(pts[k]["conns"])
                    ys.append(s[0])
                    lo.append(s[0] - s[1])
                    hi.append(s[2] - s[0])
            if xs:
                st = dict(STYLE[n])
                ax.errorbar(xs, ys, yerr=[lo, hi], capsize=3, linewidth=1.6, **st)
        ax.set_xscale("log", base=2)
        ax.set_xticks([pts[k]["conns"] for k in conn_keys])
        ax.set_xticklabels([str(pts[k]["conns"]) for k in conn_keys])
        if key == "p99_ms":
            ax.set_yscale("log")
        ax.set_xlabel("concurrent connections (1 KiB responses, HTTP/1.1 keep-alive)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} against connections")
        ax.grid(True, which="both", alpha=0.3)

        ax = axes[1][col]
        width = 0.8 / len(names)
        lows, highs = [], []
        for i, n in enumerate(names):
            xs, ys, lo, hi = [], [], [], []
            for j, k in enumerate(size_keys):
                s = stats(sc["runs"][n].get(k, []), key)
                if s:
                    xs.append(j + (i - (len(names) - 1) / 2) * width)
                    ys.append(s[0])
                    lo.append(s[0] - s[1])
                    hi.append(s[2] - s[0])
            if xs:
                lows += [y - d for y, d in zip(ys, lo)]
                highs += [y + d for y, d in zip(ys, hi)]
                st = STYLE[n]
                ax.bar(xs, ys, width=width * 0.95, yerr=[lo, hi], capsize=3, color=st["color"],
                       alpha=0.55 if n == "upstream" else 0.9, label=st["label"])
        ax.set_xticks(range(len(size_keys)))
        ax.set_xticklabels([SIZE_LABELS.get(k, "1 KiB") for k in size_keys])
        if key == "p99_ms" and lows:
            ax.set_yscale("log")
            ax.set_ylim(min(lows) * 0.7, max(highs) * 1.4)  # bars on a log axis: set both ends
        ax.set_xlabel(f"response ({size_conns} connections)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} against response")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0][0].legend(loc="best", fontsize=9)
    st = r["settings"]
    fig.suptitle(
        f"TLS-terminating proxies in front of one upstream — {r['date']}, {r['machine']}, "
        f"{st['workers']} workers each, h2load --h1 -t2, {st['scale_secs']} s × {st['scale_rounds']} round(s)\n"
        f"load average {r['load_avg_start']} at start, {r['load_avg_end']} at end "
        f"(other work on the machine shows as spread)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(dst, dpi=110)
    print(f"plot: {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
