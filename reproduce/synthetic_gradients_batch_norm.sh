#!/usr/bin/env bash
# Synthetic gradients with batch normalisation after every hidden linear map (before the
# ReLU), the normalisation the DNI paper itself uses (Jaderberg et al. 2016, section 3.1),
# on MNIST with every layer its own stage: bp, dni (bootstrapped targets, the paper's
# method), dni with true-gradient targets and cdni, on the wide 784-1000-1000-10 net and on
# the paper's depths (3 to 6 hidden layers of 256), and bp and dni on the public port's
# network (784-256-10). Same budget as the depth and targets
# tables: Adam lr 3e-4 with a cosine schedule, batch 64, 20 epochs, linear gradient models
# starting at zero (Adam 1e-3), seed 0 (and seeds 1 and 2 for bp and dni with true targets
# on the wide net, and for bp, dni with true targets and cdni at depth 3).
#
# Also bp and both dni variants on the wide net over 60 epochs, seed 0.
#
# Two runs at a time, one core each. Writes one directory per run and batch-norm.md into
# book/src/results/dni-mnist-batch-norm/. About 80 minutes on 2 cores. Runs whose directory
# already holds a results.json are kept; set FORCE=1 to redo them.
#   reproduce/synthetic_gradients_batch_norm.sh [DATA_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results/dni-mnist-batch-norm
mkdir -p "$out"
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary) || exit 1
# shellcheck source=reproduce/legacy_synthetic_gradient.sh
source reproduce/legacy_synthetic_gradient.sh
legacy_sg_bin=$locus; locus=legacy_sg_locus
export MATMUL_NUM_THREADS=1
common=(--dataset mnist --data-dir "$data/mnist" --optimizer adam --lr 0.0003
        --lr-schedule cosine --batch-size 64 --batch-norm)
widths() { local w=256; for ((i = 1; i < $1; i++)); do w+=",256"; done; echo "$w"; }
run() {  # run NAME ARGS...: the epochs ($epochs, default 20) recorded with ARGS
  train_once "$out/$1" --epochs "${epochs:-20}" "${@:2}"
}
run60() { local epochs=60; run "$@"; }  # the same run over 60 epochs
jobs_=()
queue() { jobs_+=("$*"); }
for seed in 0 1 2; do
  queue run "bp-wide-seed$seed" --algo bp --hidden 1000,1000 --seed "$seed"
  queue run "dni-true-wide-seed$seed" --algo dni --hidden 1000,1000 --seed "$seed" --sg-target true
  if [ "$seed" = 0 ]; then
    queue run dni-wide-seed0 --algo dni --hidden 1000,1000 --seed 0
    queue run cdni-wide-seed0 --algo cdni --hidden 1000,1000 --seed 0
  fi
done
for depth in 3 4 5 6; do
  h=$(widths "$depth")
  for algo in bp dni cdni; do
    queue run "$algo-h$depth-seed0" --algo "$algo" --hidden "$h" --seed 0
  done
  queue run "dni-true-h$depth-seed0" --algo dni --hidden "$h" --seed 0 --sg-target true
done
# The public port's network, 784-256-10: one hidden stage, whose target is the true
# gradient either way.
for algo in bp dni; do
  queue run "$algo-h1-seed0" --algo "$algo" --hidden 256 --seed 0
done
# With the paper's gradient model for DNI (two normalised hidden layers of 1024).
queue run dni-normM1024-h1-seed0 --algo dni --hidden 256 --seed 0 \
  --sg-model norm-mlp --sg-hidden 1024 --sg-layers 2
# Three times the budget on the wide net (about 56k steps; the paper trains 500k).
queue run60 dni-wide-60ep-seed0 --algo dni --hidden 1000,1000 --seed 0
queue run60 dni-true-wide-60ep-seed0 --algo dni --hidden 1000,1000 --seed 0 --sg-target true
queue run60 bp-wide-60ep-seed0 --algo bp --hidden 1000,1000 --seed 0
for seed in 1 2; do
  for algo in bp cdni; do
    queue run "$algo-h3-seed$seed" --algo "$algo" --hidden "$(widths 3)" --seed "$seed"
  done
  queue run "dni-true-h3-seed$seed" --algo dni --hidden "$(widths 3)" --seed "$seed" --sg-target true
done
for job in "${jobs_[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
  # shellcheck disable=SC2086 # a job is a word list without spaces inside words
  $job &
done
wait
python3 - "$out" <<'PY'
import json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
def acc(d):
    j = json.loads((d / "results.json").read_text())
    return 100 * (1 - j["test_accuracy"])
def err(d):
    if (d / "failed.txt").exists():
        return "failed"
    if not (d / "results.json").exists():
        return "missing"
    return f"{acc(d):.2f}"
rows = ["Test error (%) after 20 epochs with batch normalisation, seed 0.", "",
        "| network | bp | dni, bootstrapped | dni, true targets | cdni |", "|---|---|---|---|---|"]
for label, tag in [("784-1000-1000-10", "wide")] + [(f"{h} × 256", f"h{h}") for h in (3, 4, 5, 6)]:
    cells = [err(out / f"{algo}-{tag}-seed0") for algo in ("bp", "dni", "dni-true", "cdni")]
    rows.append(f"| {label} | " + " | ".join(cells) + " |")
def seeds(title, tag, runs):
    global rows
    rows += ["", title + ", seeds 0 / 1 / 2 (test error %):", "",
             "| run | seed 0 | seed 1 | seed 2 | mean |", "|---|---|---|---|---|"]
    for label, name in runs:
        dirs = [out / f"{name}-{tag}-seed{s}" for s in (0, 1, 2)]
        done = [d for d in dirs if (d / "results.json").exists()]
        mean = f"{statistics.mean(acc(d) for d in done):.2f}" if len(done) == 3 else "-"
        rows.append(f"| {label} | " + " | ".join(err(d) for d in dirs) + f" | {mean} |")
rows += ["", "The port's network, 784-256-10, seed 0 (test error %): bp "
         + err(out / "bp-h1-seed0") + ", dni with a linear M " + err(out / "dni-h1-seed0")
         + ", dni with M 2×1024 normalised " + err(out / "dni-normM1024-h1-seed0")]
rows += ["", "784-1000-1000-10 over 60 epochs, seed 0 (test error %): bp "
         + err(out / "bp-wide-60ep-seed0") + ", dni bootstrapped " + err(out / "dni-wide-60ep-seed0")
         + ", dni true targets " + err(out / "dni-true-wide-60ep-seed0")]
bp_dni = [("bp + batch norm", "bp"), ("dni + batch norm, true targets", "dni-true")]
seeds("784-1000-1000-10", "wide", bp_dni)
seeds("3 × 256", "h3", bp_dni + [("cdni + batch norm", "cdni")])
(out / "batch-norm.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
"$locus" plot "$out"/{bp,dni,dni-true,cdni}-wide-seed0/results.json \
  --labels "bp,dni bootstrapped,dni true targets,cdni" \
  --out "$out/test-accuracy-wide.png" \
  --title "MNIST, 784-1000-1000-10 with batch norm: test accuracy"
