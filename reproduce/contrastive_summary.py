#!/usr/bin/env python3
"""Tables of reproduce/contrastive.sh's runs, in Markdown, from their results.json files.

    python3 reproduce/contrastive_summary.py book/src/results > book/src/results/gim-summary.md
"""
import json
import os
import sys

res = sys.argv[1]


def load(path):
    with open(os.path.join(res, path, "results.json")) as f:
        return json.load(f)


def probes(run, key="probe_accuracy"):
    return [s[key] for s in run["stages"] if key in s]


def pct(values):
    return " | ".join(f"{100 * v:.1f}" for v in values)


for title, folder, variants in [
    ("MNIST-1D, Conv1d sequence encoder, 20 epochs", "gim-mnist1d",
     [("gim-windows", "gim, non-overlapping 4-step windows"),
      ("gim-same-sample", "gim, same-sample negatives")]),
    ("MNIST patches (6×6 grid of 8×8 patches), 10000 training images, 10 epochs", "gim-mnist", []),
]:
    gim, cpc, bp = (load(f"{folder}/{a}") for a in ("gim", "cpc", "bp-encoder"))
    print(f"### {title}\n")
    print("Linear-probe test accuracy (%) of each encoder stage, features averaged over positions.\n")
    print("| encoder | stage 1 | stage 2 | stage 3 |")
    print("|---|---|---|---|")
    print(f"| random init (untrained) | {pct(probes(gim, 'probe_accuracy_init'))} |")
    print(f"| **gim** (InfoNCE per stage) | {pct(probes(gim))} |")
    print(f"| **cpc** (end-to-end InfoNCE) | {pct(probes(cpc))} |")
    print(f"| bp-encoder (supervised) | {pct(probes(bp))} |")
    for name, label in variants:
        run = load(f"{folder}/{name}")
        init = probes(run, "probe_accuracy_init")
        extra = f" (random init: {', '.join(f'{100 * v:.1f}' for v in init)})" if init else ""
        print(f"| {label}{extra} | {pct(probes(run))} |")
    g, c = probes(gim), probes(cpc)
    init = probes(gim, "probe_accuracy_init")
    rising = all(b > a for a, b in zip(g, g[1:]))
    print()
    print(f"- each GIM stage above the one below: {'yes' if rising else 'no'}")
    print(f"- top stage, GIM − CPC: {100 * (g[-1] - c[-1]):+.1f} points")
    print(f"- top stage, GIM − random init: {100 * (g[-1] - init[-1]):+.1f} points, "
          f"CPC − random init: {100 * (c[-1] - init[-1]):+.1f} points")
    bounds = [s.get("infonce_bound") for s in gim["stages"]]
    print(f"- GIM InfoNCE bounds per stage (nats, at most ln 17 = 2.83): "
          + ", ".join(f"{b:.2f}" for b in bounds if b is not None))
    times = ", ".join(f"{a} {r['wall_s'] / 60:.0f} min" for a, r in [("gim", gim), ("cpc", cpc), ("bp-encoder", bp)])
    print(f"- wall time on 2 shared cores (preliminary, others were training too): {times}\n")

print("### Peak training memory, one epoch with batches of 1024\n")
print("| data | schedule | peak RSS of the training (MiB) | accounted step activations (MiB) | cached inputs (MiB) |")
print("|---|---|---|---|---|")
for data in ("mnist1d", "mnist"):
    for name, label in [("cpc", "cpc, end to end"), ("gim-lockstep", "gim, all stages together"),
                        ("gim-cached", "gim, one stage at a time, cached inputs"),
                        ("gim-recompute", "gim, one stage at a time, recomputed inputs")]:
        m = load(f"gim-memory/{data}-{name}")["config"]["memory"]
        rss = m["peak_rss_kib"]
        rss = f"{rss / 1024:.0f}" if rss is not None else "n/a"
        print(f"| {data} | {label} | {rss} | {m['step_activation_bytes'] / 2**20:.1f} | "
              f"{m['input_cache_bytes'] / 2**20:.1f} |")
