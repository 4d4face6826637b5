#!/usr/bin/env bash
# Training-step throughput of every rule, ours and PyTorch's, measured in one sitting on
# one machine, written to book/src/results/bench/. Takes about 5 minutes.
#   reproduce/bench.sh            (PyTorch from $TORCH_PYTHON, default /tmp/torchenv/bin/python;
#                                  make it with: python3 -m venv /tmp/torchenv &&
#                                  /tmp/torchenv/bin/pip install torch numpy)
# The PyTorch script lives outside the project (../shared/anchors/torch_baseline.py, or
# $TORCH_BASELINE); without it or without PyTorch only our figures are written.
set -euo pipefail
cd "$(dirname "$0")/.."
out=book/src/results/bench
mkdir -p "$out"
py=${TORCH_PYTHON:-/tmp/torchenv/bin/python}
anchor=${TORCH_BASELINE:-../shared/anchors/torch_baseline.py}

{ echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)";
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"; rustc --version; } > "$out/machine.txt"

cargo bench --bench mlp_step -- --warm-up-time 2 --measurement-time 5 2>&1 | tee "$out/criterion.txt"

# Criterion's point estimates (mean seconds per iteration) as JSON lines.
python3 - "$out/locus.jsonl" <<'PY'
import json, pathlib, sys
rows = []
for est in sorted(pathlib.Path("target/criterion").glob("*/*/new/estimates.json")):
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
  "$py" "$anchor" --threads 2 | tee "$out/pytorch.jsonl"
else
  echo "PyTorch comparison skipped: need $py and $anchor" | tee "$out/pytorch.jsonl"
fi
