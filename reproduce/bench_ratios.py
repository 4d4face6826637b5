#!/usr/bin/env python3
"""The ratio locus / PyTorch of every bench row, as a Markdown table.

    python3 reproduce/bench_ratios.py book/src/results/bench/locus.jsonl \
        book/src/results/bench/pytorch.jsonl > book/src/results/bench/ratios.md

Every row of locus.jsonl (criterion's group and bench, written by reproduce/bench.sh) is
paired with the PyTorch row whose workload is "<group> <bench>" (reproduce/torch_anchors.py
names its rows so), or, for the shared anchor's rows, which carry their own names, through
ALIASES below. Throughput is samples/s, or GFLOP/s for the matrix products; a ratio above 1
means locus is faster. Rows of pytorch.jsonl that are not JSON (a "skipped" note) are ignored.
"""
import json
import sys

# locus workload -> the shared anchor's (../shared/anchors/torch_baseline.py) name for the
# same work: the tanh MLP under plain SGD lr 0.01, by rule; locus's own dot beside ndarray's
# is compared with the same PyTorch product.
ALIASES = {
    "mlp 784-1000-1000-10 b128 bp step": "mlp 784-1000-1000-10 b128 bp autograd",
    "mlp 784-1000-1000-10 b128 fa step": "mlp 784-1000-1000-10 b128 fa manual",
    "mlp 784-1000-1000-10 b128 dfa step": "mlp 784-1000-1000-10 b128 dfa manual",
}
for shape in ["128x784x1000", "128x1000x1000", "1024x1024x1024"]:
    ALIASES[f"sgemm {shape} ndarray dot"] = f"sgemm {shape}"


def rows(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                yield json.loads(line)


def rate(row):
    if "gflops" in row:
        return row["gflops"], "GFLOP/s"
    return row.get("samples_per_s"), "samples/s"


locus_path, torch_path = sys.argv[1], sys.argv[2]
torch_rows = {r["workload"]: r for r in rows(torch_path)}
print("| workload | unit | locus | PyTorch | locus / PyTorch | PyTorch row |")
print("|---|---|---:|---:|---:|---|")
paired = 0
for r in rows(locus_path):
    name = f"{r['group']} {r['bench']}"
    ours, unit = rate(r)
    partner = name if name in torch_rows else ALIASES.get(name)
    theirs = rate(torch_rows[partner])[0] if partner in torch_rows else None
    if ours is None or not theirs:
        print(f"| {name} | {unit} | {ours} | — | — | none |")
        continue
    paired += 1
    same = "same name" if partner == name else f"`{partner}`"
    print(f"| {name} | {unit} | {ours:g} | {theirs:g} | {ours / theirs:.2f} | {same} |")
print(f"\n{paired} of the locus rows paired; ratio > 1: locus is faster.")
