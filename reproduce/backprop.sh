#!/usr/bin/env bash
# Backpropagation baselines (issue: workspace foundation). Writes results.json and
# epochs.csv per run under book/src/results/. Takes about 5 minutes on 2 cores.
#   reproduce/backprop.sh [DATA_DIR]      (default: $LOCUS_DATA, else ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
out=book/src/results
cargo build --release -q -p locus-cli
locus=target/release/locus

# MNIST, 784-1000-1000-10 ReLU, SGD momentum 0.9, lr 0.05 with cosine decay, batch 64.
$locus train --algo bp --dataset mnist --data-dir "$data/mnist" --epochs 20 \
  --lr-schedule cosine --seed 0 --out "$out/bp-mnist"

# MNIST-1D, the standard 4000/1000 split from the reference generator, 3 seeds.
for seed in 0 1 2; do
  $locus train --algo bp --dataset npy --data-dir "$data/mnist1d" --epochs 30 \
    --seed "$seed" --out "$out/bp-mnist1d-seed$seed"
done

# MNIST-1D as generated in memory by locus (the embedded default), same model and budget.
$locus train --algo bp --dataset mnist1d --epochs 30 --seed 0 --out "$out/bp-mnist1d-generated"

$locus plot "$out"/bp-mnist1d-seed{0,1,2}/results.json "$out/bp-mnist1d-generated/results.json" \
  --out "$out/mnist1d-bp-seeds.png" --title "MNIST-1D, backprop MLP: test accuracy"
