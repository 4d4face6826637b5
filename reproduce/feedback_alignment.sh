#!/usr/bin/env bash
# The feedback-alignment family on MNIST, side by side with backprop: the same
# 784-1000-1000-10 ReLU MLP, SGD momentum 0.9, lr 0.05 with cosine decay, batch 64,
# EPOCHS epochs (default 20), for bp, fa, dfa, usf, brsf, frsf. Writes results.json,
# epochs.csv and the PNG curves per run under book/src/results/fa-mnist-mlp[-EPOCHS]/
# (no suffix for 20), then one comparison chart. 20 epochs take about 20 minutes on 2 cores.
# ACTIVATION=tanh swaps the hidden activation (directory suffix -tanh). RULES="brsf frsf"
# reruns only those rules (the chart still shows every rule that has results); SEEDS
# ("0 1 2") repeats every run per seed.
#   [EPOCHS=40] [ACTIVATION=tanh] [RULES="..."] reproduce/feedback_alignment.sh [DATA_DIR] [SEEDS]
#     (default: $LOCUS_DATA or ../shared/data; seeds "0")
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
seeds=${2:-0}
epochs=${EPOCHS:-20}
out=book/src/results/fa-mnist-mlp
activation=${ACTIVATION:-relu}
[ "$epochs" = 20 ] || out=$out-$epochs
[ "$activation" = relu ] || out=$out-$activation
rules=${RULES:-bp fa dfa usf brsf frsf}
cargo build --release -q -p locus-cli
locus=${LOCUS_BIN:-target/release/locus}
for seed in $seeds; do
  for algo in $rules; do
    $locus train --algo "$algo" --dataset mnist --data-dir "$data/mnist" --epochs "$epochs" \
      --activation "$activation" --lr 0.05 --lr-schedule cosine --seed "$seed" \
      --out "$out/$algo-seed$seed"
  done
done
runs=()
for seed in $seeds; do
  for algo in bp fa dfa usf brsf frsf; do
    if [ -f "$out/$algo-seed$seed/results.json" ]; then
      runs+=("$out/$algo-seed$seed/results.json")
    fi
  done
done
$locus plot "${runs[@]}" --out "$out/test-accuracy.png" \
  --title "MNIST, 784-1000-1000-10 $activation MLP, $epochs epochs: test accuracy"
