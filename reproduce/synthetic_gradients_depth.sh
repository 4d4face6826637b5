#!/usr/bin/env bash
# Synthetic gradients on MNIST at the depths of the paper's Table 1 (3 to 6 hidden layers
# of 256 ReLU units, every layer its own stage): bp, DNI and cDNI (linear gradient models,
# zero at first, Adam 1e-3) with the same budget: Adam lr 3e-4 with a cosine schedule,
# batch 64, 20 epochs, seed 0 (and seeds 1 and 2 at depth 3). Writes one directory per
# run and a table, depth.md, into book/src/results/dni-mnist-depth/. About 30 minutes on
# 2 cores.
# Runs whose directory already holds a results.json are kept; set FORCE=1 to redo them.
#   reproduce/synthetic_gradients_depth.sh [DATA_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results/dni-mnist-depth
mkdir -p "$out"
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary) || exit 1
# shellcheck source=reproduce/legacy_synthetic_gradient.sh
source reproduce/legacy_synthetic_gradient.sh
legacy_sg_bin=$locus; locus=legacy_sg_locus
common=(--dataset mnist --data-dir "$data/mnist" --optimizer adam --lr 0.0003
        --lr-schedule cosine --batch-size 64 --epochs 20)
widths() { local w=256; for ((i = 1; i < $1; i++)); do w+=",256"; done; echo "$w"; }
run() { train_once "$out/$1" "${@:2}"; }  # run NAME ARGS...
for depth in 3 4 5 6; do
  for algo in bp dni cdni; do
    run "$algo-h$depth-seed0" --algo "$algo" --hidden "$(widths $depth)" --seed 0
  done
done
for seed in 1 2; do
  for algo in bp dni cdni; do
    run "$algo-h3-seed$seed" --algo "$algo" --hidden "$(widths 3)" --seed "$seed"
  done
done
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def err(name):
    d = out / name
    if (d / "failed.txt").exists():
        return "failed"
    j = json.loads((d / "results.json").read_text())
    return f"{100 * (1 - j['test_accuracy']):.2f}"
rows = ["| hidden layers | bp | dni | cdni |", "|---|---|---|---|"]
for depth in (3, 4, 5, 6):
    rows.append(f"| {depth} | " + " | ".join(err(f"{a}-h{depth}-seed0") for a in ("bp", "dni", "cdni")) + " |")
rows += ["", "Depth 3, seeds 0 / 1 / 2 (test error %):", "", "| algo | seed 0 | seed 1 | seed 2 |", "|---|---|---|---|"]
for a in ("bp", "dni", "cdni"):
    rows.append(f"| {a} | " + " | ".join(err(f"{a}-h3-seed{s}") for s in (0, 1, 2)) + " |")
(out / "depth.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
"$locus" plot "$out"/{bp,dni,cdni}-h3-seed0/results.json --labels "bp,dni,cdni" \
  --out "$out/test-accuracy-h3.png" --title "MNIST, 3 hidden layers of 256: test accuracy"
"$locus" plot "$out"/{bp,dni,cdni}-h6-seed0/results.json --labels "bp,dni,cdni" \
  --out "$out/test-accuracy-h6.png" --title "MNIST, 6 hidden layers of 256: test accuracy"
