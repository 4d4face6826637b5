#!/usr/bin/env bash
# Decoupled greedy learning (local classifiers, Belilovsky et al. 2019/2020) on MNIST, side
# by side with backprop on the same network and budget: a 784-1000-1000-1000-10 ReLU MLP,
# one stage per layer (4 stages); every hidden stage of dgl trains a linear softmax head on
# its output and learns from that head's loss alone, the top stage is an ordinary
# supervised layer. SGD momentum 0.9, lr 0.05 with cosine decay (the heads' own SGD keeps
# 0.05 throughout: the schedule sets the stages' rates), batch 64, EPOCHS epochs (default
# 20), seed 0. Writes results.json, epochs.csv and the PNG curves per
# run under book/src/results/dgl-mnist-mlp/, then one comparison chart. About 35 minutes on
# 2 cores shared with other jobs (bp 20 minutes, dgl 15).
#   [EPOCHS=20] reproduce/local_classifiers.sh [DATA_DIR]
#     (default: $LOCUS_DATA or ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
epochs=${EPOCHS:-20}
out=book/src/results/dgl-mnist-mlp
[ "$epochs" = 20 ] || out=$out-$epochs
cargo build --release -q -p locus-cli
locus=${LOCUS_BIN:-target/release/locus}
common=(--dataset mnist --data-dir "$data/mnist" --hidden 1000,1000,1000 --activation relu
        --optimizer sgd --lr 0.05 --momentum 0.9 --lr-schedule cosine --batch-size 64
        --epochs "$epochs" --seed 0)
$locus train --algo bp "${common[@]}" --out "$out/bp-seed0"
$locus train --algo dgl --head linear "${common[@]}" --out "$out/dgl-seed0"
$locus plot "$out"/{bp,dgl}-seed0/results.json --labels "bp,dgl (linear heads)" \
  --out "$out/test-accuracy.png" \
  --title "MNIST, 784-1000x3-10 ReLU MLP, $epochs epochs: test accuracy"
