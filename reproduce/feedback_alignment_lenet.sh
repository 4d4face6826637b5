#!/usr/bin/env bash
# The feedback-alignment family on a LeNet-5-style CNN on MNIST (the architecture of
# `locus train --model lenet`), side by side with backprop: SGD momentum 0.9, lr 0.05 with
# cosine decay, batch 64, EPOCHS epochs (default 5; BioTorch's published table trains for
# 100), for bp, fa, dfa, usf, brsf, frsf. Writes one directory per run under
# book/src/results/fa-mnist-lenet/, then one comparison chart. About 3 minutes per rule
# and epoch-5 budget on 2 cores.
#   [EPOCHS=5] reproduce/feedback_alignment_lenet.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
epochs=${EPOCHS:-5}
out=book/src/results/fa-mnist-lenet
cargo build --release -q -p locus-cli
locus=target/release/locus
runs=()
for algo in bp fa dfa usf brsf frsf; do
  dir=$out/$algo-seed0
  $locus train --algo "$algo" --model lenet --dataset mnist --data-dir "$data/mnist" \
    --epochs "$epochs" --activation relu --lr 0.05 --lr-schedule cosine --seed 0 --out "$dir"
  runs+=("$dir/results.json")
done
$locus plot "${runs[@]}" --out "$out/test-accuracy.png" \
  --title "MNIST, LeNet: test accuracy"
