#!/usr/bin/env bash
# The standard FA/DFA MNIST protocol (--preset nokland2016: Nøkland 2016 as BioTorch
# reimplements it; 784-1000-1000-10 tanh, LeCun-normal weights and feedback matrices, SGD
# momentum 0.9, lr 0.01, batch 128, 20 epochs, no schedule, standardised inputs) for bp,
# fa, dfa, usf, brsf and frsf, seeds from SEEDS (default "0"; "0 1 2" for the table's
# spread). Writes book/src/results/protocols/nokland2016-ALGO-seedS/ and table.md there,
# beside the runs of a plain PyTorch implementation of the same protocol that
# reproduce/nokland2016_torch.sh wrote under protocols/torch/. Runs whose
# results.json exists are kept. About 3.5 minutes per run on two cores.
#   [SEEDS="0 1 2"] [ALGOS="bp fa dfa usf"] reproduce/nokland2016.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
res=book/src/results/protocols
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary)
seeds=${SEEDS:-0}
algos=${ALGOS:-bp fa dfa usf brsf frsf}
for seed in $seeds; do
  for algo in $algos; do
    train_once "$res/nokland2016-$algo-seed$seed" \
      --algo "$algo" --preset nokland2016 --data-dir "$data/mnist" --seed "$seed"
  done
done
python3 - "$res" > "$res/table.md" <<'PY'
import glob, json, os, statistics, sys

res = sys.argv[1]
# The plain PyTorch implementation's runs (reproduce/nokland2016_torch.sh), by rule.
reference = {}
for path in glob.glob(os.path.join(res, "torch", "*-seed*.json")):
    with open(path) as f:
        t = json.load(f)
    reference.setdefault(t["algo"], []).append(t["test_error_percent"])
runs = {}
for path in sorted(glob.glob(os.path.join(res, "nokland2016-*-seed*/results.json"))):
    with open(path) as f:
        r = json.load(f)
    runs.setdefault(r["algo"], []).append((r["seed"], 100 * (1 - r["test_accuracy"]), r["wall_s"]))
print("Test error (%) after 20 epochs under `--preset nokland2016`, per seed and their mean")
print("± sample standard deviation, beside a plain PyTorch implementation of the same")
print("protocol (reproduce/nokland2016_torch.py; its mean ± sample standard deviation and n).\n")
print("| rule | seeds | test error per seed | mean ± std | PyTorch reference | wall time per run |")
print("|---|---|---|---|---|---|")
for algo in ["bp", "fa", "dfa", "usf", "brsf", "frsf"]:
    if algo not in runs:
        continue
    rs = sorted(runs[algo])
    errs = [e for _, e, _ in rs]
    spread = f"{statistics.mean(errs):.2f} ± {statistics.stdev(errs):.2f}" if len(errs) > 1 else f"{errs[0]:.2f}"
    ref = "—"
    if algo in reference:
        t = reference[algo]
        ref = (f"{statistics.mean(t):.2f} ± {statistics.stdev(t):.2f} (n = {len(t)})"
               if len(t) > 1 else f"{t[0]:.2f} (n = 1)")
    wall = statistics.mean(w for _, _, w in rs)
    print(f"| {algo} | {', '.join(str(s) for s, _, _ in rs)} | {' / '.join(f'{e:.2f}' for e in errs)} "
          f"| {spread} | {ref} | {wall:.0f} s |")
PY
cat "$res/table.md"
