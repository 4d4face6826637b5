#!/usr/bin/env bash
# Training-step throughput of every rule, ours and PyTorch's, measured in one sitting on
# one machine, written to book/src/results/bench/. Runs every criterion bench (mlp_step,
# forward_forward_step, lenet_step, gim_step); takes 5 to 10 minutes.
#   reproduce/bench.sh            (PyTorch from $TORCH_PYTHON, default /tmp/torchenv/bin/python;
#                                  make it with: python3 -m venv /tmp/torchenv &&
#                                  /tmp/torchenv/bin/pip install torch numpy)
# The shared PyTorch script lives outside the project (../shared/anchors/torch_baseline.py,
# or $TORCH_BASELINE); reproduce/torch_anchors.py times, with the same python and threads,
# the workloads it does not cover (LeNet-5, GIM, Forward-Forward, the MLP step of `locus
# train`'s defaults), appended to the same pytorch.jsonl. Without PyTorch only our figures
# are written. reproduce/bench_ratios.py then pairs every locus row with its PyTorch row by
# workload name and writes ratios.md (locus / PyTorch).
set -euo pipefail
cd "$(dirname "$0")/.."
out=book/src/results/bench
mkdir -p "$out"
py=${TORCH_PYTHON:-/tmp/torchenv/bin/python}
threads=2
anchor=${TORCH_BASELINE:-../shared/anchors/torch_baseline.py}

{ echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)";
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"; rustc --version; } > "$out/machine.txt"

bench_flags=()
for bench in mlp_step forward_forward_step lenet_step gim_step; do
  bench_flags+=(--bench "$bench")
done
# Criterion writes under the target directory; results older than this run are not ours.
criterion_dir="${CARGO_TARGET_DIR:-target}/criterion"
stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
cargo bench "${bench_flags[@]}" -- --warm-up-time 2 --measurement-time 5 2>&1 |
  tee "$out/criterion.txt"

# Criterion's point estimates (mean seconds per iteration) of this run as JSON lines, one
# per benchmark of every group.
python3 - "$out/locus.jsonl" "$criterion_dir" "$stamp" <<'PY'
import json, os, pathlib, sys
since = os.path.getmtime(sys.argv[3])
rows = []
for est in sorted(pathlib.Path(sys.argv[2]).glob("**/new/estimates.json")):
    if est.stat().st_mtime < since:
        continue
    bench = json.loads((est.parent / "benchmark.json").read_text())
    mean_s = json.loads(est.read_text())["mean"]["point_estimate"] / 1e9
    tp = bench.get("throughput") or {}
    row = {"group": bench["group_id"], "bench": bench["function_id"], "mean_s": mean_s}
    if "Elements" in tp:
        if bench["group_id"] == "sgemm":
            row["gflops"] = round(tp["Elements"] / mean_s / 1e9, 1)
        else:
            row["samples_per_s"] = round(tp["Elements"] / mean_s)
    rows.append(row)
pathlib.Path(sys.argv[1]).write_text("".join(json.dumps(r) + "\n" for r in rows))
print(f"{len(rows)} criterion results -> {sys.argv[1]}")
PY

if [ -x "$py" ] && [ -f "$anchor" ]; then
  "$py" "$anchor" --threads "$threads" | tee "$out/pytorch.jsonl"
else
  echo "shared PyTorch anchor skipped: need $py and $anchor" | tee "$out/pytorch.jsonl"
fi
if [ -x "$py" ]; then
  "$py" reproduce/torch_anchors.py --threads "$threads" | tee -a "$out/pytorch.jsonl"
fi
python3 reproduce/bench_ratios.py "$out/locus.jsonl" "$out/pytorch.jsonl" | tee "$out/ratios.md"
