#!/usr/bin/env bash
# The feedback-alignment family on a LeNet-5-style CNN on MNIST (the architecture of
# `locus train --model lenet`), side by side with backprop: SGD momentum 0.9, lr 0.05 with
# cosine decay, batch 64, EPOCHS epochs (default 5; BioTorch's published table trains for
# 100), seed 0, for bp, fa, dfa, usf, brsf, frsf. A rule that diverges at lr 0.05 is
# recorded in diverged.txt and run again at lr 0.01 (directory <rule>-lr0.01-seed0).
# Runs whose results.json exists are kept (delete the directory to redo one). Writes one
# directory per run under book/src/results/fa-mnist-lenet/, then one comparison chart.
# About 2 minutes per rule on 2 cores.
#   [EPOCHS=5] [LOCUS_BIN=path/to/locus] reproduce/feedback_alignment_lenet.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
epochs=${EPOCHS:-5}
out=book/src/results/fa-mnist-lenet
mkdir -p "$out"
if [ -z "${LOCUS_BIN:-}" ]; then cargo build --release -q -p locus-cli; fi
locus=${LOCUS_BIN:-target/release/locus}
runs=()
train() {  # train ALGO LR DIR
  [ -f "$3/results.json" ] && return 0
  $locus train --algo "$1" --model lenet --dataset mnist --data-dir "$data/mnist" \
    --epochs "$epochs" --activation relu --lr "$2" --lr-schedule cosine --seed 0 --out "$3"
}
for algo in bp fa dfa usf brsf frsf; do
  dir=$out/$algo-seed0
  retry=$out/$algo-lr0.01-seed0
  if [ -f "$retry/results.json" ]; then  # diverged at lr 0.05 in an earlier run
    runs+=("$retry/results.json")
    continue
  fi
  log=$(mktemp)
  if train "$algo" 0.05 "$dir" 2> >(tee "$log" >&2); then
    runs+=("$dir/results.json")
  else
    sleep 1  # let tee finish writing the log
    echo "$algo at lr 0.05: $(tail -n 1 "$log")" >> "$out/diverged.txt"
    train "$algo" 0.01 "$retry"
    runs+=("$retry/results.json")
  fi
  rm -f "$log"
done
$locus plot "${runs[@]}" --out "$out/test-accuracy.png" \
  --title "MNIST, LeNet: test accuracy"
