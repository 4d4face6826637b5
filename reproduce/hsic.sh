#!/usr/bin/env bash
# The HSIC bottleneck (--algo hsic) with its defaults beside backpropagation on the same
# network: 784-1000-1000-10 (40-… on MNIST-1D), batch 64, every hidden stage learning
# from HSIC for --epochs, then the linear read-out alone for twenty more epochs on the
# frozen hidden stages (the format step, hsic's default --format-epochs).
#   - MNIST-1D (generated standard split), 20 epochs, seeds 0, 1, 2: hsic, hsic with the
#     reference's five epochs of format step (--format-epochs 5), bp, and bp with the
#     batch normalisation hsic uses (--batch-norm).
#   - MNIST, 5 epochs, seed 0: the same four.
# The first 20 (MNIST-1D) or 5 (MNIST) epochs train the hidden stages, the last 20 (or 5)
# the read-out alone. Writes book/src/results/hsic/NAME/, table.md and the per-stage nHSIC
# curves of the MNIST run (hsic-zx.png, hsic-zy.png) there. Runs whose results.json exists
# are kept. About 20 minutes on one core.
#   reproduce/hsic.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
res=book/src/results/hsic
# shellcheck source=reproduce/lib.sh
source reproduce/lib.sh
locus=$(locus_binary)
train() { train_once "$res/$1" "${@:2}"; }  # train NAME ARGS...
for seed in 0 1 2; do
  train "mnist1d-hsic-seed$seed" --algo hsic --dataset mnist1d --epochs 20 --seed "$seed"
  train "mnist1d-hsic-format5-seed$seed" --algo hsic --dataset mnist1d --epochs 20 --seed "$seed" \
    --format-epochs 5
  train "mnist1d-bp-seed$seed" --algo bp --dataset mnist1d --epochs 20 --seed "$seed"
  train "mnist1d-bp-bn-seed$seed" --algo bp --batch-norm --dataset mnist1d --epochs 20 --seed "$seed"
done
mnist=(--dataset mnist --data-dir "$data/mnist" --epochs 5 --seed 0)
train mnist-hsic-seed0 --algo hsic "${mnist[@]}"
train mnist-hsic-format5-seed0 --algo hsic "${mnist[@]}" --format-epochs 5
train mnist-bp-seed0 --algo bp "${mnist[@]}"
train mnist-bp-bn-seed0 --algo bp --batch-norm "${mnist[@]}"
python3 - "$res" > "$res/table.md" <<'PY'
import json, os, statistics, sys

res = sys.argv[1]
def load(name):
    with open(os.path.join(res, name, "results.json")) as f:
        return json.load(f)
print("Test error (%) after the last epoch.\n")
print("| run | MNIST-1D, 20 epochs (+ 20 or 5 of read-out for hsic), seeds 0 / 1 / 2 "
      "| mean ± sd | MNIST, 5 epochs (+ 20 or 5), seed 0 |")
print("|---|---|---|---|")
for algo, label in [("hsic", "hsic (defaults: 20 epochs of read-out)"),
                    ("hsic-format5", "hsic, `--format-epochs 5` (the reference's)"),
                    ("bp", "bp (defaults)"), ("bp-bn", "bp + batch norm")]:
    errs = [100 * (1 - load(f"mnist1d-{algo}-seed{s}")["test_accuracy"]) for s in range(3)]
    mnist = 100 * (1 - load(f"mnist-{algo}-seed0")["test_accuracy"])
    print(f"| {label} | {' / '.join(f'{e:.1f}' for e in errs)} "
          f"| {statistics.mean(errs):.1f} ± {statistics.stdev(errs):.1f} | {mnist:.2f} |")
print("\n(sd: the sample standard deviation over the three seeds.)")
print("\nnHSIC of each hidden stage with the input (Z, X) and with the labels (Z, Y), on the")
print("last training batch of each epoch of the hidden stages (MNIST, seed 0):\n")
print("| epoch | stage 1 (Z, X) | stage 1 (Z, Y) | stage 2 (Z, X) | stage 2 (Z, Y) |")
print("|---|---|---|---|---|")
run = load("mnist-hsic-seed0")
for record in run["history"][: run["epochs"]]:
    m = record["stage_metrics"]
    print(f"| {record['epoch']} | {m['stage1.hsic_zx']:.2f} | {m['stage1.hsic_zy']:.2f} "
          f"| {m['stage2.hsic_zx']:.2f} | {m['stage2.hsic_zy']:.2f} |")
PY
# Drawn from the run with five epochs of read-out: its hidden stages trained exactly as
# the default run's (same seed, same five epochs), and the read-out's flat stretch is short.
for dep in zx zy; do
  "$locus" plot "$res/mnist-hsic-format5-seed0" --stage-metric "hsic_$dep" --out "$res/hsic-$dep.png" \
    --title "MNIST, hsic: nHSIC(Z, ${dep:1:1}) of each hidden stage (read-out alone after epoch 5)"
done
cat "$res/table.md"
