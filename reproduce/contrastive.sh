#!/usr/bin/env bash
# Contrastive local learning: Greedy InfoMax (an InfoNCE loss per stage) against end-to-end
# CPC (one InfoNCE loss at the top), a supervised encoder (bp-encoder) and the untrained
# encoder (random init), every encoder stage read out by a linear probe on its features
# averaged over positions (GIM's protocol; probe: Adam 1e-2, 100 epochs).
#   - MNIST-1D (generated standard split, 4000/1000): the Conv1d sequence encoder (3 stages
#     of 64 channels), 20 epochs; plus two GIM variants (non-overlapping windows,
#     same-sample negatives).
#   - MNIST patches (a 6×6 grid of 8×8 patches, stride 4; 3 per-patch stages of 128
#     channels): the first 10000 training images, the full 10000 test images, 10 epochs.
#   - Memory: one epoch with batches of 1024 in separate processes, for cpc and for gim
#     with every stage together, one stage at a time on cached inputs, and one stage at a
#     time recomputing the inputs; peak resident memory (VmHWM) of the training and the
#     accounted bytes of one training step.
# All with Adam lr 1e-3, batch 64, K = 3 prediction steps, 16 negatives from the batch,
# seed 0. Runs whose results.json exists are kept (delete a directory to redo it). Writes
# book/src/results/gim-*/ and the tables book/src/results/gim-summary.md. About 1.5 hours
# on 2 shared cores.
#   reproduce/contrastive.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${LOCUS_DATA:-../shared/data}}
res=book/src/results
cargo build --release -q -p locus-cli
# A private copy, so rebuilding the workspace during the runs cannot change the binary.
bin=$(mktemp -d)/locus
cp target/release/locus "$bin"
common=(--optimizer adam --lr 1e-3 --batch-size 64 --prediction-steps 3 --negatives 16 --seed 0)
# shellcheck source=reproduce/legacy_sequence_encoder.sh
source reproduce/legacy_sequence_encoder.sh
train() {  # train DIR ARGS...
  local dir=$1; shift
  if [ -f "$dir/results.json" ]; then echo "kept $dir"; return 0; fi
  echo "== $dir"
  local pinned=()
  case " $* " in *" --dataset mnist1d "*) mapfile -t pinned < <(legacy_sequence_encoder "$@") ;; esac
  "$bin" train "$@" "${pinned[@]}" --out "$dir"
}

seq1d=(--dataset mnist1d --epochs 20 "${common[@]}")
train $res/gim-mnist1d/gim "${seq1d[@]}" --algo gim --probe-init
train $res/gim-mnist1d/cpc "${seq1d[@]}" --algo cpc
train $res/gim-mnist1d/bp-encoder "${seq1d[@]}" --algo bp-encoder
train $res/gim-mnist1d/gim-windows "${seq1d[@]}" --algo gim --probe-init \
  --seq-kernels 4,1,1 --seq-strides 4,1,1 --seq-paddings 0,0,0
train $res/gim-mnist1d/gim-same-sample "${seq1d[@]}" --algo gim --negative-sampling same-sample
"$bin" plot $res/gim-mnist1d/{gim,cpc,bp-encoder}/results.json --labels "gim,cpc,bp-encoder" \
  --out $res/gim-mnist1d/probe-accuracy.png --title "MNIST-1D: linear probe on the top stage"

patches=(--dataset mnist --data-dir "$data/mnist" --train-limit 10000 --epochs 10 --probe-every 2 "${common[@]}")
train $res/gim-mnist/gim "${patches[@]}" --algo gim --probe-init
train $res/gim-mnist/cpc "${patches[@]}" --algo cpc
train $res/gim-mnist/bp-encoder "${patches[@]}" --algo bp-encoder
"$bin" plot $res/gim-mnist/{gim,cpc,bp-encoder}/results.json --labels "gim,cpc,bp-encoder" \
  --out $res/gim-mnist/probe-accuracy.png --title "MNIST patches: linear probe on the top stage"

memory=(--epochs 1 --batch-size 1024 --probe-every 0 --probe-epochs 1 --optimizer adam --seed 0)
for set in mnist1d mnist; do
  if [ $set = mnist ]; then where=(--dataset mnist --data-dir "$data/mnist" --train-limit 4096)
  else where=(--dataset mnist1d); fi
  train $res/gim-memory/$set-cpc "${memory[@]}" "${where[@]}" --algo cpc
  for schedule in lockstep cached recompute; do
    train $res/gim-memory/$set-gim-$schedule "${memory[@]}" "${where[@]}" --algo gim --gim-schedule $schedule
  done
done

python3 reproduce/contrastive_summary.py $res > $res/gim-summary.md
cat $res/gim-summary.md
