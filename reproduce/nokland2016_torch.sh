#!/usr/bin/env bash
# The PyTorch reference for reproduce/nokland2016.sh: reproduce/nokland2016_torch.py (a plain
# PyTorch implementation of the same protocol, --preset nokland2016) for the rules in ALGOS
# (default "bp fa dfa usf brsf frsf") and seeds in SEEDS (default "0 1 2"), one run at a
# time on THREADS threads (default 1). Writes book/src/results/protocols/torch/ALGO-seedS.json
# (the script's JSON line) and torch_table.md there (per seed, and mean ± sample standard
# deviation). Runs whose JSON exists are kept. PyTorch is not a dependency of locus: PYTHON
# (default python3) must have torch and numpy, e.g. a venv made with
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
# About 3 minutes per run on one thread; the times are for the record, not a speed
# comparison (the runs share the machine with whatever else runs).
#   [PYTHON=/tmp/torchenv/bin/python] [SEEDS="0 1 2"] [ALGOS="..."] reproduce/nokland2016_torch.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
python=${PYTHON:-python3}
res=book/src/results/protocols/torch
seeds=${SEEDS:-0 1 2}
algos=${ALGOS:-bp fa dfa usf brsf frsf}
threads=${THREADS:-1}
mkdir -p "$res"
for seed in $seeds; do
  for algo in $algos; do
    out=$res/$algo-seed$seed.json
    if [ -f "$out" ]; then echo "kept $out"; continue; fi
    echo "== $out"
    "$python" reproduce/nokland2016_torch.py --algo "$algo" --seed "$seed" \
      --data-dir "$data/mnist" --threads "$threads" > "$out.tmp"
    mv "$out.tmp" "$out"
    cat "$out"
  done
done
python3 - "$res" > "$res/torch_table.md" <<'PY'
import glob, json, os, statistics, sys

res = sys.argv[1]
runs = {}
for path in sorted(glob.glob(os.path.join(res, "*-seed*.json"))):
    with open(path) as f:
        r = json.load(f)
    runs.setdefault(r["algo"], []).append((r["seed"], r["test_error_percent"], r["wall_s"]))
print("Test error (%) after 20 epochs of reproduce/nokland2016_torch.py, a plain PyTorch")
print("implementation of the `--preset nokland2016` protocol, per seed and their mean ±")
print("sample standard deviation. Wall times are one thread on a shared machine: not a")
print("speed comparison.\n")
print("| rule | seeds | test error per seed | mean ± std | wall time per run |")
print("|---|---|---|---|---|")
for algo in ["bp", "fa", "dfa", "usf", "brsf", "frsf"]:
    if algo not in runs:
        continue
    rs = sorted(runs[algo])
    errs = [e for _, e, _ in rs]
    spread = f"{statistics.mean(errs):.2f} ± {statistics.stdev(errs):.2f}" if len(errs) > 1 else f"{errs[0]:.2f}"
    wall = statistics.mean(w for _, _, w in rs)
    print(f"| {algo} | {', '.join(str(s) for s, _, _ in rs)} | {' / '.join(f'{e:.2f}' for e in errs)} "
          f"| {spread} | {wall:.0f} s |")
PY
cat "$res/torch_table.md"
